import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { broadcastToTokens } from "../../lib/advantage/broadcast_to_tokens.ts";
import { assertArrayAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import {
  assertNoTensorsOnThrow,
  expectTensorCount,
  randomMask,
  randomNormals,
  SHAPES,
} from "./_helpers.ts";

await initBackend({ backend: "cpu" });

Deno.test("matches hand-computed values", async () => {
  // Row 0 (value −2) has valid tokens 0 and 2; row 1 (value 0.25) only token 1.
  const values = tf.tensor1d([-2, 0.25]);
  const mask = tf.tensor2d([[1, 0, 1], [0, 1, 0]]);
  const out = expectTensorCount(() => broadcastToTokens(values, mask), 1);
  assertEquals(await out.array(), [[-2, 0, -2], [0, 0.25, 0]]);
  tf.dispose([values, mask, out]);
});

Deno.test("matches a scalar-loop reference on random masked batches", async () => {
  const rng = new Random(1);
  for (const [rows, columns] of SHAPES) {
    const values = Array.from(new Float32Array(randomNormals(rng, rows)));
    const { mask } = randomMask(rng, rows, columns, { prefix: rng.float() < 0.5 });
    const v = tf.tensor1d(values);
    const m = tf.tensor2d(mask, [rows, columns]);
    const out = expectTensorCount(() => broadcastToTokens(v, m), 1);
    const expected: number[] = [];
    for (let b = 0; b < rows; b++) {
      for (let t = 0; t < columns; t++) expected.push(mask[b * columns + t] === 1 ? values[b] : 0);
    }
    assertArrayAlmostEquals(await out.data(), expected, 0);
    tf.dispose([v, m, out]);
  }
});

Deno.test("rejects bad input with the exact class and message", () => {
  const context = "Cannot broadcast to tokens";
  const v = tf.tensor1d([1, 2, 3]);
  const m = tf.tensor2d([[1, 1], [1, 0]]);
  const v2 = tf.tensor1d([1, Infinity]);
  const badMask = tf.tensor2d([[1, 1], [1, NaN]]);
  const v12 = tf.tensor1d([1, 2]);
  const cases: [() => unknown, ErrorConstructor, string][] = [
    [
      () => broadcastToTokens(v, m),
      TypeError,
      `${context}: values and mask must have the same B, got values [3] and mask [2, 2]`,
    ],
    [() => broadcastToTokens(v2, m), RangeError, "values must be finite, got Infinity at index 1"],
    [
      () => broadcastToTokens(v12, badMask),
      RangeError,
      "mask must contain only 0 and 1, got NaN at index 3",
    ],
    [
      () => broadcastToTokens(m as unknown as tf.Tensor1D, m),
      TypeError,
      "values must have shape [B] (rank 1), got shape [2, 2]",
    ],
  ];
  for (const [fn, ErrorClass, message] of cases) {
    assertThrows(fn, ErrorClass, message);
    assertNoTensorsOnThrow(fn);
  }
  tf.dispose([v, m, v2, badMask, v12]);
});
