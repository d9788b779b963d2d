import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { explainedVariance } from "../../lib/metrics/explained_variance.ts";
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";

await initBackend({ backend: "cpu" });

function randomMatrix(rng: Random, b: number, t: number): number[][] {
  return Array.from(
    { length: b },
    () => Array.from({ length: t }, () => Math.fround(rng.normal())),
  );
}

function randomMask(rng: Random, b: number, t: number): number[][] {
  return Array.from({ length: b }, () => {
    const length = 1 + rng.int(t);
    return Array.from({ length: t }, (_, j) => (j < length ? 1 : 0));
  });
}

function variance(xs: number[]): number {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  return xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length;
}

function ev(values: number[][], returns: number[][], mask: number[][]): number {
  const r: number[] = [];
  const residual: number[] = [];
  for (let i = 0; i < values.length; i++) {
    for (let j = 0; j < values[i].length; j++) {
      if (mask[i][j] === 1) {
        r.push(returns[i][j]);
        residual.push(returns[i][j] - values[i][j]);
      }
    }
  }
  return 1 - variance(residual) / variance(r);
}

function run(v: number[][], r: number[][], m: number[][]): number {
  const values = tf.tensor2d(v);
  const returns = tf.tensor2d(r);
  const mask = tf.tensor2d(m);
  const out = explainedVariance(values, returns, mask);
  tf.dispose([values, returns, mask]);
  return out;
}

Deno.test("explainedVariance: hand-computed", () => {
  const before = tf.memory().numTensors;
  // valid R = [0, 2, 4]: mean 2, Var = (4 + 0 + 4)/3 = 8/3
  // V = [1, 2, 3]: R − V = [−1, 0, 1], Var = 2/3 → EV = 1 − (2/3)/(8/3) = 0.75
  assertAlmostEquals(run([[1, 2, 3, 100]], [[0, 2, 4, -50]], [[1, 1, 1, 0]]), 0.75, 1e-6);
  // perfect critic → 1; predicting the mean → 0; a worse critic → negative
  assertAlmostEquals(run([[0, 2, 4]], [[0, 2, 4]], [[1, 1, 1]]), 1, 1e-6);
  assertAlmostEquals(run([[2, 2, 2]], [[0, 2, 4]], [[1, 1, 1]]), 0, 1e-6);
  // V = [4, 2, 0]: R − V = [−4, 0, 4], Var = 32/3 → 1 − 4 = −3
  assertAlmostEquals(run([[4, 2, 0]], [[0, 2, 4]], [[1, 1, 1]]), -3, 1e-5);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("explainedVariance: NaN when undefined (constant returns or no valid token)", () => {
  assert(Number.isNaN(run([[1, 2, 3]], [[0.7, 0.7, 5]], [[1, 1, 0]])));
  assert(Number.isNaN(run([[1, 2]], [[0, 1]], [[0, 0]])));
});

Deno.test("explainedVariance: matches a scalar loop on random masked batches", () => {
  const rng = new Random(61);
  for (const [b, t] of [[2, 3], [5, 6], [12, 10]]) {
    const r = randomMatrix(rng, b, t);
    const v = r.map((row) => row.map((x) => Math.fround(0.8 * x + 0.5 * rng.normal())));
    const m = randomMask(rng, b, t);
    assertAlmostEquals(run(v, r, m), ev(v, r, m), 1e-5);
  }
});

Deno.test("explainedVariance: bad input throws the exact error", () => {
  const before = tf.memory().numTensors;
  const context = "Cannot compute the explained variance: ";
  const a = tf.zeros([2, 2]) as tf.Tensor2D;
  const b = tf.zeros([2]) as unknown as tf.Tensor2D;
  const c = tf.zeros([2, 3]) as tf.Tensor2D;
  const nan = tf.tensor2d([[0, 0], [0, NaN]]);
  const half = tf.tensor2d([[0.5, 1], [1, 1]]);
  assertThrows(
    () => explainedVariance(a, b, a),
    TypeError,
    context + "returns must have shape [B, T] (rank 2), got shape [2]",
  );
  assertThrows(
    () => explainedVariance(a, a, c),
    TypeError,
    context + "values and mask must have the same shape, got values [2, 2] and mask [2, 3]",
  );
  assertThrows(
    () => explainedVariance(a, nan, a),
    RangeError,
    context + "returns must be finite, got NaN at index 3",
  );
  assertThrows(
    () => explainedVariance(a, a, half),
    RangeError,
    context + "mask must contain only 0 and 1, got 0.5 at index 0",
  );
  tf.dispose([a, b, c, nan, half]);
  assertEquals(tf.memory().numTensors, before);
});
