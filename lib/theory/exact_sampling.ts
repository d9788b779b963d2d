/**
 * Sampling responses from the exact token distribution of an enumerated space, and greedy decoding.
 *
 * @module
 */
import type { Random } from "../random.ts";
import type { ResponseSpace } from "./enumerate_responses.ts";

/** A (partial or complete) path through the space: tokens and the context each was drawn in. */
export interface ResponsePath {
  /** Response tokens. */
  tokens: number[];
  /** `contexts[t]`: index of the context in which `tokens[t]` was drawn. */
  contexts: number[];
}

/**
 * Draw a completion from context `start` until the response ends (EOS or the length limit), each
 * token `a ~ π(· | s)` with `rng.categorical`.
 *
 * Used by every sampled estimator of the theory lab (fresh responses per estimate; TRePO's
 * continuations from a prefix).
 *
 * @param space The enumerated space.
 * @param probs `S × V` next-token probabilities.
 * @param start Index of the context to continue from (a root for a whole response).
 * @param rng The random stream.
 * @returns The continuation's tokens and contexts (starting with `start`).
 *
 * @example A deterministic policy
 * ```ts
 * import { enumerateResponses } from "./enumerate_responses.ts";
 * import { sampleCompletion } from "./exact_sampling.ts";
 * import { Random } from "../random.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const space = enumerateResponses({ vocabSize: 2, eosToken: 1, maxTokens: 3, prompts: [[0]] });
 * const probs = new Float64Array(space.contexts.length * 2);
 * for (let s = 0; s < space.contexts.length; s++) probs[2 * s] = 1; // always token 0
 * assertEquals(sampleCompletion(space, probs, 0, new Random(1)).tokens, [0, 0, 0]);
 * ```
 */
export function sampleCompletion(
  space: ResponseSpace,
  probs: Float64Array,
  start: number,
  rng: Random,
): ResponsePath {
  const V = space.vocabSize;
  const tokens: number[] = [];
  const contexts: number[] = [];
  let s = start;
  while (s >= 0) {
    const a = rng.categorical(probs.subarray(s * V, (s + 1) * V));
    tokens.push(a);
    contexts.push(s);
    s = space.children[s * V + a];
  }
  return { tokens, contexts };
}

/**
 * The greedy response of a prompt: the most probable token at each step (lowest id on ties).
 * Deterministic given the policy, so a reward computed from it is a prompt-level baseline (ReMax).
 *
 * @param space The enumerated space.
 * @param probs `S × V` next-token probabilities.
 * @param promptIndex Which prompt.
 * @returns The greedy path.
 *
 * @example
 * ```ts
 * import { enumerateResponses } from "./enumerate_responses.ts";
 * import { greedyResponse } from "./exact_sampling.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const space = enumerateResponses({ vocabSize: 2, eosToken: 1, maxTokens: 3, prompts: [[0]] });
 * const probs = new Float64Array(space.contexts.length * 2).fill(0.5);
 * probs[1] = 0.7; // EOS is most likely at the root
 * probs[0] = 0.3;
 * assertEquals(greedyResponse(space, probs, 0).tokens, [1]);
 * ```
 */
export function greedyResponse(
  space: ResponseSpace,
  probs: Float64Array,
  promptIndex: number,
): ResponsePath {
  const V = space.vocabSize;
  const tokens: number[] = [];
  const contexts: number[] = [];
  let s = space.roots[promptIndex];
  while (s >= 0) {
    let best = 0;
    for (let a = 1; a < V; a++) if (probs[s * V + a] > probs[s * V + best]) best = a;
    tokens.push(best);
    contexts.push(s);
    s = space.children[s * V + best];
  }
  return { tokens, contexts };
}
