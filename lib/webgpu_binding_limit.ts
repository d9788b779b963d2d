/**
 * Tensors larger than one WebGPU storage binding, on tfjs's webgpu backend.
 *
 * A WebGPU kernel binds each of its tensors whole, and a binding may not exceed the device's
 * `maxStorageBufferBindingSize` (128 MiB by default; tfjs-webgpu 4.22 already requests the
 * adapter's own limits when it makes the device, but Mesa's llvmpipe adapter reports exactly
 * 128 MiB). A tensor may still be larger, up to `maxBufferSize`: uploading, copying and reading it
 * back do not bind it. Past the binding limit a stock kernel does not fail, it returns zeros.
 *
 * So two kernels split such tensors into row ranges, copied byte for byte out of the big buffer
 * (`copyBufferToBuffer`, no binding), and run the stock kernel on the pieces:
 * - `GatherV2` on axis 0 (an embedding lookup `E[ids]`): `Σ_k gather(E_k, ids − r_k)`, where
 *   `E_k` holds rows `[r_k, r_k + n_k)` (the stock kernel gives 0 for an index outside a piece);
 * - `BatchMatMul` without batch (`a·b`, either transposed, `M×K · K×N`): by rows of the output
 *   (rows assembled by copies, so the output itself may exceed the limit), by columns (`Concat`),
 *   or over the contraction (`Σ_k a_k·b_k`), whichever the big operand's rows are.
 *
 * Every other kernel that would bind too large a tensor throws an error that says so, instead of
 * silently computing zeros. Each split copies the big operand once per call (a full pass over it).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The per-tensor limits of the active WebGPU device, in bytes. */
export interface WebGpuLimits {
  /** The largest tensor one kernel can bind (`GPUDevice.limits.maxStorageBufferBindingSize`). */
  maxStorageBufferBindingSize: number;
  /** The largest tensor that can exist at all (`GPUDevice.limits.maxBufferSize`). */
  maxBufferSize: number;
}

interface GpuBufferLike {
  readonly size: number;
}

interface TensorDataLike {
  resource?: unknown;
}

/** The parts of tfjs-webgpu's backend object used here (tfjs 4.22). */
interface WebGpuBackendInternals {
  device: { limits: WebGpuLimits };
  tensorMap: { get(id: unknown): TensorDataLike };
  bufferManager: { acquireBuffer(size: number, usage: number): GpuBufferLike };
  commandEncoder: {
    copyBufferToBuffer(
      source: unknown,
      sourceOffset: number,
      destination: unknown,
      destinationOffset: number,
      size: number,
    ): void;
  };
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: ArrayLike<number>): tf.TensorInfo;
  uploadToGPU(id: unknown): void;
  disposeData(id: unknown): boolean;
  runWebGPUProgram: RunProgram;
}

type RunProgram = (
  program: { outputShape: number[]; constructor: { name: string } },
  inputs: tf.TensorInfo[],
  outputDtype: tf.DataType,
  uniforms?: unknown,
  output?: tf.TensorInfo,
) => tf.TensorInfo;

type KernelArgs = {
  inputs: tf.NamedTensorInfoMap | tf.TensorInfo[];
  backend: unknown;
  attrs?: tf.NamedAttrMap;
};

/** `STORAGE | COPY_SRC | COPY_DST` (WebGPU's `GPUBufferUsage` bits), as tfjs-webgpu's tensors. */
const TENSOR_USAGE = 0x80 | 0x04 | 0x08;
/** tfjs-webgpu stores every dtype (float32, int32, bool) in 4 bytes an element. */
const BYTES = 4;

const guarded = new WeakSet<object>();
const stock = new Map<string, tf.KernelConfig>();

