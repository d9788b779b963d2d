/**
 * What every RL step shares: its signature ({@linkcode StepFn}), the state it works on
 * ({@linkcode StepState}), the batch it is given ({@linkcode StepBatch}), the description of an
 * algorithm that `train` runs ({@linkcode Algorithm}), configuration checking, and the policy
 * update loop (epochs × minibatches of one loss) that every recipe ends with.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Random } from "../random.ts";
import type { Policy } from "../policy/transformer.ts";
import type { ValueModel } from "../policy/value_model.ts";
import { disposeRollout, type Rollout } from "../sample/rollout.ts";
import { tokenLogProbs } from "../sample/token_log_probs.ts";
import { localSampler, type Sampler } from "../sample/sampler.ts";
import type { Tokenizer } from "../tasks/task.ts";
import { type RewardFn, score } from "../score/score.ts";
import {
  aggregateLoss,
  AGGREGATION_MODES,
  aggregationCount,
  type AggregationMode,
} from "../loss/aggregate.ts";
import { clippedSurrogateLoss } from "../loss/clipped_surrogate.ts";
import { klPenalty } from "../loss/kl_penalty.ts";
import { policyGradientLoss } from "../loss/policy_gradient.ts";
import { truncatedImportanceWeights } from "../loss/truncated_importance_weights.ts";
import { broadcastToTokens } from "../advantage/broadcast_to_tokens.ts";
import { clipFractionCounts } from "../metrics/clip_fraction.ts";
import { approxKlSums } from "../metrics/approx_kl.ts";
import { samplerLogProbGap } from "../metrics/sampler_gap.ts";
import { checkInteger, checkNumber, checkOneOf, describe } from "../validate.ts";
import {
  applyUpdate,
  checkMicroBatchSize,
  microBatchPlan,
  minibatchPlan,
  minibatchSizes,
  selectRows,
  selectRowsOf,
} from "./update.ts";

/** The names of the algorithms `train` knows. */
export type AlgorithmName = "ppo" | "grpo" | "dr_grpo" | "remax" | "rloo" | "reinforce" | "trepo";

/** Settings every recipe has. Each algorithm's config extends this. */
export interface RlConfig {
  /** Distinct prompts per step. */
  promptsPerStep: number;
  /** Responses sampled per prompt (G). */
  groupSize: number;
  /** Adam learning rate of the policy. */
  learningRate: number;
  /** Global gradient-norm clip. */
  maxGradNorm: number;
  /** Coefficient β of the KL to the reference policy; 0 holds no reference model. */
  beta: number;
  /** Sampling temperature. */
  temperature: number;
  /** Passes over each rollout batch. */
  epochs: number;
  /** Minibatches per pass. */
  minibatches: number;
  /** PPO clip range ε of the ratio (used by the clipped surrogate and the clip metric). */
  clipEpsilon: number;
  /** How per-token losses are reduced (see `aggregateLoss`). */
  aggregation: AggregationMode;
  /** Most response tokens per sample; 0 uses the task's `maxResponseTokens`. */
  maxTokens: number;
  /**
   * Rows per forward/backward pass inside each minibatch (what TRL and verl call gradient
   * accumulation; TRL's `per_device_train_batch_size`, verl's `ppo_micro_batch_size_per_gpu`).
   * Each minibatch still makes one Adam step, on the sum of its micro-batches' gradients, each
   * micro-batch's loss normalised by the whole minibatch's count, so the loss, the gradient and
   * the metrics are those of the whole minibatch: it trades nothing but time for memory
   * (activations of `microBatchSize` rows instead of a whole minibatch). It must divide the rows
   * of each minibatch (`promptsPerStep × groupSize / minibatches`); 0 runs each minibatch in one
   * pass.
   */
  microBatchSize: number;
}

/** How one config key is checked. */
export interface FieldSpec {
  /** The type and kind of value. */
  kind: "number" | "integer" | "choice";
  /** Smallest allowed value (numbers). */
  min?: number;
  /** Largest allowed value (numbers). */
  max?: number;
  /** `min` itself is not allowed. */
  exclusiveMin?: boolean;
  /** The allowed strings (choice). */
  choices?: readonly string[];
}

/** How every key of a config is checked. */
export type ConfigSpec<C> = { readonly [K in keyof C]-?: FieldSpec };

