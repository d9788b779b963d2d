/**
 * The gated SiLU feed-forward block (SwiGLU) of Llama, Qwen2 and Qwen3.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { dense } from "./dense.ts";

/**
 * `W_down · (silu(W_gate·x) ⊙ W_up·x)`, `silu(z) = z·σ(z)`; weights in the Hugging Face
 * `nn.Linear` layout `[out, in]`.
 *
 * @param x Inputs `[N, d]`.
 * @param gate `[I, d]`.
 * @param up `[I, d]`.
 * @param down `[d, I]`.
 * @returns `[N, d]`.
 *
 * @example One unit: `3 · silu(1) · 2 = 6 · σ(1) = 4.3864`
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { swiglu } from "./swiglu.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const one = (v: number) => tf.tensor2d([[v]]);
 * const y = await swiglu(one(1), one(1), one(2), one(3)).data();
 * assertAlmostEquals(y[0], 6 / (1 + Math.exp(-1)), 1e-5);
 * ```
 */
export function swiglu(
  x: tf.Tensor2D,
  gate: tf.Tensor,
  up: tf.Tensor,
  down: tf.Tensor,
): tf.Tensor2D {
  const g = dense(x, gate);
  return dense(tf.mul(tf.mul(g, tf.sigmoid(g)), dense(x, up)) as tf.Tensor2D, down);
}
