/**
 * The exact objective `J(θ) = (1/P) Σ_p Σ_W π_θ(W | p)·RM(W)` over an enumerated space and its
 * exact gradient by automatic differentiation of that finite sum.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ResponseSpace } from "./enumerate_responses.ts";
import { flattenGradient, type SequencePolicy } from "./sequence_policy.ts";
import { responseReward, type TokenRewards } from "./token_rewards.ts";

/**
 * The exact objective as a differentiable scalar:
 * `J(θ) = (1/P) Σ_p Σ_W π_θ(W | p)·RM(W)`, `log π(W) = Σ_t log π(w_t | W[0..t−1])`.
 *
 * The per-response log-probabilities are an incidence-matrix product (no gather, so it
 * differentiates on every backend). Call inside `tf.tidy` or dispose the result.
 *
 * @see He et al., arXiv 2506.02553, Eq. 5 (the objective) and Theorem 1.
 * @param policy The policy.
 * @param space The enumerated space.
 * @param rewards The token rewards defining `RM`.
 * @returns A float32 scalar.
 *
 * @example A uniform policy on one step: J is the mean reward
 * ```ts
 * import { enumerateResponses } from "./enumerate_responses.ts";
 * import { createTabularPolicy } from "./tabular_policy.ts";
 * import { exactObjective } from "./exact_objective.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const space = enumerateResponses({ vocabSize: 2, eosToken: 1, maxTokens: 1, prompts: [[0]] });
 * const policy = createTabularPolicy({ vocabSize: 2, contexts: space.contexts, seed: 0, scale: 0 });
 * const rewards = { gamma: 1, values: Float64Array.from([1, 3]), prefixRewards: new Float64Array(1) };
 * const j = exactObjective(policy, space, rewards);
 * assertAlmostEquals(j.dataSync()[0], 2, 1e-6);
 * j.dispose();
 * policy.dispose();
 * ```
 */
export function exactObjective(
  policy: SequencePolicy,
  space: ResponseSpace,
  rewards: TokenRewards,
): tf.Scalar {
  const V = space.vocabSize;
  const R = space.responses.length;
  const SV = space.contexts.length * V;
  const incidence = new Float32Array(R * SV);
  const weights = new Float32Array(R);
  const P = space.prompts.length;
  space.responses.forEach((w, i) => {
    for (let t = 0; t < w.tokens.length; t++) {
      incidence[i * SV + w.contexts[t] * V + w.tokens[t]] = 1;
    }
    weights[i] = responseReward(space, rewards, w) / P;
  });
  return tf.tidy(() => {
    const logp = tf.reshape(policy.logProbs(space.contexts), [SV, 1]);
    const logResponse = tf.matMul(tf.tensor2d(incidence, [R, SV]), logp); // [R, 1]
    return tf.sum(tf.mul(tf.exp(tf.reshape(logResponse, [R])), tf.tensor1d(weights)));
  }) as tf.Scalar;
}

/** The exact objective and its gradient. */
export interface ExactGradient {
  /** `J(θ)`. */
  value: number;
  /** `∇_θ J`, flattened in the order of `policy.variables`, `[parameterCount]`. */
  gradient: Float64Array;
}

/**
 * The exact gradient `∇_θ J` by `tf.variableGrads` of the enumerated sum — the reference every
 * estimator in the theory lab is compared with.
 *
 * @param policy The policy (gradients w.r.t. `policy.variables`).
 * @param space The enumerated space.
 * @param rewards The token rewards defining `RM`.
 * @returns `J` and `∇J` (`[parameterCount]`).
 *
 * @example Two actions, uniform policy: ∂J/∂θ_a = π_a (r_a − J)
 * ```ts
 * import { enumerateResponses } from "./enumerate_responses.ts";
 * import { createTabularPolicy } from "./tabular_policy.ts";
 * import { exactGradient } from "./exact_objective.ts";
 * import { assertArrayAlmostEquals } from "@std/assert";
 *
 * const space = enumerateResponses({ vocabSize: 2, eosToken: 1, maxTokens: 1, prompts: [[0]] });
 * const policy = createTabularPolicy({ vocabSize: 2, contexts: space.contexts, seed: 0, scale: 0 });
 * const rewards = { gamma: 1, values: Float64Array.from([1, 3]), prefixRewards: new Float64Array(1) };
 * const { gradient } = await exactGradient(policy, space, rewards);
 * assertArrayAlmostEquals(gradient, [0.5 * (1 - 2), 0.5 * (3 - 2)], 1e-6);
 * policy.dispose();
 * ```
 */
export async function exactGradient(
  policy: SequencePolicy,
  space: ResponseSpace,
  rewards: TokenRewards,
): Promise<ExactGradient> {
  const { value, grads } = tf.variableGrads(
    () => exactObjective(policy, space, rewards),
    [...policy.variables],
  );
  try {
    return { value: (await value.data())[0], gradient: await flattenGradient(policy, grads) };
  } finally {
    tf.dispose([value, ...Object.values(grads)]);
  }
}