/** The checks of the {@linkcode RlConfig} keys. */
export const RL_CONFIG_SPEC: ConfigSpec<RlConfig> = {
  promptsPerStep: { kind: "integer", min: 1 },
  groupSize: { kind: "integer", min: 1 },
  learningRate: { kind: "number", min: 0, exclusiveMin: true },
  maxGradNorm: { kind: "number", min: 0, exclusiveMin: true },
  beta: { kind: "number", min: 0 },
  temperature: { kind: "number", min: 0, exclusiveMin: true },
  epochs: { kind: "integer", min: 1 },
  minibatches: { kind: "integer", min: 1 },
  clipEpsilon: { kind: "number", min: 0, max: 1, exclusiveMin: true },
  aggregation: { kind: "choice", choices: AGGREGATION_MODES },
  maxTokens: { kind: "integer", min: 0 },
  microBatchSize: { kind: "integer", min: 0 },
};

/** The models and optimizers one step works on, plus its random stream. */
export interface StepState<C extends RlConfig = RlConfig> {
  /** The algorithm's configuration (checked). */
  readonly config: C;
  /** The policy being trained (its weights change). */
  readonly policy: Policy;
  /** The frozen reference policy for the KL term; present when `config.beta > 0`. */
  readonly reference?: Policy;
  /** The value model (PPO only). */
  readonly valueModel?: ValueModel;
  /** Adam of the policy, and of the value model when there is one. */
  readonly optimizers: { readonly policy: tf.Optimizer; readonly value?: tf.Optimizer };
  /** The stream of every random draw of the step (sampling, positions, minibatch order). */
  readonly rng: Random;
  /** The 1-based number of this step (error messages name it). */
  readonly step: number;
  /**
   * Measure `clip_ratio/after_update` and `policy/approx_kl_after_update` with one extra forward
   * pass over the batch after the update (default off).
   */
  readonly measureAfterUpdate?: boolean;
  /**
   * Where responses and TRePO's continuations come from (default {@linkcode localSampler}): a
   * remote sampler runs them on an inference server (see {@linkcode sampleResponses}).
   */
  readonly sampler?: Sampler;
  /**
   * Truncated importance sampling against a remote sampler's log-probs, with this cap `C`
   * (`truncatedImportanceWeights`); off when absent, and unused with a local sampler.
   */
  readonly importanceSamplingCap?: number;
}

/** The prompts of one step and how to score their responses. */
export interface StepBatch {
  /** Distinct prompts; each gets `groupSize` responses. */
  readonly prompts: readonly string[];
  /** Encodes prompts and decodes responses. */
  readonly tokenizer: Tokenizer;
  /** Reward functions of (prompt, completion); their weighted sum is the response reward. */
  readonly rewardFns: Readonly<Record<string, RewardFn>>;
  /** Weights of the reward functions (default 1 each). */
  readonly rewardWeights?: Readonly<Record<string, number>>;
  /** Most response tokens per sample (`config.maxTokens`, or the task's budget when that is 0). */
  readonly maxTokens: number;
}

/** Metrics of one step, by the anchor names (`reward/mean`, `kl`, `loss/policy`, …). */
export type StepMetrics = Record<string, number>;

/** The signature every recipe's step has, so that `train` treats them alike. */
export type StepFn<C extends RlConfig> = (
  state: StepState<C>,
  batch: StepBatch,
) => Promise<StepMetrics>;

/** Everything `train` needs to know about an algorithm. */
export interface Algorithm<C extends RlConfig = RlConfig> {
  /** The name used on the command line. */
  readonly name: AlgorithmName;
  /** The documented defaults. */
  readonly defaultConfig: Readonly<C>;
  /** How each config key is checked. */
  readonly configSpec: ConfigSpec<C>;
  /** One RL step (a {@linkcode StepFn}). */
  step(state: StepState<C>, batch: StepBatch): Promise<StepMetrics>;
  /** The per-token loss its step minimises for a config (the theory lab differentiates it). */
  policyLoss(config: C): PolicyLossFn;
  /** Whether it trains a value model next to the policy (PPO). */
  readonly usesValueModel: boolean;
  /** The smallest group size it works with (RLOO and TRePO need 2). */
  readonly minGroupSize: number;
}

