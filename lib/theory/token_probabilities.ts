/**
 * The exact next-token and response distributions of a policy over an enumerated space.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ResponseSpace } from "./enumerate_responses.ts";
import type { SequencePolicy } from "./sequence_policy.ts";

/**
 * Evaluate `π(a | s)` for every context `s` of the space and every token `a`.
 *
 * Rows are renormalised in float64 (the policy computes in float32), so each sums to 1 to machine
 * precision. Used by the samplers, the exact values and the closed-form expectations.
 *
 * @param policy The policy.
 * @param space The enumerated space (its contexts must be known to the policy).
 * @returns `S × V` row-major probabilities.
 *
 * @example A uniform tabular policy
 * ```ts
 * import { enumerateResponses } from "./enumerate_responses.ts";
 * import { createTabularPolicy } from "./tabular_policy.ts";
 * import { tokenProbabilities } from "./token_probabilities.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const space = enumerateResponses({ vocabSize: 3, eosToken: 2, maxTokens: 2, prompts: [[0]] });
 * const policy = createTabularPolicy({ vocabSize: 3, contexts: space.contexts, seed: 0, scale: 0 });
 * const probs = await tokenProbabilities(policy, space);
 * assertAlmostEquals(probs[0], 1 / 3, 1e-12);
 * policy.dispose();
 * ```
 */
export async function tokenProbabilities(
  policy: SequencePolicy,
  space: ResponseSpace,
): Promise<Float64Array> {
  const logp = policy.logProbs(space.contexts);
  const p = tf.exp(logp);
  const values = Float64Array.from(await p.data());
  tf.dispose([logp, p]);
  const V = space.vocabSize;
  for (let s = 0; s < space.contexts.length; s++) {
    let total = 0;
    for (let a = 0; a < V; a++) total += values[s * V + a];
    for (let a = 0; a < V; a++) values[s * V + a] /= total;
  }
  return values;
}

/**
 * The probability of each enumerated response, `π(W | w0) = Π_t π(w_t | W[0..t−1])`.
 *
 * @param space The enumerated space.
 * @param probs `S × V` next-token probabilities from {@linkcode tokenProbabilities}.
 * @returns `[R]` probabilities; those of one prompt sum to 1.
 *
 * @example Probabilities of one prompt sum to 1
 * ```ts
 * import { enumerateResponses } from "./enumerate_responses.ts";
 * import { responseProbabilities } from "./token_probabilities.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const space = enumerateResponses({ vocabSize: 2, eosToken: 1, maxTokens: 3, prompts: [[0]] });
 * const probs = new Float64Array(space.contexts.length * 2).fill(0.5);
 * const total = responseProbabilities(space, probs).reduce((a, b) => a + b, 0);
 * assertAlmostEquals(total, 1, 1e-12);
 * ```
 */
export function responseProbabilities(space: ResponseSpace, probs: Float64Array): Float64Array {
  const V = space.vocabSize;
  return Float64Array.from(space.responses, (w) => {
    let p = 1;
    for (let t = 0; t < w.tokens.length; t++) p *= probs[w.contexts[t] * V + w.tokens[t]];
    return p;
  });
}
