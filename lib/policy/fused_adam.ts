/**
 * A fused Adam update for the wasm backend: tfjs's `AdamOptimizer` issues about 12 tfjs ops per
 * variable (≈ 8 ms a step for the 29 variables of the `bench:rl` policy, mostly per-op overhead);
 * this one runs one WebAssembly SIMD loop per variable, with the same float32 arithmetic op for op.
 *
 * Adam's two moments do not live on tfjs-wasm's 4 GiB heap: they sit in WebAssembly memories of
 * the optimizer's own ({@linkcode MomentStore}), which the loop reads beside the heap (WebAssembly
 * multi-memory). At SmolLM2-135M's shape that moves 1.08 GB (two float32 copies of 135 M
 * parameters) off the heap, which is what lets full fine-tuning with a reference model fit.
 * `getWeights` hands out copies of the moments as tensors and `setWeights` copies them back in, so
 * checkpoints hold the same state as tfjs's Adam. Other backends use tfjs's update unchanged.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { name, section, uleb, WASM_HEADER } from "../kernels/wasm_assembler.ts";

interface WasmHeapBackend {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  dataIdMap: { get(id: unknown): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
  wasm: { asm?: { memory?: WebAssembly.Memory } };
}

interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

const f = Math.fround;

/**
 * `adam(x, m, v, g, xOut, nbytes, β₁, β₂, 1−β₁, 1−β₂, 1−β₁ᵗ, 1−β₂ᵗ, ε, −η)` over whole f32x4
 * lanes: `x`, `g`, `xOut` are offsets in tfjs-wasm's heap, `m`, `v` offsets in the moments'
 * memory; moments updated in place, the new weights written to `xOut`.
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

/**
 * The Adam loop as a WebAssembly SIMD function that imports two memories, tfjs-wasm's heap
 * (memory 0: weights, gradients, new weights) and the moments' (memory 1), assembled from named
 * opcodes (no toolchain). Each lane does exactly tfjs's float32 operations in tfjs's order.
 */
function simdAdamModule(): Uint8Array<ArrayBuffer> {
  const [i32, f32, v128] = [0x7f, 0x7d, 0x7b];
  const get = (i: number) => [0x20, i];
  const set = (i: number) => [0x21, i];
  const simd = (op: number) => [0xfd, ...uleb(op)];
  // memarg: alignment 0, offset 0; bit 6 of the alignment says a memory index follows.
  const load = [...simd(0x00), 0, 0];
  const store = [...simd(0x0b), 0, 0];
  const loadMoment = [...simd(0x00), 0x40, 1, 0];
  const storeMoment = [...simd(0x0b), 0x40, 1, 0];
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
    ...loadMoment,
    ...get(K(0)),
    ...mul,
    ...get(GJ),
    ...get(K(2)),
    ...mul,
    ...add,
    ...set(MJ),
    // vj = v·β₂ + (g·g)·(1−β₂)
    ...at(V),
    ...loadMoment,
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
    ...storeMoment,
    ...at(V),
    ...get(VJ),
    ...storeMoment,
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
  const bytes = [
    ...WASM_HEADER,
    ...section(1, [1, 0x60, 14, i32, i32, i32, i32, i32, i32, ...new Array(8).fill(f32), 0]),
    ...section(2, [
      2,
      ...name("env"),
      ...name("heap"),
      0x02,
      0x00,
      0x00,
      ...name("env"),
      ...name("moments"),
      0x02,
      0x00,
      0x00,
    ]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name("adam"), 0x00, 0]),
    ...section(10, [1, ...uleb(fn.length), ...fn]),
  ];
  return new Uint8Array(bytes);
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

const PAGE_BYTES = 65536;
/** The most pages of one 32-bit WebAssembly memory (4 GiB). */
const MAX_PAGES = 65536;

/** One WebAssembly memory of moments, and the SIMD loop bound to it and to tfjs-wasm's heap. */
interface MomentMemory {
  memory: WebAssembly.Memory;
  /** Bytes handed out so far. */
  used: number;
  /** The loop, once built for `heap` (null: this engine lacks SIMD or multi-memory). */
  kernel?: SimdAdam | null;
  heap?: WebAssembly.Memory;
}

/** Where one variable's two moments sit: a memory of the store, and the byte offsets of m and v. */
interface MomentSlot {
  name: string;
  size: number;
  memory: MomentMemory;
  m: number;
  v: number;
}

/**
 * Adam's moments outside tfjs-wasm's heap: zero-initialised float32 arrays in WebAssembly memories
 * that only the optimizer uses, each up to 4 GiB (a new one is started when the last is full).
 */
class MomentStore {
  readonly memories: MomentMemory[] = [];

