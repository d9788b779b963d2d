import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertNotEquals, assertRejects } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { createPolicy } from "../../lib/policy/transformer.ts";
import { defaultPolicyConfig } from "../../lib/tasks/default_policy_config.ts";
import { addition } from "../../lib/tasks/addition.ts";
import {
  peakResidentMemoryMb,
  promptsDigest,
  runComparison,
} from "../../lib/experiments/compare_run.ts";

await initBackend({ backend: "cpu" });

const TINY = { dModel: 16, layers: 1, heads: 2, seed: 3 };
const SIX = ["ppo", "grpo", "remax", "rloo", "trepo", "reinforce"];

/** The prompts `train` should draw: its first split of the seed, `promptsPerStep` per step. */
function expectedPrompts(seed: number, steps: number, perStep: number): string[][] {
  const stream = new Random(seed).split();
  return Array.from({ length: steps }, () => addition.prompts(stream, perStep));
}

Deno.test("runComparison: all six algorithms see the same prompts at every step for one seed", async () => {
  const before = tf.memory().numTensors;
  const digests: string[] = [];
  for (const algorithm of SIX) {
    const policy = createPolicy(defaultPolicyConfig(addition, TINY));
    const run = await runComparison({
      algorithm,
      task: addition,
      policy,
      steps: 3,
      seed: 7,
      evalEvery: 2,
      evalLimit: 3,
      config: {
        promptsPerStep: 2,
        groupSize: 2,
        ...(algorithm === "trepo" ? { positions: 1, continuations: 1 } : {}),
      },
    });
    policy.dispose();
    assertEquals(run.algorithm, algorithm);
    digests.push(run.promptsDigest!);
  }
  assertEquals(tf.memory().numTensors, before);
  // Not only equal to each other: equal to an independent draw from train's prompt stream.
  const expected = promptsDigest(expectedPrompts(7, 3, 2));
  assertEquals(digests, SIX.map(() => expected));
  // And the check can fail: another seed draws other prompts.
  assertNotEquals(promptsDigest(expectedPrompts(8, 3, 2)), expected);
});

Deno.test("runComparison: evaluations at 0, every evalEvery and after the last; timed steps", async () => {
  const policy = createPolicy(defaultPolicyConfig(addition, TINY));
  const seen: number[] = [];
  const run = await runComparison({
    algorithm: "ppo",
    task: addition,
    policy,
    steps: 5,
    seed: 1,
    evalEvery: 2,
    evalLimit: 4,
    config: { promptsPerStep: 2, groupSize: 2 },
    onStep: (r) => seen.push(r.step),
  });
  policy.dispose();
  assertEquals(seen, [0, 1, 2, 3, 4, 5]);
  assertEquals(run.records.map((r) => r.step), [0, 1, 2, 3, 4, 5]);
  assertEquals(
    run.records.filter((r) => r["eval/accuracy"] !== undefined).map((r) => r.step),
    [0, 2, 4, 5],
  );
  for (const r of run.records.slice(1)) {
    assert(r["time/step_s"] > 0 && r["tokens/generated"] > 0, `step ${r.step}`);
  }
  // PPO's defaults: epochs × minibatches Adam steps per update; it holds a value model.
  assert(run.adamStepsPerUpdate >= 1);
  assertEquals(run.models.map((m) => m.role).includes("value"), true);
  assert(run.peakRssMb > 0);
});

Deno.test("runComparison: sampledEval adds the sampled reward to every evaluation", async () => {
  const policy = createPolicy(defaultPolicyConfig(addition, TINY));
  const run = await runComparison({
    algorithm: "grpo",
    task: addition,
    policy,
    steps: 2,
    seed: 1,
    evalEvery: 2,
    evalLimit: 3,
    config: { promptsPerStep: 2, groupSize: 2 },
    sampledEval: { samples: 2, seed: 9 },
  });
  policy.dispose();
  const evaluated = run.records.filter((r) => r["eval/sampled_reward"] !== undefined);
  assertEquals(evaluated.map((r) => r.step), [0, 2]);
  for (const r of evaluated) assert(r["eval/sampled_reward"] >= 0 && r["eval/sampled_reward"] <= 1);
});

Deno.test("runComparison: bad input", async () => {
  const policy = createPolicy(defaultPolicyConfig(addition, TINY));
  const base = { algorithm: "grpo", task: addition, policy, steps: 1, seed: 0, evalEvery: 1 };
  await assertRejects(
    () => runComparison({ ...base, evalEvery: 0 }),
    RangeError,
    "Cannot run the comparison: evalEvery must be at least 1, got 0",
  );
  await assertRejects(
    () => runComparison({ ...base, steps: 0 }),
    RangeError,
    "Cannot run the comparison: steps must be at least 1, got 0",
  );
  await assertRejects(
    () => runComparison({ ...base, algorithm: "dpo" }),
    RangeError,
    "Cannot find the algorithm: unknown algorithm",
  );
  await assertRejects(
    () => runComparison(null as unknown as Parameters<typeof runComparison>[0]),
    TypeError,
    "Cannot run the comparison: options must be an object, got null",
  );
  policy.dispose();
});

Deno.test("promptsDigest: FNV-1a of the JSON text", () => {
  // FNV-1a 32-bit of "[]" (0x5b, 0x5d) worked out with Python: 0x741638a5
  assertEquals(promptsDigest([]), "741638a5");
  assertEquals(promptsDigest([["12+34="]]), promptsDigest([["12+34="]]));
  assertNotEquals(promptsDigest([["12+34=", "1+1="]]), promptsDigest([["1+1=", "12+34="]]));
});

Deno.test("peakResidentMemoryMb: at least the current resident memory", () => {
  const current = Deno.memoryUsage().rss / 2 ** 20;
  const peak = peakResidentMemoryMb();
  assert(peak >= current - 1, `${peak} vs ${current}`);
  assert(peak < 1e6);
});
