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
 * assembled below (another 1.6× forward, 1.9× backward); the softmax and the loops over rows stay
 * in JS. Its memory grows to the largest call (~5 MB for B 16, L 64, d 128) and is kept. Calling
 * XNNPACK per (row, head) through `tf.matMul` was slower than either: the per-op overhead
 * (~100 µs per tiny product with its tensor copies) exceeds the whole JS product.
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

/** The keys query `i` sees: `[i, i]` for a padded query (`i < pad`), else `[pad, i]`. */
function queryRanges(length: number, pad: number, lo: Int32Array, hi: Int32Array): void {
  for (let i = 0; i < length; i++) {
    lo[i] = i < pad ? i : pad;
    hi[i] = i;
  }
}

/** The queries that see key `j` (the transpose of {@linkcode queryRanges}). */
function keyRanges(length: number, pad: number, lo: Int32Array, hi: Int32Array): void {
  for (let j = 0; j < length; j++) {
    lo[j] = j;
    hi[j] = j < pad ? j : length - 1;
  }
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

// ---------------------------------------------------------------------------------------------
// WebAssembly SIMD kernels. The module is assembled here from named opcodes (no toolchain): two
// functions over one memory, all pointers and strides in bytes, rows of `nb` bytes (a multiple of
// 16, so whole f32x4 lanes):
//   dot(a, b, bs, nb, j0, j1, out, scale): out[j] = scale · a·b_j for j0 ≤ j ≤ j1 (four keys at a
//     time with four vector accumulators, then one by one), b_j = b + j·bs, out[j] at out + 4j;
//   comb(c, cs, b, bs, nb, j0, j1, out): out[0 … nb) = Σ_{j0 ≤ j ≤ j1} c[j·cs] · b_j.

/** The two SIMD kernels and the memory they read and write. */
interface SimdKernels {
  memory: WebAssembly.Memory;
  dot(
    a: number,
    b: number,
    bs: number,
    nb: number,
    j0: number,
    j1: number,
    out: number,
    scale: number,
  ): void;
  comb(
    c: number,
    cs: number,
    b: number,
    bs: number,
    nb: number,
    j0: number,
    j1: number,
    out: number,
  ): void;
}

let simd: SimdKernels | null | undefined;
let simdEnabled = true;

/**
 * Choose whether {@linkcode causalAttention} may run its inner products in the WebAssembly SIMD
 * module (where the head width is a multiple of 4 and the engine supports SIMD) or must use the
 * plain typed-array loops. For tests and benchmarks: both give the same values to float rounding.
 *
 * @param enabled Whether the SIMD kernels may be used (the default).
 * @returns The previous setting.
 *
 * @example Force the plain JS loops for one computation
 * ```ts
 * import { setSimdKernels } from "./causal_attention.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const previous = setSimdKernels(false);
 * assertEquals(previous, true);
 * assertEquals(setSimdKernels(previous), false);
 * ```
 */
export function setSimdKernels(enabled: boolean): boolean {
  const previous = simdEnabled;
  simdEnabled = enabled;
  return previous;
}

/**
 * Whether {@linkcode causalAttention} runs its inner products in WebAssembly SIMD now: the engine
 * supports it and {@linkcode setSimdKernels} has not turned it off (heads whose width is not a
 * multiple of 4 use the plain loops regardless).
 *
 * @returns True where the SIMD kernels are in use.
 *
 * @example Deno (V8) supports WebAssembly SIMD
 * ```ts
 * import { simdKernelsAvailable } from "./causal_attention.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(simdKernelsAvailable(), true);
 * ```
 */
export function simdKernelsAvailable(): boolean {
  return simdKernels() !== null;
}

/**
 * The SIMD kernels, instantiated once; null where the engine lacks WebAssembly SIMD (probed with a
 * one-instruction module) or they are disabled. Where SIMD is supported, a module that fails to
 * compile is a bug and throws.
 */
function simdKernels(): SimdKernels | null {
  if (!simdEnabled) return null;
  if (simd !== undefined) return simd;
  const probe = new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...[1, 4, 1, 0x60, 0, 0], // type () → ()
    ...[3, 2, 1, 0], // one function of type 0
    ...[10, 23, 1, 21, 0, 0xfd, 0x0c, ...new Array(16).fill(0), 0x1a, 0x0b], // v128.const 0; drop
  ]);
  if (typeof WebAssembly === "undefined" || !WebAssembly.validate(probe)) {
    simd = null;
    return simd;
  }
  const memory = new WebAssembly.Memory({ initial: 1 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(simdModule()), {
    e: { m: memory },
  });
  const { dot, comb } = instance.exports as unknown as Omit<SimdKernels, "memory">;
  simd = { memory, dot, comb };
  return simd;
}

