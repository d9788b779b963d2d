/**
 * Plain REINFORCE (Williams 1992) with the response reward and no baseline: every token of a
 * response is pushed up in proportion to the response's reward. The floor the other recipes are
 * measured against.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  type Algorithm,
  RL_CONFIG_SPEC,
  type RlConfig,
  type StepBatch,
  type StepMetrics,
  type StepState,
} from "./step.ts";
import { scoreFunctionPolicyLoss } from "./objective.ts";
import { onEveryToken, type ResponseAdvantages, responseLevelStep } from "./response_level_step.ts";

/** REINFORCE's settings (those of every recipe). */
export type ReinforceConfig = RlConfig;

/** REINFORCE's defaults. Batch sizes and learning rate are ours, sized for the tiny tasks. */
export const defaultReinforceConfig: Readonly<ReinforceConfig> = Object.freeze({
  /** Ours: 64 prompts × 1 response = 64 responses per step, as every recipe here (see GRPO's `promptsPerStep`). */
  promptsPerStep: 64,
  /** One response per prompt (Williams 1992: one trajectory per episode). */
  groupSize: 1,
  /** Ours (tiny model).  Measured here (addition, 64 responses per step, from the learning test's warm start): 3e-5 and 1e-4 give similar gains over 60 steps (ReMax +7.5 / +7 points from 75 %), but a random-reward null run moves greedy accuracy by up to 4 points at 1e-4 against 3 at 3e-5, and by −21.5 points at 1e-4 from a knife-edge start (53.5 %, most right answers with π(y*) < 0.35); 1e-3 lowers accuracy even when ascending the exact gradient. */
  learningRate: 3e-5,
  /** TRL `max_grad_norm` default 1.0. */
  maxGradNorm: 1,
  /** No KL: the floor has no regulariser. */
  beta: 0,
  /** Temperature 1: the policy's own distribution. */
  temperature: 1,
  /** One on-policy pass. */
  epochs: 1,
  /** One minibatch. */
  minibatches: 1,
  /** ε = 0.2 (PPO paper): the clip of the ratio loss once a batch makes several Adam steps (see `scoreFunctionPolicyLoss`). */
  clipEpsilon: 0.2,
  /** Σ over a response's tokens, mean over responses: the estimator of Theorem 1. */
  aggregation: "sequence-sum",
  /** 0: the task's `maxResponseTokens`. */
  maxTokens: 0,
  /** 0: each minibatch in one forward/backward pass (no gradient accumulation). */
  microBatchSize: 0,
});

/**
 * REINFORCE's advantages (step 3 of {@linkcode reinforceStep}): `A_i = RM(W_i)`, the response's
 * reward itself with no baseline, on every token of the response.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Theorem 1.
 *
 * @param rewards Response rewards `[B]` (only read: the result holds a copy).
 * @param mask Response mask `[B, T]`.
 * @returns Response advantages `[B]` and token advantages `[B, T]` (the caller disposes both).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { reinforceAdvantages } from "./reinforce.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const rewards = tf.tensor1d([2, -1]);
 * const mask = tf.tensor2d([[1, 1], [1, 0]]);
 * const { responses, tokens } = reinforceAdvantages(rewards, mask);
 * assertEquals(await tokens.array(), [[2, 2], [-1, 0]]);
 * tf.dispose([rewards, mask, responses, tokens]);
 * ```
 */
export function reinforceAdvantages(rewards: tf.Tensor1D, mask: tf.Tensor2D): ResponseAdvantages {
  return onEveryToken(tf.clone(rewards), mask);
}

/**
 * One REINFORCE step: `A_t = RM(W)` for every token, `ℓ_t = −RM(W) logπ_θ(w_t|…)`.
 *
 * Steps 1, 2 and 4 are the shared {@linkcode responseLevelStep}; this recipe gives its step 3.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Theorem 1: this single-sample estimator
 *   is unbiased; the baselines of the other recipes only reduce its variance (Lemma 2).
 *
 * @param state Policy, optimizer, random stream, config.
 * @param batch The prompts and the reward functions.
 * @returns The step's metrics.
 */
export function reinforceStep(
  state: StepState<ReinforceConfig>,
  batch: StepBatch,
): Promise<StepMetrics> {
  return responseLevelStep(reinforce, state, batch, {
    // 1. Sample: G responses per prompt.
    // 2. Score: one reward per response.
    // 3. Advantage (constants, outside the gradient): the reward itself, no baseline.
    advantages: (scored, mask) => reinforceAdvantages(scored.rewards, mask),
    // 4. Loss and update: reinforce.policyLoss, REINFORCE (the clipped ratio once a batch makes
    //    several Adam steps).
  });
}

/** REINFORCE as `train` runs it. */
export const reinforce: Algorithm<ReinforceConfig> = Object.freeze(
  {
    name: "reinforce",
    defaultConfig: defaultReinforceConfig,
    configSpec: RL_CONFIG_SPEC,
    step: reinforceStep,
    policyLoss: scoreFunctionPolicyLoss,
    usesValueModel: false,
    minGroupSize: 1,
  } as const,
);