  /** Room for the two moments of a variable of `size` floats, zeroed. */
  allocate(name: string, size: number): MomentSlot {
    const bytes = 16 * Math.ceil((4 * size) / 16); // whole f32x4 lanes, 16-byte aligned
    if (2 * bytes > MAX_PAGES * PAGE_BYTES) {
      throw new RangeError(
        `fusedAdam: the moments of ${name} (${size} floats) exceed one 4 GiB WebAssembly memory: split the variable, or use tf.train.adam on another backend`,
      );
    }
    let memory = this.memories.at(-1);
    if (memory === undefined || memory.used + 2 * bytes > MAX_PAGES * PAGE_BYTES) {
      memory = { memory: new WebAssembly.Memory({ initial: 0, maximum: MAX_PAGES }), used: 0 };
      this.memories.push(memory);
    }
    const end = memory.used + 2 * bytes;
    const pages = Math.ceil(end / PAGE_BYTES) - memory.memory.buffer.byteLength / PAGE_BYTES;
    if (pages > 0) {
      try {
        memory.memory.grow(pages);
      } catch (error) {
        throw new RangeError(
          `fusedAdam: cannot allocate the moments of ${name} (${
            (2 * bytes / 2 ** 20).toFixed(1)
          } MiB) beside the wasm heap: this machine's memory is exhausted; free memory, use LoRA or a smaller model`,
          { cause: error },
        );
      }
    }
    const slot = { name, size, memory, m: memory.used, v: memory.used + bytes };
    memory.used = end;
    return slot;
  }

  /** A view of one moment (views are made afresh: growing a memory detaches old ones). */
  view(slot: MomentSlot, which: "m" | "v"): Float32Array {
    return new Float32Array(slot.memory.memory.buffer, slot[which], slot.size);
  }

  /** The SIMD loop over this slot's memory and `heap`, or null where the engine cannot run it. */
  kernel(slot: MomentSlot, heap: WebAssembly.Memory): SimdAdam | null {
    const memory = slot.memory;
    if (memory.kernel === undefined || memory.heap !== heap) {
      memory.heap = heap;
      try {
        const module = new WebAssembly.Module(simdAdamModule());
        const env = { heap, moments: memory.memory };
        memory.kernel = new WebAssembly.Instance(module, { env }).exports.adam as SimdAdam;
      } catch {
        memory.kernel = null;
      }
    }
    return memory.kernel;
  }
}

/**
 * Adam whose update is one fused loop per variable on the wasm backend, with its moments beside
 * the heap rather than on it.
 *
 * `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `θ ← θ − η·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)`, every
 * operation rounded to float32 in the order tfjs's `AdamOptimizer` uses, so the two agree to the
 * last bit (the test holds them equal).
 *
 * On wasm, `getWeights()` returns the moments as new tensors (the caller disposes them, and the
 * iteration scalar, as with every optimizer's `getWeights`); on other backends they are the live
 * variables, as in tfjs. The backend is fixed by the first update or `setWeights`.
 *
 * Used by: every recipe through `train()`; `bench:rl`, `bench:lm`.
 */
export class FusedAdamOptimizer extends tf.AdamOptimizer {
  /** The moments beside the wasm heap, in the order of the variables (null: tfjs's own Adam). */
  #store: MomentStore | null | undefined;
  #slots: MomentSlot[] = [];

