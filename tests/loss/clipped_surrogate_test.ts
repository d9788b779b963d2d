import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { clippedSurrogateLoss } from "../../lib/loss/clipped_surrogate.ts";
import { policyGradientLoss } from "../../lib/loss/policy_gradient.ts";
import { assertArrayAlmostEquals, assertEquals, assertThrows } from "@std/assert";

await initBackend({ backend: "cpu" });

function randomMatrix(rng: Random, b: number, t: number, scale = 1): number[][] {
  return Array.from(
    { length: b },
    () => Array.from({ length: t }, () => Math.fround(scale * rng.normal())),
  );
}

/** Independent scalar reference, in float64. */
function reference(
  lp: number[][],
  old: number[][],
  adv: number[][],
  epsilon: number,
  epsilonHigh: number,
  dualClip?: number,
): number[] {
  const out: number[] = [];
  for (let i = 0; i < lp.length; i++) {
    for (let j = 0; j < lp[i].length; j++) {
      const ratio = Math.exp(lp[i][j] - old[i][j]);
      const a = adv[i][j];
      const clippedRatio = Math.min(Math.max(ratio, 1 - epsilon), 1 + epsilonHigh);
      let loss = Math.max(-a * ratio, -a * clippedRatio);
      if (dualClip !== undefined && a < 0) loss = Math.min(loss, -a * dualClip);
      out.push(loss);
    }
  }
  return out;
}

