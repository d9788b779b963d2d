/**
 * How far the policy has moved from the one that sampled the batch.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkFinite, checkMask, checkRank, checkSameShape, isDeviceBackend } from "../validate.ts";

const CONTEXT = "Cannot compute the approximate KL";

/**
 * The masked mean of `log π_old − log π_θ` over the sampled tokens,
 *
 * `(1/Σm) Σ_t m_t (log π_old(w_t | …) − log π_θ(w_t | …))`,
 *
 * the k1 estimate of `KL(π_old ‖ π_θ)` from tokens sampled by π_old. It is 0 on the first
 * (on-policy) epoch and grows as the epochs re-use the batch; a value far above ~0.01–0.05
 * suggests the step size is too large. Returns 0 when no token is valid. Summed in float32.
 *
 * Reads its result synchronously, so it throws on a GPU backend (webgpu, webgl); there, use
 * {@linkcode approxKlSums} and `await sums.data()` (as the training step does).
 *
 * @see https://arxiv.org/abs/2506.02553
 *
 * Used by: PPO, GRPO, ReMax, RLOO and TRePO (logged per epoch).
 *
 * Preconditions: all tensors float32 with the same shape `[B, T]`; `oldLogProbs` finite; `mask`
 * exactly 0/1.
 *
 * @param logProbs log π_θ of the sampled tokens under the current policy, float32 `[B, T]`.
 * @param oldLogProbs log π_old of the same tokens under the sampling policy, float32 `[B, T]`.
 * @param mask Valid-token mask, float32 0/1 `[B, T]`.
 * @returns A number (can be slightly negative for a small batch).
 * @throws {TypeError} When an input is not a float32 `[B, T]` tensor or the shapes differ.
 * @throws {RangeError} For a non-finite old log-prob or a mask entry other than 0/1.
 * @throws {Error} On a GPU backend (see above).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { approxKl } from "./approx_kl.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const logProbs = tf.tensor2d([[-1, -2, -9]]);
 * const oldLogProbs = tf.tensor2d([[-1.5, -1.9, 0]]);
 * const mask = tf.tensor2d([[1, 1, 0]]);
 * // ((−1.5 + 1) + (−1.9 + 2)) / 2 = (−0.5 + 0.1) / 2 = −0.2
 * assertAlmostEquals(approxKl(logProbs, oldLogProbs, mask), -0.2, 1e-6);
 * tf.dispose([logProbs, oldLogProbs, mask]);
 * ```
 */
export function approxKl(
  logProbs: tf.Tensor2D,
  oldLogProbs: tf.Tensor2D,
  mask: tf.Tensor2D,
): number {
  if (isDeviceBackend()) {
    throw new Error(
      `${CONTEXT}: approxKl reads synchronously, which the ${tf.getBackend()} backend cannot do; use approxKlSums and await its data()`,
    );
  }
  const sums = approxKlSums(logProbs, oldLogProbs, mask);
  const [total, count] = sums.dataSync();
  sums.dispose();
  return count > 0 ? total / count : 0;
}

/**
 * {@linkcode approxKl} as a tensor, for reading asynchronously (on every backend):
 * `[Σ_t m_t (log π_old − log π_θ), Σ_t m_t]`; the estimate is the first entry divided by the
 * second (0 when the second is 0). Same checks as {@linkcode approxKl}; on a GPU backend the value
 * checks (finite old log-probs, 0/1 mask) are skipped.
 *
 * @param logProbs log π_θ of the sampled tokens under the current policy, float32 `[B, T]`.
 * @param oldLogProbs log π_old of the same tokens under the sampling policy, float32 `[B, T]`.
 * @param mask Valid-token mask, float32 0/1 `[B, T]`.
 * @returns float32 `[2]`: masked sum of `old − new`, valid count.
 * @throws {TypeError} As {@linkcode approxKl}.
 * @throws {RangeError} As {@linkcode approxKl}.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { approxKlSums } from "./approx_kl.ts";
 * import { assertArrayAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const logProbs = tf.tensor2d([[-1, -2, -9]]);
 * const oldLogProbs = tf.tensor2d([[-1.5, -1.9, 0]]);
 * const mask = tf.tensor2d([[1, 1, 0]]);
 * const sums = approxKlSums(logProbs, oldLogProbs, mask);
 * assertArrayAlmostEquals(await sums.data(), [-0.4, 2], 1e-6);
 * tf.dispose([logProbs, oldLogProbs, mask, sums]);
 * ```
 */
export function approxKlSums(
  logProbs: tf.Tensor2D,
  oldLogProbs: tf.Tensor2D,
  mask: tf.Tensor2D,
): tf.Tensor1D {
  checkRank(CONTEXT, "logProbs", logProbs, 2, "[B, T]", "float32");
  checkRank(CONTEXT, "oldLogProbs", oldLogProbs, 2, "[B, T]", "float32");
  checkRank(CONTEXT, "mask", mask, 2, "[B, T]", "float32");
  checkSameShape(CONTEXT, "logProbs", logProbs, "oldLogProbs", oldLogProbs);
  checkSameShape(CONTEXT, "logProbs", logProbs, "mask", mask);
  checkFinite(CONTEXT, "oldLogProbs", oldLogProbs);
  checkMask(CONTEXT, "mask", mask);
  return tf.tidy(() => {
    const difference = tf.sub(oldLogProbs, logProbs);
    const masked = tf.where(tf.greater(mask, 0), difference, tf.zerosLike(difference));
    return tf.stack([tf.sum(masked), tf.sum(mask)]) as tf.Tensor1D;
  });
}
