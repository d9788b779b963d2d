import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { generalizedAdvantages } from "../../lib/advantage/generalized_advantages.ts";
import { discountedReturns } from "../../lib/advantage/discounted_returns.ts";
import { assertArrayAlmostEquals, assertThrows } from "@std/assert";
import {
  assertNoTensorsOnThrow,
  expectTensorCount,
  randomMask,
  randomNormals,
  SHAPES,
} from "./_helpers.ts";

await initBackend({ backend: "cpu" });

/**
 * Reference by the explicit sum Aₜ = Σ_{l ≥ 0} (γλ)^l δ_{t+l} over the valid tokens, with
 * δ = r + γ·V_next − V and V after the last valid token 0.
 */
function reference(
  rewards: number[],
  values: number[],
  mask: number[],
  rows: number,
  columns: number,
  gamma: number,
  lambda: number,
): { advantages: number[]; returns: number[] } {
  const advantages = new Array<number>(rows * columns).fill(0);
  const returns = new Array<number>(rows * columns).fill(0);
  for (let b = 0; b < rows; b++) {
    const valid: number[] = [];
    for (let t = 0; t < columns; t++) if (mask[b * columns + t] === 1) valid.push(b * columns + t);
    const deltas = valid.map((i, k) =>
      rewards[i] + gamma * (k + 1 < valid.length ? values[valid[k + 1]] : 0) - values[i]
    );
    for (let k = 0; k < valid.length; k++) {
      let a = 0;
      for (let l = k; l < valid.length; l++) a += Math.pow(gamma * lambda, l - k) * deltas[l];
      advantages[valid[k]] = a;
      returns[valid[k]] = a + values[valid[k]];
    }
  }
  return { advantages, returns };
}

Deno.test("matches hand-computed values", async () => {
  // γ = 0.9, λ = 0.5, γλ = 0.45.
  // Row 0, valid t = 0..2:
  //   t=2: δ = 1 + 0.9·0 − 0.8 = 0.2;       A = 0.2;                   R = 0.2 + 0.8 = 1
  //   t=1: δ = 0 + 0.9·0.8 − 0.6 = 0.12;    A = 0.12 + 0.45·0.2 = 0.21; R = 0.81
  //   t=0: δ = 0 + 0.9·0.6 − 0.5 = 0.04;    A = 0.04 + 0.45·0.21 = 0.1345; R = 0.6345
  // Row 1, valid t = 0, 2, 3 (t = 1 is a hole, skipped):
  //   t=3: δ = 2 + 0 − 1 = 1;               A = 1;                      R = 2
  //   t=2: δ = 0 + 0.9·1 − 0.5 = 0.4;       A = 0.4 + 0.45·1 = 0.85;    R = 1.35
  //   t=0: δ = 0 + 0.9·0.5 − 1 = −0.55;     A = −0.55 + 0.45·0.85 = −0.1675; R = 0.8325
  const tokenRewards = tf.tensor2d([[0, 0, 1, 0], [0, 9, 0, 2]]);
  const values = tf.tensor2d([[0.5, 0.6, 0.8, 7], [1, 9, 0.5, 1]]);
  const mask = tf.tensor2d([[1, 1, 1, 0], [1, 0, 1, 1]]);
  const { advantages, returns } = expectTensorCount(
    () => generalizedAdvantages({ tokenRewards, values, mask }, { gamma: 0.9, lambda: 0.5 }),
    2,
  );
  assertArrayAlmostEquals(
    await advantages.data(),
    [0.1345, 0.21, 0.2, 0, -0.1675, 0, 0.85, 1],
    1e-6,
  );
  assertArrayAlmostEquals(await returns.data(), [0.6345, 0.81, 1, 0, 0.8325, 0, 1.35, 2], 1e-6);
  tf.dispose([tokenRewards, values, mask, advantages, returns]);
});

