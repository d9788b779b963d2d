import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { groupRelativeAdvantages, type GroupScale } from "../../lib/advantage/group_relative.ts";
import {
  assertAlmostEquals,
  assertArrayAlmostEquals,
  assertEquals,
  assertThrows,
} from "@std/assert";
import { assertNoTensorsOnThrow, expectTensorCount } from "./_helpers.ts";

await initBackend({ backend: "cpu" });

/** Plain scalar-loop reference, float64. */
function reference(
  rewards: number[],
  groupSize: number,
  scale: GroupScale,
  epsilon: number,
  ddof: number,
): number[] {
  const n = rewards.length;
  let total = 0;
  for (const r of rewards) total += r;
  const batchMean = total / n;
  let batchSquares = 0;
  for (const r of rewards) batchSquares += (r - batchMean) ** 2;
  const batchStd = Math.sqrt(batchSquares / Math.max(n - ddof, 1));
  const out: number[] = [];
  for (let start = 0; start < n; start += groupSize) {
    let sum = 0;
    let allEqual = true;
    for (let i = start; i < start + groupSize; i++) {
      sum += rewards[i];
      if (rewards[i] !== rewards[start]) allEqual = false;
    }
    const mean = sum / groupSize;
    let squares = 0;
    for (let i = start; i < start + groupSize; i++) squares += (rewards[i] - mean) ** 2;
    const std = Math.sqrt(squares / Math.max(groupSize - ddof, 1));
    for (let i = start; i < start + groupSize; i++) {
      if (allEqual) out.push(0);
      else if (scale === "none") out.push(rewards[i] - mean);
      else if (scale === "group") out.push((rewards[i] - mean) / (std + epsilon));
      else out.push((rewards[i] - mean) / (batchStd + epsilon));
    }
  }
  return out;
}

async function run(
  rewards: number[],
  options: Parameters<typeof groupRelativeAdvantages>[1],
): Promise<Float32Array> {
  const r = tf.tensor1d(rewards);
  const out = expectTensorCount(() => groupRelativeAdvantages(r, options), 1);
  const data = await out.data() as Float32Array;
  tf.dispose([r, out]);
  return data;
}

Deno.test("group scale matches hand-computed values", async () => {
  // Group [1, 0, 2]: mean 1, deviations [0, −1, 1], Σd² = 2.
  //   ddof 1: std = √(2/2) = 1 → A = d / (1 + 1e-6) = [0, −0.999999, 0.999999]
  //   ddof 0: std = √(2/3) = 0.8164966 → A = [0, −1.2247449, 1.2247449]
  // Group [5, 5, 5]: equal → exactly 0.
  const rewards = [1, 0, 2, 5, 5, 5];
  const unbiased = await run(rewards, { groupSize: 3 });
  assertArrayAlmostEquals(unbiased, [0, -0.999999, 0.999999, 0, 0, 0], 1e-6);
  assertEquals(Array.from(unbiased.slice(3)), [0, 0, 0]);
  const biased = await run(rewards, { groupSize: 3, ddof: 0, epsilon: 0 });
  assertArrayAlmostEquals(biased, [0, -1.2247449, 1.2247449, 0, 0, 0], 1e-6);
});

Deno.test("batch and none scales match hand-computed values", async () => {
  // All six rewards [1, 0, 2, 5, 5, 5]: mean 18/6 = 3, deviations [−2, −3, −1, 2, 2, 2],
  // Σd² = 4 + 9 + 1 + 4 + 4 + 4 = 26, std (ddof 1) = √(26/5) = √5.2 = 2.2803509.
  // Group-centred rewards [0, −1, 1, 0, 0, 0] / 2.2803509 = [0, −0.4385290, 0.4385290, 0, 0, 0].
  const rewards = [1, 0, 2, 5, 5, 5];
  const batch = await run(rewards, { groupSize: 3, scale: "batch", epsilon: 0 });
  assertArrayAlmostEquals(batch, [0, -0.438529, 0.438529, 0, 0, 0], 1e-6);
  const none = await run(rewards, { groupSize: 3, scale: "none" });
  assertEquals(Array.from(none), [0, -1, 1, 0, 0, 0]);
});

Deno.test("a group of equal non-representable rewards gives exactly 0 under every scale", async () => {
  for (const scale of ["group", "batch", "none"] as const) {
    const out = await run([0.7, 0.7, 0.7, 0.1, 0.1, 0.1, 0.3, 0.9], { groupSize: 2, scale });
    assertEquals(Array.from(out.slice(0, 2)), [0, 0], scale);
    const equal = await run([0.7, 0.7, 0.7, 0.1, 0.1, 0.1], { groupSize: 3, scale });
    assertEquals(Array.from(equal), [0, 0, 0, 0, 0, 0], scale);
  }
  // groupSize 1: every group is trivially equal.
  assertEquals(Array.from(await run([3, -1, 2], { groupSize: 1 })), [0, 0, 0]);
});

