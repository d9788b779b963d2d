/**
 * ReMax (Li et al. 2023): REINFORCE whose baseline is the reward of the prompt's greedy response,
 * one extra greedy decode per prompt instead of a critic (from the step's sampler: a server
 * decodes it at temperature 0). KL to the reference as in GRPO.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { baselineAdvantages } from "../advantage/baseline.ts";
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
import { describe } from "../validate.ts";

/** ReMax's settings (those of every recipe). */
export type RemaxConfig = RlConfig;

/** ReMax's defaults. Batch sizes and learning rate are ours, sized for the tiny tasks. */
export const defaultRemaxConfig: Readonly<RemaxConfig> = Object.freeze({
  /** Ours: 64 prompts × 1 sampled response = 64 responses per step (plus 64 greedy ones), as every recipe here (see GRPO's `promptsPerStep`). */
  promptsPerStep: 64,
  /** One sampled response per prompt: ReMax paper (Li et al. 2023, Algorithm 1). */
  groupSize: 1,
  /** Ours (tiny model); the ReMax paper uses 1e-6 on 7 B models.  Measured here (addition, 64 responses per step, from the learning test's warm start): 3e-5 and 1e-4 give similar gains over 60 steps (ReMax +7.5 / +7 points from 75 %), but a random-reward null run moves greedy accuracy by up to 4 points at 1e-4 against 3 at 3e-5, and by −21.5 points at 1e-4 from a knife-edge start (53.5 %, most right answers with π(y*) < 0.35); 1e-3 lowers accuracy even when ascending the exact gradient. */
  learningRate: 3e-5,
  /** TRL `max_grad_norm` default 1.0. */
  maxGradNorm: 1,
  /** β = 0.04 and a k3 penalty in the loss: "KL as in GRPO" (DeepSeekMath). */
  beta: 0.04,
  /** Temperature 1: the policy's own distribution. */
  temperature: 1,
  /** One on-policy pass (ReMax Algorithm 1). */
  epochs: 1,
  /** One minibatch. */
  minibatches: 1,
  /** ε = 0.2 (PPO paper): the clip of the ratio loss once a batch makes several Adam steps (see `scoreFunctionPolicyLoss`). */
  clipEpsilon: 0.2,
  /** Σ over a response's tokens, mean over responses: ReMax Algorithm 1 (sum of token log-probs). */
  aggregation: "sequence-sum",
  /** 0: the task's `maxResponseTokens`. */
  maxTokens: 0,
  /** 0: each minibatch in one forward/backward pass (no gradient accumulation). */
  microBatchSize: 0,
});

/**
 * ReMax's advantages (step 3 of {@linkcode remaxStep}): `A_i = r_i − RM(greedy response of
 * prompt_i)` on every token of response i. The greedy response is a function of the policy and
 * the prompt, not of the samples, so the baseline is prompt-level and the update stays unbiased
 * (Lemma 2).
 *
 * Used by ReMax and by the theory lab's as-shipped rows.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Theorem 1 and Lemma 2.
 *
 * @param rewards Response rewards `[B]`, groups of `groupSize` contiguous rows per prompt.
 * @param greedyRewards The reward of each prompt's greedy response, `B / groupSize` numbers.
 * @param mask Response mask `[B, T]`.
 * @param config `groupSize`.
 * @returns Response advantages `[B]` and token advantages `[B, T]` (the caller disposes both).
 * @throws {TypeError} When `greedyRewards` does not hold one number per prompt.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { remaxAdvantages } from "./remax.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const rewards = tf.tensor1d([1, 0, 0.5, 0.25]);
 * const mask = tf.tensor2d([[1], [1], [1], [1]]);
 * const { responses, tokens } = remaxAdvantages(rewards, [0.5, 0], mask, { groupSize: 2 });
 * assertEquals(await responses.array(), [0.5, -0.5, 0.5, 0.25]);
 * tf.dispose([rewards, mask, responses, tokens]);
 * ```
 */
export function remaxAdvantages(
  rewards: tf.Tensor1D,
  greedyRewards: readonly number[],
  mask: tf.Tensor2D,
  config: Pick<RemaxConfig, "groupSize">,
): ResponseAdvantages {
  const prompts = rewards.shape[0] / config.groupSize;
  if (!Array.isArray(greedyRewards) || greedyRewards.length !== prompts) {
    throw new TypeError(
      `Cannot compute ReMax advantages: greedyRewards must hold one number per prompt (${prompts}), got ${
        describe(greedyRewards)
      }`,
    );
  }
  const responses = tf.tidy(() =>
    baselineAdvantages(
      rewards,
      tf.tensor1d(
        Array.from({ length: rewards.shape[0] }, (_, i) =>
          greedyRewards[Math.floor(i / config.groupSize)]),
      ),
    )
  );
  return onEveryToken(responses, mask);
}

/**
 * One ReMax step: `A_i = r_i − RM(greedy(prompt_i))` for every token, `ℓ_t = −A logπ_θ(w_t|…)`
 * (+ β k3 KL).
 *
 * Steps 1, 2 and 4 are the shared {@linkcode responseLevelStep}; this recipe gives its step 3.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al.: the greedy reward depends only on the
 *   prompt, a valid baseline (Lemma 2).
 *
 * @param state Policy, reference, optimizer, random stream, config.
 * @param batch The prompts and the reward functions.
 * @returns The step's metrics.
 */
export function remaxStep(
  state: StepState<RemaxConfig>,
  batch: StepBatch,
): Promise<StepMetrics> {
  return responseLevelStep(remax, state, batch, {
    // 1. Sample: G responses per prompt, and one greedy response per prompt for the baseline,
    //    both from the state's sampler.
    greedyBaseline: true,
    // 2. Score: the sampled responses and the greedy ones.
    // 3. Advantage (constants, outside the gradient): reward minus the prompt's greedy reward.
    advantages: (scored, mask, greedy) =>
      remaxAdvantages(scored.rewards, greedy ?? [], mask, state.config),
    // 4. Loss and update: remax.policyLoss, REINFORCE (the clipped ratio once a batch makes
    //    several Adam steps) (+ β·k3 KL).
  });
}

/** ReMax as `train` runs it. */
export const remax: Algorithm<RemaxConfig> = Object.freeze(
  {
    name: "remax",
    defaultConfig: defaultRemaxConfig,
    configSpec: RL_CONFIG_SPEC,
    step: remaxStep,
    policyLoss: scoreFunctionPolicyLoss,
    usesValueModel: false,
    minGroupSize: 1,
  } as const,
);