Deno.test("matches a scalar-loop reference on random masked batches", async () => {
  const rng = new Random(17);
  for (const [rows, columns] of SHAPES) {
    for (const prefix of [true, false]) {
      for (const [gamma, lambda] of [[1, 1], [1, 0.95], [0.99, 0.9], [0.5, 0], [0, 0.7]]) {
        const rewards = Array.from(new Float32Array(randomNormals(rng, rows * columns)));
        const values = Array.from(new Float32Array(randomNormals(rng, rows * columns)));
        const { mask } = randomMask(rng, rows, columns, { prefix });
        const inputs = {
          tokenRewards: tf.tensor2d(rewards, [rows, columns]),
          values: tf.tensor2d(values, [rows, columns]),
          mask: tf.tensor2d(mask, [rows, columns]),
        };
        const out = expectTensorCount(() => generalizedAdvantages(inputs, { gamma, lambda }), 2);
        const expected = reference(rewards, values, mask, rows, columns, gamma, lambda);
        const label = `[${rows}, ${columns}] prefix ${prefix} γ ${gamma} λ ${lambda}`;
        assertArrayAlmostEquals(await out.advantages.data(), expected.advantages, 1e-4, label);
        assertArrayAlmostEquals(await out.returns.data(), expected.returns, 1e-4, label);
        tf.dispose([inputs.tokenRewards, inputs.values, inputs.mask, out.advantages, out.returns]);
      }
    }
  }
});

Deno.test("λ = 1, γ = 1 (the defaults): advantages equal discounted returns minus values", async () => {
  const rng = new Random(2);
  for (const [rows, columns] of SHAPES) {
    const { mask } = randomMask(rng, rows, columns);
    const m = tf.tensor2d(mask, [rows, columns]);
    const r = tf.tensor2d(randomNormals(rng, rows * columns), [rows, columns]);
    const v = tf.tensor2d(randomNormals(rng, rows * columns), [rows, columns]);
    const { advantages, returns } = generalizedAdvantages({ tokenRewards: r, values: v, mask: m });
    const g = discountedReturns(r, m);
    const expected = tf.tidy(() => g.sub(v.mul(m)));
    assertArrayAlmostEquals(await advantages.data(), await expected.data(), 1e-4);
    // returns = A + V on valid tokens, i.e. the discounted returns themselves.
    assertArrayAlmostEquals(await returns.data(), await g.data(), 1e-4);
    tf.dispose([m, r, v, advantages, returns, g, expected]);
  }
});

Deno.test("rejects bad input with the exact class and message", () => {
  const context = "Cannot compute generalized advantages";
  const r = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
  const v = tf.tensor2d([[0, 0, 0], [0, 0, 0]]);
  const m = tf.tensor2d([[1, 1, 0], [1, 1, 1]]);
  const v4 = tf.tensor2d([[0, 0, 0, 0], [0, 0, 0, 0]]);
  const vNaN = tf.tensor2d([[0, 0, 0], [0, NaN, 0]]);
  const rInf = tf.tensor2d([[0, -Infinity, 0], [0, 0, 0]]);
  const m2 = tf.tensor2d([[1, 2, 0], [1, 1, 1]]);
  const cases: [() => unknown, ErrorConstructor, string][] = [
    [
      () => generalizedAdvantages({ tokenRewards: r, values: v4, mask: m }),
      TypeError,
      `${context}: tokenRewards and values must have the same shape, got tokenRewards [2, 3] and values [2, 4]`,
    ],
    [
      () => generalizedAdvantages({ tokenRewards: r, values: v, mask: v4 }),
      TypeError,
      "tokenRewards and mask must have the same shape, got tokenRewards [2, 3] and mask [2, 4]",
    ],
    [
      () => generalizedAdvantages({ tokenRewards: r, values: vNaN, mask: m }),
      RangeError,
      "values must be finite, got NaN at index 4",
    ],
    [
      () => generalizedAdvantages({ tokenRewards: rInf, values: v, mask: m }),
      RangeError,
      "tokenRewards must be finite, got -Infinity at index 1",
    ],
    [
      () => generalizedAdvantages({ tokenRewards: r, values: v, mask: m2 }),
      RangeError,
      "mask must contain only 0 and 1, got 2 at index 1",
    ],
    [
      () => generalizedAdvantages({ tokenRewards: r, values: v, mask: m }, { lambda: 2 }),
      RangeError,
      "lambda must be at most 1, got 2",
    ],
    [
      () => generalizedAdvantages({ tokenRewards: r, values: v, mask: m }, { gamma: NaN }),
      TypeError,
      "gamma must be a finite number, got NaN",
    ],
  ];
  for (const [fn, ErrorClass, message] of cases) {
    assertThrows(fn, ErrorClass, message);
    assertNoTensorsOnThrow(fn);
  }
  tf.dispose([r, v, m, v4, vNaN, rInf, m2]);
});