Deno.test("matches a scalar-loop reference on random batches", async () => {
  const rng = new Random(11);
  const cases: [number, number][] = [[1, 1], [4, 2], [6, 3], [16, 4], [32, 8], [30, 10]];
  for (const [n, groupSize] of cases) {
    for (const scale of ["group", "batch", "none"] as const) {
      for (const ddof of [0, 1] as const) {
        // Mix binary rewards (typical of verifiers), continuous ones and some equal groups.
        const rewards = Array.from(
          { length: n },
          (_, i) =>
            Math.floor(i / groupSize) % 3 === 2
              ? 0.5
              : rng.float() < 0.5
              ? rng.int(2)
              : rng.normal(),
        );
        const epsilon = 1e-6;
        const actual = await run(rewards, { groupSize, scale, epsilon, ddof });
        const expected = reference(
          Array.from(new Float32Array(rewards)),
          groupSize,
          scale,
          epsilon,
          ddof,
        );
        assertArrayAlmostEquals(
          actual,
          expected,
          1e-4,
          `n ${n}, G ${groupSize}, ${scale}, ddof ${ddof}`,
        );
      }
    }
  }
});

Deno.test("group scale: every non-constant group has mean 0 and unit std", async () => {
  const rng = new Random(5);
  const groupSize = 6;
  const rewards = Array.from({ length: 8 * groupSize }, () => rng.normal() * 3 + 1);
  const out = await run(rewards, { groupSize, epsilon: 0 });
  for (let g = 0; g < 8; g++) {
    const a = Array.from(out.slice(g * groupSize, (g + 1) * groupSize));
    const mean = a.reduce((s, x) => s + x, 0) / groupSize;
    const variance = a.reduce((s, x) => s + (x - mean) ** 2, 0) / (groupSize - 1);
    assertAlmostEquals(mean, 0, 1e-5);
    assertAlmostEquals(variance, 1, 1e-4);
  }
});

Deno.test("empty rewards give an empty result", async () => {
  assertEquals((await run([], { groupSize: 2 })).length, 0);
});

Deno.test("rejects bad input with the exact class and message", () => {
  const context = "Cannot compute group-relative advantages";
  const r = tf.tensor1d([1, 2, 3, 4, 5, 6]);
  const matrix = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
  const ints = tf.tensor1d([1, 2], "int32");
  const cases: [() => unknown, ErrorConstructor, string][] = [
    [
      () => groupRelativeAdvantages([1, 2] as unknown as tf.Tensor1D, { groupSize: 1 }),
      TypeError,
      `${context}: rewards must be a tf.Tensor, got an array of length 2`,
    ],
    [
      () => groupRelativeAdvantages(matrix as unknown as tf.Tensor1D, { groupSize: 3 }),
      TypeError,
      "rewards must have shape [N] (rank 1), got shape [2, 3]",
    ],
    [() => groupRelativeAdvantages(ints, { groupSize: 1 }), TypeError, "must have dtype float32"],
    [
      () => groupRelativeAdvantages(r, { groupSize: 0 }),
      RangeError,
      `${context}: groupSize must be at least 1, got 0`,
    ],
    [
      () => groupRelativeAdvantages(r, { groupSize: 1.5 }),
      TypeError,
      "groupSize must be an integer, got 1.5",
    ],
    [
      () => groupRelativeAdvantages(r, {} as { groupSize: number }),
      TypeError,
      "groupSize must be an integer, got undefined",
    ],
    [
      () => groupRelativeAdvantages(r, { groupSize: 4 }),
      RangeError,
      "groupSize must divide the number of rewards, got groupSize 4 for 6 rewards",
    ],
    [
      () => groupRelativeAdvantages(r, { groupSize: 3, scale: "std" as GroupScale }),
      RangeError,
      `unknown scale "std", expected one of "group", "batch", "none"`,
    ],
    [
      () => groupRelativeAdvantages(r, { groupSize: 3, epsilon: -1 }),
      RangeError,
      "epsilon must be at least 0, got -1",
    ],
    [
      () => groupRelativeAdvantages(r, { groupSize: 3, ddof: 2 as 1 }),
      RangeError,
      "ddof must be 0 or 1, got 2",
    ],
  ];
  for (const [fn, ErrorClass, message] of cases) {
    assertThrows(fn, ErrorClass, message);
    assertNoTensorsOnThrow(fn);
  }
  for (const [bad, text] of [[NaN, "NaN"], [Infinity, "Infinity"], [-Infinity, "-Infinity"]]) {
    const withBad = tf.tensor1d([0, 1, bad as number, 3]);
    assertThrows(
      () => groupRelativeAdvantages(withBad, { groupSize: 2 }),
      RangeError,
      `${context}: rewards must be finite, got ${text} at index 2`,
    );
    withBad.dispose();
  }
  tf.dispose([r, matrix, ints]);
});
