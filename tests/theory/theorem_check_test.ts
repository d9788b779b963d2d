import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { enumerateResponses } from "../../lib/theory/enumerate_responses.ts";
import { zeroRewardEstimator } from "../../lib/theory/estimators.ts";
import { createTabularPolicy } from "../../lib/theory/tabular_policy.ts";
import { runTheoremCheck } from "../../lib/theory/theorem_check.ts";
import { drawTokenRewards } from "../../lib/theory/token_rewards.ts";
import { assertEquals, assertLess, assertRejects } from "@std/assert";

await initBackend({ backend: "cpu" });

const space = enumerateResponses({ vocabSize: 4, eosToken: 3, maxTokens: 4, prompts: [[0], [1]] });
const rewards = drawTokenRewards(space, { seed: 11, gamma: 0.9, scales: [1, 0.25] });

Deno.test("a quick sampled run flags the ZRA with γ = 0.9 as biased and with γ = 1 as unbiased", async () => {
  const policy = createTabularPolicy({ vocabSize: 4, contexts: space.contexts, seed: 7 });
  const before = tf.memory().numTensors;
  const result = await runTheoremCheck({
    policy,
    space,
    rewards,
    estimators: [zeroRewardEstimator(1), zeroRewardEstimator(0.9)],
    estimates: 2000,
    groupSize: 4,
    seed: 2025,
  });
  assertEquals(tf.memory().numTensors, before);
  const [gamma1, gamma09] = result.estimators;
  assertEquals(gamma1.verdict, "unbiased");
  assertEquals(gamma09.verdict, "biased");
  assertEquals(gamma1.samples, 2000);
  assertLess(gamma1.exactRelativeBias!, 1e-5);
  assertLess(result.scoreFunctionCheck, 1e-5);
  assertLess(Math.abs(result.objective - result.objectiveFromValues), 1e-5);
  policy.dispose();
});

Deno.test("runTheoremCheck rejects too few estimates or responses per group", async () => {
  const policy = createTabularPolicy({ vocabSize: 4, contexts: space.contexts, seed: 7 });
  const base = { policy, space, rewards, estimators: [], groupSize: 4, seed: 1, estimates: 10 };
  await assertRejects(
    () => runTheoremCheck({ ...base, estimates: 1 }),
    RangeError,
    "Cannot run the theorem check: estimates must be at least 2, got 1",
  );
  await assertRejects(
    () => runTheoremCheck({ ...base, groupSize: 1 }),
    RangeError,
    "Cannot run the theorem check: groupSize must be at least 2, got 1",
  );
  policy.dispose();
});
