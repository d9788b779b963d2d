/**
 * One step of every recipe on a tiny policy: finite metrics, changed weights, no leaked tensors.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertGreater } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { createPolicy, freezePolicy, type Policy } from "../../lib/policy/transformer.ts";
import { createValueModel } from "../../lib/policy/value_model.ts";
import { defaultPolicyConfig } from "../../lib/tasks/default_policy_config.ts";
import { addition } from "../../lib/tasks/addition.ts";
import {
  type Algorithm,
  resolveConfig,
  type RlConfig,
  type StepBatch,
} from "../../lib/algorithms/step.ts";
import { drGrpo, grpo } from "../../lib/algorithms/grpo.ts";
import { rloo } from "../../lib/algorithms/rloo.ts";
import { remax } from "../../lib/algorithms/remax.ts";
import { reinforce } from "../../lib/algorithms/reinforce.ts";

import { trepo } from "../../lib/algorithms/trepo.ts";
import { ppo } from "../../lib/algorithms/ppo.ts";
import { fixLogits } from "../policy/reference_forward.ts";

await initBackend({ backend: "cpu" });

function tinyPolicy(seed = 3): Policy {
  return createPolicy(defaultPolicyConfig(addition, { dModel: 16, layers: 1, heads: 2, seed }));
}

function snapshot(policy: Policy): Float32Array[] {
  return [...policy.weights.values()].map((w) => w.dataSync().slice() as Float32Array);
}

const COMMON_METRICS = [
  "reward/mean",
  "reward/std",
  "kl",
  "entropy",
  "loss/policy",
  "grad_norm",
  "response_length/mean",
  "time/sample_s",
  "time/train_s",
  "tokens/generated",
];

async function oneStep<C extends RlConfig>(
  algorithm: Algorithm<C>,
  overrides: Record<string, unknown>,
) {
  const config = resolveConfig(algorithm, { maxTokens: 4, ...overrides });
  const policy = tinyPolicy();
  const reference = config.beta > 0 ? freezePolicy(policy) : undefined;
  const valueModel = algorithm.usesValueModel
    ? createValueModel({ ...policy.config, seed: 9 })
    : undefined;
  const optimizers = {
    policy: tf.train.adam(1e-2),
    value: valueModel === undefined ? undefined : tf.train.adam(1e-2),
  };
  const before = snapshot(policy);
  const rng = new Random(11);
  const batch: StepBatch = {
    prompts: addition.prompts(new Random(5), config.promptsPerStep),
    tokenizer: addition.tokenizer,
    // A dense reward, so that every group has different rewards: the number of "1" characters.
    rewardFns: { ones: (_p: string, c: string) => [...c].filter((ch) => ch === "1").length / 4 },
    maxTokens: 4,
  };
  const tensorsBefore = tf.memory().numTensors;
  const metrics = await algorithm.step({
    config,
    policy,
    reference,
    valueModel,
    optimizers,
    rng,
    step: 1,
  }, batch);
  // Adam creates its moment slots on the first step: 2 per weight (+2 per value weight).
  const slots = 2 * policy.weights.size + 2 * (valueModel?.weights.size ?? 0);
  assertEquals(tf.memory().numTensors - tensorsBefore, slots, "tensors leaked by the step");
  const after = snapshot(policy);
  const changed = before.some((w, i) => w.some((v, j) => v !== after[i][j]));
  assert(changed, `${algorithm.name}: the policy's weights did not change`);
  for (const key of COMMON_METRICS) {
    assert(key in metrics, `${algorithm.name}: metric ${key} missing`);
  }
  for (const [key, value] of Object.entries(metrics)) {
    assert(Number.isFinite(value), `${algorithm.name}: metric ${key} is ${value}`);
  }
  assertGreater(metrics["tokens/generated"], 0);
  policy.dispose();
  reference?.dispose();
  valueModel?.dispose();
  optimizers.policy.dispose();
  optimizers.value?.dispose();
  return metrics;
}

Deno.test("grpo step on a tiny policy: finite metrics, weights change, no leak", async () => {
  const m = await oneStep(grpo, { promptsPerStep: 2, groupSize: 4 });
  assertEquals(m["response_length/mean"] <= 4, true);
});

Deno.test("dr_grpo step on a tiny policy: finite metrics, weights change, no leak", async () => {
  await oneStep(drGrpo, { promptsPerStep: 2, groupSize: 4 });
});

Deno.test("rloo step (2 epochs × 2 minibatches, clipped) on a tiny policy", async () => {
  await oneStep(rloo, { promptsPerStep: 2, groupSize: 4, epochs: 2, minibatches: 2 });
});

Deno.test("remax step on a tiny policy counts greedy tokens", async () => {
  const m = await oneStep(remax, { promptsPerStep: 4, groupSize: 1 });
  // 4 sampled + 4 greedy responses of at most 4 tokens each.
  assert(m["tokens/generated"] > 4 * m["response_length/mean"] - 1e-9);
  assert("reward/greedy_mean" in m);
});

Deno.test("reinforce step on a tiny policy: finite metrics, weights change, no leak", async () => {
  await oneStep(reinforce, { promptsPerStep: 4, groupSize: 1 });
});

Deno.test("ppo step on a tiny policy trains the value model too", async () => {
  const m = await oneStep(ppo, { promptsPerStep: 4, epochs: 2, minibatches: 2 });
  assert("loss/value" in m && "value/explained_variance" in m);
});

Deno.test("trepo step on a tiny policy counts continuation tokens", async () => {
  const m = await oneStep(trepo, {
    promptsPerStep: 2,
    groupSize: 2,
    positions: 2,
    continuations: 2,
  });
  assertEquals(m["tokens/generated"] > 4 * m["response_length/mean"] - 1e-9, true);
  assert(m["trepo/continuation_tokens"] >= 0);
});

Deno.test("every recipe ends responses at any of the tokenizer's EOS ids (eosIds), not only eos", async () => {
  const digit = addition.tokenizer.encode("7")[0];
  const tokenizer = { ...addition.tokenizer, eosIds: [addition.tokenizer.eos, digit] };
  for (const algorithm of [grpo, rloo, remax, reinforce, trepo, ppo] as Algorithm[]) {
    const config = resolveConfig(algorithm, { maxTokens: 4, beta: 0 });
    const policy = tinyPolicy();
    // The policy emits the second EOS id, "7", almost surely at every position.
    fixLogits(
      policy.weights,
      Array.from({ length: policy.config.vocabSize }, (_, v) => v === digit ? 40 : 0),
    );
    const valueModel = algorithm.usesValueModel
      ? createValueModel({ ...policy.config, seed: 9 })
      : undefined;
    const optimizers = {
      policy: tf.train.adam(1e-3),
      value: valueModel === undefined ? undefined : tf.train.adam(1e-3),
    };
    const batch: StepBatch = {
      prompts: addition.prompts(new Random(5), config.promptsPerStep),
      tokenizer,
      rewardFns: { length: (_p: string, c: string) => c.length },
      maxTokens: 4,
    };
    const metrics = await algorithm.step(
      { config, policy, valueModel, optimizers, rng: new Random(1), step: 1 },
      batch,
    );
    assertEquals(metrics["response_length/mean"], 1, algorithm.name);
    policy.dispose();
    valueModel?.dispose();
    optimizers.policy.dispose();
    optimizers.value?.dispose();
  }
});
