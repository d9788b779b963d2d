/**
 * Causal multi-head self-attention as one differentiable op computed in plain JavaScript over
 * typed arrays, used by the trunk on the wasm and cpu backends.
 *
 * Why: on wasm only plain 2-D matmuls reach XNNPACK; the per-head products `Q·Kᵀ` and `P·V` are
 * batched matmuls that run on a slow generic kernel (~1.6 GFLOP/s), and the attention block also
 * costs a dozen transposes, reshapes, a bias add and a softmax per layer. A fused loop that reads
 * the fused `[Q | K | V]` projection once, skips the masked (future and padded) keys and keeps the
 * probabilities for the backward pass does half the multiply-adds and no layout ops.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** When the typed-array kernels run: `"auto"` on the wasm and cpu backends, or always / never. */
export type TypedKernelMode = "auto" | "on" | "off";

let typedKernelMode: TypedKernelMode = "auto";

/**
 * Choose when the typed-array kernels ({@linkcode causalAttention}, the typed LayerNorm and
 * embedding gradient of `layers.ts`, the typed decoding loop) are used instead of the tfjs-op
 * formulations, which stay as the reference. For tests and benchmarks; the default `"auto"` uses
 * them on wasm and cpu, whose tensors live in CPU memory (reading one is a copy, not a GPU
 * download).
 *
 * @param mode `"auto"`, `"on"` or `"off"`.
 * @returns The previous mode.
 *
 * @example Run one computation on the tfjs-op reference path
 * ```ts
 * import { setTypedKernels, useTypedKernels } from "./causal_attention.ts";
 * import { initBackend } from "../backend.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const previous = setTypedKernels("off");
 * assertEquals(useTypedKernels(), false);
 * setTypedKernels(previous);
 * assertEquals(useTypedKernels(), true);
 * ```
 */
export function setTypedKernels(mode: TypedKernelMode): TypedKernelMode {
  const previous = typedKernelMode;
  typedKernelMode = mode;
  return previous;
}

/** Whether the typed-array kernels run now (see {@linkcode setTypedKernels}). */
export function useTypedKernels(): boolean {
  if (typedKernelMode !== "auto") return typedKernelMode === "on";
  const name = tf.getBackend();
  return name === "wasm" || name === "cpu";
}

/**
 * Causal multi-head attention over left-padded rows, one op with a hand-written gradient.
 *
 * For row `b`, head `h`, query position `i` (positions `pad_b ≤ j ≤ i` are the visible keys):
 * `sᵢⱼ = (qᵢ·kⱼ)/√d_h`, `pᵢⱼ = softmax_j(sᵢⱼ)`, `oᵢ = Σⱼ pᵢⱼ vⱼ`. Gradient:
 * `dvⱼ = Σᵢ pᵢⱼ doᵢ`, `dpᵢⱼ = doᵢ·vⱼ`, `dsᵢⱼ = pᵢⱼ(dpᵢⱼ − Σⱼ pᵢⱼ dpᵢⱼ)`,
 * `dqᵢ = Σⱼ dsᵢⱼ kⱼ/√d_h`, `dkⱼ = Σᵢ dsᵢⱼ qᵢ/√d_h`.
 *
 * A padded query (`i < pad_b`) attends to itself only (its output is never read by a real
 * position). Same values as the masked-softmax form (`−10⁹` bias) on every real position.
 *
 * @param qkv The fused projection `[B·L, 3d]`: columns `Q | K | V`, heads contiguous in each.
 * @param batch `B`.
 * @param length `L`.
 * @param heads `H` (divides `d`).
 * @param padCounts Left padding of each row (`B` numbers), or undefined for none.
 * @returns The attention output `[B·L, d]` (before the output projection).
 *
 * @example One head, two positions: the second query averages the values by its softmax weights
 * ```ts
 * import { causalAttention } from "./causal_attention.ts";
 * import { initBackend } from "../backend.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * // rows: [q | k | v] with d = 1; s₁₀ = 1·0 = 0, s₁₁ = 1·ln 3 → p = (1/4, 3/4)
 * const qkv = tf.tensor2d([[0, 0, 2], [1, Math.log(3), 6]]);
 * const out = causalAttention(qkv, 1, 2, 1).dataSync();
 * assertAlmostEquals(out[0], 2, 1e-6); // the first position sees itself only
 * assertAlmostEquals(out[1], 0.25 * 2 + 0.75 * 6, 1e-5);
 * ```
 */
