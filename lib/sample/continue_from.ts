/**
 * Monte-Carlo continuations of response prefixes (TRePO's value estimates).
 *
 * @module
 */
import type { Random } from "../random.ts";
import type { Policy } from "../policy/transformer.ts";
import { checkInteger, describe } from "../validate.ts";
import {
  checkEos,
  checkStopTokens,
  checkTemperature,
  decode,
  filteredWeights,
  stopSet,
} from "./decode.ts";
import { checkRollout, type Rollout } from "./rollout.ts";
import { resolveRandom } from "./sample.ts";

/** One prefix: the first `position` response tokens of rollout row `row`. */
export interface Prefix {
  /** The rollout row. */
  row: number;
  /** How many of the row's response tokens the prefix keeps, `0 ≤ position ≤ lengths[row]`. */
  position: number;
}

/** Options of {@linkcode continueFrom}. */
export interface ContinueFromOptions {
  /** Continuations per prefix `K`, at least 1. */
  samples: number;
  /**
   * The response-length cap, as given to `sample`: a continuation of a prefix at position `t`
   * has at most `maxTokens − t` new tokens, so completions are distributed like full responses.
   */
  maxTokens: number;
  /** Seed of a fresh generator (give `seed` or `rng`). */
  seed?: number;
  /** The generator to draw from (advanced by the call). */
  rng?: Random;
  /** Softmax temperature, > 0 (default 1). */
  temperature?: number;
  /** The EOS token id. */
  eosToken: number;
  /** More ids that end a response as `eosToken` does; default none. */
  stopTokens?: readonly number[];
}

/** The continuations of a set of prefixes. */
export interface Continuations {
  /** The prefixes, as given. */
  prefixes: { row: number; position: number }[];
  /** Continuations per prefix. */
  samples: number;
  /** Full response token arrays (the row's first `position` tokens + the continuation, up to and
   *  including EOS), prefixes.length × samples of them, prefix-major. */
  completions: number[][];
  /** Number of tokens sampled (EOS included). */
  generatedTokens: number;
}

/**
 * Anything that continues prefixes of a rollout the way {@linkcode continueFrom} does: the same
 * arguments (less the policy) and the same result. TRePO takes one, so its values can come from
 * the local policy, from an inference server, or (in the theory lab) from an exact distribution.
 */
export type ContinuationSampler = (
  rollout: Rollout,
  prefixes: Prefix[],
  options: ContinueFromOptions,
) => Promise<Continuations>;

/**
 * Complete each prefix `samples` times by sampling from the policy:
 * `y ~ π(· | prompt ⊕ W[0..t−1])`, completion `= W[0..t−1] ⊕ y`, until EOS or `maxTokens` in all.
 *
 * All prefixes of a call are decoded in **one** batch (`prefixes.length · samples` rows, left
 * padded). What is reused: the prefill is shared — each rollout row's prompt ⊕ response is run
 * through the model once (up to its longest requested prefix) and every prefix of that row, and
 * each of its `samples` copies, takes its keys/values from that one pass (causal attention makes
 * them identical); decoding then extends the cache one token per step. The rollout itself holds
 * no cache, so the rows are re-encoded once per call. A prefix that already ends with EOS (or a
 * stop id), or
 * that already has `maxTokens` tokens, is returned as is without sampling.
 *
 * @see He et al., arXiv 2506.02553 — TRePO: `V̂(p) = mean_k RM(p ⊕ y_k)`, `y_k ~ π(·|p)`.
 * Used by TRePO.
 *
 * @param policy The policy.
 * @param rollout The rollout the prefixes are taken from.
 * @param prefixes Non-empty list of `{ row, position }`.
 * @param options Samples per prefix, length cap, temperature, EOS and the random source.
 * @returns The completions, prefix-major (`completions[i·K + k]` continues `prefixes[i]`).
 * @throws {RangeError} For an empty prefix list, a row or position out of range, `samples < 1`,
 *   `maxTokens < 1` or `temperature ≤ 0`.
 *
 * @example
 * ```ts
 * import { continueFrom } from "./continue_from.ts";
 * import { sample } from "./sample.ts";
 * import { disposeRollout } from "./rollout.ts";
 * import { createPolicy } from "../policy/transformer.ts";
 * import { initBackend } from "../backend.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const policy = createPolicy({ vocabSize: 6, dModel: 8, layers: 1, heads: 2, maxLength: 12, seed: 0 });
 * const r = await sample(policy, [[1, 2]], { maxTokens: 4, eosToken: 0, seed: 1 });
 * const c = await continueFrom(policy, r, [{ row: 0, position: 1 }], {
 *   samples: 3, maxTokens: 4, eosToken: 0, seed: 2,
 * });
 * assertEquals(c.completions.length, 3);
 * const first = (await r.tokens.array())[0][0];
 * for (const completion of c.completions) assertEquals(completion[0], first);
 * disposeRollout(r);
 * policy.dispose();
 * ```
 */