  /** Whether this optimizer keeps its moments beside the wasm heap (decided on first use). */
  #beside(): boolean {
    if (this.#store === undefined) {
      this.#store = tf.getBackend() === "wasm" ? new MomentStore() : null;
    } else if (this.#store !== null && tf.getBackend() !== "wasm") {
      throw new Error(
        `fusedAdam: its moments live beside the wasm heap, but the backend is now ${tf.getBackend()}: create the optimizer after choosing the backend`,
      );
    }
    return this.#store !== null;
  }

  /** The bytes of moments held beside the heap (0 on other backends). */
  get bytesBesideHeap(): number {
    return (this.#store?.memories ?? []).reduce((sum, m) => sum + m.used, 0);
  }

  /**
   * Apply one Adam step (the fused loop on wasm, tfjs's ops elsewhere).
   *
   * @param variableGradients Gradients by variable name, or `{ name, tensor }` pairs.
   */
  override applyGradients(
    variableGradients: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[],
  ): void {
    if (!this.#beside()) {
      super.applyGradients(variableGradients as Parameters<tf.AdamOptimizer["applyGradients"]>[0]);
      return;
    }
    const store = this.#store!;
    const self = this as unknown as AdamInternals;
    const backend = tf.backend() as unknown as WasmHeapBackend;
    const names = Array.isArray(variableGradients)
      ? variableGradients.map((v) => v.name)
      : Object.keys(variableGradients);
    const constants = [
      f(this.beta1),
      f(this.beta2),
      f(1 - this.beta1),
      f(1 - this.beta2),
      f(1 - backend.typedArrayFromHeap(self.accBeta1)[0]),
      f(1 - backend.typedArrayFromHeap(self.accBeta2)[0]),
      f(this.epsilon),
      f(-this.learningRate),
    ] as const;
    const registered = tf.engine().registeredVariables;
    names.forEach((name, i) => {
      const value = registered[name];
      this.#slots[i] ??= store.allocate(name, value.size);
      const gradient = Array.isArray(variableGradients)
        ? variableGradients[i].tensor
        : variableGradients[name];
      if (gradient == null) return;
      // The new weights always go to a new buffer, as tfjs's Adam does (other code may still hold
      // the previous weights' buffer).
      const out = backend.makeOutput(value.shape, "float32"); // may grow the heap: views after it
      const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset;
      const slot = this.#slots[i];
      const heap = backend.wasm.asm?.memory;
      const kernel = simdAdamEnabled && heap instanceof WebAssembly.Memory
        ? store.kernel(slot, heap)
        : null;
      let start = 0;
      if (kernel !== null) {
        start = value.size - (value.size % 4);
        kernel(
          offset(value),
          slot.m,
          slot.v,
          offset(gradient),
          offset(out),
          start * 4,
          ...constants,
        );
      }
      if (start < value.size) {
        adamLoop(
          start,
          backend.typedArrayFromHeap(value),
          store.view(slot, "m"),
          store.view(slot, "v"),
          backend.typedArrayFromHeap(gradient),
          backend.typedArrayFromHeap(out),
          constants,
        );
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

  /**
   * The iteration count, then every variable's first moments, then its second ones (tfjs's order
   * and names). On wasm the moments are new tensors: dispose them.
   *
   * @returns The optimizer's state.
   */
  override async getWeights(): Promise<{ name: string; tensor: tf.Tensor }[]> {
    if (!this.#beside()) return await super.getWeights();
    const store = this.#store!;
    const moments = (which: "m" | "v") =>
      this.#slots.map((slot) => ({
        name: `${slot.name}/${which}`,
        tensor: tf.tensor(
          store.view(slot, which).slice(),
          tf.engine().registeredVariables[slot.name]?.shape ?? [slot.size],
          "float32",
        ),
      }));
    return [await this.saveIterations(), ...moments("m"), ...moments("v")];
  }

  /**
   * Restore the state `getWeights` returned (copied in on wasm; the caller keeps its tensors).
   *
   * @param weightValues The iteration count, then the first and the second moments.
   */
  override async setWeights(weightValues: { name: string; tensor: tf.Tensor }[]): Promise<void> {
    if (!this.#beside()) return await super.setWeights(weightValues);
    const store = this.#store!;
    const moments = await this.extractIterations(weightValues);
    tf.tidy(() => {
      const self = this as unknown as AdamInternals;
      self.accBeta1.assign(tf.pow(this.beta1, this.iterations + 1));
      self.accBeta2.assign(tf.pow(this.beta2, this.iterations + 1));
    });
    const count = moments.length / 2;
    this.#slots = [];
    for (let i = 0; i < count; i++) {
      const [first, second] = [moments[i], moments[count + i]];
      const name = first.name.replace(/\/m$/, "");
      const slot = store.allocate(name, first.tensor.size);
      store.view(slot, "m").set(await first.tensor.data() as Float32Array);
      store.view(slot, "v").set(await second.tensor.data() as Float32Array);
      this.#slots.push(slot);
    }
  }

  /** Free the moments and β₁ᵗ, β₂ᵗ. */
  override dispose(): void {
    super.dispose();
    this.#slots = [];
    if (this.#store) this.#store = new MomentStore(); // the memories go with the old store
  }
}

/** The typed-array Adam loop from index `start`: the SIMD loop's operations, lane by lane. */
function adamLoop(
  start: number,
  x: Float32Array,
  m: Float32Array,
  v: Float32Array,
  g: Float32Array,
  y: Float32Array,
  [b1, b2, c1, c2, oma1, oma2, eps, negLr]: readonly number[],
): void {
  for (let j = start; j < x.length; j++) {
    const gj = g[j];
    const mj = f(f(m[j] * b1) + f(gj * c1));
    const vj = f(f(v[j] * b2) + f(f(gj * gj) * c2));
    m[j] = mj;
    v[j] = vj;
    const denom = f(f(Math.sqrt(f(vj / oma2))) + eps);
    y[j] = f(f(f(f(mj / oma1) / denom) * negLr) + x[j]);
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
