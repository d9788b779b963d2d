/**
 * Exact response-level values by enumeration: `V(s) = E[RM(W) | W starts with s]` and
 * `Q(s, a) = E[RM(W) | W starts with s ⊕ a]`.
 *
 * @module
 */
import type { ResponseSpace } from "./enumerate_responses.ts";
import type { TokenRewards } from "./token_rewards.ts";

/** Exact values of every context and (context, token) pair. */
export interface ExactValues {
  /** `[S]`: `V(s) = E_{W ~ π | s}[RM(W)]` (the paper's `E_{W^(t)} RM`). */
  values: Float64Array;
  /**
   * `S × V`: `Q(s, a) = E[RM(W) | s, a]` (the paper's `E_{W^(t+1)} RM`); `RM` of the finished
   * response when `a` ends it.
   */
  actionValues: Float64Array;
  /** `J = (1/P) Σ_p V(root_p)`. */
  objective: number;
}

/**
 * Compute `Q` and `V` by backward induction over the enumerated tree:
 * `Q(s, a) = RM(s ⊕ a)` when `a` ends the response, else `V(s ⊕ a)`; `V(s) = Σ_a π(a | s) Q(s, a)`.
 *
 * These are values of the response-level reward `RM` (collected-so-far reward included), the
 * quantities of Theorem 2: `∇J = E Σ_t (Q(W[0..t−1], w_t) − V(W[0..t−1])) ∇log π(w_t | …)`.
 * Along a response they telescope: `Σ_t (Q − V) = RM(W) − V(root)`.
 *
 * @see He et al., arXiv 2506.02553, Theorem 2 (Eq. 28).
 * @param space The enumerated space.
 * @param probs `S × V` next-token probabilities.
 * @param rewards The token rewards defining `RM`.
 * @returns `V`, `Q` and `J`.
 *
 * @example One step: V(root) = Σ π_a r_a
 * ```ts
 * import { enumerateResponses } from "./enumerate_responses.ts";
 * import { exactValues } from "./exact_values.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const space = enumerateResponses({ vocabSize: 2, eosToken: 1, maxTokens: 1, prompts: [[0]] });
 * const rewards = { gamma: 1, values: Float64Array.from([1, 3]), prefixRewards: new Float64Array(1) };
 * const { values } = exactValues(space, Float64Array.from([0.25, 0.75]), rewards);
 * assertAlmostEquals(values[0], 0.25 * 1 + 0.75 * 3, 1e-12);
 * ```
 */
export function exactValues(
  space: ResponseSpace,
  probs: Float64Array,
  rewards: TokenRewards,
): ExactValues {
  const V = space.vocabSize;
  const S = space.contexts.length;
  const values = new Float64Array(S);
  const actionValues = new Float64Array(S * V);
  // Children are enumerated after their parent (depth-first), so a reverse sweep is bottom-up.
  for (let s = S - 1; s >= 0; s--) {
    const depth = space.contexts[s].prefix.length;
    let v = 0;
    for (let a = 0; a < V; a++) {
      const child = space.children[s * V + a];
      const q = child >= 0
        ? values[child]
        : rewards.prefixRewards[s] + rewards.gamma ** depth * rewards.values[s * V + a];
      actionValues[s * V + a] = q;
      v += probs[s * V + a] * q;
    }
    values[s] = v;
  }
  const objective = space.roots.reduce((acc, r) => acc + values[r], 0) / space.roots.length;
  return { values, actionValues, objective };
}
