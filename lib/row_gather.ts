/**
 * A `GatherV2` kernel for the wasm backend's common case, rows of a 2-D float32 table
 * (`tf.gather(table, ids)` with axis 0): embedding lookups and row selections. tfjs-wasm's own
 * kernel works out every output float's source index with divisions, about 25 ns a float on
 * these machines (1.2 ms to look up 368 rows of a `[64, 128]` table, a tenth of a `bench:rl`
 * GRPO step's train phase with the native GEMM); this one copies whole rows inside the wasm heap.
 * Any other case (other axes, ranks or dtypes, batch dims) goes to the stock kernel. The result
 * is a copy either way, so the values are bit-identical.
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

let rowGather = false;

/**
 * Install (or remove) the row-copying `GatherV2` kernel on the wasm backend. `initBackend`
 * installs it when it selects wasm.
 *
 * @param on Whether `tf.gather` of rows of a 2-D float32 table copies rows (true) or runs the
 *   stock kernel for every case.
 * @returns Whether it was installed before.
 *
 * @example Gather rows either way: the same values
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "./backend.ts";
 * import { setRowGather } from "./row_gather.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "wasm" });
 * const table = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
 * const ids = tf.tensor1d([2, 0, 2], "int32");
 * const fast = await tf.gather(table, ids).array();
 * const previous = setRowGather(false);
 * assertEquals(await tf.gather(table, ids).array(), fast);
 * setRowGather(previous);
 * assertEquals(fast, [[5, 6], [1, 2], [5, 6]]);
 * ```
 */
export function setRowGather(on: boolean): boolean {
  const previous = rowGather;
  if (on !== rowGather && replaceWasmKernel("GatherV2", on ? gatherRows : undefined)) {
    rowGather = on;
  }
  return previous;
}

function gatherRows(args: KernelArgs): tf.TensorInfo {
  const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
  const rowsCase = x.dtype === "float32" && x.shape.length === 2 && indices.dtype === "int32" &&
    indices.shape.length === 1 && (axis === 0 || axis === -2) && (batchDims ?? 0) === 0;
  if (!rowsCase) return runStockWasmKernel("GatherV2", args);
  const backend = args.backend as WasmBackendInternals;
  const [rows, d] = x.shape;
  const n = indices.shape[0];
  const out = backend.makeOutput([n, d], "float32");
  if (n * d === 0) return out;
  // After makeOutput: the heap may have grown, which replaces its ArrayBuffer.
  const heap = backend.wasm.HEAPU8;
  const from = backend.dataIdMap.get(x.dataId).memoryOffset;
  const to = backend.dataIdMap.get(out.dataId).memoryOffset;
  const ids = new Int32Array(heap.buffer, backend.dataIdMap.get(indices.dataId).memoryOffset, n);
  const bytes = 4 * d;
  for (let i = 0; i < n; i++) {
    const row = ids[i];
    if (!(row >= 0 && row < rows)) {
      backend.disposeData(out.dataId);
      throw new RangeError(
        `Cannot gather rows: index ${i} is ${row}, outside the table's rows 0…${rows - 1}`,
      );
    }
    heap.copyWithin(to + i * bytes, from + row * bytes, from + (row + 1) * bytes);
  }
  return out;
}
