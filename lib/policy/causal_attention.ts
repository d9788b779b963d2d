/**
 * Causal multi-head self-attention as one differentiable op computed in plain JavaScript over
 * typed arrays, used by the trunk on the wasm and cpu backends.
 *
 * Why: on wasm only plain 2-D matmuls reach XNNPACK; the per-head products `Q·Kᵀ` and `P·V` are
 * batched matmuls that run on a slow generic kernel (~1.6 GFLOP/s), and the attention block also
 * costs a dozen transposes, reshapes, a bias add and a softmax per layer. A fused loop that reads
 * the fused `[Q | K | V]` projection in place, skips the masked (future and padded) keys and keeps
 * the probabilities for the backward pass does half the multiply-adds and no layout ops.
 *
 * The products are register-blocked (two rows at a time against four keys, or four output columns
 * at a time), which keeps eight independent accumulators in flight instead of one dependent chain;
 * this made the forward pass 1.6× and the backward pass 1.7× faster than the plain loops. Where
 * the head width is a multiple of 4 and the engine has WebAssembly SIMD, the two inner products
 * (a row of dot products, a weighted sum of rows) run instead in a small f32x4 WebAssembly module
 * (`attention_simd.ts`) (another 1.6× forward, 1.9× backward); the softmax and the loops over rows stay
 * in JS. Its memory grows to the largest call (~5 MB for B 16, L 64, d 128) and is kept. Calling
 * XNNPACK per (row, head) through `tf.matMul` was slower than either: the per-op overhead
 * (~100 µs per tiny product with its tensor copies) exceeds the whole JS product.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { keyRanges, queryRanges } from "./attention_ranges.ts";
import { simdBackward, simdForward, simdKernels } from "./attention_simd.ts";

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

/**
 * Whether the typed-array kernels run now (see {@linkcode setTypedKernels}). Never on a GPU
 * backend (webgpu, webgl), whatever the mode: they read their inputs synchronously.
 */
export function useTypedKernels(): boolean {
  const name = tf.getBackend();
  if (name === "webgpu" || name === "webgl") return false;
  if (typedKernelMode !== "auto") return typedKernelMode === "on";
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
    const size = batch * heads * length * length;
    const simd = (d / heads) % 4 === 0 ? simdKernels() : null;
    if (simd !== null) {
      const probs = new Float32Array(size);
      const out = simdForward(simd, data, probs, batch, length, heads, d, pads);
      return {
        value: tf.tensor2d(out, [batch * length, d]),
        gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
          const g = (Array.isArray(dy) ? dy[0] : dy).dataSync() as Float32Array;
          const grad = simdBackward(simd, data, probs, g, batch, length, heads, d, pads);
          return [tf.tensor2d(grad, [batch * length, 3 * d])];
        },
      };
    }
    const probs = new Float64Array(size);
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

/** `a[ao..ao+n)·b[bo..bo+n)` with four independent accumulators. */
function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, n: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let e = 0;
  for (; e + 3 < n; e += 4) {
    s0 += a[ao + e] * b[bo + e];
    s1 += a[ao + e + 1] * b[bo + e + 1];
    s2 += a[ao + e + 2] * b[bo + e + 2];
    s3 += a[ao + e + 3] * b[bo + e + 3];
  }
  for (; e < n; e++) s0 += a[ao + e] * b[bo + e];
  return (s0 + s1) + (s2 + s3);
}

/**
 * `s[so + r·T + j] = scale · Aᵣ·Bⱼ` for `lo_r ≤ j ≤ hi_r`, where row `r` of `A` is
 * `a[ao + r·as …+n)` and row `j` of `B` is `b[bo + j·bs …+n)`. Rows are taken in pairs against four
 * keys at a time (eight accumulators); keys outside the pair's common range go one by one.
 */