/**
 * The limits of the active webgpu backend's device, or `undefined` when webgpu is not active. A
 * memory plan reads the per-tensor limit here: a tensor over `maxStorageBufferBindingSize` bytes
 * works only through `gather` (axis 0) and unbatched `matMul`, and none may exceed
 * `maxBufferSize`.
 *
 * @returns The device's `maxStorageBufferBindingSize` and `maxBufferSize`, in bytes.
 *
 * @example Not on webgpu
 * ```ts
 * import { webgpuLimits } from "./webgpu_binding_limit.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import { assertEquals } from "@std/assert";
 *
 * await tf.setBackend("cpu");
 * assertEquals(webgpuLimits(), undefined);
 * ```
 */
export function webgpuLimits(): WebGpuLimits | undefined {
  if (tf.getBackend() !== "webgpu") return undefined;
  const { limits } = (tf.backend() as unknown as WebGpuBackendInternals).device;
  return {
    maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
    maxBufferSize: limits.maxBufferSize,
  };
}

/**
 * On the active webgpu backend, split `GatherV2` and `BatchMatMul` operands larger than one
 * storage binding into row ranges, and make every other kernel refuse such tensors with an error
 * instead of returning zeros. Idempotent; `initBackend({ backend: "webgpu" })` calls it.
 *
 * @returns The device's limits.
 * @throws {Error} When the active backend is not webgpu.
 */
export function installBindingSplit(): WebGpuLimits {
  const limits = webgpuLimits();
  if (limits === undefined) {
    throw new Error(
      `Cannot split tensors over the WebGPU binding limit: the active backend is "${tf.getBackend()}", call initBackend({ backend: "webgpu" }) first`,
    );
  }
  const backend = tf.backend() as unknown as WebGpuBackendInternals;
  if (!guarded.has(backend)) {
    guarded.add(backend);
    const run = backend.runWebGPUProgram.bind(backend);
    backend.runWebGPUProgram = (program, inputs, dtype, uniforms, output) => {
      const limit = backend.device.limits.maxStorageBufferBindingSize;
      for (const t of [...inputs, { shape: output?.shape ?? program.outputShape }]) {
        const bytes = tf.util.sizeFromShape(t.shape) * BYTES;
        if (bytes > limit) {
          throw new Error(
            `Cannot run the webgpu kernel ${program.constructor.name}: a tensor of shape [${t.shape}] (${bytes} bytes) exceeds this device's maxStorageBufferBindingSize of ${limit} bytes; only gather on axis 0 and unbatched matMul split such tensors, so split it yourself, or use a GPU whose adapter binds more`,
          );
        }
      }
      return run(program, inputs, dtype, uniforms, output);
    };
  }
  replaceKernel("GatherV2", gatherSplit);
  replaceKernel("BatchMatMul", matMulSplit);
  return limits;
}

function replaceKernel(name: string, kernelFunc: (args: KernelArgs) => tf.TensorInfo): void {
  if (stock.has(name)) return;
  const own = tf.getKernel(name, "webgpu");
  if (own === undefined) return;
  stock.set(name, own);
  tf.unregisterKernel(name, "webgpu");
  tf.registerKernel({
    kernelName: name,
    backendName: "webgpu",
    kernelFunc: kernelFunc as tf.KernelFunc,
  });
}

function runKernel(name: string, args: KernelArgs): tf.TensorInfo {
  const own = stock.get(name) ?? tf.getKernel(name, "webgpu");
  if (own === undefined) {
    throw new Error(`Cannot split over the binding limit: no webgpu "${name}"`);
  }
  return (own.kernelFunc as (a: KernelArgs) => tf.TensorInfo)(args);
}

const bytesOf = (t: tf.TensorInfo) => tf.util.sizeFromShape(t.shape) * BYTES;
const view = (t: tf.TensorInfo, shape: number[]): tf.TensorInfo => ({ ...t, shape });

/** How many rows of `rowBytes` bytes fit one binding. */
function rowsPerBinding(rowBytes: number, limit: number): number {
  const rows = Math.floor(limit / rowBytes);
  if (rows < 1) {
    throw new Error(
      `Cannot split a tensor over the WebGPU binding limit: one row is ${rowBytes} bytes, more than maxStorageBufferBindingSize (${limit} bytes); reshape it so that rows are shorter`,
    );
  }
  return rows;
}

