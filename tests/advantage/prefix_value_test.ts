import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { prefixValueAdvantages } from "../../lib/advantage/prefix_value.ts";
import {
  assertAlmostEquals,
  assertArrayAlmostEquals,
  assertEquals,
  assertThrows,
} from "@std/assert";
import {
  assertNoTensorsOnThrow,
  expectTensorCount,
  randomMask,
  randomNormals,
  SHAPES,
} from "./_helpers.ts";

await initBackend({ backend: "cpu" });

Deno.test("matches hand-computed values", async () => {
  // Row 0: [0.75 − 0.5, 0.25 − 0.75, 1 − 0.25, masked] = [0.25, −0.5, 0.75, 0]
  // Row 1: [1 − 0, 2 − 1, masked, masked] = [1, 1, 0, 0]
  const prefixValues = tf.tensor2d([[0.5, 0.75, 0.25, 1, 3], [0, 1, 2, 3, 4]]);
  const mask = tf.tensor2d([[1, 1, 1, 0], [1, 1, 0, 0]]);
  const out = expectTensorCount(() => prefixValueAdvantages(prefixValues, mask), 1);
  assertEquals(await out.array(), [[0.25, -0.5, 0.75, 0], [1, 1, 0, 0]]);
  tf.dispose([prefixValues, mask, out]);
});

Deno.test("matches a scalar-loop reference and telescopes to V[len] − V[0]", async () => {
  const rng = new Random(8);
  for (const [rows, columns] of SHAPES) {
    for (const prefix of [true, false]) {
      const values = Array.from(new Float32Array(randomNormals(rng, rows * (columns + 1))));
      const { mask, lengths } = randomMask(rng, rows, columns, { prefix });
      const v = tf.tensor2d(values, [rows, columns + 1]);
      const m = tf.tensor2d(mask, [rows, columns]);
      const out = expectTensorCount(() => prefixValueAdvantages(v, m), 1);
      const data = await out.data();
      const expected: number[] = [];
      for (let b = 0; b < rows; b++) {
        for (let t = 0; t < columns; t++) {
          const at = (j: number) => values[b * (columns + 1) + j];
          expected.push(mask[b * columns + t] === 1 ? at(t + 1) - at(t) : 0);
        }
      }
      assertArrayAlmostEquals(data, expected, 1e-6);
      if (prefix) {
        for (let b = 0; b < rows; b++) {
          let sum = 0;
          for (let t = 0; t < columns; t++) sum += data[b * columns + t];
          const first = values[b * (columns + 1)];
          const last = values[b * (columns + 1) + lengths[b]];
          assertAlmostEquals(sum, last - first, 1e-5);
        }
      }
      tf.dispose([v, m, out]);
    }
  }
});

Deno.test("rejects bad input with the exact class and message", () => {
  const context = "Cannot compute prefix-value advantages";
  const v = tf.tensor2d([[0, 1, 2], [0, 1, 2]]);
  const m = tf.tensor2d([[1, 1], [1, 0]]);
  const sameT = tf.tensor2d([[1, 1, 1], [1, 0, 0]]);
  const m3 = tf.tensor2d([[1, 1], [1, 0], [0, 0]]);
  const nan = tf.tensor2d([[0, 1, 2], [0, 1, NaN]]);
  const badMask = tf.tensor2d([[1, -1], [1, 0]]);
  const cases: [() => unknown, ErrorConstructor, string][] = [
    [
      () => prefixValueAdvantages(v, sameT),
      TypeError,
      `${context}: prefixValues must have shape [B, T + 1] for mask of shape [B, T], got prefixValues [2, 3] and mask [2, 3]`,
    ],
    [
      () => prefixValueAdvantages(v, m3),
      TypeError,
      "got prefixValues [2, 3] and mask [3, 2]",
    ],
    [
      () => prefixValueAdvantages(nan, m),
      RangeError,
      "prefixValues must be finite, got NaN at index 5",
    ],
    [
      () => prefixValueAdvantages(v, badMask),
      RangeError,
      "mask must contain only 0 and 1, got -1 at index 1",
    ],
  ];
  for (const [fn, ErrorClass, message] of cases) {
    assertThrows(fn, ErrorClass, message);
    assertNoTensorsOnThrow(fn);
  }
  tf.dispose([v, m, sameT, m3, nan, badMask]);
});