function dotRows(
  a: Float32Array,
  ao: number,
  as: number,
  b: Float32Array,
  bo: number,
  bs: number,
  n: number,
  s: Float64Array,
  so: number,
  t: number,
  lo: Int32Array,
  hi: Int32Array,
  scale: number,
): void {
  let r = 0;
  for (; r + 1 < t; r += 2) {
    const a0 = ao + r * as, a1 = a0 + as;
    const s0 = so + r * t, s1 = s0 + t;
    const jl = Math.max(lo[r], lo[r + 1]);
    const jh = Math.min(hi[r], hi[r + 1]);
    if (jl > jh) {
      for (let j = lo[r]; j <= hi[r]; j++) s[s0 + j] = scale * dot(a, a0, b, bo + j * bs, n);
      for (let j = lo[r + 1]; j <= hi[r + 1]; j++) {
        s[s1 + j] = scale * dot(a, a1, b, bo + j * bs, n);
      }
      continue;
    }
    for (let j = lo[r]; j < jl; j++) s[s0 + j] = scale * dot(a, a0, b, bo + j * bs, n);
    for (let j = jh + 1; j <= hi[r]; j++) s[s0 + j] = scale * dot(a, a0, b, bo + j * bs, n);
    for (let j = lo[r + 1]; j < jl; j++) s[s1 + j] = scale * dot(a, a1, b, bo + j * bs, n);
    for (let j = jh + 1; j <= hi[r + 1]; j++) s[s1 + j] = scale * dot(a, a1, b, bo + j * bs, n);
    let j = jl;
    for (; j + 3 <= jh; j += 4) {
      const b0 = bo + j * bs, b1 = b0 + bs, b2 = b1 + bs, b3 = b2 + bs;
      let x0 = 0, x1 = 0, x2 = 0, x3 = 0, y0 = 0, y1 = 0, y2 = 0, y3 = 0;
      for (let e = 0; e < n; e++) {
        const p = a[a0 + e], q = a[a1 + e];
        const c0 = b[b0 + e], c1 = b[b1 + e], c2 = b[b2 + e], c3 = b[b3 + e];
        x0 += p * c0;
        x1 += p * c1;
        x2 += p * c2;
        x3 += p * c3;
        y0 += q * c0;
        y1 += q * c1;
        y2 += q * c2;
        y3 += q * c3;
      }
      s[s0 + j] = scale * x0;
      s[s0 + j + 1] = scale * x1;
      s[s0 + j + 2] = scale * x2;
      s[s0 + j + 3] = scale * x3;
      s[s1 + j] = scale * y0;
      s[s1 + j + 1] = scale * y1;
      s[s1 + j + 2] = scale * y2;
      s[s1 + j + 3] = scale * y3;
    }
    for (; j <= jh; j++) {
      s[s0 + j] = scale * dot(a, a0, b, bo + j * bs, n);
      s[s1 + j] = scale * dot(a, a1, b, bo + j * bs, n);
    }
  }
  if (r < t) {
    const a0 = ao + r * as;
    for (let j = lo[r]; j <= hi[r]; j++) s[so + r * t + j] = scale * dot(a, a0, b, bo + j * bs, n);
  }
}

/**
 * One row of {@linkcode combRows}: `out[oo + e] = Σ_{j0 ≤ j ≤ j1} c[co + j·cs] · b[bo + j·bs + e]`.
 */
function combRow(
  c: Float64Array,
  co: number,
  cs: number,
  b: Float32Array,
  bo: number,
  bs: number,
  n: number,
  j0: number,
  j1: number,
  out: Float32Array,
  oo: number,
): void {
  let e = 0;
  for (; e + 3 < n; e += 4) {
    let y0 = 0, y1 = 0, y2 = 0, y3 = 0;
    for (let j = j0; j <= j1; j++) {
      const u = c[co + j * cs];
      const bj = bo + j * bs + e;
      y0 += u * b[bj];
      y1 += u * b[bj + 1];
      y2 += u * b[bj + 2];
      y3 += u * b[bj + 3];
    }
    out[oo + e] = y0;
    out[oo + e + 1] = y1;
    out[oo + e + 2] = y2;
    out[oo + e + 3] = y3;
  }
  for (; e < n; e++) {
    let y0 = 0;
    for (let j = j0; j <= j1; j++) y0 += c[co + j * cs] * b[bo + j * bs + e];
    out[oo + e] = y0;
  }
}

