import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { klShapedTokenRewards } from "../../lib/score/kl_shaped_rewards.ts";
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
} from "../advantage/_helpers.ts";

await initBackend({ backend: "cpu" });

/** Scalar-loop reference. */
function reference(
  rewards: number[],
  logProbs: number[],
  refLogProbs: number[],
  mask: number[],
  rows: number,
  columns: number,
  beta: number,
): number[] {
  const out = new Array<number>(rows * columns).fill(0);
  for (let b = 0; b < rows; b++) {
    let last = -1;
    for (let t = 0; t < columns; t++) if (mask[b * columns + t] === 1) last = t;
    for (let t = 0; t < columns; t++) {
      const i = b * columns + t;
      if (mask[i] !== 1) continue;
      out[i] = -beta * (logProbs[i] - refLogProbs[i]) + (t === last ? rewards[b] : 0);
    }
  }
  return out;
}

Deno.test("matches hand-computed values", async () => {
  // β = 0.1. d = logπ − logπ_ref.
  // Row 0 (valid 0..2, reward 2): d = [−1 − (−2), −0.5 − (−0.5), −3 − (−1)] = [1, 0, −2]
  //   → [−0.1, 0, 0.2 + 2, 0] = [−0.1, 0, 2.2, 0]
  // Row 1 (valid 0 and 2, hole at 1, reward −1): d = [0.5, ·, 1] → [−0.05, 0, −0.1 − 1, 0]
  // Row 2 (nothing valid, reward 5): all 0.
  const rewards = tf.tensor1d([2, -1, 5]);
  const logProbs = tf.tensor2d([[-1, -0.5, -3, -9], [-1, -7, -1, 0], [-1, -1, -1, -1]]);
  const refLogProbs = tf.tensor2d([[-2, -0.5, -1, 0], [-1.5, 0, -2, 0], [0, 0, 0, 0]]);
  const mask = tf.tensor2d([[1, 1, 1, 0], [1, 0, 1, 0], [0, 0, 0, 0]]);
  const out = expectTensorCount(
    () => klShapedTokenRewards(rewards, logProbs, refLogProbs, mask, { beta: 0.1 }),
    1,
  );
  assertArrayAlmostEquals(
    await out.data(),
    [-0.1, 0, 2.2, 0, -0.05, 0, -1.1, 0, 0, 0, 0, 0],
    1e-6,
  );
  // β = 0: the reward alone, on the last valid token.
  const plain = klShapedTokenRewards(rewards, logProbs, refLogProbs, mask, { beta: 0 });
  assertEquals(await plain.array(), [[0, 0, 2, 0], [0, 0, -1, 0], [0, 0, 0, 0]]);
  tf.dispose([rewards, logProbs, refLogProbs, mask, out, plain]);
});

Deno.test("matches a scalar-loop reference; row sums are RM − β·Σd", async () => {
  const rng = new Random(31);
  for (const [rows, columns] of SHAPES) {
    for (const prefix of [true, false]) {
      const rewards = Array.from(new Float32Array(randomNormals(rng, rows)));
      const lp = Array.from(new Float32Array(randomNormals(rng, rows * columns)));
      const ref = Array.from(new Float32Array(randomNormals(rng, rows * columns)));
      const { mask, lengths } = randomMask(rng, rows, columns, { prefix });
      const beta = rng.float();
      const tensors = [
        tf.tensor1d(rewards),
        tf.tensor2d(lp, [rows, columns]),
        tf.tensor2d(ref, [rows, columns]),
        tf.tensor2d(mask, [rows, columns]),
      ] as const;
      const out = expectTensorCount(
        () => klShapedTokenRewards(...tensors, { beta }),
        1,
      );
      const data = await out.data();
      assertArrayAlmostEquals(data, reference(rewards, lp, ref, mask, rows, columns, beta), 1e-5);
      for (let b = 0; b < rows; b++) {
        let sum = 0;
        let kl = 0;
        for (let t = 0; t < columns; t++) {
          sum += data[b * columns + t];
          if (mask[b * columns + t] === 1) kl += lp[b * columns + t] - ref[b * columns + t];
        }
        assertAlmostEquals(sum, (lengths[b] > 0 ? rewards[b] : 0) - beta * kl, 1e-4);
      }
      tf.dispose([...tensors, out]);
    }
  }
});

Deno.test("rejects bad input with the exact class and message", () => {
  const context = "Cannot compute KL-shaped token rewards";
  const r = tf.tensor1d([1, 2]);
  const r3 = tf.tensor1d([1, 2, 3]);
  const lp = tf.tensor2d([[0, 0], [0, 0]]);
  const lp3 = tf.tensor2d([[0, 0, 0], [0, 0, 0]]);
  const m = tf.tensor2d([[1, 0], [1, 1]]);
  const nanLp = tf.tensor2d([[0, 0], [NaN, 0]]);
  const infR = tf.tensor1d([Infinity, 0]);
  const badMask = tf.tensor2d([[1, 0.25], [1, 1]]);
  const cases: [() => unknown, ErrorConstructor, string][] = [
    [
      () => klShapedTokenRewards(r3, lp, lp, m, { beta: 0.1 }),
      TypeError,
      `${context}: rewards and mask must have the same B, got rewards [3] and mask [2, 2]`,
    ],
    [
      () => klShapedTokenRewards(r, lp, lp3, m, { beta: 0.1 }),
      TypeError,
      "logProbs and refLogProbs must have the same shape, got logProbs [2, 2] and refLogProbs [2, 3]",
    ],
    [
      () => klShapedTokenRewards(r, lp, nanLp, m, { beta: 0.1 }),
      RangeError,
      "refLogProbs must be finite, got NaN at index 2",
    ],
    [
      () => klShapedTokenRewards(infR, lp, lp, m, { beta: 0.1 }),
      RangeError,
      "rewards must be finite, got Infinity at index 0",
    ],
    [
      () => klShapedTokenRewards(r, lp, lp, badMask, { beta: 0.1 }),
      RangeError,
      "mask must contain only 0 and 1, got 0.25 at index 1",
    ],
    [
      () => klShapedTokenRewards(r, lp, lp, m, { beta: -1 }),
      RangeError,
      "beta must be at least 0, got -1",
    ],
    [
      () => klShapedTokenRewards(r, lp, lp, m, {} as { beta: number }),
      TypeError,
      "beta must be a finite number, got undefined",
    ],
  ];
  for (const [fn, ErrorClass, message] of cases) {
    assertThrows(fn, ErrorClass, message);
    assertNoTensorsOnThrow(fn);
  }
  tf.dispose([r, r3, lp, lp3, m, nanLp, infR, badMask]);
});
