/**
 * The objective of a recipe's update: the per-token policy losses the recipes choose from
 * ({@linkcode PolicyLossFn}, an `Algorithm`'s `policyLoss`), the scalar every Adam step minimises
 * ({@linkcode policyObjective}: loss, importance weights, β·KL, aggregation), and the normalisers
 * that make a minibatch's loss, and its micro-batches' sum, the full-batch loss.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { aggregateLoss, aggregationCount, type AggregationMode } from "../loss/aggregate.ts";
import { clippedSurrogateLoss } from "../loss/clipped_surrogate.ts";
import { klPenalty } from "../loss/kl_penalty.ts";
import { policyGradientLoss } from "../loss/policy_gradient.ts";
import type { RlConfig } from "./step.ts";
import { selectRowsOf } from "./update.ts";

/** The constants and the differentiable log-probs one minibatch's loss sees. */
export interface PolicyLossInputs {
  /** log π_θ of the minibatch's tokens, `[b, T']`; differentiable. */
  logProbs: tf.Tensor2D;
  /** log π_old (the sampler's), `[b, T']`; constant. */
  oldLogProbs: tf.Tensor2D;
  /** Token advantages, `[b, T']`; constant. */
  advantages: tf.Tensor2D;
  /** Response mask, `[b, T']`. */
  mask: tf.Tensor2D;
  /**
   * Truncated importance weights against a remote sampler, `[b, T']`; constant. When present,
   * {@linkcode policyObjective} multiplies the recipe's per-token loss by them (before the KL term).
   */
  importanceWeights?: tf.Tensor2D;
}

/** A recipe's per-token policy loss `[b, T']` (before the KL term and the aggregation). */
export type PolicyLossFn = (x: PolicyLossInputs) => tf.Tensor2D;

/**
 * PPO's clipped surrogate with the config's ε, the per-token loss of GRPO, PPO and TRePO:
 * `ℓ_t = max(−A_t ρ_t, −A_t clip(ρ_t, 1 − ε, 1 + ε))`, `ρ_t = exp(logπ_θ − logπ_old)`.
 *
 * @param config The recipe's config (`clipEpsilon`).
 * @returns The per-token loss.
 */
export function clippedPolicyLoss(config: RlConfig): PolicyLossFn {
  return (x) => clippedSurrogateLoss(x, { epsilon: config.clipEpsilon });
}

/**
 * The per-token loss of the REINFORCE-family recipes (ReMax, RLOO, REINFORCE): the plain
 * score-function loss `ℓ_t = −A_t logπ_θ` when each batch makes exactly one Adam step
 * (`epochs = 1` and `minibatches = 1`, fully on-policy), and PPO's clipped surrogate against the
 * sampler's log-probs as soon as a batch makes several steps (`epochs > 1` or
 * `minibatches > 1`): from the second step on the policy is no longer the sampler, and
 * `−A·logπ_θ` would be an off-policy gradient with no importance ratio. At the first step
 * (`ρ = 1`) both have the gradient `−A ∇logπ_θ`.
 *
 * @param config The recipe's config (`epochs`, `minibatches`, `clipEpsilon`).
 * @returns The per-token loss.
 *
 * @example One step per batch: the plain loss; several: the clipped ratio
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { scoreFunctionPolicyLoss } from "./objective.ts";
 * import { defaultRlooConfig } from "./rloo.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const x = {
 *   logProbs: tf.tensor2d([[Math.log(0.5)]]),
 *   oldLogProbs: tf.tensor2d([[Math.log(0.25)]]),
 *   advantages: tf.tensor2d([[2]]),
 *   mask: tf.tensor2d([[1]]),
 * };
 * const plain = scoreFunctionPolicyLoss(defaultRlooConfig)(x);
 * assertAlmostEquals((await plain.data())[0], -2 * Math.log(0.5), 1e-6); // −A·logπ
 * const clipped = scoreFunctionPolicyLoss({ ...defaultRlooConfig, epochs: 2 })(x);
 * assertAlmostEquals((await clipped.data())[0], -2 * 1.2, 1e-6); // ρ = 2 clipped at 1 + ε
 * tf.dispose([plain, clipped, ...Object.values(x)]);
 * ```
 */
export function scoreFunctionPolicyLoss(config: RlConfig): PolicyLossFn {
  return config.epochs > 1 || config.minibatches > 1
    ? clippedPolicyLoss(config)
    : (x) => policyGradientLoss(x);
}