/**
 * `out[oo + r·os + e] = Σ_{lo_r ≤ j ≤ hi_r} c[co + r·rs + j·cs] · b[bo + j·bs + e]` for every row
 * `r < t` and `e < n` (a coefficient matrix, possibly read transposed, times rows of `B`). Rows go
 * in pairs, four output columns at a time (eight accumulators), when their ranges share an end.
 */
function combRows(
  c: Float64Array,
  co: number,
  rs: number,
  cs: number,
  b: Float32Array,
  bo: number,
  bs: number,
  n: number,
  out: Float32Array,
  oo: number,
  os: number,
  t: number,
  lo: Int32Array,
  hi: Int32Array,
): void {
  let r = 0;
  for (; r + 1 < t; r += 2) {
    const c0 = co + r * rs, c1 = c0 + rs;
    const o0 = oo + r * os, o1 = o0 + os;
    const jl = Math.max(lo[r], lo[r + 1]);
    const jh = Math.min(hi[r], hi[r + 1]);
    if (jl > jh || (lo[r] !== lo[r + 1] && hi[r] !== hi[r + 1]) || n % 4 !== 0) {
      combRow(c, c0, cs, b, bo, bs, n, lo[r], hi[r], out, o0);
      combRow(c, c1, cs, b, bo, bs, n, lo[r + 1], hi[r + 1], out, o1);
      continue;
    }
    for (let e = 0; e < n; e += 4) {
      let x0 = 0, x1 = 0, x2 = 0, x3 = 0, y0 = 0, y1 = 0, y2 = 0, y3 = 0;
      for (let j = jl; j <= jh; j++) {
        const u = c[c0 + j * cs], v = c[c1 + j * cs];
        const bj = bo + j * bs + e;
        const b0 = b[bj], b1 = b[bj + 1], b2 = b[bj + 2], b3 = b[bj + 3];
        x0 += u * b0;
        x1 += u * b1;
        x2 += u * b2;
        x3 += u * b3;
        y0 += v * b0;
        y1 += v * b1;
        y2 += v * b2;
        y3 += v * b3;
      }
      // The rest of the longer range (the two ranges share one end).
      for (let j = lo[r]; j < jl; j++) {
        const u = c[c0 + j * cs], bj = bo + j * bs + e;
        x0 += u * b[bj];
        x1 += u * b[bj + 1];
        x2 += u * b[bj + 2];
        x3 += u * b[bj + 3];
      }
      for (let j = jh + 1; j <= hi[r]; j++) {
        const u = c[c0 + j * cs], bj = bo + j * bs + e;
        x0 += u * b[bj];
        x1 += u * b[bj + 1];
        x2 += u * b[bj + 2];
        x3 += u * b[bj + 3];
      }
      for (let j = lo[r + 1]; j < jl; j++) {
        const v = c[c1 + j * cs], bj = bo + j * bs + e;
        y0 += v * b[bj];
        y1 += v * b[bj + 1];
        y2 += v * b[bj + 2];
        y3 += v * b[bj + 3];
      }
      for (let j = jh + 1; j <= hi[r + 1]; j++) {
        const v = c[c1 + j * cs], bj = bo + j * bs + e;
        y0 += v * b[bj];
        y1 += v * b[bj + 1];
        y2 += v * b[bj + 2];
        y3 += v * b[bj + 3];
      }
      out[o0 + e] = x0;
      out[o0 + e + 1] = x1;
      out[o0 + e + 2] = x2;
      out[o0 + e + 3] = x3;
      out[o1 + e] = y0;
      out[o1 + e + 1] = y1;
      out[o1 + e + 2] = y2;
      out[o1 + e + 3] = y3;
    }
  }
  if (r < t) combRow(c, co + r * rs, cs, b, bo, bs, n, lo[r], hi[r], out, oo + r * os);
}

