/**
 * Sampling responses from the policy (temperature, top-k, top-p), with a key/value cache.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Random } from "../random.ts";
import type { Policy } from "../policy/transformer.ts";
import { checkInteger, checkNumber } from "../validate.ts";
import {
  checkEos,
  checkPrompts,
  checkStopTokens,
  checkTemperature,
  decode,
  filteredWeights,
} from "./decode.ts";
import type { Rollout } from "./rollout.ts";

/** Options of {@linkcode sample}. */
export interface SampleOptions {
  /** Responses per prompt `G` (default 1); the rows of one prompt are contiguous. */
  groupSize?: number;
  /** Maximum response length (EOS included), at least 1. */
  maxTokens: number;
  /** Softmax temperature, > 0 (default 1). For argmax decoding use `greedy`. */
  temperature?: number;
  /** Keep only the `topK` most likely tokens (after temperature). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches `topP`, in (0, 1]. */
  topP?: number;
  /** The EOS token id: kept inside the mask, then used as padding. */
  eosToken: number;
  /**
   * More ids that end a response as `eosToken` does (kept inside the mask; padding stays
   * `eosToken`), e.g. the other EOS ids of a `generation_config.json`. Default none.
   */
  stopTokens?: readonly number[];
  /** Seed of a fresh {@linkcode Random} (give `seed` or `rng`). */
  seed?: number;
  /** The generator to draw from (advanced by the call). */
  rng?: Random;
  /**
   * Use the key/value cache (default true). `false` recomputes every prefix from scratch at each
   * step: same tokens for the same seed, only slower (for tests and benchmarks).
   */
  kvCache?: boolean;
}

/** Resolve `seed | rng` into a generator. */
export function resolveRandom(context: string, seed: unknown, rng: unknown): Random {
  if (rng !== undefined) {
    if (seed !== undefined) {
      throw new TypeError(`${context}: give either seed or rng, not both`);
    }
    if (!(rng instanceof Random)) {
      throw new TypeError(`${context}: rng must be a Random, got ${typeof rng}`);
    }
    return rng;
  }
  if (seed === undefined) {
    throw new TypeError(`${context}: a seed or an rng is required`);
  }
  return new Random(checkNumber(context, "seed", seed));
}

/** Build a rollout from decoded rows. */
export function makeRollout(
  promptTokens: number[][],
  tokens: number[][],
  logProbs: number[][],
  eosToken: number,
  groupSize: number,
): Rollout {
  const batch = tokens.length;
  const lengths = tokens.map((t) => t.length);
  const width = Math.max(1, ...lengths);
  const ids = new Int32Array(batch * width).fill(eosToken);
  const mask = new Float32Array(batch * width);
  const lp = new Float32Array(batch * width);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < tokens[b].length; t++) {
      ids[b * width + t] = tokens[b][t];
      mask[b * width + t] = 1;
      lp[b * width + t] = logProbs[b][t];
    }
  }
  return {
    promptTokens,
    tokens: tf.tensor2d(ids, [batch, width], "int32"),
    mask: tf.tensor2d(mask, [batch, width]),
    logProbs: tf.tensor2d(lp, [batch, width]),
    lengths,
    groupSize,
  };
}

/**
 * Sample `groupSize` responses for each prompt from π(· | prompt) at a temperature, optionally
 * truncated by top-k and top-p, incrementally with a key/value cache.
 *
 * `y_t ~ softmax(z_t / τ)` restricted to the top-k / nucleus set, until EOS (or one of
 * `stopTokens`) or `maxTokens`.
 * Prompts may have different lengths (left-padded internally; positions count from each
 * prompt's first token). The identical prompts of a group are prefilled once.
 *
 * `logProbs` are those of the temperature-scaled distribution **before** top-k/top-p truncation,
 * `log softmax(z/τ)[y_t]`: exactly what `tokenLogProbs(policy, rollout, { temperature: τ })`
 * recomputes (within float error), so PPO ratios start at 1.
 *
 * @see He et al., arXiv 2506.02553 — W ~ π(·|w₀), the on-policy samples of Lemma 1.
 * Used by every algorithm (PPO, GRPO, ReMax, RLOO, TRePO).
 *
 * @param policy The policy.
 * @param prompts `N` prompts as token-id arrays (non-empty, ids in `[0, V)`, at most
 *   `maxLength − maxTokens` tokens each).
 * @param options Group size, length, temperature, truncation, EOS and the random source.
 * @returns A rollout of `B = N·G` rows: tokens/mask/logProbs `[B, T]`, `T` the longest response.
 *   Dispose it with `disposeRollout`.
 * @throws {RangeError} For empty prompts, ids outside the vocabulary, prompts too long,
 *   `maxTokens < 1`, `groupSize < 1`, `temperature ≤ 0`, `topK < 1` or `topP` outside (0, 1].
 *
 * @example
 * ```ts
 * import { sample } from "./sample.ts";
 * import { disposeRollout } from "./rollout.ts";
 * import { createPolicy } from "../policy/transformer.ts";
 * import { initBackend } from "../backend.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const policy = createPolicy({ vocabSize: 6, dModel: 8, layers: 1, heads: 2, maxLength: 12, seed: 0 });
 * const r = await sample(policy, [[1, 2], [3]], { groupSize: 2, maxTokens: 4, eosToken: 0, seed: 7 });
 * assertEquals(r.tokens.shape[0], 4);
 * assertEquals(r.promptTokens, [[1, 2], [1, 2], [3], [3]]);
 * disposeRollout(r);
 * policy.dispose();
 * ```
 */
export async function sample(
  policy: Policy,
  prompts: number[][],
  options: SampleOptions,
): Promise<Rollout> {
  const context = "Cannot sample from the policy";
  const maxTokens = checkInteger(context, "maxTokens", options?.maxTokens, 1);
  const groupSize = checkInteger(context, "groupSize", options.groupSize ?? 1, 1);
  const temperature = checkTemperature(context, options.temperature ?? 1);
  const topK = options.topK === undefined
    ? undefined
    : checkInteger(context, "topK", options.topK, 1);
  let topP: number | undefined;
  if (options.topP !== undefined) {
    topP = checkNumber(context, "topP", options.topP);
    if (topP <= 0 || topP > 1) {
      throw new RangeError(`${context}: topP must be in (0, 1], got ${topP}`);
    }
  }
  const eosToken = checkEos(context, options.eosToken, policy);
  const stopTokens = checkStopTokens(context, options.stopTokens, policy.config.vocabSize);
  checkPrompts(context, prompts, policy, maxTokens);
  const rng = resolveRandom(context, options.seed, options.rng);
  const rows: number[][] = [];
  for (const p of prompts) for (let g = 0; g < groupSize; g++) rows.push([...p]);
  const result = await decode(policy, {
    contexts: rows,
    budgets: rows.map(() => maxTokens),
    eosToken,
    stopTokens,
    temperature,
    useCache: options.kvCache ?? true,
    choose: (logProbs) => rng.categorical(filteredWeights(logProbs, topK, topP)),
  });
  return makeRollout(rows, result.tokens, result.logProbs, eosToken, groupSize);
}