/**
 * Merge user settings over an algorithm's defaults and check every key: an unknown key, a value
 * of the wrong type or one out of range throws an error that names the key.
 *
 * @param algorithm The algorithm whose config this is.
 * @param overrides Settings to change (a plain object; may be `undefined`).
 * @returns The complete, checked config.
 * @throws {TypeError} For a value of the wrong type, or overrides that are not an object.
 * @throws {RangeError} For an unknown key, a value out of range, a group size the algorithm cannot
 *   use, or a `microBatchSize` that does not divide every minibatch's rows (the message lists the
 *   sizes that do).
 *
 * @example Unknown keys are refused
 * ```ts
 * import { resolveConfig } from "./step.ts";
 * import { grpo } from "./grpo.ts";
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * assertEquals(resolveConfig(grpo, { beta: 0 }).beta, 0);
 * assertThrows(() => resolveConfig(grpo, { lr: 1 }), RangeError, 'unknown key "lr"');
 * ```
 */
export function resolveConfig<C extends RlConfig>(
  algorithm: Algorithm<C>,
  overrides: unknown = {},
): C {
  const context = `Cannot configure ${algorithm.name}`;
  if (overrides === null || typeof overrides !== "object" || Array.isArray(overrides)) {
    throw new TypeError(`${context}: config must be a plain object, got ${describe(overrides)}`);
  }
  const keys = Object.keys(algorithm.defaultConfig);
  const config = { ...algorithm.defaultConfig } as Record<string, unknown>;
  for (const [key, value] of Object.entries(overrides)) {
    if (!keys.includes(key)) {
      throw new RangeError(
        `${context}: unknown key "${key}", expected one of ${keys.join(", ")}`,
      );
    }
    if (value === undefined) continue;
    const spec = (algorithm.configSpec as Record<string, FieldSpec>)[key];
    const name = `config.${key}`;
    if (spec.kind === "choice") {
      checkOneOf(context, name, value, spec.choices ?? []);
    } else {
      if (spec.kind === "integer") checkInteger(context, name, value, -Infinity);
      checkNumber(context, name, value, spec);
    }
    config[key] = value;
  }
  const checked = config as unknown as C;
  if (checked.groupSize < algorithm.minGroupSize) {
    throw new RangeError(
      `${context}: config.groupSize must be at least ${algorithm.minGroupSize} for ${algorithm.name}, got ${checked.groupSize}`,
    );
  }
  const rows = checked.promptsPerStep * checked.groupSize;
  if (checked.minibatches > rows) {
    throw new RangeError(
      `${context}: config.minibatches must be at most promptsPerStep × groupSize = ${rows}, got ${checked.minibatches}`,
    );
  }
  checkMicroBatchSize(context, minibatchSizes(rows, checked.minibatches), checked.microBatchSize);
  return checked;
}

/**
 * The ids that end a sampled response, as `sample` / `greedy` / `continueFrom` options: `eosToken`
 * is the tokenizer's `eos` (the padding too), `stopTokens` its other EOS ids (`eosIds`, e.g. the
 * several `eos_token_id`s of a Llama 3 `generation_config.json`).
 *
 * @param tokenizer The task's tokenizer.
 * @returns `{ eosToken, stopTokens }` (`stopTokens` empty for a tokenizer with one EOS id).
 *
 * @example
 * ```ts
 * import { responseEnd } from "./step.ts";
 * import { charTokenizer } from "../tasks/task.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(responseEnd(charTokenizer("01")), { eosToken: 0, stopTokens: [] });
 * assertEquals(
 *   responseEnd({ ...charTokenizer("01"), eos: 0, eosIds: [0, 2] }),
 *   { eosToken: 0, stopTokens: [2] },
 * );
 * ```
 */
export function responseEnd(
  tokenizer: Tokenizer,
): { eosToken: number; stopTokens: readonly number[] } {
  const eosToken = tokenizer.eos;
  return { eosToken, stopTokens: (tokenizer.eosIds ?? []).filter((id) => id !== eosToken) };
}

/**
 * Encode the prompts of a batch.
 *
 * @param batch The step's batch.
 * @returns Token ids of each prompt.
 */
export function encodePrompts(batch: StepBatch): number[][] {
  return batch.prompts.map((p) => batch.tokenizer.encode(p));
}

