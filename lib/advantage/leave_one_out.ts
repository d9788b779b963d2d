/**
 * Leave-one-out advantages: each response's reward minus the mean reward of the other responses to
 * the same prompt (RLOO).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkFinite, checkInteger, checkRank } from "../validate.ts";

/** Options of {@linkcode leaveOneOutAdvantages}. */
export interface LeaveOneOutOptions {
  /** Responses per prompt `G ≥ 2`; the responses of one prompt are contiguous. Must divide `N`. */
  groupSize: number;
}

/**
 * Leave-one-out advantages of response-level rewards.
 *
 * `Aᵢ = rᵢ − (1/(G−1)) Σ_{j∈g, j≠i} rⱼ = G/(G−1) · (rᵢ − mean_g)`
 *
 * The baseline of response `i` does not depend on `rᵢ`, so the estimator stays unbiased (Lemma 2 of
 * the paper), and the advantages of a group sum to 0. A group of equal rewards gets exactly 0.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Lemma 2 and Theorem 1 (arXiv 2506.02553).
 *
 * Used by RLOO.
 *
 * Preconditions: `rewards` is float32 of shape `[N]` with finite entries; `groupSize` is an integer
 * ≥ 2 dividing `N`.
 *
 * @param rewards Response-level rewards, float32 `[N]`, groups contiguous.
 * @param options The group size.
 * @returns Advantages, float32 `[N]`.
 * @throws {TypeError} When `rewards` is not a float32 tensor of rank 1 or `groupSize` is not an
 * integer.
 * @throws {RangeError} When `groupSize` is below 2 or does not divide `N`, or a reward is NaN or
 * infinite.
 *
 * @example One prompt, three responses
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { leaveOneOutAdvantages, type LeaveOneOutOptions } from "./leave_one_out.ts";
 * import { assertArrayAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const rewards = tf.tensor1d([1, 0, 2]);
 * const options: LeaveOneOutOptions = { groupSize: 3 };
 * const advantages = leaveOneOutAdvantages(rewards, options);
 * // 1 − (0+2)/2 = 0, 0 − (1+2)/2 = −1.5, 2 − (1+0)/2 = 1.5
 * assertArrayAlmostEquals(await advantages.data(), [0, -1.5, 1.5]);
 * tf.dispose([rewards, advantages]);
 * ```
 */
export function leaveOneOutAdvantages(
  rewards: tf.Tensor1D,
  options: LeaveOneOutOptions,
): tf.Tensor1D {
  const context = "Cannot compute leave-one-out advantages";
  const r = checkRank(context, "rewards", rewards, 1, "[N]", "float32");
  const { groupSize } = options ?? {};
  checkInteger(context, "groupSize", groupSize, 2);
  const n = r.shape[0];
  if (n % groupSize !== 0) {
    throw new RangeError(
      `${context}: groupSize must divide the number of rewards, got groupSize ${groupSize} for ${n} rewards`,
    );
  }
  checkFinite(context, "rewards", r);
  return tf.tidy(() => {
    const grouped = r.reshape([n / groupSize, groupSize]);
    const others = grouped.sum(1, true).sub(grouped).div(groupSize - 1);
    const equal = grouped.max(1, true).equal(grouped.min(1, true));
    return tf.where(equal, 0, grouped.sub(others)).reshape([n]) as tf.Tensor1D;
  });
}
