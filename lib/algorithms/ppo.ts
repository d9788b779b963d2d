/**
 * PPO for language models as in InstructGPT (Ouyang et al. 2022) and the TRL/OpenRLHF trainers:
 * a value model with its own weights, trained jointly; token rewards that put the response reward
 * on the last valid token and a per-token KL penalty `−β(logπ − logπ_ref)` everywhere; GAE;
 * whitened advantages; the clipped surrogate and the clipped value loss over several epochs of
 * minibatches.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { disposeRollout } from "../sample/rollout.ts";
import { tokenValues } from "../sample/token_values.ts";
import { klShapedTokenRewards } from "../score/kl_shaped_rewards.ts";
import { generalizedAdvantages } from "../advantage/generalized_advantages.ts";
import { whiten } from "../advantage/whiten.ts";
import { valueLoss } from "../loss/value_loss.ts";
import { aggregateLoss } from "../loss/aggregate.ts";
import { explainedVarianceAsync } from "../metrics/explained_variance.ts";
import {
  type Algorithm,
  RL_CONFIG_SPEC,
  type RlConfig,
  type StepBatch,
  type StepMetrics,
  type StepState,
} from "./step.ts";
import { referenceLogProbs, sampleResponses, scoreRollout } from "./rollout.ts";
import { accumulationNormalizer, clippedPolicyLoss } from "./objective.ts";
import { updatePolicy } from "./policy_update.ts";
import { phaseClock, rewardMetrics, rolloutMetrics } from "./step_metrics.ts";
import {
  applyUpdate,
  checkMicroBatchSize,
  microBatchPlan,
  minibatchPlan,
  minibatchSizes,
  selectRows,
  selectRowsOf,
} from "./update.ts";

/** PPO's settings. */
export interface PpoConfig extends RlConfig {
  /** Discount γ of GAE. */
  gamma: number;
  /** GAE λ. */
  lambda: number;
  /** Adam learning rate of the value model. */
  valueLearningRate: number;
  /** Clip range of the value loss (how far a value may move from the one used for GAE). */
  valueClip: number;
}

/** PPO's defaults. Batch sizes and learning rates are ours, sized for the tiny tasks. */
export const defaultPpoConfig: Readonly<PpoConfig> = Object.freeze({
  /** Ours: 64 prompts × 1 response = 64 responses per step, as every recipe here (see GRPO's `promptsPerStep`). */
  promptsPerStep: 64,
  /** One response per prompt: InstructGPT. */
  groupSize: 1,
  /** Ours (tiny model); InstructGPT 9.65e-6, TRL 3e-6.  Measured here (addition, 64 responses per step, from the learning test's warm start): 3e-5 and 1e-4 give similar gains over 60 steps (ReMax +7.5 / +7 points from 75 %), but a random-reward null run moves greedy accuracy by up to 4 points at 1e-4 against 3 at 3e-5, and by −21.5 points at 1e-4 from a knife-edge start (53.5 %, most right answers with π(y*) < 0.35); 1e-3 lowers accuracy even when ascending the exact gradient. */
  learningRate: 3e-5,
  /** TRL `max_grad_norm` default 1.0. */
  maxGradNorm: 1,
  /** β = 0.05: TRL `PPOConfig.kl_coef` default (InstructGPT used 0.02); applied as k1 token rewards. */
  beta: 0.05,
  /** Temperature 1: the policy's own distribution. */
  temperature: 1,
  /** 4 epochs per batch: TRL `num_ppo_epochs`, InstructGPT. */
  epochs: 4,
  /** 2 minibatches per epoch: ours (TRL `num_mini_batches` default 1; OpenRLHF uses several). */
  minibatches: 2,
  /** ε = 0.2: PPO paper, TRL `cliprange`. */
  clipEpsilon: 0.2,
  /** Mean over all valid tokens: TRL `masked_mean`, OpenRLHF default. */
  aggregation: "token-mean",
  /** 0: the task's `maxResponseTokens`. */
  maxTokens: 0,
  /** 0: each minibatch in one forward/backward pass (no gradient accumulation). */
  microBatchSize: 0,
  /** γ = 1: TRL default; the paper (Eq. 26) shows γ < 1 biases a response-level reward. */
  gamma: 1,
  /** λ = 0.95: TRL `lam`, InstructGPT. */
  lambda: 0.95,
  /** Ours (tiny model), about 3× the policy's: the critic's head starts untrained. */
  valueLearningRate: 1e-4,
  /** 0.2: TRL `cliprange_value`. */
  valueClip: 0.2,
});