/**
 * Rows `[r0, r1)` of the row-major `t` (rank ≥ 1) as a new tensor, copied without a binding. A
 * `t` still on the CPU is uploaded first (whole, which needs no binding either), so that the
 * next split of it copies on the GPU.
 */
function copyRows(backend: WebGpuBackendInternals, t: tf.TensorInfo, r0: number, r1: number) {
  const rowBytes = tf.util.sizeFromShape(t.shape.slice(1)) * BYTES;
  const size = (r1 - r0) * rowBytes;
  backend.uploadToGPU(t.dataId);
  const buffer = backend.bufferManager.acquireBuffer(size, TENSOR_USAGE);
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  const source = backend.tensorMap.get(t.dataId).resource;
  backend.commandEncoder.copyBufferToBuffer(source, r0 * rowBytes, buffer, 0, size);
  backend.submitQueue();
  const out = backend.makeTensorInfo([r1 - r0, ...t.shape.slice(1)], t.dtype);
  backend.tensorMap.get(out.dataId).resource = buffer;
  return out;
}

/** Stack row blocks (disposed here) into one `[Σ rows, …]` tensor by copies (no binding). */
function stackRows(backend: WebGpuBackendInternals, pieces: tf.TensorInfo[]): tf.TensorInfo {
  const rows = pieces.reduce((n, p) => n + p.shape[0], 0);
  const out = backend.makeTensorInfo([rows, ...pieces[0].shape.slice(1)], pieces[0].dtype);
  const buffer = backend.bufferManager.acquireBuffer(bytesOf(out), TENSOR_USAGE);
  let offset = 0;
  for (const p of pieces) {
    backend.uploadToGPU(p.dataId);
    backend.ensureCommandEncoderReady();
    backend.endComputePassEncoder();
    const source = backend.tensorMap.get(p.dataId).resource;
    backend.commandEncoder.copyBufferToBuffer(source, 0, buffer, offset, bytesOf(p));
    offset += bytesOf(p);
  }
  backend.submitQueue();
  backend.tensorMap.get(out.dataId).resource = buffer;
  pieces.forEach((p) => backend.disposeData(p.dataId));
  return out;
}

/** `a + b` of two kernel outputs, both disposed here. */
function addInto(backend: WebGpuBackendInternals, a: tf.TensorInfo, b: tf.TensorInfo) {
  const sum = runKernel("Add", { inputs: { a, b }, backend });
  backend.disposeData(a.dataId);
  backend.disposeData(b.dataId);
  return sum;
}

function gatherSplit(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WebGpuBackendInternals;
  const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const { axis, batchDims } = args.attrs as { axis: number; batchDims?: number };
  const limit = backend.device.limits.maxStorageBufferBindingSize;
  const first = tf.util.parseAxisParam(axis, x.shape)[0] === 0 && (batchDims ?? 0) === 0;
  if (bytesOf(x) <= limit || !first) return runKernel("GatherV2", args);
  const rows = x.shape[0];
  const step = rowsPerBinding(bytesOf(x) / rows, limit);
  let sum: tf.TensorInfo | undefined;
  for (let r0 = 0; r0 < rows; r0 += step) {
    const piece = copyRows(backend, x, r0, Math.min(rows, r0 + step));
    const offset = backend.makeTensorInfo([], "int32", new Int32Array([r0]));
    const shifted = runKernel("Sub", { inputs: { a: indices, b: offset }, backend });
    const part = runKernel("GatherV2", {
      inputs: { x: piece, indices: shifted },
      backend,
      attrs: { axis: 0, batchDims: 0 },
    });
    [piece, offset, shifted].forEach((t) => backend.disposeData(t.dataId));
    sum = sum === undefined ? part : addInto(backend, sum, part);
  }
  return sum!;
}

