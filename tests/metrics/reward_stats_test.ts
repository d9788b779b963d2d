import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { rewardStats } from "../../lib/metrics/reward_stats.ts";
import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";

await initBackend({ backend: "cpu" });

Deno.test("rewardStats: hand-computed statistics of two groups", () => {
  // rewards 0, 0, 1, 1 | 0.5, 0.5, 0.5, 0.5: mean = 4/8 = 0.5;
  // Σ(r − 0.5)² = 4·0.25 + 4·0 = 1 → population std = sqrt(1/8) = 0.3535534
  // group 1 mixed, group 2 all equal → fraction 1/2
  const stats = rewardStats([0, 0, 1, 1, 0.5, 0.5, 0.5, 0.5], { groupSize: 4 });
  assertAlmostEquals(stats.mean, 0.5, 1e-12);
  assertAlmostEquals(stats.std, Math.sqrt(1 / 8), 1e-12);
  assertEquals(stats.min, 0);
  assertEquals(stats.max, 1);
  assertEquals(stats.allEqualGroupFraction, 0.5);
  // groupSize 2: groups [0,0] [1,1] [.5,.5] [.5,.5] are all equal → 1
  assertEquals(
    rewardStats([0, 0, 1, 1, 0.5, 0.5, 0.5, 0.5], { groupSize: 2 }).allEqualGroupFraction,
    1,
  );
  // the default groupSize 1 makes every single-response group trivially equal
  assertEquals(rewardStats([3]), { mean: 3, std: 0, min: 3, max: 3, allEqualGroupFraction: 1 });
});

Deno.test("rewardStats: a Tensor1D gives the same result as its array and is not disposed", async () => {
  const before = tf.memory().numTensors;
  const rng = new Random(71);
  const values = Array.from({ length: 12 }, () => Math.fround(rng.int(3) / 2));
  const tensor = tf.tensor1d(values);
  const fromTensor = rewardStats(tensor, { groupSize: 3 });
  assertEquals(fromTensor, rewardStats(values, { groupSize: 3 }));
  assertEquals((await tensor.data()).length, 12);
  tensor.dispose();
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("rewardStats: matches a scalar loop on random rewards", () => {
  const rng = new Random(72);
  for (const [groups, groupSize] of [[1, 1], [3, 4], [16, 8]]) {
    const n = groups * groupSize;
    // few distinct values so that some groups are all equal
    const rewards = Array.from({ length: n }, () => rng.int(2) + (rng.float() < 0.2 ? 0.5 : 0));
    let sum = 0;
    for (const r of rewards) sum += r;
    const mean = sum / n;
    let sq = 0;
    for (const r of rewards) sq += (r - mean) * (r - mean);
    let equalGroups = 0;
    for (let g = 0; g < groups; g++) {
      const group = rewards.slice(g * groupSize, (g + 1) * groupSize);
      if (new Set(group).size === 1) equalGroups++;
    }
    const stats = rewardStats(rewards, { groupSize });
    assertAlmostEquals(stats.mean, mean, 1e-12);
    assertAlmostEquals(stats.std, Math.sqrt(sq / n), 1e-12);
    assertEquals(stats.min, Math.min(...rewards));
    assertEquals(stats.max, Math.max(...rewards));
    assertAlmostEquals(stats.allEqualGroupFraction, equalGroups / groups, 1e-12);
  }
});

Deno.test("rewardStats: bad input throws the exact error", () => {
  const before = tf.memory().numTensors;
  const context = "Cannot compute reward statistics: ";
  const matrix = tf.zeros([2, 2]) as unknown as tf.Tensor1D;
  assertThrows(
    () => rewardStats([]),
    RangeError,
    context + "rewards must not be empty, got 0 rewards",
  );
  assertThrows(
    () => rewardStats([1, NaN, 2]),
    RangeError,
    context + "rewards must be finite, got NaN at index 1",
  );
  assertThrows(
    () => rewardStats([1, "2" as unknown as number]),
    TypeError,
    context + 'rewards must contain only numbers, got "2" at index 1',
  );
  assertThrows(
    () => rewardStats("1, 2" as unknown as number[]),
    TypeError,
    context + 'rewards must be a number array or a tf.Tensor1D, got "1, 2"',
  );
  assertThrows(
    () => rewardStats(matrix),
    TypeError,
    context + "rewards must have shape [N] (rank 1), got shape [2, 2]",
  );
  assertThrows(
    () => rewardStats([1, 2, 3], { groupSize: 2 }),
    RangeError,
    context + "the number of rewards must be a multiple of groupSize 2, got 3",
  );
  assertThrows(
    () => rewardStats([1, 2], { groupSize: 0 }),
    RangeError,
    context + "groupSize must be at least 1, got 0",
  );
  assertThrows(
    () => rewardStats([1, 2], { groupSize: 1.5 }),
    TypeError,
    context + "groupSize must be an integer, got 1.5",
  );
  matrix.dispose();
  assertEquals(tf.memory().numTensors, before);
});
