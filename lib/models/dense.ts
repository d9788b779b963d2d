/**
 * A linear layer with the weight in the Hugging Face `nn.Linear` layout.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * `x·Wᵀ + b` with `W` `[out, in]` (PyTorch `nn.Linear`), `x` `[N, in]`, `b` `[out]` optional.
 *
 * @param x Inputs `[N, in]`.
 * @param w The weight `[out, in]`.
 * @param b The bias `[out]`, if any.
 * @returns `[N, out]`.
 */
export function dense(x: tf.Tensor2D, w: tf.Tensor, b?: tf.Tensor): tf.Tensor2D {
  const y: tf.Tensor2D = tf.matMul(x, w as tf.Tensor2D, false, true);
  return b === undefined ? y : tf.add(y, b) as tf.Tensor2D;
}
