/**
 * Greedy (argmax) decoding from the policy.
 *
 * @module
 */
import type { Policy } from "../policy/transformer.ts";
import { checkInteger } from "../validate.ts";
import { argmax, checkEos, checkPrompts, checkStopTokens, decode } from "./decode.ts";
import type { Rollout } from "./rollout.ts";
import { makeRollout } from "./sample.ts";

/** Options of {@linkcode greedy}. */
export interface GreedyOptions {
  /** Maximum response length (EOS included), at least 1. */
  maxTokens: number;
  /** The EOS token id: kept inside the mask, then used as padding. */
  eosToken: number;
  /** More ids that end a response as `eosToken` does (kept inside the mask); default none. */
  stopTokens?: readonly number[];
  /**
   * Use the key/value cache (default true). `false` recomputes every prefix at each step: same
   * tokens, only slower (for tests and benchmarks), as `sample`'s option.
   */
  kvCache?: boolean;
}

/**
 * Decode one response per prompt by always taking the most likely token,
 * `y_t = argmax_v π(v | prompt, y_<t)` (the first on ties), until EOS (or one of `stopTokens`)
 * or `maxTokens`.
 *
 * Same decoding loop (key/value cache, left-padded prompts) as `sample`. `logProbs` are the
 * temperature-1 log-probs of the chosen tokens.
 *
 * @see He et al., arXiv 2506.02553 — ReMax's baseline is the reward of the greedy response.
 * Used by ReMax (baseline) and evaluation.
 *
 * @param policy The policy.
 * @param prompts `N` prompts as token-id arrays (non-empty, ids in `[0, V)`, at most
 *   `maxLength − maxTokens` tokens each).
 * @param options Length and EOS.
 * @returns A rollout of `N` rows (`groupSize` 1). Dispose it with `disposeRollout`.
 * @throws {RangeError} For empty prompts, ids outside the vocabulary, prompts too long or
 *   `maxTokens < 1`.
 *
 * @example
 * ```ts
 * import { greedy } from "./greedy.ts";
 * import { disposeRollout } from "./rollout.ts";
 * import { createPolicy } from "../policy/transformer.ts";
 * import { initBackend } from "../backend.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const policy = createPolicy({ vocabSize: 6, dModel: 8, layers: 1, heads: 2, maxLength: 12, seed: 0 });
 * const a = await greedy(policy, [[1, 2]], { maxTokens: 5, eosToken: 0 });
 * const b = await greedy(policy, [[1, 2]], { maxTokens: 5, eosToken: 0 });
 * assertEquals(await a.tokens.array(), await b.tokens.array()); // deterministic
 * disposeRollout(a);
 * disposeRollout(b);
 * policy.dispose();
 * ```
 */
export async function greedy(
  policy: Policy,
  prompts: number[][],
  options: GreedyOptions,
): Promise<Rollout> {
  const context = "Cannot decode greedily";
  const maxTokens = checkInteger(context, "maxTokens", options?.maxTokens, 1);
  const eosToken = checkEos(context, options.eosToken, policy);
  const stopTokens = checkStopTokens(context, options.stopTokens, policy.config.vocabSize);
  checkPrompts(context, prompts, policy, maxTokens);
  const rows = prompts.map((p) => [...p]);
  const result = await decode(policy, {
    contexts: rows,
    budgets: rows.map(() => maxTokens),
    eosToken,
    stopTokens,
    temperature: 1,
    choose: (logProbs) => argmax(logProbs),
    useCache: options.kvCache ?? true,
  });
  return makeRollout(rows, result.tokens, result.logProbs, eosToken, 1);
}
