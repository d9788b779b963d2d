/**
 * A fused Adam update for the wasm backend: tfjs's `AdamOptimizer` issues about 12 tfjs ops per
 * variable (≈ 8 ms a step for the 29 variables of the `bench:rl` policy, mostly per-op overhead);
 * this one runs one WebAssembly SIMD loop per variable over tfjs-wasm's heap (moments updated in
 * place, the new weights written to a new buffer, as tfjs does). Same state (the optimizer's own moment variables, `getWeights`/`setWeights`
 * unchanged), same float32 arithmetic op for op; other backends use tfjs's update.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

interface WasmHeapBackend {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  dataIdMap: { get(id: unknown): { refCount: number; memoryOffset: number } };
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
  wasm: { asm?: { memory?: WebAssembly.Memory } };
}

interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
}

const f = Math.fround;

/**
 * `adam(x, m, v, g, xOut, nbytes, β₁, β₂, 1−β₁, 1−β₂, 1−β₁ᵗ, 1−β₂ᵗ, ε, −η)` over whole f32x4
 * lanes: moments in place, the new weights to `xOut`.
 */
type SimdAdam = (
  x: number,
  m: number,
  v: number,
  g: number,
  xOut: number,
  nbytes: number,
  b1: number,
  b2: number,
  c1: number,
  c2: number,
  oma1: number,
  oma2: number,
  eps: number,
  negLr: number,
) => void;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/**
 * The Adam loop as a WebAssembly SIMD function that imports tfjs-wasm's own memory, assembled from
 * named opcodes (no toolchain). Each lane does exactly tfjs's float32 operations in tfjs's order.
 */
function simdAdamModule(): Uint8Array<ArrayBuffer> {
  const [i32, f32, v128] = [0x7f, 0x7d, 0x7b];
  const get = (i: number) => [0x20, i];
  const set = (i: number) => [0x21, i];
  const simd = (op: number) => [0xfd, ...uleb(op)];
  const load = [...simd(0x00), 0, 0];
  const store = [...simd(0x0b), 0, 0];
  const [splat, sqrt, add, mul, div] = [0x13, 0xe3, 0xe4, 0xe6, 0xe7].map(simd);
  // Params: x 0, m 1, v 2, g 3, xOut 4, nbytes 5, then f32 b1 6 … negLr 13. Locals: o 14,
  // splats 15…22, gj 23, mj 24, vj 25.
  const [X, M, V, G, XO, N, O, GJ, MJ, VJ] = [0, 1, 2, 3, 4, 5, 14, 23, 24, 25];
  const K = (k: number) => 15 + k; // b1 b2 c1 c2 oma1 oma2 eps negLr
  const at = (base: number) => [...get(base), ...get(O), 0x6a];
  const body: number[] = [];
  for (let k = 0; k < 8; k++) body.push(...get(6 + k), ...splat, ...set(K(k)));
  body.push(0x41, 0, ...set(O));
  const loop = [
    ...at(G),
    ...load,
    ...set(GJ),
    // mj = m·β₁ + g·(1−β₁)
    ...at(M),
    ...load,
    ...get(K(0)),
    ...mul,
    ...get(GJ),
    ...get(K(2)),
    ...mul,
    ...add,
    ...set(MJ),
    // vj = v·β₂ + (g·g)·(1−β₂)
    ...at(V),
    ...load,
    ...get(K(1)),
    ...mul,
    ...get(GJ),
    ...get(GJ),
    ...mul,
    ...get(K(3)),
    ...mul,
    ...add,
    ...set(VJ),
    ...at(M),
    ...get(MJ),
    ...store,
    ...at(V),
    ...get(VJ),
    ...store,
    // xOut = ((mj/(1−β₁ᵗ)) / (√(vj/(1−β₂ᵗ)) + ε))·(−η) + x
    ...at(XO),
    ...get(MJ),
    ...get(K(4)),
    ...div,
    ...get(VJ),
    ...get(K(5)),
    ...div,
    ...sqrt,
    ...get(K(6)),
    ...add,
    ...div,
    ...get(K(7)),
    ...mul,
    ...at(X),
    ...load,
    ...add,
    ...store,
    ...get(O),
    0x41,
    16,
    0x6a,
    ...set(O),
  ];
  // block { loop { if (o >= n) break; body; continue } }
  body.push(
    0x02,
    0x40,
    0x03,
    0x40,
    ...get(O),
    ...get(N),
    0x4e,
    0x0d,
    1,
    ...loop,
    0x0c,
    0,
    0x0b,
    0x0b,
  );
  body.push(0x0b);
  const locals = [2, 1, i32, 11, v128];
  const fn = [...locals, ...body];
  const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
  const name = (s: string) => [s.length, ...[...s].map((c) => c.charCodeAt(0))];
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [1, 0x60, 14, i32, i32, i32, i32, i32, i32, ...new Array(8).fill(f32), 0]),
    ...section(2, [1, ...name("env"), ...name("memory"), 0x02, 0x00, 0x00]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name("adam"), 0x00, 0]),
    ...section(10, [1, ...uleb(fn.length), ...fn]),
  ];
  return new Uint8Array(bytes);
}

