/**
 * Replacing kernels of tfjs's wasm backend, and what the replacements read of its internals.
 * trepo swaps four: `BatchMatMul` (the native GEMM, opt-in), `Identity` (shared buffers),
 * `GatherV2` (row copies) and `Transpose` (tiled 2-D), each keeping the stock kernel for the cases
 * it does not take and for switching back.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The parts of tfjs-wasm's backend object the replacement kernels use (tfjs 4.22). */
export interface WasmBackendInternals {
  dataIdMap: { get(id: unknown): { memoryOffset: number; refCount: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(id: unknown): boolean;
  incRef(id: unknown): void;
  wasm: { HEAPU8: Uint8Array; HEAPF32: Float32Array; asm?: { memory?: WebAssembly.Memory } };
}

/** The arguments tfjs passes a kernel function. */
export type KernelArgs = {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
};

const stock = new Map<string, tf.KernelConfig>();

function stockKernel(name: string): tf.KernelConfig | undefined {
  if (!stock.has(name)) {
    const own = tf.getKernel(name, "wasm");
    if (own !== undefined) stock.set(name, own);
  }
  return stock.get(name);
}

/**
 * Register `kernelFunc` as the wasm backend's kernel `name`, or (with `undefined`) put the
 * backend's own kernel back.
 *
 * @param name The kernel's name, e.g. `"GatherV2"`.
 * @param kernelFunc The replacement, or `undefined` for the stock kernel.
 * @returns Whether the wasm backend has a kernel of that name (false: nothing was changed).
 */
export function replaceWasmKernel(
  name: string,
  kernelFunc: ((args: KernelArgs) => tf.TensorInfo) | undefined,
): boolean {
  const own = stockKernel(name);
  if (own === undefined) return false;
  tf.unregisterKernel(name, "wasm");
  tf.registerKernel(
    kernelFunc === undefined
      ? own
      : { kernelName: name, backendName: "wasm", kernelFunc: kernelFunc as tf.KernelFunc },
  );
  return true;
}

/**
 * Run the wasm backend's own kernel `name` (for the cases a replacement leaves to it).
 *
 * @param name The kernel's name; {@linkcode replaceWasmKernel} must have been called for it.
 * @param args The arguments the replacement was given.
 * @returns The stock kernel's output.
 */
export function runStockWasmKernel(name: string, args: KernelArgs): tf.TensorInfo {
  const own = stock.get(name);
  if (own === undefined) {
    throw new Error(`Cannot run the stock wasm kernel: "${name}" was never replaced`);
  }
  return (own.kernelFunc as (a: KernelArgs) => tf.TensorInfo)(args);
}
