/**
 * A linear layer with the weight in the Hugging Face `nn.Linear` layout.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { nativeGemmActive } from "../native_gemm.ts";
import { cachedTranspose } from "./transposed_weights.ts";

/**
 * `x·Wᵀ + b` with `W` `[out, in]` (PyTorch `nn.Linear`), `x` `[N, in]`, `b` `[out]` optional.
 *
 * On wasm without the native GEMM, `Wᵀ` is materialised with `tf.transpose` and multiplied with
 * a plain matmul: the stock kernel's transpose flag misses XNNPACK's fast path (measured 10× slower
 * on `[1024, 576]·[49152, 576]ᵀ`, `deno task bench:lm`). Inside `withTransposedWeights` (the
 * decoding loop) and when no gradient tape records, a weight variable's `Wᵀ` comes from that
 * cache, computed once per call instead of once per token; `tf.matMul(x, w, false, true)` stays
 * the reference formulation (tests hold them equal).
 *
 * @param x Inputs `[N, in]`.
 * @param w The weight `[out, in]`.
 * @param b The bias `[out]`, if any.
 * @returns `[N, out]`.
 */
export function dense(x: tf.Tensor2D, w: tf.Tensor, b?: tf.Tensor): tf.Tensor2D {
  const plain = tf.getBackend() === "wasm" && !nativeGemmActive();
  const cached = plain ? cachedTranspose(w) : undefined;
  const y: tf.Tensor2D = cached !== undefined
    ? tf.matMul(x, cached)
    : plain
    ? plainDense(x, w as tf.Tensor2D)
    : tf.matMul(x, w as tf.Tensor2D, false, true);
  return b === undefined ? y : tf.add(y, b) as tf.Tensor2D;
}

/**
 * `x·Wᵀ` as flag-free matmuls, with a hand-written gradient: `dx = dy·W` and `dW = dyᵀ·x`, so
 * neither `W` nor the gradient of `Wᵀ` is ever transposed, and XNNPACK packs `W` and `x` (its
 * right-hand operands) rather than `dy` and a fresh `Wᵀ`. Through tfjs's own gradient of
 * `x·transpose(W)` the tied head of SmolLM2 (`W` `[49152, 576]`, 1020 rows) took 6.0 s for `dWᵀ`
 * and 5.5 s for `dx` per Adam step.
 */
function plainDense(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, ws] = args as tf.Tensor2D[];
    (args[2] as tf.GradSaveFunc)([xs, ws]);
    return {
      value: tf.tidy(() => tf.matMul(xs, tf.transpose(ws))),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const g = (Array.isArray(dy) ? dy[0] : dy) as tf.Tensor2D;
        const [x0, w0] = saved as tf.Tensor2D[];
        return [tf.matMul(g, w0), tf.matMul(tf.transpose(g), x0)];
      },
    };
  });
  return f(x, w) as tf.Tensor2D;
}
