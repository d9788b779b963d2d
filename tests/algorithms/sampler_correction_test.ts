/**
 * Off-policy correction for a sampler that is not the local policy (an inference server): the
 * local log-probs become the "old" ones, the server's are kept for the gap metric and truncated
 * importance sampling, and `train` calls the sampler's `check` and `syncWeights` hooks.
 *
 * The stand-in server here samples with the local policy and reports every log-prob shifted by
 * −log 2, so every importance ratio is exactly 2 and every gap exactly log 2 (worked by hand).
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals, assertRejects } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { createPolicy, type Policy } from "../../lib/policy/transformer.ts";
import { localSampler, type Sampler } from "../../lib/sample/sampler.ts";
import { disposeRollout } from "../../lib/sample/rollout.ts";
import { sample } from "../../lib/sample/sample.ts";
import { tokenLogProbs } from "../../lib/sample/token_log_probs.ts";
import { resolveConfig, type StepBatch, type StepState } from "../../lib/algorithms/step.ts";
import { sampleResponses } from "../../lib/algorithms/rollout.ts";
import { updatePolicy } from "../../lib/algorithms/policy_update.ts";
import { rolloutMetrics } from "../../lib/algorithms/step_metrics.ts";
import { policyGradientLoss } from "../../lib/loss/policy_gradient.ts";
import { rloo } from "../../lib/algorithms/rloo.ts";
import { train } from "../../lib/algorithms/train.ts";
import { defaultPolicyConfig } from "../../lib/tasks/default_policy_config.ts";
import { addition } from "../../lib/tasks/addition.ts";

await initBackend({ backend: "cpu" });

/** A "server" that samples like the local policy but reports log μ = log π − log 2. */
const halvedServer: Sampler = {
  name: "halved",
  remote: true,
  async sample(policy, prompts, options) {
    const r = await sample(policy, prompts, options);
    const shifted = tf.tidy(() => tf.mul(tf.sub(r.logProbs, Math.LN2), r.mask) as tf.Tensor2D);
    r.logProbs.dispose();
    return { ...r, logProbs: shifted };
  },
  greedy: localSampler.greedy,
  continueFrom: localSampler.continueFrom,
};

function tinyPolicy(seed = 3): Policy {
  return createPolicy(defaultPolicyConfig(addition, { dModel: 16, layers: 1, heads: 2, seed }));
}

function stepState(policy: Policy, extra: Partial<StepState>): StepState {
  return {
    config: resolveConfig(rloo, { promptsPerStep: 2, groupSize: 2, beta: 0, maxTokens: 4 }),
    policy,
    optimizers: { policy: tf.train.sgd(0) },
    rng: new Random(5),
    step: 1,
    ...extra,
  };
}

const batch: StepBatch = {
  prompts: ["12+3=", "4+40="],
  tokenizer: addition.tokenizer,
  rewardFns: {},
  maxTokens: 4,
};

Deno.test("a remote sampler's rollout carries the local log-probs as old and the server's apart", async () => {
  const policy = tinyPolicy();
  const state = stepState(policy, { sampler: halvedServer });
  const rollout = await sampleResponses(state, batch);
  try {
    assert(rollout.samplerLogProbs !== undefined);
    const local = tf.tidy(() => tokenLogProbs(policy, rollout));
    const [old, server, mask, expected] = await Promise.all([
      rollout.logProbs.array(),
      rollout.samplerLogProbs.array(),
      rollout.mask.array(),
      local.array(),
    ]);
    local.dispose();
    let valid = 0;
    for (let b = 0; b < old.length; b++) {
      for (let t = 0; t < old[b].length; t++) {
        if (mask[b][t] === 0) continue;
        valid++;
        assertAlmostEquals(old[b][t], expected[b][t], 1e-6);
        assertAlmostEquals(old[b][t] - server[b][t], Math.LN2, 1e-5);
      }
    }
    assert(valid > 0);
    const metrics = await rolloutMetrics(rollout, undefined);
    assertAlmostEquals(metrics["sampler/logprob_gap_mean"], Math.LN2, 1e-5);
    assertAlmostEquals(metrics["sampler/logprob_gap_max"], Math.LN2, 1e-5);
  } finally {
    disposeRollout(rollout);
    policy.dispose();
  }
});

Deno.test("the local sampler leaves the rollout as sampled and reports no gap", async () => {
  const policy = tinyPolicy();
  const viaState = await sampleResponses(stepState(policy, {}), batch);
  const direct = await sample(policy, batch.prompts.map((p) => addition.tokenizer.encode(p)), {
    groupSize: 2,
    maxTokens: 4,
    temperature: 1,
    eosToken: addition.tokenizer.eos,
    rng: new Random(5),
  });
  try {
    assertEquals(viaState.samplerLogProbs, undefined);
    assertEquals(await viaState.tokens.array(), await direct.tokens.array());
    assertEquals(await viaState.logProbs.array(), await direct.logProbs.array());
    const metrics = await rolloutMetrics(viaState, undefined);
    assertEquals("sampler/logprob_gap_mean" in metrics, false);
  } finally {
    disposeRollout(viaState);
    disposeRollout(direct);
    policy.dispose();
  }
});

