import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { type KlEstimator, klPenalty } from "../../lib/loss/kl_penalty.ts";
import { assert, assertArrayAlmostEquals, assertEquals, assertThrows } from "@std/assert";

await initBackend({ backend: "cpu" });

function randomMatrix(rng: Random, b: number, t: number, scale = 1): number[][] {
  return Array.from(
    { length: b },
    () => Array.from({ length: t }, () => Math.fround(scale * rng.normal())),
  );
}

function reference(lp: number[][], ref: number[][], estimator: KlEstimator): number[] {
  const out: number[] = [];
  for (let i = 0; i < lp.length; i++) {
    for (let j = 0; j < lp[i].length; j++) {
      const d = lp[i][j] - ref[i][j];
      if (estimator === "k1") out.push(d);
      else if (estimator === "k2") out.push(0.5 * d * d);
      else out.push(Math.exp(-d) + d - 1);
    }
  }
  return out;
}

Deno.test("klPenalty: hand-computed k1, k2, k3 (default k1)", async () => {
  const before = tf.memory().numTensors;
  // d = [0, −ln 2, 1]
  const logProbs = tf.tensor2d([[-1, Math.log(0.25), 0]]);
  const refLogProbs = tf.tensor2d([[-1, Math.log(0.5), -1]]);
  const ln2 = Math.LN2;
  const k1 = klPenalty(logProbs, refLogProbs);
  assertArrayAlmostEquals(await k1.data(), [0, -ln2, 1], 1e-6);
  const k2 = klPenalty(logProbs, refLogProbs, { estimator: "k2" });
  // d²/2: 0, (ln 2)²/2 = 0.2402265, 0.5
  assertArrayAlmostEquals(await k2.data(), [0, 0.2402265, 0.5], 1e-6);
  const k3 = klPenalty(logProbs, refLogProbs, { estimator: "k3" });
  // e^(−d) + d − 1: 0; e^(ln 2) − ln 2 − 1 = 1 − ln 2 = 0.3068528; e^(−1) + 1 − 1 = 0.3678794
  assertArrayAlmostEquals(await k3.data(), [0, 0.3068528, 0.3678794], 1e-6);
  tf.dispose([logProbs, refLogProbs, k1, k2, k3]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("klPenalty: matches a scalar loop on random batches", async () => {
  const rng = new Random(8);
  for (const [b, t] of [[1, 1], [2, 7], [6, 4]]) {
    for (const estimator of ["k1", "k2", "k3"] as const) {
      const lp = randomMatrix(rng, b, t);
      const ref = randomMatrix(rng, b, t);
      const logProbs = tf.tensor2d(lp);
      const refLogProbs = tf.tensor2d(ref);
      const kl = klPenalty(logProbs, refLogProbs, { estimator });
      // float32 against float64: compare relative to the magnitude (k3 reaches e^|d| ≈ 100)
      const expected = reference(lp, ref, estimator);
      const actual = Array.from(await kl.data(), (x, i) => x / Math.max(1, Math.abs(expected[i])));
      const scaled = expected.map((x) => x / Math.max(1, Math.abs(x)));
      assertArrayAlmostEquals(actual, scaled, 1e-5);
      tf.dispose([logProbs, refLogProbs, kl]);
    }
  }
});

Deno.test("klPenalty: k3 is non-negative and 0 at d = 0; its gradient is 1 − e^(−d)", async () => {
  const before = tf.memory().numTensors;
  const rng = new Random(9);
  const lp = randomMatrix(rng, 5, 8, 2);
  const ref = randomMatrix(rng, 5, 8, 2);
  const logProbs = tf.tensor2d(lp);
  const refLogProbs = tf.tensor2d(ref);
  const k3 = klPenalty(logProbs, refLogProbs, { estimator: "k3" });
  for (const v of await k3.data()) assert(v >= 0, `k3 = ${v} < 0`);
  const same = klPenalty(logProbs, logProbs, { estimator: "k3" });
  assertArrayAlmostEquals(await same.data(), new Array(40).fill(0), 0);
  const grad = tf.grad((x: tf.Tensor) =>
    tf.sum(klPenalty(x as tf.Tensor2D, refLogProbs, { estimator: "k3" }))
  )(logProbs);
  const expected = lp.flat().map((x, i) => 1 - Math.exp(-(x - ref.flat()[i])));
  assertArrayAlmostEquals(await grad.data(), expected, 1e-4);
  tf.dispose([logProbs, refLogProbs, k3, same, grad]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("klPenalty: bad input throws the exact error", () => {
  const before = tf.memory().numTensors;
  const context = "Cannot compute the KL penalty: ";
  const a = tf.zeros([2, 2]) as tf.Tensor2D;
  const b = tf.zeros([2, 3]) as tf.Tensor2D;
  const c = tf.zeros([2, 2, 1]) as unknown as tf.Tensor2D;
  const inf = tf.tensor2d([[0, 0], [0, -Infinity]]);
  assertThrows(
    () => klPenalty(a, b),
    TypeError,
    context +
      "logProbs and refLogProbs must have the same shape, got logProbs [2, 2] and refLogProbs [2, 3]",
  );
  assertThrows(
    () => klPenalty(c, a),
    TypeError,
    context + "logProbs must have shape [B, T] (rank 2), got shape [2, 2, 1]",
  );
  assertThrows(
    () => klPenalty(a, a, { estimator: "k4" as KlEstimator }),
    RangeError,
    context + 'unknown estimator "k4", expected one of "k1", "k2", "k3"',
  );
  assertThrows(
    () => klPenalty(a, inf),
    RangeError,
    context + "refLogProbs must be finite, got -Infinity at index 3",
  );
  tf.dispose([a, b, c, inf]);
  assertEquals(tf.memory().numTensors, before);
});
