/**
 * A `Transpose` kernel for the wasm backend's common case, the transpose of a 2-D float32 matrix
 * (`perm [1, 0]`). The wasm backend's matmuls reach XNNPACK only without transpose flags, so each
 * weight gradient `xᵀ·dy` and each input gradient `dy·Wᵀ` transposes explicitly (DESIGN §5):
 * 18 transposes per train step of the `bench` reference model, 16 ms of its ~150 ms with the stock
 * kernel (≈ 7 ns a float). This one copies 16 × 16 tiles between the input and the output on the
 * wasm heap. Other ranks, permutations and dtypes go to the stock kernel. A transpose moves
 * floats without arithmetic, so the values are bit-identical.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import {
  type KernelArgs,
  replaceWasmKernel,
  runStockWasmKernel,
  type WasmBackendInternals,
} from "./wasm_kernels.ts";

let tiled = false;

/** Tile side: a 16 × 16 tile of floats is 1 KiB, so a source and a destination tile stay in L1. */
const TILE = 16;

/**
 * Install (or remove) the tiled 2-D `Transpose` kernel on the wasm backend. `initBackend`
 * installs it when it selects wasm.
 *
 * @param on Whether a 2-D float32 transpose runs tiled (true) or in the stock kernel.
 * @returns Whether it was installed before.
 *
 * @example Transpose either way: the same values
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "./backend.ts";
 * import { setTiledTranspose } from "./matrix_transpose.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "wasm" });
 * const m = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
 * const fast = await tf.transpose(m).array();
 * const previous = setTiledTranspose(false);
 * assertEquals(await tf.transpose(m).array(), fast);
 * setTiledTranspose(previous);
 * assertEquals(fast, [[1, 4], [2, 5], [3, 6]]);
 * ```
 */
export function setTiledTranspose(on: boolean): boolean {
  const previous = tiled;
  if (on !== tiled && replaceWasmKernel("Transpose", on ? transposeTiled : undefined)) tiled = on;
  return previous;
}

function transposeTiled(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { perm } = args.attrs as { perm: number[] };
  if (x.dtype !== "float32" || x.shape.length !== 2 || perm[0] !== 1 || perm[1] !== 0) {
    return runStockWasmKernel("Transpose", args);
  }
  const backend = args.backend as WasmBackendInternals;
  const [rows, cols] = x.shape;
  const out = backend.makeOutput([cols, rows], "float32");
  if (rows * cols === 0) return out;
  // After makeOutput: the heap may have grown, which replaces its ArrayBuffer.
  const heap = backend.wasm.HEAPF32;
  const from = backend.dataIdMap.get(x.dataId).memoryOffset / 4;
  const to = backend.dataIdMap.get(out.dataId).memoryOffset / 4;
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(r0 + TILE, rows);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(c0 + TILE, cols);
      for (let c = c0; c < c1; c++) {
        const dst = to + c * rows;
        for (let r = r0; r < r1; r++) heap[dst + r] = heap[from + r * cols + c];
      }
    }
  }
  return out;
}