/** The inputs of {@linkcode ppoAdvantages}, all for the same `B` responses. */
export interface PpoAdvantageInputs {
  /** Response rewards `RM(W)`, `[B]`. */
  rewards: tf.Tensor1D;
  /** The sampler's log-probs `[B, T]`. */
  logProbs: tf.Tensor2D;
  /** The reference's log-probs `[B, T]`, or `undefined` for no KL shaping (β = 0). */
  refLogProbs: tf.Tensor2D | undefined;
  /** The critic's values `V(W[0..t−1])` of each token's state, `[B, T]`. */
  values: tf.Tensor2D;
  /** Response mask `[B, T]`. */
  mask: tf.Tensor2D;
}

/**
 * PPO's advantages (step 3 of {@linkcode ppoStep}): InstructGPT's token rewards
 * `r_t = −β(logπ_old − logπ_ref)_t + [t = last] RM(W)` (`klShapedTokenRewards`), GAE on the
 * critic's values `(A, R) = GAE(r, V; γ, λ)` (`generalizedAdvantages`), then `Â = whiten(A)`.
 *
 * With exact values, `E[A_t | W[0..t]] = Q − V` for every λ (Theorem 2 under the ZRA with γ = 1);
 * the whitening is a batch-dependent shift and rescale, measured in `deno task theorem`.
 *
 * Used by PPO and by the theory lab's as-shipped rows (with the exact V as a perfect critic).
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Theorem 2 (Eq. 28) and Eq. 26.
 *
 * @param inputs Rewards `[B]`, log-probs, reference log-probs, values and mask `[B, T]`.
 * @param config `beta`, `gamma`, `lambda`.
 * @returns Whitened advantages and the returns `A + V` (before whitening), both `[B, T]`; the
 *   caller disposes them.
 *
 * @example One response of two tokens, exact values, no KL: A = (0.5, 1) before whitening
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { defaultPpoConfig, ppoAdvantages } from "./ppo.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const inputs = {
 *   rewards: tf.tensor1d([1]),
 *   logProbs: tf.tensor2d([[-1, -1]]),
 *   refLogProbs: undefined,
 *   values: tf.tensor2d([[0.5, 0]]),
 *   mask: tf.tensor2d([[1, 1]]),
 * };
 * const { advantages, returns } = ppoAdvantages(inputs, { ...defaultPpoConfig, lambda: 1 });
 * const r = await returns.array(); // reward-to-go: 1 at both tokens
 * assertAlmostEquals(r[0][0], 1);
 * const a = await advantages.array(); // (0.5, 1) whitened: mean 0.75, std (ddof 1) √0.125
 * assertAlmostEquals(a[0][0], -0.25 / Math.sqrt(0.125 + 1e-8), 1e-5);
 * tf.dispose([advantages, returns, inputs.rewards, inputs.logProbs, inputs.values, inputs.mask]);
 * ```
 */
export function ppoAdvantages(
  inputs: PpoAdvantageInputs,
  config: Pick<PpoConfig, "beta" | "gamma" | "lambda">,
): { advantages: tf.Tensor2D; returns: tf.Tensor2D } {
  const { rewards, logProbs, refLogProbs, values, mask } = inputs;
  return tf.tidy(() => {
    const tokenRewards = klShapedTokenRewards(rewards, logProbs, refLogProbs ?? logProbs, mask, {
      beta: refLogProbs === undefined ? 0 : config.beta,
    });
    const gae = generalizedAdvantages(
      { tokenRewards, values, mask },
      { gamma: config.gamma, lambda: config.lambda },
    );
    return { advantages: whiten(gae.advantages, mask), returns: gae.returns };
  });
}

/**
 * One PPO step.
 *
 * `r_t = −β(logπ_old − logπ_ref)_t + [t = last] RM(W)`; `(A, R) = GAE(r, V_old; γ, λ)`;
 * `Â = whiten(A)`; policy: clipped surrogate on `Â` (token mean); critic:
 * `½ max((V − R)², (V_clip − R)²)` (token mean), each with its own Adam.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Theorem 2: under the zero-reward
 *   assumption with γ = 1, `Q − V` is exactly this advantage, so a response-level PPO has the
 *   expected update of one trained on the unknown token rewards.
 *
 * @param state Policy, reference, value model, both optimizers, random stream, config.
 * @param batch The prompts and the reward functions.
 * @returns The step's metrics, including `loss/value` and `value/explained_variance`.
 */
