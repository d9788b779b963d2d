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
 */
export function rmsNorm(x: tf.Tensor2D, g: tf.Tensor, epsilon: number): tf.Tensor2D {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.mul(x, x), -1, true), epsilon))), g);
}