/**
 * Step 1 of every recipe: `groupSize` responses to each prompt from the state's sampler
 * ({@linkcode localSampler} unless `state.sampler` is set), at the config's temperature, drawing
 * from the step's random stream.
 *
 * A remote sampler's tokens come with the server's log-probs. They are kept as
 * `rollout.samplerLogProbs`, and `rollout.logProbs` becomes the local policy's log-probs of the
 * same tokens: the "old" log-probs every ratio and clip is taken against, as TRL and verl do with
 * vLLM. The gap between the two is reported by {@linkcode rolloutMetrics}, and truncated importance
 * sampling against the server's is applied by {@linkcode updatePolicy} when
 * `state.importanceSamplingCap` is set.
 *
 * @param state The step's state (policy, sampler, config, random stream).
 * @param batch The step's batch (tokenizer, response budget).
 * @param prompts Token ids of each prompt (default: the batch's prompts encoded).
 * @returns The rollout, `promptsPerStep × groupSize` rows (dispose it with `disposeRollout`).
 */
export async function sampleResponses(
  state: StepState,
  batch: StepBatch,
  prompts: number[][] = encodePrompts(batch),
): Promise<Rollout> {
  const { config, policy } = state;
  const sampler = state.sampler ?? localSampler;
  const rollout = await sampler.sample(policy, prompts, {
    groupSize: config.groupSize,
    maxTokens: batch.maxTokens,
    temperature: config.temperature,
    ...responseEnd(batch.tokenizer),
    rng: state.rng,
  });
  if (!sampler.remote) return rollout;
  let local: tf.Tensor2D;
  try {
    local = constantLogProbs(policy, rollout, config);
  } catch (error) {
    disposeRollout(rollout);
    throw error;
  }
  rollout.samplerLogProbs?.dispose();
  return { ...rollout, samplerLogProbs: rollout.logProbs, logProbs: local };
}

/** The scored rewards of a rollout. */
export interface Scored {
  /** Response rewards, float32 `[B]` (dispose it). */
  rewards: tf.Tensor1D;
  /** The same as numbers. */
  values: number[];
}

/**
 * Score a rollout with the batch's reward functions (`score`), naming the step when a reward
 * function fails.
 *
 * @param state The step's state (for the step number).
 * @param rollout The responses, `B` rows.
 * @param batch The batch with the reward functions.
 * @returns Rewards `[B]` as a tensor and as numbers.
 * @throws {Error} When a reward function throws or returns a non-finite value.
 */
export async function scoreRollout(
  state: StepState,
  rollout: Rollout,
  batch: StepBatch,
): Promise<Scored> {
  try {
    const scored = await score(rollout, batch.tokenizer, { ...batch.rewardFns }, {
      weights: batch.rewardWeights === undefined ? undefined : { ...batch.rewardWeights },
    });
    return { rewards: scored.rewards, values: scored.values };
  } catch (error) {
    const message = `Cannot score the responses at step ${state.step}: ${
      error instanceof Error ? error.message : String(error)
    }`;
    if (error instanceof RangeError) throw new RangeError(message, { cause: error });
    if (error instanceof TypeError) throw new TypeError(message, { cause: error });
    throw new Error(message, { cause: error });
  }
}

/**
 * Log-probs of the rollout under the reference policy (a constant `[B, T]`), or `undefined` when
 * the state holds no reference (β = 0).
 *
 * @param state The step's state.
 * @param rollout The responses.
 * @returns `[B, T]` or `undefined`.
 */
export function referenceLogProbs(state: StepState, rollout: Rollout): tf.Tensor2D | undefined {
  const reference = state.reference;
  if (reference === undefined) return undefined;
  return constantLogProbs(reference, rollout, state.config);
}

/**
 * Log-probs of a rollout outside any gradient (reference, or a remote sampler's local old
 * log-probs), `[B, T]`, in passes of `config.microBatchSize` rows when it is set, so that no pass
 * holds more activations than one micro-batch of the update (each pass is trimmed to its own
 * longest response and padded back with zeros).
 *
 * @param policy The policy or the reference.
 * @param rollout The responses, `B` rows.
 * @param config The recipe's config (`temperature`, `microBatchSize`).
 * @returns `[B, T]`.
 */
