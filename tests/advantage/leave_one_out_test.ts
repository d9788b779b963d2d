import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { leaveOneOutAdvantages } from "../../lib/advantage/leave_one_out.ts";
import {
  assertAlmostEquals,
  assertArrayAlmostEquals,
  assertEquals,
  assertThrows,
} from "@std/assert";
import { assertNoTensorsOnThrow, expectTensorCount } from "./_helpers.ts";

await initBackend({ backend: "cpu" });

/** Plain scalar-loop reference: rᵢ minus the mean of the other members of its group. */
function reference(rewards: number[], groupSize: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < rewards.length; i++) {
    const start = i - (i % groupSize);
    let others = 0;
    for (let j = start; j < start + groupSize; j++) if (j !== i) others += rewards[j];
    out.push(rewards[i] - others / (groupSize - 1));
  }
  return out;
}

async function run(rewards: number[], groupSize: number): Promise<Float32Array> {
  const r = tf.tensor1d(rewards);
  const out = expectTensorCount(() => leaveOneOutAdvantages(r, { groupSize }), 1);
  const data = await out.data() as Float32Array;
  tf.dispose([r, out]);
  return data;
}

Deno.test("matches hand-computed values", async () => {
  // Group [1, 0, 2, 5]: sum 8.
  //   1 − (8 − 1)/3 = 1 − 7/3 = −4/3;  0 − 8/3 = −8/3;  2 − 6/3 = 0;  5 − 3/3 = 4.
  // Group [3, 3, 3, 3]: equal → 0.
  const out = await run([1, 0, 2, 5, 3, 3, 3, 3], 4);
  assertArrayAlmostEquals(out, [-4 / 3, -8 / 3, 0, 4, 0, 0, 0, 0], 1e-6);
  // G = 2: each reward minus the other one: [0.25 − 1, 1 − 0.25].
  assertArrayAlmostEquals(await run([0.25, 1], 2), [-0.75, 0.75], 1e-7);
});

Deno.test("a group of equal rewards gives exactly 0", async () => {
  assertEquals(Array.from(await run([0.7, 0.7, 0.7, 0.1, 0.1, 0.1], 3)), [0, 0, 0, 0, 0, 0]);
});

Deno.test("matches a scalar-loop reference and sums to 0 per group on random batches", async () => {
  const rng = new Random(3);
  for (const [n, groupSize] of [[2, 2], [6, 3], [16, 4], [32, 8], [30, 10]]) {
    const rewards = Array.from({ length: n }, () => rng.float() < 0.5 ? rng.int(2) : rng.normal());
    const actual = await run(rewards, groupSize);
    assertArrayAlmostEquals(
      actual,
      reference(Array.from(new Float32Array(rewards)), groupSize),
      1e-5,
    );
    for (let start = 0; start < n; start += groupSize) {
      let sum = 0;
      for (let i = start; i < start + groupSize; i++) sum += actual[i];
      assertAlmostEquals(sum, 0, 1e-5);
    }
  }
});

Deno.test("rejects bad input with the exact class and message", () => {
  const context = "Cannot compute leave-one-out advantages";
  const r = tf.tensor1d([1, 2, 3, 4, 5, 6]);
  const matrix = tf.tensor2d([[1, 2], [3, 4]]);
  const cases: [() => unknown, ErrorConstructor, string][] = [
    [
      () => leaveOneOutAdvantages(r, { groupSize: 1 }),
      RangeError,
      `${context}: groupSize must be at least 2, got 1`,
    ],
    [() => leaveOneOutAdvantages(r, { groupSize: 2.5 }), TypeError, "groupSize must be an integer"],
    [
      () => leaveOneOutAdvantages(r, { groupSize: 4 }),
      RangeError,
      "groupSize must divide the number of rewards, got groupSize 4 for 6 rewards",
    ],
    [
      () => leaveOneOutAdvantages(matrix as unknown as tf.Tensor1D, { groupSize: 2 }),
      TypeError,
      "rewards must have shape [N] (rank 1), got shape [2, 2]",
    ],
  ];
  for (const [fn, ErrorClass, message] of cases) {
    assertThrows(fn, ErrorClass, message);
    assertNoTensorsOnThrow(fn);
  }
  const bad = tf.tensor1d([0, 1, 2, -Infinity]);
  assertThrows(
    () => leaveOneOutAdvantages(bad, { groupSize: 2 }),
    RangeError,
    "rewards must be finite, got -Infinity at index 3",
  );
  tf.dispose([r, matrix, bad]);
});
