import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertNotEquals, assertRejects } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { createPolicy } from "../../lib/policy/transformer.ts";
import { defaultPolicyConfig } from "../../lib/tasks/default_policy_config.ts";
import { createTokenRewardChain } from "../../lib/tasks/token_reward_chain.ts";
import { evaluateSampledReward } from "../../lib/experiments/sampled_reward.ts";

await initBackend({ backend: "cpu" });

const TASK = createTokenRewardChain({ alphabet: "ab", promptLength: 2, maxResponseTokens: 16 });
const TINY = { dModel: 16, layers: 1, heads: 2, seed: 3 };

Deno.test("evaluateSampledReward: same seed, same estimate; in [0, 1]; no tensors left", async () => {
  const policy = createPolicy(defaultPolicyConfig(TASK, TINY));
  const before = tf.memory().numTensors;
  const a = await evaluateSampledReward(policy, TASK, { samples: 3, seed: 5 });
  const b = await evaluateSampledReward(policy, TASK, { samples: 3, seed: 5 });
  const c = await evaluateSampledReward(policy, TASK, { samples: 3, seed: 6 });
  assertEquals(tf.memory().numTensors, before);
  policy.dispose();
  assertEquals([a.prompts, a.samples], [4, 3]);
  assert(a.meanReward >= 0 && a.meanReward <= 1, `${a.meanReward}`);
  assert(a.meanLength >= 1 && a.meanLength <= 16, `${a.meanLength}`);
  assertEquals(b.meanReward, a.meanReward);
  assertNotEquals(c.meanReward, a.meanReward);
});

Deno.test("evaluateSampledReward: bad input", async () => {
  const policy = createPolicy(defaultPolicyConfig(TASK, TINY));
  const context = "Cannot estimate the sampled reward";
  await assertRejects(
    () => evaluateSampledReward(policy, TASK, { samples: 0 }),
    RangeError,
    `${context}: samples must be at least 1, got 0`,
  );
  await assertRejects(
    () => evaluateSampledReward(policy, TASK, { temperature: 0 }),
    RangeError,
    `${context}: temperature must be greater than 0, got 0`,
  );
  await assertRejects(
    () => evaluateSampledReward(policy, null as never),
    TypeError,
    `${context}: task must be a Task`,
  );
  policy.dispose();
});
