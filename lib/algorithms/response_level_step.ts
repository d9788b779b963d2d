/**
 * The one step of the recipes whose advantage is one number per response, given to each of its
 * tokens: GRPO, Dr. GRPO, RLOO, REINFORCE and ReMax. Each recipe passes its step 3 (the
 * advantage) and, for ReMax, asks for the greedy baseline decode; steps 1, 2 and 4 are the same
 * for all of them, and step 4's per-token loss is the algorithm's own `policyLoss`, the function
 * the theory lab differentiates.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { disposeRollout } from "../sample/rollout.ts";
import { broadcastToTokens } from "../advantage/broadcast_to_tokens.ts";
import {
  encodePrompts,
  greedyResponses,
  referenceLogProbs,
  sampleResponses,
  type Scored,
  scoreRollout,
} from "./rollout.ts";
import { updatePolicy } from "./policy_update.ts";
import { nonzeroFraction, phaseClock, rewardMetrics, rolloutMetrics } from "./step_metrics.ts";
import type { Algorithm, RlConfig, StepBatch, StepMetrics, StepState } from "./step.ts";

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

/** What a response-level recipe adds to {@linkcode responseLevelStep}. */
export interface ResponseLevelRecipe {
  /**
   * Step 1 also decodes one greedy response per prompt through the state's sampler, and step 2
   * scores it: ReMax's baseline (default off). Its rewards reach {@linkcode
   * ResponseLevelRecipe.advantages} as `greedy`, their mean is `reward/greedy_mean`, and its tokens
   * count in `tokens/generated`.
   */
  readonly greedyBaseline?: boolean;
  /**
   * Step 3: the advantages, constants outside the gradient.
   *
   * @param scored The rewards of the sampled responses, `[B]`, groups of `G` rows.
   * @param mask The response mask `[B, T]`.
   * @param greedy With `greedyBaseline`, the reward of each prompt's greedy response (`B/G`).
   * @returns Response advantages `[B]` and token advantages `[B, T]` (the step disposes both).
   */
  advantages(
    scored: Scored,
    mask: tf.Tensor2D,
    greedy: readonly number[] | undefined,
  ): ResponseAdvantages;
}

/**
 * One step of a response-level recipe:
 *
 * 1. Sample: `G` responses per prompt from the state's sampler (and, with `greedyBaseline`, one
 *    greedy response per prompt from the same sampler);
 * 2. Score: one reward per response (`rewards/{name}/mean` logged per reward function);
 * 3. Advantage: `recipe.advantages`, one number per response on each of its tokens;
 * 4. Loss and update: `algorithm.policyLoss(config)` (+ β·k3 KL to the reference),
 *    epochs × minibatches of Adam (`updatePolicy`).
 *
 * Each phase is timed on its own (`time/sample_s`, `time/score_s`, `time/advantage_s`,
 * `time/reference_s`, `time/train_s`, see `phaseClock`).
 *
 * @param algorithm The recipe (its `policyLoss` is step 4's per-token loss).
 * @param state Policy, reference, optimizer, random stream, config.
 * @param batch The prompts and the reward functions.
 * @param recipe The recipe's step 3, and whether it needs the greedy baseline.
 * @returns The step's metrics: rewards, rollout, update, `adv/nonzero_fraction`,
 *   `tokens/generated` and the phase timers.
 */
export async function responseLevelStep<C extends RlConfig>(
  algorithm: Algorithm<C>,
  state: StepState<C>,
  batch: StepBatch,
  recipe: ResponseLevelRecipe,
): Promise<StepMetrics> {
  const { config } = state;
  const clock = phaseClock();
  const prompts = encodePrompts(batch);
  // 1. Sample: G responses per prompt (and ReMax's greedy response per prompt).
  const rollout = await clock.time("sample", () => sampleResponses(state, batch, prompts));
  const owned: tf.Tensor[] = [];
  try {
    const greedyRollout = recipe.greedyBaseline
      ? await clock.time("sample", () => greedyResponses(state, batch, prompts))
      : undefined;
    const greedyTokens = sum(greedyRollout?.lengths ?? []);
    // 2. Score: one reward per response (and per greedy response).
    let greedy: Scored | undefined;
    let scored: Scored;
    try {
      scored = await clock.time("score", () => scoreRollout(state, rollout, batch));
      owned.push(scored.rewards);
      if (greedyRollout !== undefined) {
        greedy = await clock.time("score", () => scoreRollout(state, greedyRollout, batch));
        owned.push(greedy.rewards);
      }
    } finally {
      if (greedyRollout !== undefined) disposeRollout(greedyRollout);
    }
    // 3. Advantage: the recipe's, the same on every token of a response.
    const advantages = await clock.time(
      "advantage",
      () => recipe.advantages(scored, rollout.mask, greedy?.values),
    );
    owned.push(advantages.responses, advantages.tokens);
    const refLogProbs = await clock.time("reference", () => referenceLogProbs(state, rollout));
    if (refLogProbs !== undefined) owned.push(refLogProbs);
    // 4. Loss and update: the algorithm's per-token loss (+ β·k3 KL, added by updatePolicy).
    const update = await clock.time("train", () =>
      updatePolicy(
        state,
        rollout,
        { advantages: advantages.tokens, refLogProbs },
        algorithm.policyLoss(config),
        batch.maxTokens,
      ));
    return {
      ...rewardMetrics(scored, config.groupSize),
      ...(greedy === undefined
        ? {}
        : { "reward/greedy_mean": sum(greedy.values) / greedy.values.length }),
      ...(await rolloutMetrics(rollout, refLogProbs)),
      ...update,
      "adv/nonzero_fraction": await nonzeroFraction(advantages.responses),
      "tokens/generated": sum(rollout.lengths) + greedyTokens,
      ...clock.metrics(),
    };
  } finally {
    tf.dispose(owned);
    disposeRollout(rollout);
  }
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