/** The memory as floats, grown to at least `floats` of them. */
function simdHeap(kernels: SimdKernels, floats: number): Float32Array {
  const missing = 4 * floats - kernels.memory.buffer.byteLength;
  if (missing > 0) kernels.memory.grow(Math.ceil(missing / 65536));
  return new Float32Array(kernels.memory.buffer);
}

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    const low = n & 127;
    n >>>= 7;
    out.push(n === 0 ? low : low | 128);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const low = n & 127;
    n >>= 7;
    if ((n === 0 && (low & 64) === 0) || (n === -1 && (low & 64) !== 0)) return [...out, low];
    out.push(low | 128);
  }
}

/** The bytes of the module (see the comment above {@linkcode SimdKernels}). */
function simdModule(): Uint8Array<ArrayBuffer> {
  const [i32, f32, v128] = [0x7f, 0x7d, 0x7b];
  const get = (i: number) => [0x20, i];
  const set = (i: number) => [0x21, i];
  const int = (v: number) => [0x41, ...sleb(v)];
  const [add, mul, shl, geS, gtS] = [[0x6a], [0x6c], [0x74], [0x4e], [0x4a]];
  const [f32Load, f32Store, f32Add, f32Mul] = [[0x2a, 2, 0], [0x38, 2, 0], [0x92], [0x94]];
  const [vLoad, vStore] = [[0xfd, 0x00, 2, 0], [0xfd, 0x0b, 2, 0]];
  const [splat, vAdd, vMul] = [[0xfd, 0x13], [0xfd, 0xe4, 0x01], [0xfd, 0xe6, 0x01]];
  const vZero = [0xfd, 0x0c, ...new Array(16).fill(0)];
  const lane = (v: number, k: number) => [...get(v), 0xfd, 0x1f, k];
  const laneSum = (v: number) => [
    ...lane(v, 0),
    ...lane(v, 1),
    ...f32Add,
    ...lane(v, 2),
    ...lane(v, 3),
    ...f32Add,
    ...f32Add,
  ];
  // while (cond) { body } as block/loop: `exit` is the condition that leaves the loop.
  const whileNot = (exit: number[], body: number[]) => [
    0x02,
    0x40,
    0x03,
    0x40,
    ...exit,
    0x0d,
    1,
    ...body,
    0x0c,
    0,
    0x0b,
    0x0b,
  ];
  const step = (i: number, by: number) => [...get(i), ...int(by), ...add, ...set(i)];

  // dot: params a 0, b 1, bs 2, nb 3, j0 4, j1 5, out 6, scale 7; locals j 8, e 9, bj 10,
  // x0…x3 11…14, av 15.
  const [A, B, BS, NB, J0, J1, OUT, SCALE, J, E, BJ, X, AV] = [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    15,
  ];
  const bRow = (
    k: number,
  ) => [...get(BJ), ...get(BS), ...int(k), ...mul, ...add, ...get(E), ...add];
  const macInto = (x: number, k: number) => [
    ...get(x),
    ...get(AV),
    ...bRow(k),
    ...vLoad,
    ...vMul,
    ...vAdd,
    ...set(x),
  ];
  const storeDot = (k: number) => [
    ...get(OUT),
    ...get(J),
    ...int(k),
    ...add,
    ...int(2),
    ...shl,
    ...add,
    ...laneSum(X + k),
    ...get(SCALE),
    ...f32Mul,
    ...f32Store,
  ];
  const bjAt = [...get(B), ...get(J), ...get(BS), ...mul, ...add, ...set(BJ)];
  const eLoop = (body: number[]) => [
    ...int(0),
    ...set(E),
    ...whileNot([...get(E), ...get(NB), ...geS], [...body, ...step(E, 16)]),
  ];
  const dot = [
    2,
    3,
    i32,
    5,
    v128,
    ...get(J0),
    ...set(J),
    ...whileNot([...get(J), ...int(3), ...add, ...get(J1), ...gtS], [
      ...[0, 1, 2, 3].flatMap((k) => [...vZero, ...set(X + k)]),
      ...bjAt,
      ...eLoop([
        ...get(A),
        ...get(E),
        ...add,
        ...vLoad,
        ...set(AV),
        ...[0, 1, 2, 3].flatMap((k) => macInto(X + k, k)),
      ]),
      ...[0, 1, 2, 3].flatMap(storeDot),
      ...step(J, 4),
    ]),
    ...whileNot([...get(J), ...get(J1), ...gtS], [
      ...vZero,
      ...set(X),
      ...bjAt,
      ...eLoop([...get(A), ...get(E), ...add, ...vLoad, ...set(AV), ...macInto(X, 0)]),
      ...storeDot(0),
      ...step(J, 1),
    ]),
    0x0b,
  ];

  // comb: params c 0, cs 1, b 2, bs 3, nb 4, j0 5, j1 6, out 7; locals j 8, e 9, p 10, (11),
  // w 12, y0…y3 13…16. Four output vectors (64 bytes) stay in registers over all j, then one at
  // a time.
  const [C, CS, CB, CBS, CNB, CJ0, CJ1, COUT, P, W, Y] = [0, 1, 2, 3, 4, 5, 6, 7, 10, 12, 13];
  const at = (offset: number) => [0xfd, 0x00, 2, offset];
  const storeAt = (offset: number) => [0xfd, 0x0b, 2, offset];
  const jLoop = (body: number[]) => [
    ...get(CJ0),
    ...set(J),
    ...whileNot([...get(J), ...get(CJ1), ...gtS], [
      ...get(C),
      ...get(J),
      ...get(CS),
      ...mul,
      ...add,
      ...f32Load,
      ...splat,
      ...set(W),
      ...get(CB),
      ...get(J),
      ...get(CBS),
      ...mul,
      ...add,
      ...get(E),
      ...add,
      ...set(P),
      ...body,
      ...step(J, 1),
    ]),
  ];
  const macAt = (k: number) => [
    ...get(Y + k),
    ...get(W),
    ...get(P),
    ...at(16 * k),
    ...vMul,
    ...vAdd,
    ...set(Y + k),
  ];
  const comb = [
    2,
    4,
    i32,
    5,
    v128,
    ...int(0),
    ...set(E),
    ...whileNot([...get(E), ...int(64), ...add, ...get(CNB), ...gtS], [
      ...[0, 1, 2, 3].flatMap((k) => [...vZero, ...set(Y + k)]),
      ...jLoop([0, 1, 2, 3].flatMap(macAt)),
      ...[0, 1, 2, 3].flatMap((
        k,
      ) => [...get(COUT), ...get(E), ...add, ...get(Y + k), ...storeAt(16 * k)]),
      ...step(E, 64),
    ]),
    ...whileNot([...get(E), ...get(CNB), ...geS], [
      ...vZero,
      ...set(Y),
      ...jLoop(macAt(0)),
      ...get(COUT),
      ...get(E),
      ...add,
      ...get(Y),
      ...vStore,
      ...step(E, 16),
    ]),
    0x0b,
  ];

  const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
  const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
  const name = (s: string) => [s.length, ...[...s].map((c) => c.charCodeAt(0))];
  const type = (params: number[]) => [0x60, ...vec(params.map((p) => [p])), 0];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...section(
      1,
      vec([type([i32, i32, i32, i32, i32, i32, i32, f32]), type(new Array(8).fill(i32))]),
    ),
    ...section(2, vec([[...name("e"), ...name("m"), 0x02, 0x00, 1]])),
    ...section(3, vec([[0], [1]])),
    ...section(7, vec([[...name("dot"), 0, 0], [...name("comb"), 0, 1]])),
    ...section(10, vec([dot, comb].map((f) => [...uleb(f.length), ...f]))),
  ]);
}