export function causalAttention(
  qkv: tf.Tensor2D,
  batch: number,
  length: number,
  heads: number,
  padCounts?: readonly number[],
): tf.Tensor2D {
  const d = qkv.shape[1] / 3;
  const pads = Array.from({ length: batch }, (_, b) => padCounts?.[b] ?? 0);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor2D;
    const data = input.dataSync() as Float32Array;
    const probs = new Float32Array(batch * heads * length * length);
    const out = attentionForward(data, probs, batch, length, heads, d, pads);
    return {
      value: tf.tensor2d(out, [batch * length, d]),
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
        const g = (Array.isArray(dy) ? dy[0] : dy).dataSync() as Float32Array;
        const grad = attentionBackward(data, probs, g, batch, length, heads, d, pads);
        return [tf.tensor2d(grad, [batch * length, 3 * d])];
      },
    };
  });
  return f(qkv) as tf.Tensor2D;
}

/** First visible key of query `i` in a row with `pad` leading pads. */
function firstKey(i: number, pad: number): number {
  return i < pad ? i : pad;
}

function attentionForward(
  qkv: Float32Array,
  probs: Float32Array,
  batch: number,
  length: number,
  heads: number,
  d: number,
  pads: readonly number[],
): Float32Array {
  const dh = d / heads;
  const w = 3 * d;
  const scale = 1 / Math.sqrt(dh);
  const out = new Float32Array(batch * length * d);
  const acc = new Float64Array(dh);
  const scores = new Float64Array(length);
  for (let b = 0; b < batch; b++) {
    const row0 = b * length;
    for (let h = 0; h < heads; h++) {
      const pBase = (b * heads + h) * length * length;
      const qCol = h * dh;
      const kCol = d + h * dh;
      const vCol = 2 * d + h * dh;
      for (let i = 0; i < length; i++) {
        const start = firstKey(i, pads[b]);
        const qo = (row0 + i) * w + qCol;
        let max = -Infinity;
        for (let j = start; j <= i; j++) {
          const ko = (row0 + j) * w + kCol;
          let s = 0;
          for (let e = 0; e < dh; e++) s += qkv[qo + e] * qkv[ko + e];
          s *= scale;
          scores[j] = s;
          if (s > max) max = s;
        }
        let z = 0;
        for (let j = start; j <= i; j++) {
          const p = Math.exp(scores[j] - max);
          scores[j] = p;
          z += p;
        }
        acc.fill(0);
        const pRow = pBase + i * length;
        for (let j = start; j <= i; j++) {
          const p = scores[j] / z;
          probs[pRow + j] = p;
          const vo = (row0 + j) * w + vCol;
          for (let e = 0; e < dh; e++) acc[e] += p * qkv[vo + e];
        }
        const oo = (row0 + i) * d + h * dh;
        for (let e = 0; e < dh; e++) out[oo + e] = acc[e];
      }
    }
  }
  return out;
}

function attentionBackward(
  qkv: Float32Array,
  probs: Float32Array,
  dOut: Float32Array,
  batch: number,
  length: number,
  heads: number,
  d: number,
  pads: readonly number[],
): Float32Array {
  const dh = d / heads;
  const w = 3 * d;
  const scale = 1 / Math.sqrt(dh);
  const grad = new Float32Array(batch * length * w);
  const dq = new Float64Array(dh);
  const dp = new Float64Array(length);
  for (let b = 0; b < batch; b++) {
    const row0 = b * length;
    for (let h = 0; h < heads; h++) {
      const pBase = (b * heads + h) * length * length;
      const qCol = h * dh;
      const kCol = d + h * dh;
      const vCol = 2 * d + h * dh;
      for (let i = 0; i < length; i++) {
        const start = firstKey(i, pads[b]);
        const pRow = pBase + i * length;
        const go = (row0 + i) * d + h * dh;
        // dp_j = do_i · v_j ; dv_j += p_ij do_i ; D = Σ_j p_ij dp_j
        let dsum = 0;
        for (let j = start; j <= i; j++) {
          const p = probs[pRow + j];
          const vo = (row0 + j) * w + vCol;
          let s = 0;
          for (let e = 0; e < dh; e++) {
            const g = dOut[go + e];
            s += g * qkv[vo + e];
            grad[vo + e] += p * g;
          }
          dp[j] = s;
          dsum += p * s;
        }
        // ds_j = p_ij (dp_j − D) ; dq_i = Σ_j ds_j k_j / √d_h ; dk_j += ds_j q_i / √d_h
        dq.fill(0);
        const qo = (row0 + i) * w + qCol;
        for (let j = start; j <= i; j++) {
          const ds = probs[pRow + j] * (dp[j] - dsum) * scale;
          const ko = (row0 + j) * w + kCol;
          for (let e = 0; e < dh; e++) {
            dq[e] += ds * qkv[ko + e];
            grad[ko + e] += ds * qkv[qo + e];
          }
        }
        for (let e = 0; e < dh; e++) grad[qo + e] = dq[e];
      }
    }
  }
  return grad;
}