let simdAdam: SimdAdam | null | undefined;
let simdMemory: WebAssembly.Memory | undefined;

/** The SIMD Adam bound to tfjs-wasm's memory, or null where the engine lacks SIMD. */
function simdAdamFor(memory: WebAssembly.Memory): SimdAdam | null {
  if (simdAdam !== undefined && simdMemory === memory) return simdAdam;
  simdMemory = memory;
  try {
    const module = new WebAssembly.Module(simdAdamModule());
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    simdAdam = instance.exports.adam as SimdAdam;
  } catch {
    simdAdam = null;
  }
  return simdAdam;
}

let simdAdamEnabled = true;

/**
 * Choose whether {@linkcode FusedAdamOptimizer} may use its WebAssembly SIMD loop (default) or
 * must use the plain typed-array loop. For tests and benchmarks: both give the same bits.
 *
 * @param enabled Whether the SIMD loop may be used.
 * @returns The previous setting.
 *
 * @example
 * ```ts
 * import { setSimdAdam } from "./fused_adam.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const previous = setSimdAdam(false);
 * assertEquals(setSimdAdam(previous), false);
 * ```
 */
export function setSimdAdam(enabled: boolean): boolean {
  const previous = simdAdamEnabled;
  simdAdamEnabled = enabled;
  return previous;
}

/**
 * Adam whose update is one fused loop per variable on the wasm backend.
 *
 * `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `θ ← θ − η·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)`, every
 * operation rounded to float32 in the order tfjs's `AdamOptimizer` uses, so the two agree to the
 * last bit or nearly (the test holds them within 1e-6).
 *
 * Used by: every recipe through `train()` when it is given as the optimizer; `bench:rl`.
 */
