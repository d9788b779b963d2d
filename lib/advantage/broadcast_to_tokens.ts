/**
 * Broadcast one number per sequence over its valid tokens.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkFinite, checkMask, checkRank, formatShape } from "../validate.ts";

/**
 * Give every valid token of sequence `b` the value of the sequence.
 *
 * `Y[b, t] = values[b] · mask[b, t]`
 *
 * Response-level advantages (group-relative, leave-one-out, baseline) apply to every token of the
 * response: Theorem 1 of the paper shows that `Σₜ RM(W) ∇log π(wₜ | W[0..t−1])` is an unbiased
 * estimate of the token-level policy gradient.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Theorem 1 (arXiv 2506.02553).
 *
 * Used by GRPO, RLOO, ReMax and REINFORCE.
 *
 * Preconditions: `values` float32 `[B]` with finite entries; `mask` float32 0/1 `[B, T]` with the
 * same `B`.
 *
 * @param values One value per sequence, float32 `[B]`.
 * @param mask Valid-token mask, float32 0/1 `[B, T]`.
 * @returns Per-token values, float32 `[B, T]`, 0 at masked positions.
 * @throws {TypeError} When an argument is not a float32 tensor of the right rank or `B` differs.
 * @throws {RangeError} When a value is NaN or infinite or the mask is not 0/1.
 *
 * @example Two responses of lengths 2 and 3
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { broadcastToTokens } from "./broadcast_to_tokens.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const advantages = tf.tensor1d([0.5, -1]);
 * const mask = tf.tensor2d([[1, 1, 0], [1, 1, 1]]);
 * const perToken = broadcastToTokens(advantages, mask);
 * assertEquals(await perToken.array(), [[0.5, 0.5, 0], [-1, -1, -1]]);
 * tf.dispose([advantages, mask, perToken]);
 * ```
 */
export function broadcastToTokens(values: tf.Tensor1D, mask: tf.Tensor2D): tf.Tensor2D {
  const context = "Cannot broadcast to tokens";
  const v = checkRank(context, "values", values, 1, "[B]", "float32");
  const m = checkRank(context, "mask", mask, 2, "[B, T]", "float32");
  if (v.shape[0] !== m.shape[0]) {
    throw new TypeError(
      `${context}: values and mask must have the same B, got values ${
        formatShape(v.shape)
      } and mask ${formatShape(m.shape)}`,
    );
  }
  checkMask(context, "mask", m);
  checkFinite(context, "values", v);
  return tf.tidy(() => tf.where(m.equal(1), v.reshape([v.shape[0], 1]), 0) as tf.Tensor2D);
}