export function constantLogProbs(
  policy: Policy,
  rollout: Rollout,
  config: Pick<RlConfig, "temperature" | "microBatchSize">,
): tf.Tensor2D {
  const options = { temperature: config.temperature };
  const rows = rollout.lengths.length;
  const size = config.microBatchSize;
  if (size <= 0 || size >= rows) return tf.tidy(() => tokenLogProbs(policy, rollout, options));
  const width = rollout.tokens.shape[1];
  const parts: tf.Tensor2D[] = [];
  try {
    for (let start = 0; start < rows; start += size) {
      const ids = Array.from({ length: Math.min(size, rows - start) }, (_, i) => start + i);
      const part = selectRows(rollout, ids);
      try {
        parts.push(tf.tidy(() => {
          const lp = tokenLogProbs(policy, part, options);
          const pad = width - lp.shape[1];
          return pad > 0 ? tf.pad(lp, [[0, 0], [0, pad]]) : lp;
        }));
      } finally {
        disposeRollout(part);
      }
    }
    return tf.concat(parts, 0);
  } finally {
    tf.dispose(parts);
  }
}

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
 * import { scoreFunctionPolicyLoss } from "./step.ts";
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
 * Used by every recipe's update ({@linkcode updatePolicy}) and by the theory lab, which
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
 * import { accumulationNormalizer } from "./step.ts";
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

/** The constants of a policy update. */
export interface PolicyUpdateInputs {
  /** Token advantages `[B, T]` (constant; zero at masked positions). */
  advantages: tf.Tensor2D;
  /** Reference log-probs `[B, T]`, when the KL term is on. */
  refLogProbs?: tf.Tensor2D;
}

/**
 * The update every recipe ends with: for `epochs` passes, for each of `minibatches` random parts
 * of the rollout, one Adam step on {@linkcode policyObjective} with the recipe's per-token loss.
 * Old log-probs are `rollout.logProbs` (the sampler's, or the local policy's when the sampler is
 * a server; see {@linkcode sampleResponses}). With a remote sampler and
 * `state.importanceSamplingCap`, each token's loss is weighted by its truncated importance weight
 * against the server (`truncatedImportanceWeights`), and `sampler/importance_weight_mean` and
 * `sampler/importance_weight_truncated_fraction` report them. Each minibatch's loss is normalised by
 * its own token or sequence count (TRL, verl), so every Adam step sees a loss of the same scale
 * whatever the number of minibatches.
 *
 * With `config.microBatchSize > 0` each minibatch is cut into micro-batches of that many rows
 * (gradient accumulation): each runs its own forward and backward pass, its loss normalised by the
 * whole minibatch's count ({@linkcode accumulationNormalizer}), their gradients are summed, and
 * the clipping and the Adam step happen once per minibatch. The loss, the gradient and every
 * metric below are those of the minibatch in one pass (up to float rounding); only the peak
 * memory changes.
 *
 * Metrics: `loss/policy` is the mean loss of the Adam steps; `grad_norm` their mean gradient
 * norm before clipping. When the batch makes more than one Adam step, `clip_ratio` (fraction of
 * valid tokens where the clip was active, see `clipFraction`) and `policy/approx_kl`
 * (`mean(logπ_old − logπ_θ)`) are measured inside each step's loss and averaged, as TRL logs them;
 * with one step they would be 0 by construction (ρ = 1) and are left out. With
 * `state.measureAfterUpdate`, one extra forward pass over the whole batch after the last step
 * gives `clip_ratio/after_update` and `policy/approx_kl_after_update`: how far the update moved
 * the policy from the sampler on this batch.
 *
 * @param state The step's state.
 * @param rollout The batch of responses.
 * @param inputs Advantages and reference log-probs (constants).
 * @param loss The recipe's per-token loss.
 * @param maxTokens The response budget of the step (for `"constant"`).
 * @returns The metrics above.
 * @throws {RangeError} When `config.microBatchSize` does not divide every minibatch's rows (before
 *   any Adam step), or the loss or the gradient is not finite.
 */