export class FusedAdamOptimizer extends tf.AdamOptimizer {
  /**
   * Apply one Adam step (the fused loop on wasm, tfjs's ops elsewhere).
   *
   * @param variableGradients Gradients by variable name, or `{ name, tensor }` pairs.
   */
  override applyGradients(
    variableGradients: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[],
  ): void {
    if (tf.getBackend() !== "wasm") {
      super.applyGradients(variableGradients as Parameters<tf.AdamOptimizer["applyGradients"]>[0]);
      return;
    }
    const self = this as unknown as AdamInternals;
    const backend = tf.backend() as unknown as WasmHeapBackend;
    const names = Array.isArray(variableGradients)
      ? variableGradients.map((v) => v.name)
      : Object.keys(variableGradients);
    const b1 = f(this.beta1);
    const b2 = f(this.beta2);
    const c1 = f(1 - this.beta1);
    const c2 = f(1 - this.beta2);
    const eps = f(this.epsilon);
    const negLr = f(-this.learningRate);
    const oma1 = f(1 - backend.typedArrayFromHeap(self.accBeta1)[0]);
    const oma2 = f(1 - backend.typedArrayFromHeap(self.accBeta2)[0]);
    const registered = tf.engine().registeredVariables;
    names.forEach((name, i) => {
      const value = registered[name];
      self.accumulatedFirstMoment[i] ??= {
        originalName: `${name}/m`,
        variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
      };
      self.accumulatedSecondMoment[i] ??= {
        originalName: `${name}/v`,
        variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
      };
      const gradient = Array.isArray(variableGradients)
        ? variableGradients[i].tensor
        : variableGradients[name];
      if (gradient == null) return;
      const mVar = self.accumulatedFirstMoment[i].variable;
      const vVar = self.accumulatedSecondMoment[i].variable;
      // Moments: in place where the buffer is the optimizer's alone. Weights: always a new buffer,
      // as tfjs's Adam does (other code may still hold the previous weights' buffer).
      const own = (t: tf.Tensor) => backend.dataIdMap.get(t.dataId).refCount === 1;
      const mOwn = own(mVar);
      const vOwn = own(vVar);
      const out = backend.makeOutput(value.shape, "float32"); // may grow the heap: views after it
      const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset;
      const memory = backend.wasm.asm?.memory;
      const kernel = simdAdamEnabled && mOwn && vOwn && memory instanceof WebAssembly.Memory
        ? simdAdamFor(memory)
        : null;
      let start = 0;
      if (kernel !== null) {
        start = value.size - (value.size % 4);
        kernel(
          offset(value),
          offset(mVar),
          offset(vVar),
          offset(gradient),
          offset(out),
          start * 4,
          b1,
          b2,
          c1,
          c2,
          oma1,
          oma2,
          eps,
          negLr,
        );
      }
      if (start < value.size) {
        const g = backend.typedArrayFromHeap(gradient);
        const m = mOwn
          ? backend.typedArrayFromHeap(mVar)
          : backend.typedArrayFromHeap(mVar).slice();
        const v = vOwn
          ? backend.typedArrayFromHeap(vVar)
          : backend.typedArrayFromHeap(vVar).slice();
        const x = backend.typedArrayFromHeap(value);
        const y = backend.typedArrayFromHeap(out);
        for (let j = start; j < x.length; j++) {
          const gj = g[j];
          const mj = f(f(m[j] * b1) + f(gj * c1));
          const vj = f(f(v[j] * b2) + f(f(gj * gj) * c2));
          m[j] = mj;
          v[j] = vj;
          const denom = f(f(Math.sqrt(f(vj / oma2))) + eps);
          y[j] = f(f(f(f(mj / oma1) / denom) * negLr) + x[j]);
        }
        // Moments whose buffer was shared get their own new tensor.
        for (const [variable, data, mine] of [[mVar, m, mOwn], [vVar, v, vOwn]] as const) {
          if (!mine) {
            const fresh = tf.tensor(data, variable.shape, "float32");
            variable.assign(fresh);
            fresh.dispose();
          }
        }
      }
      const fresh = tf.engine().makeTensorFromTensorInfo(out);
      value.assign(fresh);
      fresh.dispose();
    });
    tf.tidy(() => {
      self.accBeta1.assign(tf.mul(self.accBeta1, this.beta1));
      self.accBeta2.assign(tf.mul(self.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }
}

/**
 * Adam with the fused update ({@linkcode FusedAdamOptimizer}); same arguments as `tf.train.adam`.
 *
 * @param learningRate η.
 * @param beta1 β₁ (default 0.9).
 * @param beta2 β₂ (default 0.999).
 * @param epsilon ε (default the backend's, as tfjs).
 * @returns The optimizer.
 *
 * @example One step moves a weight against its gradient
 * ```ts
 * import { fusedAdam } from "./fused_adam.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import { assert } from "@std/assert";
 *
 * const w = tf.variable(tf.tensor1d([1, 2]));
 * const opt = fusedAdam(0.1);
 * opt.applyGradients([{ name: w.name, tensor: tf.tensor1d([1, -1]) }]);
 * const [a, b] = await w.data();
 * assert(a < 1 && b > 2);
 * ```
 */
export function fusedAdam(
  learningRate: number,
  beta1 = 0.9,
  beta2 = 0.999,
  epsilon?: number,
): FusedAdamOptimizer {
  return new FusedAdamOptimizer(learningRate, beta1, beta2, epsilon ?? null as unknown as number);
}