/** {@linkcode attentionForward} on the SIMD kernels (`d/H` a multiple of 4; probs kept in f32). */
function simdForward(
  kernels: SimdKernels,
  qkv: Float32Array,
  probs: Float32Array,
  batch: number,
  length: number,
  heads: number,
  d: number,
  pads: readonly number[],
): Float32Array {
  const { dot, comb } = kernels;
  const dh = d / heads;
  const w = 3 * d;
  const t = length;
  const scale = 1 / Math.sqrt(dh);
  // Heap layout (floats): qkv | probabilities | output.
  const [nQkv, nProbs, nOut] = [batch * t * w, batch * heads * t * t, batch * t * d];
  const [P, O] = [nQkv, nQkv + nProbs];
  const f = simdHeap(kernels, nQkv + nProbs + nOut);
  f.set(qkv, 0);
  const lo = new Int32Array(t), hi = new Int32Array(t);
  for (let b = 0; b < batch; b++) {
    queryRanges(t, pads[b], lo, hi);
    const r0 = b * t * w;
    for (let h = 0; h < heads; h++) {
      const pb = P + (b * heads + h) * t * t;
      const [qo, ko, vo] = [r0 + h * dh, r0 + d + h * dh, r0 + 2 * d + h * dh];
      for (let i = 0; i < t; i++) {
        const row = pb + i * t;
        dot(4 * (qo + i * w), 4 * ko, 4 * w, 4 * dh, lo[i], hi[i], 4 * row, scale);
        let max = -Infinity;
        for (let j = lo[i]; j <= hi[i]; j++) if (f[row + j] > max) max = f[row + j];
        let z = 0;
        for (let j = lo[i]; j <= hi[i]; j++) {
          const p = Math.exp(f[row + j] - max);
          f[row + j] = p;
          z += p;
        }
        const inv = 1 / z;
        for (let j = lo[i]; j <= hi[i]; j++) f[row + j] *= inv;
        comb(4 * row, 4, 4 * vo, 4 * w, 4 * dh, lo[i], hi[i], 4 * (O + (b * t + i) * d + h * dh));
      }
    }
  }
  probs.set(f.subarray(P, P + nProbs));
  return f.slice(O, O + nOut);
}

