import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { approxKl } from "../../lib/metrics/approx_kl.ts";
import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";

await initBackend({ backend: "cpu" });

function randomMatrix(rng: Random, b: number, t: number): number[][] {
  return Array.from(
    { length: b },
    () => Array.from({ length: t }, () => Math.fround(rng.normal())),
  );
}

function randomMask(rng: Random, b: number, t: number): number[][] {
  return Array.from({ length: b }, () => {
    const length = rng.int(t + 1);
    return Array.from({ length: t }, (_, j) => (j < length ? 1 : 0));
  });
}

Deno.test("approxKl: hand-computed masked mean of old − new", () => {
  const before = tf.memory().numTensors;
  const logProbs = tf.tensor2d([[-1, -2], [-0.5, -4]]);
  const oldLogProbs = tf.tensor2d([[-1.25, -1], [-0.5, 7]]);
  const mask = tf.tensor2d([[1, 1], [1, 0]]);
  // (−1.25 + 1) + (−1 + 2) + (−0.5 + 0.5) = −0.25 + 1 + 0 = 0.75 over 3 tokens = 0.25
  assertAlmostEquals(approxKl(logProbs, oldLogProbs, mask), 0.25, 1e-7);
  tf.dispose([logProbs, oldLogProbs, mask]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("approxKl: 0 on-policy and with no valid token", () => {
  const before = tf.memory().numTensors;
  const logProbs = tf.tensor2d([[-1, -2]]);
  const other = tf.tensor2d([[-3, -5]]);
  const ones = tf.ones([1, 2]) as tf.Tensor2D;
  const zeros = tf.zeros([1, 2]) as tf.Tensor2D;
  assertEquals(approxKl(logProbs, logProbs, ones), 0);
  assertEquals(approxKl(logProbs, other, zeros), 0);
  tf.dispose([logProbs, other, ones, zeros]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("approxKl: matches a scalar loop on random masked batches", () => {
  const rng = new Random(51);
  for (const [b, t] of [[1, 1], [4, 5], [10, 9]]) {
    const lp = randomMatrix(rng, b, t);
    const old = randomMatrix(rng, b, t);
    const m = randomMask(rng, b, t);
    let total = 0;
    let count = 0;
    for (let i = 0; i < b; i++) {
      for (let j = 0; j < t; j++) {
        if (m[i][j] === 1) {
          total += old[i][j] - lp[i][j];
          count++;
        }
      }
    }
    const logProbs = tf.tensor2d(lp);
    const oldLogProbs = tf.tensor2d(old);
    const mask = tf.tensor2d(m);
    assertAlmostEquals(approxKl(logProbs, oldLogProbs, mask), count ? total / count : 0, 1e-5);
    tf.dispose([logProbs, oldLogProbs, mask]);
  }
});

Deno.test("approxKl: bad input throws the exact error", () => {
  const before = tf.memory().numTensors;
  const context = "Cannot compute the approximate KL: ";
  const a = tf.zeros([2, 2]) as tf.Tensor2D;
  const b = tf.zeros([1, 2]) as tf.Tensor2D;
  const half = tf.tensor2d([[1, 1], [1, -1]]);
  const inf = tf.tensor2d([[0, 0], [Infinity, 0]]);
  assertThrows(
    () => approxKl(a, b, a),
    TypeError,
    context +
      "logProbs and oldLogProbs must have the same shape, got logProbs [2, 2] and oldLogProbs [1, 2]",
  );
  assertThrows(
    () => approxKl(a, a, half),
    RangeError,
    context + "mask must contain only 0 and 1, got -1 at index 3",
  );
  assertThrows(
    () => approxKl(a, inf, a),
    RangeError,
    context + "oldLogProbs must be finite, got Infinity at index 2",
  );
  tf.dispose([a, b, half, inf]);
  assertEquals(tf.memory().numTensors, before);
});