export async function updatePolicy(
  state: StepState,
  rollout: Rollout,
  inputs: PolicyUpdateInputs,
  loss: PolicyLossFn,
  maxTokens: number,
): Promise<StepMetrics> {
  const { config, policy } = state;
  const rows = rollout.lengths.length;
  const plan = minibatchPlan(rows, config.epochs, config.minibatches, state.rng);
  const weights = [...policy.weights.values()];
  const reused = plan.length > 1;
  const cap = state.importanceSamplingCap;
  let lossSum = 0;
  let normSum = 0;
  let clipSum = 0;
  let driftSum = 0;
  checkMicroBatchSize(
    `Cannot update the policy at step ${state.step}`,
    minibatchSizes(rows, config.minibatches),
    config.microBatchSize,
  );
  for (const mbRows of plan) {
    const micro = microBatchPlan(mbRows, config.microBatchSize);
    const constant = aggregationNormalizer(config, mbRows.length, maxTokens);
    const normalizer = micro.length === 1
      ? constant
      : await accumulationNormalizer(config.aggregation, rollout.mask, mbRows, constant);
    // clip and drift counts are summed over the micro-batches outside the gradient's tidy and read
    // in one await afterwards (no synchronous read: it would throw on webgpu).
    let counts: tf.Tensor | undefined;
    try {
      // Each micro-batch's rows and constants are made inside its tape, and freed with it.
      const result = await applyUpdate(state.optimizers.policy, weights, (k) => {
        const mb = selectRows(rollout, micro[k]);
        const width = mb.tokens.shape[1];
        const logProbs = tokenLogProbs(policy, mb, { temperature: config.temperature });
        const x = {
          logProbs,
          oldLogProbs: mb.logProbs,
          advantages: selectRowsOf(inputs.advantages, micro[k], width),
          mask: mb.mask,
          importanceWeights: cap === undefined || mb.samplerLogProbs === undefined
            ? undefined
            : truncatedImportanceWeights(mb.logProbs, mb.samplerLogProbs, mb.mask, cap),
        };
        if (reused) {
          const part = tf.concat([
            clipFractionCounts(x, { epsilon: config.clipEpsilon }),
            approxKlSums(logProbs, mb.logProbs, mb.mask),
          ]);
          const sum = counts === undefined ? part : tf.add(counts, part);
          counts?.dispose();
          counts = tf.keep(sum);
        }
        const ref = inputs.refLogProbs === undefined
          ? undefined
          : selectRowsOf(inputs.refLogProbs, micro[k], width);
        return policyObjective(x, ref, {
          loss,
          beta: config.beta,
          aggregation: config.aggregation,
          normalizer,
        });
      }, {
        maxGradNorm: config.maxGradNorm,
        what: "the policy",
        step: state.step,
        microBatches: micro.length,
      });
      lossSum += result.loss;
      normSum += result.gradNorm;
      if (counts !== undefined) {
        const [clipped, valid, drift, tokens] = await counts.data();
        clipSum += valid > 0 ? clipped / valid : 0;
        driftSum += tokens > 0 ? drift / tokens : 0;
      }
    } finally {
      counts?.dispose();
    }
  }
  return {
    "loss/policy": lossSum / plan.length,
    "grad_norm": normSum / plan.length,
    ...(reused
      ? { "clip_ratio": clipSum / plan.length, "policy/approx_kl": driftSum / plan.length }
      : {}),
    ...(cap !== undefined && rollout.samplerLogProbs !== undefined
      ? await importanceWeightMetrics(rollout, cap)
      : {}),
    ...(state.measureAfterUpdate
      ? await afterUpdateMetrics(state, rollout, inputs.advantages)
      : {}),
  };
}

/** The mean truncated importance weight over the valid tokens, and the fraction truncated. */
async function importanceWeightMetrics(rollout: Rollout, cap: number): Promise<StepMetrics> {
  const stats = tf.tidy(() => {
    const w = truncatedImportanceWeights(
      rollout.logProbs,
      rollout.samplerLogProbs!,
      rollout.mask,
      cap,
    );
    const count = tf.maximum(tf.sum(rollout.mask), 1);
    const truncated = tf.mul(tf.cast(tf.greaterEqual(w, cap), "float32"), rollout.mask);
    return tf.stack([tf.div(tf.sum(w), count), tf.div(tf.sum(truncated), count)]);
  });
  try {
    const [mean, truncated] = await stats.data();
    return {
      "sampler/importance_weight_mean": mean,
      "sampler/importance_weight_truncated_fraction": truncated,
    };
  } finally {
    stats.dispose();
  }
}