function matMulSplit(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as WebGpuBackendInternals;
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  const limit = backend.device.limits.maxStorageBufferBindingSize;
  const [ra, ca] = a.shape.slice(-2);
  const [rb, cb] = b.shape.slice(-2);
  const [m, n] = [transposeA ? ca : ra, transposeB ? rb : cb];
  const batch = (t: tf.TensorInfo) => tf.util.sizeFromShape(t.shape.slice(0, -2));
  const fits = bytesOf(a) <= limit && bytesOf(b) <= limit && m * n * BYTES <= limit;
  if (fits || batch(a) !== 1 || batch(b) !== 1) return runKernel("BatchMatMul", args);
  const out = splitMatMul(backend, view(a, [ra, ca]), view(b, [rb, cb]), transposeA, transposeB);
  const outer = Math.max(a.shape.length, b.shape.length) - 2;
  return view(out, [...new Array(outer).fill(1), m, n]);
}

/**
 * `op(a)·op(b)` for 2-D `a`, `b`, any of which (or the output) may exceed one binding: split the
 * output's rows (`M`), its columns (`N`) or the contraction (`K`) so that the big one is cut along
 * its stored rows, and recurse until every piece fits.
 */
function splitMatMul(
  backend: WebGpuBackendInternals,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  ta: boolean,
  tb: boolean,
): tf.TensorInfo {
  const limit = backend.device.limits.maxStorageBufferBindingSize;
  const [m, k] = ta ? [a.shape[1], a.shape[0]] : a.shape;
  const n = tb ? b.shape[0] : b.shape[1];
  const [aBig, bBig, outBig] = [bytesOf(a), bytesOf(b), m * n * BYTES].map((x) => x > limit);
  if (!aBig && !bBig && !outBig) {
    return runKernel("BatchMatMul", {
      inputs: { a, b },
      backend,
      attrs: { transposeA: ta, transposeB: tb },
    });
  }
  // Rows `[i0, i1)` of the stored rows of t (a copy), or columns (a slice, t must fit a binding).
  const range = (t: tf.TensorInfo, stored: boolean, i0: number, i1: number) =>
    stored ? copyRows(backend, t, i0, i1) : runKernel("Slice", {
      inputs: { x: t },
      backend,
      attrs: { begin: [0, i0], size: [t.shape[0], i1 - i0] },
    });
  const parts: tf.TensorInfo[] = [];
  if (outBig || (aBig && !ta)) {
    const step = rowsPerBinding(Math.max(n, k) * BYTES, limit);
    for (let i = 0; i < m; i += step) {
      const piece = range(a, !ta, i, Math.min(m, i + step));
      parts.push(splitMatMul(backend, piece, b, ta, tb));
      backend.disposeData(piece.dataId);
    }
    return stackRows(backend, parts);
  }
  if (bBig && tb) {
    const step = rowsPerBinding(Math.max(m, k) * BYTES, limit);
    for (let j = 0; j < n; j += step) {
      const piece = copyRows(backend, b, j, Math.min(n, j + step));
      parts.push(splitMatMul(backend, a, piece, ta, tb));
      backend.disposeData(piece.dataId);
    }
    const out = runKernel("Concat", { inputs: parts, backend, attrs: { axis: 1 } });
    parts.forEach((p) => backend.disposeData(p.dataId));
    return out;
  }
  const step = rowsPerBinding(Math.max(m, n) * BYTES, limit);
  let sum: tf.TensorInfo | undefined;
  for (let l = 0; l < k; l += step) {
    const end = Math.min(k, l + step);
    const [pa, pb] = [range(a, ta, l, end), range(b, !tb, l, end)];
    const part = splitMatMul(backend, pa, pb, ta, tb);
    [pa, pb].forEach((t) => backend.disposeData(t.dataId));
    sum = sum === undefined ? part : addInto(backend, sum, part);
  }
  return sum!;
}