/** How {@linkcode policyObjective} combines the per-token terms. */
export interface PolicyObjectiveOptions {
  /** The recipe's per-token loss. */
  loss: PolicyLossFn;
  /** β of the k3 KL term to the reference (ignored without reference log-probs). */
  beta: number;
  /** The reduction (see `aggregateLoss`). */
  aggregation: AggregationMode;
  /**
   * The denominator of `"constant"`: rows of this (mini)batch × the response budget. When a
   * minibatch is cut into micro-batches, the whole minibatch's count for the other modes except
   * `"token-sum"` ({@linkcode accumulationNormalizer}).
   */
  normalizer?: number;
}

/**
 * The scalar a recipe's Adam step minimises on one (mini)batch:
 * `aggregate(w·ℓ(logπ_θ, logπ_old, A) + β·k3(logπ_θ, logπ_ref))`, with `w` the truncated
 * importance weights against a remote sampler when given (else 1). The aggregation is normalised by
 * this (mini)batch's own token or sequence count, as TRL and verl do (`"constant"` by its rows ×
 * the response budget), so one minibatch of the whole batch is exactly the full-batch loss. A
 * micro-batch is given its minibatch's count as `normalizer` instead, so that the micro-batch
 * losses sum to the minibatch's.
 *
 * Used by every recipe's update (`updatePolicy`) and by the theory lab, which
 * differentiates it with respect to `logProbs` to get the weight each recipe gives every
 * `∇log π(w_t | …)`.
 *
 * @param x Log-probs (differentiable), old log-probs, advantages and mask, all `[b, T']`.
 * @param refLogProbs Reference log-probs `[b, T']`, or `undefined` for no KL term.
 * @param options The per-token loss, β, the aggregation and its normaliser.
 * @returns A scalar.
 */
export function policyObjective(
  x: PolicyLossInputs,
  refLogProbs: tf.Tensor2D | undefined,
  options: PolicyObjectiveOptions,
): tf.Scalar {
  return tf.tidy(() => {
    let perToken = options.loss(x);
    if (x.importanceWeights !== undefined) perToken = tf.mul(perToken, x.importanceWeights);
    if (refLogProbs !== undefined && options.beta > 0) {
      perToken = tf.add(
        perToken,
        tf.mul(klPenalty(x.logProbs, refLogProbs, { estimator: "k3" }), options.beta),
      );
    }
    return aggregateLoss(perToken, x.mask, {
      mode: options.aggregation,
      normalizer: options.normalizer,
    });
  });
}

/**
 * The denominator `"constant"` aggregation needs for a (mini)batch of `rows` responses: rows ×
 * the response budget (Dr. GRPO); `undefined` for every other mode (they count the mask).
 *
 * @param config The recipe's config.
 * @param rows Responses in the (mini)batch.
 * @param maxTokens The response budget of the step.
 * @returns The normaliser, or `undefined`.
 */
export function aggregationNormalizer(
  config: RlConfig,
  rows: number,
  maxTokens: number,
): number | undefined {
  return config.aggregation === "constant" ? rows * maxTokens : undefined;
}

/**
 * The normalizer that makes the losses of a minibatch's micro-batches sum to the minibatch's loss
 * (gradient accumulation): `normalizer` itself when given (`"constant"`), none for `"token-sum"`
 * (its sums add up as they are), and otherwise the whole minibatch's count
 * (`aggregationCount`: valid tokens for `"token-mean"`, non-empty sequences for the sequence
 * modes), read once.
 *
 * @param mode The reduction.
 * @param mask The whole batch's mask `[B, T]`.
 * @param rows The minibatch's rows of it.
 * @param normalizer The fixed denominator of `"constant"` for the minibatch
 *   ({@linkcode aggregationNormalizer}).
 * @returns The number to pass as every micro-batch's `normalizer`, or `undefined`.
 *
 * @example The token mean of two micro-batches is taken over both
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { accumulationNormalizer } from "./objective.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const mask = tf.tensor2d([[1, 1, 1], [0, 0, 0], [1, 0, 0]]);
 * assertEquals(await accumulationNormalizer("token-mean", mask, [0, 1, 2]), 4);
 * assertEquals(await accumulationNormalizer("sequence-mean", mask, [1, 2]), 1);
 * assertEquals(await accumulationNormalizer("token-sum", mask, [0, 2]), undefined);
 * assertEquals(await accumulationNormalizer("constant", mask, [0, 2], 6), 6);
 * mask.dispose();
 * ```
 */
export async function accumulationNormalizer(
  mode: AggregationMode,
  mask: tf.Tensor2D,
  rows: readonly number[],
  normalizer?: number,
): Promise<number | undefined> {
  if (normalizer !== undefined || mode === "token-sum" || mode === "constant") return normalizer;
  const count = tf.tidy(() => aggregationCount(selectRowsOf(mask, rows, mask.shape[1]), mode)!);
  try {
    return (await count.data())[0];
  } finally {
    count.dispose();
  }
}
