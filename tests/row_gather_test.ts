import * as tf from "@tensorflow/tfjs";
import { assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../lib/backend.ts";
import { setRowGather } from "../lib/row_gather.ts";
import { Random } from "../lib/random.ts";

// Each case: the gather, run with the row kernel and with the stock kernel.
const CASES: [string, () => tf.Tensor][] = [
  ["embedding rows, repeated ids", () => {
    const rng = new Random(1);
    const table = tf.tensor2d(Array.from({ length: 64 * 128 }, () => rng.normal()), [64, 128]);
    const ids = tf.tensor1d(Array.from({ length: 368 }, () => rng.int(64)), "int32");
    return tf.gather(table, ids);
  }],
  [
    "axis −2",
    () => tf.gather(tf.tensor2d([[1, 2], [3, 4], [5, 6]]), tf.tensor1d([1, 1], "int32"), -2),
  ],
  ["no ids", () => tf.gather(tf.tensor2d([[1, 2]]), tf.tensor1d([], "int32"))],
  // Not the row case: the stock kernel runs.
  ["columns (axis 1)", () => tf.gather(tf.tensor2d([[1, 2, 3], [4, 5, 6]]), [2, 0], 1)],
  ["int32 table", () => tf.gather(tf.tensor2d([[1, 2], [3, 4]], undefined, "int32"), [1])],
  ["3-D table", () => tf.gather(tf.tensor3d([[[1], [2]], [[3], [4]]]), [1, 0])],
  [
    "2-D ids",
    () => tf.gather(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[1, 0]], [1, 2], "int32")),
  ],
];

Deno.test("the row-copying GatherV2 kernel gives the stock kernel's values, and leaves other cases to it", async () => {
  await initBackend({ backend: "wasm" });
  const before = tf.memory().numTensors;
  for (const [name, gather] of CASES) {
    const fast = tf.tidy(gather);
    const previous = setRowGather(false);
    const stock = tf.tidy(gather);
    setRowGather(previous);
    assertEquals(fast.shape, stock.shape, name);
    assertEquals(fast.dtype, stock.dtype, name);
    assertEquals(await fast.data(), await stock.data(), name);
    tf.dispose([fast, stock]);
  }
  assertEquals(tf.memory().numTensors, before);
  // The first case really is a row lookup: row 5 of the table is output row k where ids[k] = 5.
  const table = tf.tensor2d([[0, 0.5], [1, 1.5], [2, 2.5]]);
  assertEquals(await tf.gather(table, tf.tensor1d([2, 0], "int32")).array(), [[2, 2.5], [0, 0.5]]);
  table.dispose();
});

Deno.test("the row-copying GatherV2 kernel refuses an id outside the table, and keeps no output", async () => {
  await initBackend({ backend: "wasm" });
  const table = tf.tensor2d([[1, 2], [3, 4]]);
  const ids = tf.tensor1d([1, 2], "int32");
  const before = tf.memory().numBytes;
  assertThrows(
    () => tf.gather(table, ids),
    RangeError,
    "index 1 is 2, outside the table's rows 0…1",
  );
  assertEquals(tf.memory().numBytes, before);
  tf.dispose([table, ids]);
});