export async function ppoStep(
  state: StepState<PpoConfig>,
  batch: StepBatch,
): Promise<StepMetrics> {
  const { config } = state;
  const valueModel = state.valueModel;
  const valueOptimizer = state.optimizers.value;
  if (valueModel === undefined || valueOptimizer === undefined) {
    throw new TypeError(
      "Cannot take a PPO step: state.valueModel and state.optimizers.value are required",
    );
  }
  const clock = phaseClock();
  // 1. Sample: one response per prompt.
  const rollout = await clock.time("sample", () => sampleResponses(state, batch));
  const owned: tf.Tensor[] = [];
  try {
    // 2. Score: one reward per response (step 3 turns it into InstructGPT's token rewards).
    const scored = await clock.time("score", () => scoreRollout(state, rollout, batch));
    owned.push(scored.rewards);
    const refLogProbs = await clock.time("reference", () => referenceLogProbs(state, rollout));
    if (refLogProbs !== undefined) owned.push(refLogProbs);
    // 3. Advantage (constants, outside the gradient): GAE on the critic's values, then whitened.
    const { oldValues, returns, advantages, explained } = await clock.time(
      "advantage",
      async () => {
        const oldValues = tf.tidy(() => tokenValues(valueModel, rollout));
        owned.push(oldValues);
        const { advantages, returns } = ppoAdvantages({
          rewards: scored.rewards,
          logProbs: rollout.logProbs,
          refLogProbs,
          values: oldValues,
          mask: rollout.mask,
        }, config);
        owned.push(advantages, returns);
        const explained = await explainedVarianceAsync(oldValues, returns, rollout.mask);
        return { oldValues, returns, advantages, explained };
      },
    );
    // 4. Loss and update: ppo.policyLoss, the clipped surrogate, for the policy (the KL is in the
    //    rewards, so none in the loss), clipped value loss for the critic; epochs × minibatches
    //    each.
    const { update, value } = await clock.time("train", async () => ({
      update: await updatePolicy(
        { ...state, reference: undefined },
        rollout,
        { advantages },
        ppo.policyLoss(config),
        batch.maxTokens,
      ),
      value: await updateValueModel(state, rollout, oldValues, returns),
    }));
    return {
      ...rewardMetrics(scored, config.groupSize),
      ...(await rolloutMetrics(rollout, refLogProbs)),
      ...update,
      ...value,
      "value/explained_variance": explained,
      "tokens/generated": rollout.lengths.reduce((a, b) => a + b, 0),
      ...clock.metrics(),
    };
  } finally {
    tf.dispose(owned);
    disposeRollout(rollout);
  }
}

/**
 * The critic's epochs × minibatches of clipped value regression onto the GAE returns, each
 * minibatch's loss a mean over its own valid tokens (as the policy's); with
 * `config.microBatchSize > 0`, the gradients of its micro-batches are summed, each normalised by
 * the minibatch's valid tokens, before the one Adam step (as `updatePolicy`).
 */
async function updateValueModel(
  state: StepState<PpoConfig>,
  rollout: Parameters<typeof selectRows>[0],
  oldValues: tf.Tensor2D,
  returns: tf.Tensor2D,
): Promise<StepMetrics> {
  const { config } = state;
  const valueModel = state.valueModel!;
  const optimizer = state.optimizers.value!;
  const weights = [...valueModel.weights.values()];
  const n = rollout.lengths.length;
  checkMicroBatchSize(
    `Cannot update the value model at step ${state.step}`,
    minibatchSizes(n, config.minibatches),
    config.microBatchSize,
  );
  const plan = minibatchPlan(n, config.epochs, config.minibatches, state.rng);
  let lossSum = 0;
  let normSum = 0;
  for (const rows of plan) {
    const micro = microBatchPlan(rows, config.microBatchSize);
    const normalizer = micro.length === 1
      ? undefined
      : await accumulationNormalizer("token-mean", rollout.mask, rows);
    // Each micro-batch's rows and constants are made inside its tape, and freed with it.
    const result = await applyUpdate(optimizer, weights, (k) => {
      const mb = selectRows(rollout, micro[k]);
      const width = mb.tokens.shape[1];
      const perToken = valueLoss({
        values: tokenValues(valueModel, mb),
        oldValues: selectRowsOf(oldValues, micro[k], width),
        returns: selectRowsOf(returns, micro[k], width),
      }, { clip: config.valueClip });
      return aggregateLoss(perToken, mb.mask, { mode: "token-mean", normalizer });
    }, {
      maxGradNorm: config.maxGradNorm,
      what: "the value model",
      step: state.step,
      microBatches: micro.length,
    });
    lossSum += result.loss;
    normSum += result.gradNorm;
  }
  return { "loss/value": lossSum / plan.length, "value/grad_norm": normSum / plan.length };
}

/** PPO as `train` runs it. */
export const ppo: Algorithm<PpoConfig> = Object.freeze(
  {
    name: "ppo",
    defaultConfig: defaultPpoConfig,
    configSpec: {
      ...RL_CONFIG_SPEC,
      gamma: { kind: "number", min: 0, max: 1 },
      lambda: { kind: "number", min: 0, max: 1 },
      valueLearningRate: { kind: "number", min: 0, exclusiveMin: true },
      valueClip: { kind: "number", min: 0, exclusiveMin: true },
    },
    step: ppoStep,
    policyLoss: clippedPolicyLoss,
    usesValueModel: true,
    minGroupSize: 1,
  } as const,
);
