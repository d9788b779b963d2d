/**
 * WebAssembly SIMD kernels for `causalAttention`'s inner products, assembled in this file
 * from named opcodes (no toolchain): where the head width is a multiple of 4 and the engine has
 * WebAssembly SIMD, a row of dot products and a weighted sum of rows run as f32x4 loops (1.6×
 * faster forward and 1.9× backward than the register-blocked JS loops); the softmax and the loops
 * over rows stay in JS.
 *
 * @module
 */
import { keyRanges, queryRanges } from "./attention_ranges.ts";
import { name, section, sleb, uleb, vec, WASM_HEADER } from "../kernels/wasm_assembler.ts";

// WebAssembly SIMD kernels. The module is assembled here from named opcodes (no toolchain): two
// functions over one memory, all pointers and strides in bytes, rows of `nb` bytes (a multiple of
// 16, so whole f32x4 lanes):
//   dot(a, b, bs, nb, j0, j1, out, scale): out[j] = scale · a·b_j for j0 ≤ j ≤ j1 (four keys at a
//     time with four vector accumulators, then one by one), b_j = b + j·bs, out[j] at out + 4j;
//   comb(c, cs, b, bs, nb, j0, j1, out): out[0 … nb) = Σ_{j0 ≤ j ≤ j1} c[j·cs] · b_j.

/** The two SIMD kernels and the memory they read and write. */
export interface SimdKernels {
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
 * Choose whether `causalAttention` may run its inner products in the WebAssembly SIMD
 * module (where the head width is a multiple of 4 and the engine supports SIMD) or must use the
 * plain typed-array loops. For tests and benchmarks: both give the same values to float rounding.
 *
 * @param enabled Whether the SIMD kernels may be used (the default).
 * @returns The previous setting.
 *
 * @example Force the plain JS loops for one computation
 * ```ts
 * import { setSimdKernels } from "./attention_simd.ts";
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
 * Whether `causalAttention` runs its inner products in WebAssembly SIMD now: the engine
 * supports it and {@linkcode setSimdKernels} has not turned it off (heads whose width is not a
 * multiple of 4 use the plain loops regardless).
 *
 * @returns True where the SIMD kernels are in use.
 *
 * @example Deno (V8) supports WebAssembly SIMD
 * ```ts
 * import { simdKernelsAvailable } from "./attention_simd.ts";
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
export function simdKernels(): SimdKernels | null {
  if (!simdEnabled) return null;
  if (simd !== undefined) return simd;
  const probe = new Uint8Array([
    ...WASM_HEADER,
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

/** The kernels' memory as floats (from byte 0), grown to at least `floats` of them. */
export function simdHeap(kernels: SimdKernels, floats: number): Float32Array {
  const missing = 4 * floats - kernels.memory.buffer.byteLength;
  if (missing > 0) kernels.memory.grow(Math.ceil(missing / 65536));
  return new Float32Array(kernels.memory.buffer);
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

  const type = (params: number[]) => [0x60, ...vec(params.map((p) => [p])), 0];
  return new Uint8Array([
    ...WASM_HEADER,
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
export function simdForward(
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
export function simdBackward(
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