export async function continueFrom(
  policy: Policy,
  rollout: Rollout,
  prefixes: { row: number; position: number }[],
  options: ContinueFromOptions,
): Promise<Continuations> {
  const context = "Cannot continue from prefixes";
  const [batch] = checkRollout(context, rollout);
  const samples = checkInteger(context, "samples", options?.samples, 1);
  const maxTokens = checkInteger(context, "maxTokens", options.maxTokens, 1);
  const temperature = checkTemperature(context, options.temperature ?? 1);
  const eos = checkEos(context, options.eosToken, policy);
  const stopTokens = checkStopTokens(context, options.stopTokens, policy.config.vocabSize);
  const stops = stopSet(eos, stopTokens);
  if (!Array.isArray(prefixes)) {
    throw new TypeError(`${context}: prefixes must be an array, got ${describe(prefixes)}`);
  }
  if (prefixes.length === 0) {
    throw new RangeError(`${context}: prefixes must not be empty, got an empty prefix list`);
  }
  const { maxLength } = policy.config;
  prefixes.forEach((p, i) => {
    const row = checkInteger(context, `prefixes[${i}].row`, p?.row, 0);
    const position = checkInteger(context, `prefixes[${i}].position`, p?.position, 0);
    if (row >= batch) {
      throw new RangeError(`${context}: prefixes[${i}].row must be less than ${batch}, got ${row}`);
    }
    if (position > rollout.lengths[row]) {
      throw new RangeError(
        `${context}: prefixes[${i}].position must be at most the row's length ${
          rollout.lengths[row]
        }, got ${position}`,
      );
    }
    const promptLength = rollout.promptTokens[row].length;
    if (promptLength + maxTokens > maxLength) {
      throw new RangeError(
        `${context}: prompt of row ${row} has ${promptLength} tokens, more than maxLength − maxTokens = ${maxLength} − ${maxTokens} = ${
          maxLength - maxTokens
        }`,
      );
    }
  });
  const rng = resolveRandom(context, options.seed, options.rng);
  const tokens = await rollout.tokens.array();
  const contexts: number[][] = [];
  const budgets: number[] = [];
  const heads: number[][] = [];
  for (const { row, position } of prefixes) {
    const head = tokens[row].slice(0, position);
    const endsWithEos = position > 0 && stops.has(head[position - 1]);
    const budget = endsWithEos ? 0 : Math.max(0, maxTokens - position);
    for (let k = 0; k < samples; k++) {
      heads.push(head);
      contexts.push([...rollout.promptTokens[row], ...head]);
      budgets.push(budget);
    }
  }
  const result = await decode(policy, {
    contexts,
    budgets,
    eosToken: eos,
    stopTokens,
    temperature,
    choose: (logProbs) => rng.categorical(filteredWeights(logProbs)),
  });
  let generatedTokens = 0;
  const completions = heads.map((head, i) => {
    generatedTokens += result.tokens[i].length;
    return [...head, ...result.tokens[i]];
  });
  return {
    prefixes: prefixes.map(({ row, position }) => ({ row, position })),
    samples,
    completions,
    generatedTokens,
  };
}
