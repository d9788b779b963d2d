/**
 * Root-mean-square normalisation (Llama, Qwen2, Qwen3; Qwen3 also per attention head on q and k).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * RMSNorm over the last axis: `g ⊙ x / √(mean(x²) + ε)`, `x` `[N, d]`, `g` `[d]`.
 *
 * @param x Rows to normalise `[N, d]`.
 * @param g The gain `[d]`.
 * @param epsilon Added to the mean square (`rms_norm_eps`).
 * @returns `[N, d]`.
 *
 * @example x = (3, 4): mean square 12.5, so x/√12.5 = (0.8485, 1.1314), times the gain (1, 2)
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { rmsNorm } from "./rms_norm.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const y = await rmsNorm(tf.tensor2d([[3, 4]]), tf.tensor1d([1, 2]), 0).data();
 * assertAlmostEquals(y[0], 3 / Math.sqrt(12.5), 1e-6);
 * assertAlmostEquals(y[1], 8 / Math.sqrt(12.5), 1e-6);
 * ```
 */
export function rmsNorm(x: tf.Tensor2D, g: tf.Tensor, epsilon: number): tf.Tensor2D {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.mul(x, x), -1, true), epsilon))), g);
}
