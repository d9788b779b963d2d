/**
 * The entropy of the policy's next-token distribution at every position.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkRank, formatShape } from "../validate.ts";

const CONTEXT = "Cannot compute the entropy";

/**
 * The per-token entropy of the categorical distribution given by the logits,
 *
 * `H_t = −Σ_v p_v log p_v`, `log p = logSoftmax(logits)` (max-shifted, so large logits do not
 * overflow), `p = exp(log p)`.
 *
 * Logged as `entropy` by every algorithm; an entropy bonus subtracts `c·H_t` from the loss.
 *
 * @see https://arxiv.org/abs/2506.02553
 *
 * Used by: every algorithm (metric and optional bonus).
 *
 * Preconditions: float32 `[B, T, V]` with `V ≥ 1` and finite logits (a −∞ logit gives NaN). The
 * result is not masked: reduce it with `aggregateLoss`.
 *
 * @param logits Unnormalised log-probabilities, float32 `[B, T, V]`; differentiable.
 * @returns The entropy in nats, float32 `[B, T]`, each in [0, log V].
 * @throws {TypeError} When `logits` is not a float32 `[B, T, V]` tensor.
 * @throws {RangeError} When the vocabulary axis is empty.
 *
 * @example A uniform distribution over 4 tokens has entropy log 4
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { entropyFromLogits } from "./entropy.ts";
 * import { assertArrayAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const logits = tf.tensor3d([[[3, 3, 3, 3], [100, 0, 0, 0]]]);
 * const entropy = entropyFromLogits(logits);
 * // uniform: log 4; one logit 100 above the rest: ≈ 0 (p ≈ 1 − 3e−44)
 * assertArrayAlmostEquals(await entropy.data(), [Math.log(4), 0], 1e-6);
 * tf.dispose([logits, entropy]);
 * ```
 */
export function entropyFromLogits(logits: tf.Tensor3D): tf.Tensor2D {
  checkRank(CONTEXT, "logits", logits, 3, "[B, T, V]", "float32");
  if (logits.shape[2] < 1) {
    throw new RangeError(
      `${CONTEXT}: logits must have a vocabulary axis of size at least 1, got shape ${
        formatShape(logits.shape)
      }`,
    );
  }
  return tf.tidy(() => {
    const logP = tf.logSoftmax(logits, -1);
    return tf.neg(tf.sum(tf.mul(tf.exp(logP), logP), -1)) as tf.Tensor2D;
  });
}
