/**
 * The rollout phase of an RL step: sample the responses (step 1, and ReMax's greedy baseline),
 * score them (step 2), and the constant log-probs taken outside any gradient (the reference's,
 * and the local policy's of a remote sampler's tokens).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Policy } from "../policy/transformer.ts";
import { disposeRollout, type Rollout } from "../sample/rollout.ts";
import { tokenLogProbs } from "../sample/token_log_probs.ts";
import { localSampler } from "../sample/sampler.ts";
import type { Tokenizer } from "../tasks/task.ts";
import { score } from "../score/score.ts";
import type { RlConfig, StepBatch, StepMetrics, StepState } from "./step.ts";
import { selectRows } from "./update.ts";

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
 * import { responseEnd } from "./rollout.ts";
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
 * vLLM. The gap between the two is reported by `rolloutMetrics`, and truncated importance
 * sampling against the server's is applied by `updatePolicy` when `state.importanceSamplingCap`
 * is set.
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

/**
 * ReMax's baseline decode (part of its step 1): one greedy response per prompt from the state's
 * sampler (`Sampler.greedy`: the local policy's argmax, or the server's at temperature 0), so the
 * baseline comes from the same model as the sampled responses. Draws nothing from the random
 * stream.
 *
 * @param state The step's state (policy, sampler).
 * @param batch The step's batch (tokenizer, response budget).
 * @param prompts Token ids of each prompt (default: the batch's prompts encoded).
 * @returns The rollout, one row per prompt (dispose it with `disposeRollout`).
 */
export function greedyResponses(
  state: StepState,
  batch: StepBatch,
  prompts: number[][] = encodePrompts(batch),
): Promise<Rollout> {
  const sampler = state.sampler ?? localSampler;
  return sampler.greedy(state.policy, prompts, {
    maxTokens: batch.maxTokens,
    ...responseEnd(batch.tokenizer),
  });
}

/** The scored rewards of a rollout. */
export interface Scored {
  /** Response rewards, float32 `[B]` (dispose it). */
  rewards: tf.Tensor1D;
  /** The same as numbers. */
  values: number[];
  /** `rewards/{name}/mean`: the unweighted mean of each reward function over the rows. */
  metrics: StepMetrics;
}

/**
 * Step 2 of every recipe: score a rollout with the batch's reward functions (`score`), naming the
 * step when a reward function fails.
 *
 * @param state The step's state (for the step number).
 * @param rollout The responses, `B` rows.
 * @param batch The batch with the reward functions.
 * @returns Rewards `[B]` as a tensor and as numbers, and each function's mean
 *   (`rewards/{name}/mean`).
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
    const metrics = Object.fromEntries(
      Object.entries(scored.metrics).filter(([name]) => name.startsWith("rewards/")),
    );
    return { rewards: scored.rewards, values: scored.values, metrics };
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
