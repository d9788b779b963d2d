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
  return dense(gatedSilu(dense(x, gate), dense(x, up)), down);
}

/**
 * The gate of SwiGLU: `silu(g) ⊙ u`, `silu(g) = g·σ(g)`, on the gate and up projections
 * `[N, I]` (the families apply the projections themselves, through `projection.ts`).
 *
 * @param g The gate projection `[N, I]`.
 * @param u The up projection `[N, I]`.
 * @returns `[N, I]`.
 *
 * @example `silu(0) · 5 = 0`
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { gatedSilu } from "./swiglu.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const y = await gatedSilu(tf.tensor2d([[0]]), tf.tensor2d([[5]])).data();
 * assertEquals(y[0], 0);
 * ```
 */
export function gatedSilu(g: tf.Tensor2D, u: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(tf.mul(g, tf.sigmoid(g)), u) as tf.Tensor2D;
}