/** {@linkcode attentionBackward} on the SIMD kernels. */
function simdBackward(
  kernels: SimdKernels,
  qkv: Float32Array,
  probs: Float32Array,
  dOut: Float32Array,
  batch: number,
  length: number,
  heads: number,
  d: number,
  pads: readonly number[],
): Float32Array {
  const { dot, comb } = kernels;
  const dh = d / heads;
  const w = 3 * d;
  const t = length;
  const scale = 1 / Math.sqrt(dh);
  // Heap layout (floats): qkv | probabilities | output gradient | ds of one head | input gradient.
  const [nQkv, nProbs, nOut] = [batch * t * w, batch * heads * t * t, batch * t * d];
  const P = nQkv, G = P + nProbs, S = G + nOut, R = S + t * t;
  const f = simdHeap(kernels, R + nQkv);
  f.set(qkv, 0);
  f.set(probs, P);
  f.set(dOut, G);
  const qlo = new Int32Array(t), qhi = new Int32Array(t);
  const klo = new Int32Array(t), khi = new Int32Array(t);
  const nb = 4 * dh;
  for (let b = 0; b < batch; b++) {
    queryRanges(t, pads[b], qlo, qhi);
    keyRanges(t, pads[b], klo, khi);
    const r0 = b * t * w;
    for (let h = 0; h < heads; h++) {
      const pb = P + (b * heads + h) * t * t;
      const go = G + b * t * d + h * dh;
      const [qo, ko, vo] = [r0 + h * dh, r0 + d + h * dh, r0 + 2 * d + h * dh];
      for (let i = 0; i < t; i++) {
        // dp_ij = do_i·v_j ; ds_ij = p_ij (dp_ij − Σ_j p_ij dp_ij)/√d_h ; dq_i = Σ_j ds_ij k_j
        const row = S + i * t;
        const pRow = pb + i * t;
        dot(4 * (go + i * d), 4 * vo, 4 * w, nb, qlo[i], qhi[i], 4 * row, 1);
        let dsum = 0;
        for (let j = qlo[i]; j <= qhi[i]; j++) dsum += f[pRow + j] * f[row + j];
        for (let j = qlo[i]; j <= qhi[i]; j++) {
          f[row + j] = f[pRow + j] * (f[row + j] - dsum) * scale;
        }
        comb(4 * row, 4, 4 * ko, 4 * w, nb, qlo[i], qhi[i], 4 * (R + qo + i * w));
      }
      for (let j = 0; j < t; j++) {
        // dk_j = Σ_i ds_ij q_i ; dv_j = Σ_i p_ij do_i (columns of ds and p: stride 4t bytes)
        comb(4 * (S + j), 4 * t, 4 * qo, 4 * w, nb, klo[j], khi[j], 4 * (R + ko + j * w));
        comb(4 * (pb + j), 4 * t, 4 * go, 4 * d, nb, klo[j], khi[j], 4 * (R + vo + j * w));
      }
    }
  }
  return f.slice(R, R + nQkv);
}
