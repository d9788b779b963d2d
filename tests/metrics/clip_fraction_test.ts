import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { clipFraction } from "../../lib/metrics/clip_fraction.ts";
import { clippedSurrogateLoss } from "../../lib/loss/clipped_surrogate.ts";
import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";

await initBackend({ backend: "cpu" });

function randomMatrix(rng: Random, b: number, t: number, scale = 1): number[][] {
  return Array.from(
    { length: b },
    () => Array.from({ length: t }, () => Math.fround(scale * rng.normal())),
  );
}

function randomMask(rng: Random, b: number, t: number): number[][] {
  return Array.from({ length: b }, () => {
    const length = rng.int(t + 1);
    return Array.from({ length: t }, (_, j) => (j < length ? 1 : 0));
  });
}

/** Scalar reference: the clip is active when A > 0 and ρ > 1 + ε_high, or A < 0 and ρ < 1 − ε. */
function reference(
  lp: number[][],
  old: number[][],
  adv: number[][],
  mask: number[][],
  epsilon: number,
  epsilonHigh: number,
): number {
  let clipped = 0;
  let valid = 0;
  for (let i = 0; i < lp.length; i++) {
    for (let j = 0; j < lp[i].length; j++) {
      if (mask[i][j] !== 1) continue;
      valid++;
      const ratio = Math.exp(lp[i][j] - old[i][j]);
      const a = adv[i][j];
      if ((a > 0 && ratio > 1 + epsilonHigh) || (a < 0 && ratio < 1 - epsilon)) clipped++;
    }
  }
  return valid === 0 ? 0 : clipped / valid;
}

Deno.test("clipFraction: hand-computed fraction", () => {
  const before = tf.memory().numTensors;
  // ρ = exp(logProbs) since old = 0; ε = 0.2, ε_high = 0.3
  // token: ρ=1.5 A=1 → clipped (1.5 > 1.3); ρ=1.25 A=1 → not (≤ 1.3); ρ=0.5 A=−1 → clipped;
  //        ρ=0.5 A=1 → not (the unclipped term is larger); ρ=1 A=−1 → not (tie);
  //        ρ=2 A=1 → masked out
  // → 2 clipped of 5 valid = 0.4
  const logProbs = tf.tensor2d([
    [Math.log(1.5), Math.log(1.25), Math.log(0.5)],
    [Math.log(0.5), 0, Math.log(2)],
  ]);
  const oldLogProbs = tf.zeros([2, 3]) as tf.Tensor2D;
  const advantages = tf.tensor2d([[1, 1, -1], [1, -1, 1]]);
  const mask = tf.tensor2d([[1, 1, 1], [1, 1, 0]]);
  const inputs = { logProbs, oldLogProbs, advantages, mask };
  assertAlmostEquals(clipFraction(inputs, { epsilon: 0.2, epsilonHigh: 0.3 }), 0.4, 1e-12);
  // with the default ε = ε_high = 0.2, ρ = 1.25 is clipped too → 3/5
  assertAlmostEquals(clipFraction(inputs), 0.6, 1e-12);
  tf.dispose([logProbs, oldLogProbs, advantages, mask]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("clipFraction: no valid token gives 0; on-policy gives 0", () => {
  const before = tf.memory().numTensors;
  const logProbs = tf.tensor2d([[Math.log(3), -1]]);
  const oldLogProbs = tf.zeros([1, 2]) as tf.Tensor2D;
  const advantages = tf.tensor2d([[1, 1]]);
  const none = tf.zeros([1, 2]) as tf.Tensor2D;
  const all = tf.ones([1, 2]) as tf.Tensor2D;
  assertEquals(clipFraction({ logProbs, oldLogProbs, advantages, mask: none }), 0);
  assertEquals(
    clipFraction({ logProbs, oldLogProbs: logProbs, advantages, mask: all }),
    0,
  );
  tf.dispose([logProbs, oldLogProbs, advantages, none, all]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("clipFraction: matches a scalar loop and the zero-gradient tokens of the surrogate", async () => {
  const rng = new Random(41);
  for (const [b, t] of [[1, 1], [3, 8], [8, 16]]) {
    for (const [epsilon, epsilonHigh] of [[0.2, 0.2], [0.1, 0.28]]) {
      const lp = randomMatrix(rng, b, t, 0.5);
      const old = lp.map((row) => row.map((x) => Math.fround(x + 0.3 * rng.normal())));
      const adv = randomMatrix(rng, b, t);
      const m = randomMask(rng, b, t);
      const logProbs = tf.tensor2d(lp);
      const oldLogProbs = tf.tensor2d(old);
      const advantages = tf.tensor2d(adv);
      const mask = tf.tensor2d(m);
      const fraction = clipFraction({ logProbs, oldLogProbs, advantages, mask }, {
        epsilon,
        epsilonHigh,
      });
      assertAlmostEquals(fraction, reference(lp, old, adv, m, epsilon, epsilonHigh), 1e-12);
      // The clipped tokens are exactly the valid tokens whose surrogate gradient is 0.
      const grad = tf.grad((x: tf.Tensor) =>
        tf.sum(
          clippedSurrogateLoss({ logProbs: x as tf.Tensor2D, oldLogProbs, advantages }, {
            epsilon,
            epsilonHigh,
          }),
        )
      )(logProbs);
      const g = await grad.data();
      const flatMask = m.flat();
      const flatAdv = adv.flat();
      const valid = flatMask.filter((x) => x === 1).length;
      const zero = flatMask.filter((x, i) => x === 1 && flatAdv[i] !== 0 && g[i] === 0).length;
      assertAlmostEquals(fraction, valid === 0 ? 0 : zero / valid, 1e-12);
      tf.dispose([logProbs, oldLogProbs, advantages, mask, grad]);
    }
  }
});

Deno.test("clipFraction: bad input throws the exact error", () => {
  const before = tf.memory().numTensors;
  const context = "Cannot compute the clip fraction: ";
  const a = tf.zeros([2, 2]) as tf.Tensor2D;
  const b = tf.zeros([2, 1]) as tf.Tensor2D;
  const twos = tf.fill([2, 2], 2) as tf.Tensor2D;
  const nan = tf.tensor2d([[0, NaN], [0, 0]]);
  const ok = { logProbs: a, oldLogProbs: a, advantages: a, mask: a };
  assertThrows(
    () => clipFraction({ ...ok, mask: b }),
    TypeError,
    context + "logProbs and mask must have the same shape, got logProbs [2, 2] and mask [2, 1]",
  );
  assertThrows(
    () => clipFraction({ ...ok, mask: twos }),
    RangeError,
    context + "mask must contain only 0 and 1, got 2 at index 0",
  );
  assertThrows(
    () => clipFraction({ ...ok, advantages: nan }),
    RangeError,
    context + "advantages must be finite, got NaN at index 1",
  );
  assertThrows(
    () => clipFraction(ok, { epsilon: -1 }),
    RangeError,
    context + "epsilon must be greater than 0, got -1",
  );
  assertThrows(
    () => clipFraction(ok, { epsilonHigh: 0 }),
    RangeError,
    context + "epsilonHigh must be greater than 0, got 0",
  );
  tf.dispose([a, b, twos, nan]);
  assertEquals(tf.memory().numTensors, before);
});