Deno.test("truncated importance sampling weights each token's loss by min(2, C)", async () => {
  const policy = tinyPolicy();
  const rollout = await sampleResponses(stepState(policy, { sampler: halvedServer }), batch);
  const advantages = tf.tidy(() => tf.mul(rollout.mask, 0.5) as tf.Tensor2D);
  const loss = policyGradientLoss;
  try {
    const plain = await updatePolicy(
      stepState(policy, {}),
      rollout,
      { advantages },
      loss,
      4,
    );
    for (const [cap, weight, truncated] of [[3, 2, 0], [1.5, 1.5, 1]]) {
      const m = await updatePolicy(
        stepState(policy, { importanceSamplingCap: cap }),
        rollout,
        { advantages },
        loss,
        4,
      );
      // −A·logπ is linear in the weight: the loss scales by min(2, C).
      assertAlmostEquals(m["loss/policy"], weight * plain["loss/policy"], 1e-5);
      assertAlmostEquals(m["sampler/importance_weight_mean"], weight, 1e-5);
      assertAlmostEquals(m["sampler/importance_weight_truncated_fraction"], truncated, 1e-6);
    }
    assertEquals("sampler/importance_weight_mean" in plain, false);
  } finally {
    advantages.dispose();
    disposeRollout(rollout);
    policy.dispose();
  }
});

/** A sampler that delegates to the local one and records what `train` asks of it. */
function spy(failAtCall?: number) {
  const calls: string[] = [];
  let samples = 0;
  const sampler: Sampler = {
    name: "spy",
    remote: false,
    sample(policy, prompts, options) {
      samples++;
      if (samples === failAtCall) throw new Error("Cannot sample: the server is gone");
      return localSampler.sample(policy, prompts, options);
    },
    greedy: localSampler.greedy,
    continueFrom: localSampler.continueFrom,
    check(policy, eos) {
      calls.push(`check ${policy.config.vocabSize} ${eos}`);
      return Promise.resolve();
    },
    syncWeights(_policy, step) {
      calls.push(`sync ${step}`);
      return Promise.resolve();
    },
  };
  return { sampler, calls };
}

Deno.test("train checks the sampler once, syncs it at the start and after every update, and matches the default", async () => {
  const common = {
    algorithm: "grpo",
    task: "addition",
    steps: 2,
    seed: 4,
    config: { promptsPerStep: 2, groupSize: 2, maxTokens: 4 },
  };
  const a = tinyPolicy();
  const b = tinyPolicy();
  const { sampler, calls } = spy();
  try {
    const withSpy = await train({ ...common, policy: a, sampler });
    const plain = await train({ ...common, policy: b });
    assertEquals(calls, [
      `check ${a.config.vocabSize} ${addition.tokenizer.eos}`,
      "sync 0",
      "sync 1",
      "sync 2",
    ]);
    const strip = (r: Record<string, number>) =>
      Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith("time/")));
    assertEquals(withSpy.records.map(strip), plain.records.map(strip));
  } finally {
    a.dispose();
    b.dispose();
  }
});

Deno.test("a step whose sampling fails changes neither the policy nor the saved checkpoint", async () => {
  const outDir = await Deno.makeTempDir();
  const policy = tinyPolicy();
  const { sampler } = spy(2);
  let afterStep1: Float32Array[] = [];
  let saved = new Uint8Array();
  try {
    await assertRejects(
      () =>
        train({
          algorithm: "grpo",
          task: "addition",
          policy,
          sampler,
          steps: 3,
          seed: 1,
          checkpointEvery: 1,
          outDir,
          config: { promptsPerStep: 1, groupSize: 2, maxTokens: 4 },
          onStep: async () => {
            afterStep1 = await Promise.all(
              [...policy.weights.values()].map(async (w) => (await w.data()) as Float32Array),
            );
            saved = await Deno.readFile(`${outDir}/checkpoint/model.safetensors`);
          },
        }),
      Error,
      "the server is gone",
    );
    const now = await Promise.all([...policy.weights.values()].map((w) => w.data()));
    assertEquals(now, afterStep1);
    assertEquals(await Deno.readFile(`${outDir}/checkpoint/model.safetensors`), saved);
  } finally {
    policy.dispose();
    await Deno.remove(outDir, { recursive: true });
  }
});
