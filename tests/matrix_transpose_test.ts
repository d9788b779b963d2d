import * as tf from "@tensorflow/tfjs";
import { assertEquals } from "@std/assert";
import { initBackend } from "../lib/backend.ts";
import { setTiledTranspose } from "../lib/matrix_transpose.ts";
import { Random } from "../lib/random.ts";

// Whole tiles, ragged edges on either side, one row, one column, empty.
const SHAPES: [number, number][] = [[32, 48], [1024, 128], [37, 5], [5, 37], [1, 19], [19, 1], [
  0,
  4,
]];

Deno.test("the tiled Transpose kernel moves element (i, j) to (j, i), as the stock kernel does", async () => {
  await initBackend({ backend: "wasm" });
  const rng = new Random(3);
  const before = tf.memory().numTensors;
  for (const [rows, cols] of SHAPES) {
    const values = Float32Array.from({ length: rows * cols }, () => rng.normal());
    const m = tf.tensor2d(values, [rows, cols]);
    const fast = tf.transpose(m);
    const previous = setTiledTranspose(false);
    const stock = tf.transpose(m);
    setTiledTranspose(previous);
    const expected = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) expected[j * rows + i] = values[i * cols + j];
    }
    assertEquals(fast.shape, [cols, rows]);
    assertEquals(await fast.data(), expected, `${rows} × ${cols}`);
    assertEquals(await stock.data(), expected, `${rows} × ${cols} (stock)`);
    tf.dispose([m, fast, stock]);
  }
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("the tiled Transpose kernel leaves other ranks, permutations and dtypes to the stock kernel", async () => {
  await initBackend({ backend: "wasm" });
  const same = tf.transpose(tf.tensor2d([[1, 2], [3, 4]]), [0, 1]);
  assertEquals(await same.array(), [[1, 2], [3, 4]]);
  const ints = tf.transpose(tf.tensor2d([[1, 2, 3], [4, 5, 6]], undefined, "int32"));
  assertEquals([ints.dtype, await ints.array()], ["int32", [[1, 4], [2, 5], [3, 6]]]);
  const cube = tf.transpose(tf.tensor3d([[[1, 2], [3, 4]], [[5, 6], [7, 8]]]), [2, 0, 1]);
  assertEquals(await cube.array(), [[[1, 3], [5, 7]], [[2, 4], [6, 8]]]);
  tf.dispose([same, ints, cube]);
});