Deno.test("clippedSurrogateLoss: hand-computed cases", async () => {
  const before = tf.memory().numTensors;
  // old log-probs are 0, so ρ = exp(logProbs).
  const logProbs = tf.tensor2d([[Math.log(1.5), Math.log(0.5), Math.log(0.5), Math.log(1.5)]]);
  const oldLogProbs = tf.zeros([1, 4]) as tf.Tensor2D;
  const advantages = tf.tensor2d([[2, 2, -1, -1]]);
  const symmetric = clippedSurrogateLoss({ logProbs, oldLogProbs, advantages });
  // ε = 0.2:
  // ρ=1.5, A=2:  max(−3, −2·1.2 = −2.4) = −2.4 (clipped)
  // ρ=0.5, A=2:  max(−1, −2·0.8 = −1.6) = −1 (unclipped, the pessimistic bound)
  // ρ=0.5, A=−1: max(0.5, 0.8) = 0.8 (clipped)
  // ρ=1.5, A=−1: max(1.5, 1.2) = 1.5 (unclipped)
  assertArrayAlmostEquals(await symmetric.data(), [-2.4, -1, 0.8, 1.5], 1e-6);
  const high = clippedSurrogateLoss({ logProbs, oldLogProbs, advantages }, {
    epsilon: 0.2,
    epsilonHigh: 0.28,
  });
  // only the upper bound moves: ρ=1.5, A=2 → max(−3, −2·1.28 = −2.56) = −2.56
  assertArrayAlmostEquals(await high.data(), [-2.56, -1, 0.8, 1.5], 1e-6);
  const dual = clippedSurrogateLoss({ logProbs, oldLogProbs, advantages }, { dualClip: 1.4 });
  // c = 1.4 caps A<0 tokens at −A·c = 1.4: 0.8 stays, 1.5 → 1.4; A>0 tokens unchanged
  assertArrayAlmostEquals(await dual.data(), [-2.4, -1, 0.8, 1.4], 1e-6);
  tf.dispose([logProbs, oldLogProbs, advantages, symmetric, high, dual]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("clippedSurrogateLoss: matches a scalar loop on random batches", async () => {
  const rng = new Random(21);
  const settings: { epsilon?: number; epsilonHigh?: number; dualClip?: number }[] = [
    {},
    { epsilon: 0.1 },
    { epsilon: 0.2, epsilonHigh: 0.28 },
    { epsilon: 0.3, dualClip: 3 },
  ];
  for (const [b, t] of [[1, 1], [4, 6], [7, 9]]) {
    for (const options of settings) {
      const lp = randomMatrix(rng, b, t, 0.5);
      const old = lp.map((row) => row.map((x) => Math.fround(x + 0.4 * rng.normal())));
      const adv = randomMatrix(rng, b, t);
      const epsilon = options.epsilon ?? 0.2;
      const expected = reference(
        lp,
        old,
        adv,
        epsilon,
        options.epsilonHigh ?? epsilon,
        options.dualClip,
      );
      const logProbs = tf.tensor2d(lp);
      const oldLogProbs = tf.tensor2d(old);
      const advantages = tf.tensor2d(adv);
      const loss = clippedSurrogateLoss({ logProbs, oldLogProbs, advantages }, options);
      assertArrayAlmostEquals(await loss.data(), expected, 1e-5);
      tf.dispose([logProbs, oldLogProbs, advantages, loss]);
    }
  }
});

Deno.test("clippedSurrogateLoss: on-policy (ρ = 1) it equals the unclipped −A and its gradient is −A", async () => {
  const before = tf.memory().numTensors;
  const rng = new Random(5);
  const lp = randomMatrix(rng, 3, 5).map((row) => row.map((x) => -Math.abs(x)));
  const adv = randomMatrix(rng, 3, 5);
  const logProbs = tf.tensor2d(lp);
  const oldLogProbs = tf.tensor2d(lp);
  const advantages = tf.tensor2d(adv);
  const negA = adv.flat().map((a) => -a);
  for (const options of [{}, { epsilon: 0.1, epsilonHigh: 0.3, dualClip: 2 }]) {
    const loss = clippedSurrogateLoss({ logProbs, oldLogProbs, advantages }, options);
    assertArrayAlmostEquals(await loss.data(), negA, 1e-6);
    const grad = tf.grad((x: tf.Tensor) =>
      tf.sum(clippedSurrogateLoss({ logProbs: x as tf.Tensor2D, oldLogProbs, advantages }, options))
    )(logProbs);
    assertArrayAlmostEquals(await grad.data(), negA, 1e-6);
    tf.dispose([loss, grad]);
  }
  // ... the same gradient as the plain policy-gradient loss.
  const pgGrad = tf.grad((x: tf.Tensor) =>
    tf.sum(policyGradientLoss({ logProbs: x as tf.Tensor2D, advantages }))
  )(logProbs);
  assertArrayAlmostEquals(await pgGrad.data(), negA, 1e-6);
  tf.dispose([logProbs, oldLogProbs, advantages, pgGrad]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("clippedSurrogateLoss: clipped tokens get zero gradient, unclipped get −A·ρ", async () => {
  const before = tf.memory().numTensors;
  const logProbs = tf.tensor2d([[Math.log(1.5), Math.log(0.5), Math.log(0.5), Math.log(5)]]);
  const oldLogProbs = tf.zeros([1, 4]) as tf.Tensor2D;
  const advantages = tf.tensor2d([[2, 2, -1, -1]]);
  const grad = tf.grad((x: tf.Tensor) =>
    tf.sum(
      clippedSurrogateLoss({ logProbs: x as tf.Tensor2D, oldLogProbs, advantages }, {
        dualClip: 3,
      }),
    )
  )(logProbs);
  // d(−A·ρ)/dlogπ = −A·ρ. Token 0 clipped → 0; token 1 unclipped → −2·0.5 = −1;
  // token 2 clipped → 0; token 3: −A·ρ = 5 > cap 3 → the dual clip is active, constant → 0.
  assertArrayAlmostEquals(await grad.data(), [0, -1, 0, 0], 1e-6);
  tf.dispose([logProbs, oldLogProbs, advantages, grad]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("clippedSurrogateLoss: bad input throws the exact error", () => {
  const before = tf.memory().numTensors;
  const context = "Cannot compute the clipped surrogate loss: ";
  const a = tf.zeros([2, 3]) as tf.Tensor2D;
  const b = tf.zeros([3, 2]) as tf.Tensor2D;
  const nan = tf.tensor2d([[0, 0, 0], [NaN, 0, 0]]);
  const inf = tf.tensor2d([[0, Infinity, 0], [0, 0, 0]]);
  const ok = { logProbs: a, oldLogProbs: a, advantages: a };
  assertThrows(
    () => clippedSurrogateLoss({ logProbs: a, oldLogProbs: b, advantages: a }),
    TypeError,
    context +
      "logProbs and oldLogProbs must have the same shape, got logProbs [2, 3] and oldLogProbs [3, 2]",
  );
  assertThrows(
    () => clippedSurrogateLoss({ logProbs: a, oldLogProbs: a, advantages: b }),
    TypeError,
    context +
      "logProbs and advantages must have the same shape, got logProbs [2, 3] and advantages [3, 2]",
  );
  assertThrows(
    () => clippedSurrogateLoss({ ...ok, advantages: inf }),
    RangeError,
    context + "advantages must be finite, got Infinity at index 1",
  );
  assertThrows(
    () => clippedSurrogateLoss({ ...ok, oldLogProbs: nan }),
    RangeError,
    context + "oldLogProbs must be finite, got NaN at index 3",
  );
  assertThrows(
    () => clippedSurrogateLoss(ok, { epsilon: 0 }),
    RangeError,
    context + "epsilon must be greater than 0, got 0",
  );
  assertThrows(
    () => clippedSurrogateLoss(ok, { epsilon: 1.5 }),
    RangeError,
    context + "epsilon must be at most 1, got 1.5",
  );
  assertThrows(
    () => clippedSurrogateLoss(ok, { epsilonHigh: -0.1 }),
    RangeError,
    context + "epsilonHigh must be greater than 0, got -0.1",
  );
  assertThrows(
    () => clippedSurrogateLoss(ok, { epsilon: "0.2" as unknown as number }),
    TypeError,
    context + 'epsilon must be a finite number, got "0.2"',
  );
  assertThrows(
    () => clippedSurrogateLoss(ok, { dualClip: 1 }),
    RangeError,
    context + "dualClip must be greater than 1, got 1",
  );
  tf.dispose([a, b, nan, inf]);
  assertEquals(tf.memory().numTensors, before);
});
