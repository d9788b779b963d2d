import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { policyGradientLoss } from "../../lib/loss/policy_gradient.ts";
import { assertArrayAlmostEquals, assertEquals, assertThrows } from "@std/assert";

await initBackend({ backend: "cpu" });

function randomMatrix(rng: Random, b: number, t: number): number[][] {
  return Array.from(
    { length: b },
    () => Array.from({ length: t }, () => Math.fround(rng.normal())),
  );
}

Deno.test("policyGradientLoss: hand-computed −A·logπ", async () => {
  const before = tf.memory().numTensors;
  const logProbs = tf.tensor2d([[-1, -0.25], [-3, -0.5]]);
  const advantages = tf.tensor2d([[2, -4], [0.5, 0]]);
  const loss = policyGradientLoss({ logProbs, advantages });
  // −(2)(−1) = 2; −(−4)(−0.25) = −1; −(0.5)(−3) = 1.5; −(0)(−0.5) = 0
  assertArrayAlmostEquals(await loss.data(), [2, -1, 1.5, 0], 1e-7);
  assertEquals(loss.shape, [2, 2]);
  assertEquals(tf.memory().numTensors, before + 3);
  tf.dispose([logProbs, advantages, loss]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("policyGradientLoss: matches a scalar loop on random batches", async () => {
  const rng = new Random(11);
  for (const [b, t] of [[1, 1], [3, 5], [8, 13]]) {
    const lp = randomMatrix(rng, b, t).map((row) => row.map((x) => -Math.abs(x)));
    const adv = randomMatrix(rng, b, t);
    const expected: number[] = [];
    for (let i = 0; i < b; i++) for (let j = 0; j < t; j++) expected.push(-adv[i][j] * lp[i][j]);
    const logProbs = tf.tensor2d(lp);
    const advantages = tf.tensor2d(adv);
    const loss = policyGradientLoss({ logProbs, advantages });
    assertArrayAlmostEquals(await loss.data(), expected, 1e-6);
    tf.dispose([logProbs, advantages, loss]);
  }
});

Deno.test("policyGradientLoss: the gradient w.r.t. logProbs is −A", async () => {
  const before = tf.memory().numTensors;
  const rng = new Random(3);
  const adv = randomMatrix(rng, 3, 4);
  const logProbs = tf.tensor2d(randomMatrix(rng, 3, 4));
  const advantages = tf.tensor2d(adv);
  const grad = tf.grad((lp: tf.Tensor) =>
    tf.sum(policyGradientLoss({ logProbs: lp as tf.Tensor2D, advantages }))
  )(logProbs);
  assertArrayAlmostEquals(await grad.data(), adv.flat().map((a) => -a), 1e-7);
  tf.dispose([logProbs, advantages, grad]);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("policyGradientLoss: bad input throws the exact error", () => {
  const before = tf.memory().numTensors;
  const a = tf.zeros([2, 3]) as tf.Tensor2D;
  const b = tf.zeros([2, 4]) as tf.Tensor2D;
  const flat = tf.zeros([6]) as unknown as tf.Tensor2D;
  const ints = tf.zeros([2, 3], "int32") as tf.Tensor2D;
  const bad = tf.tensor2d([[0, 0, 0], [0, NaN, 0]]);
  assertThrows(
    () => policyGradientLoss({ logProbs: a, advantages: b }),
    TypeError,
    "Cannot compute the policy-gradient loss: logProbs and advantages must have the same shape, got logProbs [2, 3] and advantages [2, 4]",
  );
  assertThrows(
    () => policyGradientLoss({ logProbs: a, advantages: flat }),
    TypeError,
    "Cannot compute the policy-gradient loss: advantages must have shape [B, T] (rank 2), got shape [6]",
  );
  assertThrows(
    () => policyGradientLoss({ logProbs: ints, advantages: a }),
    TypeError,
    "Cannot compute the policy-gradient loss: logProbs must have dtype float32, got int32",
  );
  assertThrows(
    () => policyGradientLoss({ logProbs: [[0]] as unknown as tf.Tensor2D, advantages: a }),
    TypeError,
    "Cannot compute the policy-gradient loss: logProbs must be a tf.Tensor, got an array of length 1",
  );
  assertThrows(
    () => policyGradientLoss({ logProbs: a, advantages: bad }),
    RangeError,
    "Cannot compute the policy-gradient loss: advantages must be finite, got NaN at index 4",
  );
  tf.dispose([a, b, flat, ints, bad]);
  assertEquals(tf.memory().numTensors, before);
});
