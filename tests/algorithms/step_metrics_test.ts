/**
 * What every recipe's step logs besides its update: each reward function's mean
 * (`rewards/{name}/mean`, from `score`) and the phase timers, each holding what its name says
 * (`time/score_s` the reward functions, `time/advantage_s` the advantage alone, and the phases
 * adding up to no more than the step).
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { createPolicy, freezePolicy } from "../../lib/policy/transformer.ts";
import { createValueModel } from "../../lib/policy/value_model.ts";
import { defaultPolicyConfig } from "../../lib/tasks/default_policy_config.ts";
import { addition } from "../../lib/tasks/addition.ts";
import type { RewardFn } from "../../lib/score/score.ts";
import {
  type Algorithm,
  resolveConfig,
  type RlConfig,
  type StepMetrics,
} from "../../lib/algorithms/step.ts";
import { STEP_PHASES } from "../../lib/algorithms/step_metrics.ts";
import { drGrpo, grpo } from "../../lib/algorithms/grpo.ts";
import { rloo } from "../../lib/algorithms/rloo.ts";
import { remax } from "../../lib/algorithms/remax.ts";
import { reinforce } from "../../lib/algorithms/reinforce.ts";
import { ppo } from "../../lib/algorithms/ppo.ts";
import { trepo } from "../../lib/algorithms/trepo.ts";
import { train } from "../../lib/algorithms/train.ts";

await initBackend({ backend: "cpu" });

/** Each recipe with a small batch it accepts. */
const RECIPES: [Algorithm<RlConfig>, Record<string, unknown>][] = [
  [grpo as Algorithm<RlConfig>, { promptsPerStep: 2, groupSize: 2 }],
  [drGrpo as Algorithm<RlConfig>, { promptsPerStep: 2, groupSize: 2 }],
  [rloo, { promptsPerStep: 2, groupSize: 2 }],
  [reinforce, { promptsPerStep: 2, groupSize: 1 }],
  [remax, { promptsPerStep: 2, groupSize: 1 }],
  [ppo as Algorithm<RlConfig>, { promptsPerStep: 2 }],
  [trepo as Algorithm<RlConfig>, { promptsPerStep: 2, groupSize: 2, positions: 1 }],
];

/** One step of `algorithm` on a tiny policy; returns its metrics and the step's wall seconds. */
async function oneStep(
  algorithm: Algorithm<RlConfig>,
  overrides: Record<string, unknown>,
  rewardFns: Record<string, RewardFn>,
  rewardWeights?: Record<string, number>,
): Promise<{ metrics: StepMetrics; seconds: number }> {
  const config = resolveConfig(algorithm, { maxTokens: 3, beta: 0.04, ...overrides });
  const policy = createPolicy(
    defaultPolicyConfig(addition, { dModel: 16, layers: 1, heads: 2, seed: 3 }),
  );
  const reference = freezePolicy(policy);
  const valueModel = algorithm.usesValueModel
    ? createValueModel({ ...policy.config, seed: 9 })
    : undefined;
  const optimizers = {
    policy: tf.train.adam(1e-3),
    value: valueModel === undefined ? undefined : tf.train.adam(1e-3),
  };
  try {
    const start = performance.now();
    const metrics = await algorithm.step(
      { config, policy, reference, valueModel, optimizers, rng: new Random(7), step: 1 },
      {
        prompts: addition.prompts(new Random(5), config.promptsPerStep),
        tokenizer: addition.tokenizer,
        rewardFns,
        rewardWeights,
        maxTokens: 3,
      },
    );
    return { metrics, seconds: (performance.now() - start) / 1000 };
  } finally {
    policy.dispose();
    reference.dispose();
    valueModel?.dispose();
    optimizers.policy.dispose();
    optimizers.value?.dispose();
  }
}

for (const [algorithm, overrides] of RECIPES) {
  Deno.test(`${algorithm.name} logs each reward function's unweighted mean as rewards/{name}/mean`, async () => {
    // Constant rewards, so the means are known whatever is sampled: 1 and 0.25, weighted 1 and 2.
    const { metrics } = await oneStep(algorithm, overrides, {
      correct: () => 1,
      format: () => 0.25,
    }, { format: 2 });
    assertEquals(metrics["rewards/correct/mean"], 1);
    assertEquals(metrics["rewards/format/mean"], 0.25);
    assertAlmostEquals(metrics["reward/mean"], 1 + 2 * 0.25, 1e-12);
  });
}

/** Every reward function call takes this long (all rows of one `score` call wait together). */
const SCORE_MS = 60;
const slowReward: RewardFn = (_prompt, completion) =>
  new Promise((resolve) => setTimeout(() => resolve(completion.length / 3), SCORE_MS));

for (const [algorithm, overrides] of RECIPES) {
  Deno.test(`${algorithm.name} times scoring as time/score_s, not as time/advantage_s`, async () => {
    const { metrics, seconds } = await oneStep(algorithm, overrides, { slow: slowReward });
    // ReMax scores its greedy responses too, TRePO its continuations: two scoring calls.
    const calls = algorithm.name === "remax" || algorithm.name === "trepo" ? 2 : 1;
    const wait = SCORE_MS / 1000;
    assert(
      metrics["time/score_s"] >= calls * wait * 0.9,
      `time/score_s ${metrics["time/score_s"]} < ${calls} × ${wait}`,
    );
    assert(
      metrics["time/advantage_s"] < wait * 0.9,
      `time/advantage_s ${metrics["time/advantage_s"]} counts the scoring`,
    );
    let total = 0;
    for (const phase of STEP_PHASES) {
      const value = metrics[`time/${phase}_s`];
      assert(value >= 0, `time/${phase}_s is ${value}`);
      total += value;
    }
    // No phase counted twice: the phases fit in the step.
    assert(total <= seconds + 1e-3, `the phases sum to ${total} s, the step took ${seconds} s`);
  });
}

Deno.test("train's metrics.jsonl holds rewards/{name}/mean of a correctness + format reward", async () => {
  const dir = await Deno.makeTempDir();
  const policy = createPolicy(
    defaultPolicyConfig(addition, { dModel: 16, layers: 1, heads: 2, seed: 4 }),
  );
  try {
    await train({
      algorithm: "grpo",
      config: { promptsPerStep: 2, groupSize: 2, maxTokens: 4 },
      task: "addition",
      seed: 7,
      steps: 1,
      outDir: dir,
      policy,
      // Constant, so the logged means are known: 0 and 1 (weighted 0.5).
      rewardFns: { correctness: () => 0, format: () => 1 },
      rewardWeights: { format: 0.5 },
    });
    const [line] = (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n");
    const record = JSON.parse(line);
    assertEquals(record["rewards/correctness/mean"], 0);
    assertEquals(record["rewards/format/mean"], 1);
    assertEquals(record["reward/mean"], 0.5);
    for (const phase of STEP_PHASES) assert(`time/${phase}_s` in record, `time/${phase}_s missing`);
  } finally {
    policy.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
