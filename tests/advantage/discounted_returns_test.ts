import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { discountedReturns } from "../../lib/advantage/discounted_returns.ts";
import { assertArrayAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import {
  assertNoTensorsOnThrow,
  expectTensorCount,
  randomMask,
  randomNormals,
  SHAPES,
} from "./_helpers.ts";

await initBackend({ backend: "cpu" });

/** Reference by the explicit sum Gₜ = Σ_{s ≥ t valid} γ^(valid steps from t to s) · r_s. */
function reference(
  rewards: number[],
  mask: number[],
  rows: number,
  columns: number,
  gamma: number,
): number[] {
  const out = new Array<number>(rows * columns).fill(0);
  for (let b = 0; b < rows; b++) {
    for (let t = 0; t < columns; t++) {
      if (mask[b * columns + t] !== 1) continue;
      let total = 0;
      let steps = 0;
      for (let s = t; s < columns; s++) {
        if (mask[b * columns + s] !== 1) continue;
        total += Math.pow(gamma, steps) * rewards[b * columns + s];
        steps++;
      }
      out[b * columns + t] = total;
    }
  }
  return out;
}

async function run(
  rewards: number[][],
  mask: number[][],
  gamma?: number,
): Promise<number[][]> {
  const r = tf.tensor2d(rewards);
  const m = tf.tensor2d(mask);
  const out = expectTensorCount(
    () => discountedReturns(r, m, gamma === undefined ? undefined : { gamma }),
    1,
  );
  const data = await out.array();
  tf.dispose([r, m, out]);
  return data;
}

Deno.test("matches hand-computed values", async () => {
  const rewards = [[1, 2, 3, 9], [0, 0, 5, 0]];
  const mask = [[1, 1, 1, 0], [1, 0, 1, 1]];
  // γ = 0.5. Row 0: G₂ = 3, G₁ = 2 + 0.5·3 = 3.5, G₀ = 1 + 0.5·3.5 = 2.75; the masked 9 is ignored.
  // Row 1 (the hole at t = 1 is skipped): G₃ = 0, G₂ = 5 + 0.5·0 = 5, G₀ = 0 + 0.5·5 = 2.5.
  assertEquals(await run(rewards, mask, 0.5), [[2.75, 3.5, 3, 0], [2.5, 0, 5, 0]]);
  // γ = 1 (the default): plain sums of the valid rewards from t on.
  assertEquals(await run(rewards, mask), [[6, 5, 3, 0], [5, 0, 5, 0]]);
  // γ = 0: each valid token keeps its own reward.
  assertEquals(await run(rewards, mask, 0), [[1, 2, 3, 0], [0, 0, 5, 0]]);
});

Deno.test("zero-reward assumption with γ = 1 gives RM(W) on every valid token", async () => {
  assertEquals(await run([[0, 0, 0.75, 0]], [[1, 1, 1, 0]]), [[0.75, 0.75, 0.75, 0]]);
});

Deno.test("matches a scalar-loop reference on random masked batches", async () => {
  const rng = new Random(21);
  for (const [rows, columns] of SHAPES) {
    for (const prefix of [true, false]) {
      for (const gamma of [1, 0.9, 0.3, 0]) {
        const rewards = Array.from(new Float32Array(randomNormals(rng, rows * columns)));
        const { mask } = randomMask(rng, rows, columns, { prefix });
        const r = tf.tensor2d(rewards, [rows, columns]);
        const m = tf.tensor2d(mask, [rows, columns]);
        const out = expectTensorCount(() => discountedReturns(r, m, { gamma }), 1);
        assertArrayAlmostEquals(
          await out.data(),
          reference(rewards, mask, rows, columns, gamma),
          1e-5,
          `[${rows}, ${columns}] prefix ${prefix} γ ${gamma}`,
        );
        tf.dispose([r, m, out]);
      }
    }
  }
});

Deno.test("rejects bad input with the exact class and message", () => {
  const context = "Cannot compute discounted returns";
  const r = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
  const m = tf.tensor2d([[1, 1, 0], [1, 1, 1]]);
  const m3 = tf.tensor2d([[1, 1], [1, 1], [1, 0]]);
  const halfMask = tf.tensor2d([[1, 0.5, 0], [1, 1, 1]]);
  const nan = tf.tensor2d([[1, 2, 3], [4, NaN, 6]]);
  const inf = tf.tensor2d([[1, 2, Infinity], [4, 5, 6]]);
  const vector = tf.tensor1d([1, 2, 3]);
  const cases: [() => unknown, ErrorConstructor, string][] = [
    [
      () => discountedReturns(r, m3),
      TypeError,
      `${context}: tokenRewards and mask must have the same shape, got tokenRewards [2, 3] and mask [3, 2]`,
    ],
    [
      () => discountedReturns(vector as unknown as tf.Tensor2D, m),
      TypeError,
      "tokenRewards must have shape [B, T] (rank 2), got shape [3]",
    ],
    [
      () => discountedReturns(r, halfMask),
      RangeError,
      "mask must contain only 0 and 1, got 0.5 at index 1",
    ],
    [
      () => discountedReturns(nan, m),
      RangeError,
      "tokenRewards must be finite, got NaN at index 4",
    ],
    [
      () => discountedReturns(inf, m),
      RangeError,
      "tokenRewards must be finite, got Infinity at index 2",
    ],
    [() => discountedReturns(r, m, { gamma: 1.5 }), RangeError, "gamma must be at most 1, got 1.5"],
    [
      () => discountedReturns(r, m, { gamma: -0.1 }),
      RangeError,
      "gamma must be at least 0, got -0.1",
    ],
  ];
  for (const [fn, ErrorClass, message] of cases) {
    assertThrows(fn, ErrorClass, message);
    assertNoTensorsOnThrow(fn);
  }
  tf.dispose([r, m, m3, halfMask, nan, inf, vector]);
});