function attentionForward(
  qkv: Float32Array,
  probs: Float64Array,
  batch: number,
  length: number,
  heads: number,
  d: number,
  pads: readonly number[],
): Float32Array {
  const dh = d / heads;
  const w = 3 * d;
  const t = length;
  const scale = 1 / Math.sqrt(dh);
  const out = new Float32Array(batch * t * d);
  const lo = new Int32Array(t), hi = new Int32Array(t);
  for (let b = 0; b < batch; b++) {
    queryRanges(t, pads[b], lo, hi);
    const r0 = b * t * w;
    for (let h = 0; h < heads; h++) {
      const pb = (b * heads + h) * t * t;
      // s_ij = q_i·k_j/√d_h, then the softmax over the visible keys, in place.
      dotRows(qkv, r0 + h * dh, w, qkv, r0 + d + h * dh, w, dh, probs, pb, t, lo, hi, scale);
      for (let i = 0; i < t; i++) {
        const row = pb + i * t;
        let max = -Infinity;
        for (let j = lo[i]; j <= hi[i]; j++) if (probs[row + j] > max) max = probs[row + j];
        let z = 0;
        for (let j = lo[i]; j <= hi[i]; j++) {
          const p = Math.exp(probs[row + j] - max);
          probs[row + j] = p;
          z += p;
        }
        const inv = 1 / z;
        for (let j = lo[i]; j <= hi[i]; j++) probs[row + j] *= inv;
      }
      // o_i = Σ_j p_ij v_j
      const vo = r0 + 2 * d + h * dh;
      combRows(probs, pb, t, 1, qkv, vo, w, dh, out, b * t * d + h * dh, d, t, lo, hi);
    }
  }
  return out;
}

function attentionBackward(
  qkv: Float32Array,
  probs: Float64Array,
  dOut: Float32Array,
  batch: number,
  length: number,
  heads: number,
  d: number,
  pads: readonly number[],
): Float32Array {
  const dh = d / heads;
  const w = 3 * d;
  const t = length;
  const scale = 1 / Math.sqrt(dh);
  const grad = new Float32Array(batch * t * w);
  const ds = new Float64Array(t * t);
  const qlo = new Int32Array(t), qhi = new Int32Array(t);
  const klo = new Int32Array(t), khi = new Int32Array(t);
  for (let b = 0; b < batch; b++) {
    queryRanges(t, pads[b], qlo, qhi);
    keyRanges(t, pads[b], klo, khi);
    const r0 = b * t * w;
    for (let h = 0; h < heads; h++) {
      const pb = (b * heads + h) * t * t;
      const go = b * t * d + h * dh;
      const [qo, ko, vo] = [r0 + h * dh, r0 + d + h * dh, r0 + 2 * d + h * dh];
      // dp_ij = do_i·v_j ; ds_ij = p_ij (dp_ij − Σ_j p_ij dp_ij)/√d_h
      dotRows(dOut, go, d, qkv, vo, w, dh, ds, 0, t, qlo, qhi, 1);
      for (let i = 0; i < t; i++) {
        const row = i * t;
        let dsum = 0;
        for (let j = qlo[i]; j <= qhi[i]; j++) dsum += probs[pb + row + j] * ds[row + j];
        for (let j = qlo[i]; j <= qhi[i]; j++) {
          ds[row + j] = probs[pb + row + j] * (ds[row + j] - dsum) * scale;
        }
      }
      combRows(ds, 0, t, 1, qkv, ko, w, dh, grad, qo, w, t, qlo, qhi); // dq_i = Σ_j ds_ij k_j
      combRows(ds, 0, 1, t, qkv, qo, w, dh, grad, ko, w, t, klo, khi); // dk_j = Σ_i ds_ij q_i
      combRows(probs, pb, 1, t, dOut, go, d, dh, grad, vo, w, t, klo, khi); // dv_j = Σ_i p_ij do_i
    }
  }
  return grad;
}
