/**
 * Truncated importance sampling against a sampler whose weights differ from the trainer's.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkNumber, checkRank, checkSameShape } from "../validate.ts";

const CONTEXT = "Cannot compute truncated importance weights";

/**
 * Per-token truncated importance weights of tokens drawn by a sampler `μ` (an inference server)
 * for a loss computed against `π_old` (the local policy before the update):
 *
 * `w_t = min(π_old(w_t | …) / μ(w_t | …), C) = min(exp(log π_old − log μ), C)`, and 0 where the
 * mask is 0.
 *
 * Multiplying the recipe's per-token loss by `w_t` (a constant) corrects, up to the truncation at
 * `C`, for the server's kernels, precision or stale weights: `E_μ[w ∇ℓ] = E_{π_old}[∇ℓ]` when no
 * weight is truncated. Truncation trades that unbiasedness for bounded variance, as TRL's
 * `vllm_importance_sampling_mode="token_truncate"` and verl's truncated IS do (TRL's default
 * `C = 3`).
 *
 * Used by every recipe when `train` is given a remote sampler and an `importanceSamplingCap`.
 *
 * @param oldLogProbs log π_old of the sampled tokens, float32 `[B, T]`.
 * @param samplerLogProbs log μ of the same tokens, as the server returned them, float32 `[B, T]`.
 * @param mask Valid-token mask, float32 0/1 `[B, T]`.
 * @param cap The truncation `C`, > 0.
 * @returns `[B, T]` weights in `[0, C]` (the caller disposes it).
 * @throws {TypeError} When an input is not a float32 `[B, T]` tensor or the shapes differ.
 * @throws {RangeError} When `cap` is not a positive number.
 *
 * @example A token 2× likelier under π_old than under the server, one 4× likelier (truncated)
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { truncatedImportanceWeights } from "./truncated_importance_weights.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const old = tf.tensor2d([[Math.log(0.5), Math.log(0.8), 0]]);
 * const server = tf.tensor2d([[Math.log(0.25), Math.log(0.2), -3]]);
 * const mask = tf.tensor2d([[1, 1, 0]]);
 * const w = await truncatedImportanceWeights(old, server, mask, 3).data();
 * assertAlmostEquals(w[0], 2, 1e-5);
 * assertAlmostEquals(w[1], 3, 1e-6); // 4 truncated at C = 3
 * assertAlmostEquals(w[2], 0);
 * tf.dispose([old, server, mask]);
 * ```
 */
export function truncatedImportanceWeights(
  oldLogProbs: tf.Tensor2D,
  samplerLogProbs: tf.Tensor2D,
  mask: tf.Tensor2D,
  cap: number,
): tf.Tensor2D {
  checkRank(CONTEXT, "oldLogProbs", oldLogProbs, 2, "[B, T]", "float32");
  checkRank(CONTEXT, "samplerLogProbs", samplerLogProbs, 2, "[B, T]", "float32");
  checkRank(CONTEXT, "mask", mask, 2, "[B, T]", "float32");
  checkSameShape(CONTEXT, "oldLogProbs", oldLogProbs, "samplerLogProbs", samplerLogProbs);
  checkSameShape(CONTEXT, "oldLogProbs", oldLogProbs, "mask", mask);
  checkNumber(CONTEXT, "cap", cap, { min: 0, exclusiveMin: true });
  return tf.tidy(() => tf.mul(tf.minimum(tf.exp(tf.sub(oldLogProbs, samplerLogProbs)), cap), mask));
}