/** `clip_ratio/after_update` and `policy/approx_kl_after_update`: one forward pass, no gradient. */
async function afterUpdateMetrics(
  state: StepState,
  rollout: Rollout,
  advantages: tf.Tensor2D,
): Promise<StepMetrics> {
  const counts = tf.tidy(() => {
    const logProbs = tokenLogProbs(state.policy, rollout, {
      temperature: state.config.temperature,
    });
    const x = { logProbs, oldLogProbs: rollout.logProbs, advantages, mask: rollout.mask };
    return tf.concat([
      clipFractionCounts(x, { epsilon: state.config.clipEpsilon }),
      approxKlSums(logProbs, rollout.logProbs, rollout.mask),
    ]);
  });
  try {
    const [clipped, valid, drift, tokens] = await counts.data();
    return {
      "clip_ratio/after_update": valid > 0 ? clipped / valid : 0,
      "policy/approx_kl_after_update": tokens > 0 ? drift / tokens : 0,
    };
  } finally {
    counts.dispose();
  }
}

/** A response-level advantage and the same value on every valid token of the response. */
export interface ResponseAdvantages {
  /** One advantage per response, `[B]`. */
  responses: tf.Tensor1D;
  /** The same on every valid token, `[B, T]` (0 at masked positions). */
  tokens: tf.Tensor2D;
}

/**
 * Give each response's advantage to every one of its valid tokens (`broadcastToTokens`), keeping
 * both forms; `responses` is disposed if broadcasting throws.
 *
 * @param responses `[B]` (owned by the result).
 * @param mask `[B, T]`.
 * @returns Both forms; the caller disposes them.
 */
export function onEveryToken(responses: tf.Tensor1D, mask: tf.Tensor2D): ResponseAdvantages {
  try {
    return { responses, tokens: broadcastToTokens(responses, mask) };
  } catch (error) {
    responses.dispose();
    throw error;
  }
}

/**
 * Metrics every recipe reports about its rollout: mean response length, a sampled estimate of the
 * per-token entropy (`−mean log π_old` of the sampled tokens), and the k3 KL of the sampler to the
 * reference (when there is one).
 *
 * @param rollout The responses.
 * @param refLogProbs Reference log-probs `[B, T]`, or `undefined`.
 * @returns `response_length/mean`, `entropy`, `kl` (0 without a reference), and with a remote
 * sampler `sampler/logprob_gap_mean` and `sampler/logprob_gap_max` (`samplerLogProbGap`).
 */
export async function rolloutMetrics(
  rollout: Rollout,
  refLogProbs: tf.Tensor2D | undefined,
): Promise<StepMetrics> {
  // Entropy and KL in one read (one host round trip on a GPU backend).
  const both = tf.tidy(() => {
    const count = tf.maximum(tf.sum(rollout.mask), 1);
    const h = tf.div(tf.neg(tf.sum(tf.mul(rollout.logProbs, rollout.mask))), count);
    const k = refLogProbs === undefined ? tf.scalar(0) : tf.div(
      tf.sum(tf.mul(klPenalty(rollout.logProbs, refLogProbs, { estimator: "k3" }), rollout.mask)),
      count,
    );
    const parts = [h, k];
    if (rollout.samplerLogProbs !== undefined) {
      parts.push(
        ...tf.unstack(samplerLogProbGap(rollout.logProbs, rollout.samplerLogProbs, rollout.mask)),
      );
    }
    return tf.stack(parts);
  });
  const values = await both.data();
  both.dispose();
  const lengths = rollout.lengths;
  return {
    "response_length/mean": lengths.reduce((a, b) => a + b, 0) / Math.max(1, lengths.length),
    "entropy": values[0],
    "kl": values[1],
    ...(rollout.samplerLogProbs === undefined
      ? {}
      : { "sampler/logprob_gap_mean": values[2], "sampler/logprob_gap_max": values[3] }),
  };
}

/**
 * The fraction of responses whose advantage is not zero (a response-level advantage `[N]`).
 *
 * @param advantages `[N]`.
 * @returns A number in [0, 1].
 */
export async function nonzeroFraction(advantages: tf.Tensor): Promise<number> {
  const values = await advantages.data();
  let n = 0;
  for (const v of values) if (Math.abs(v) > 1e-12) n++;
  return n / Math.max(1, values.length);
}
