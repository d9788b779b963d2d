/**
 * The training loop: files it writes, bit-identical resume, and every bad input.
 */
import * as tf from "@tensorflow/tfjs";
import {
  assert,
  assertEquals,
  assertGreater,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { createPolicy, type Policy } from "../../lib/policy/transformer.ts";
import { defaultPolicyConfig } from "../../lib/tasks/default_policy_config.ts";
import { addition } from "../../lib/tasks/addition.ts";
import { algorithmByName, type StepRecord, train } from "../../lib/algorithms/train.ts";

await initBackend({ backend: "wasm" });

function tinyPolicy(seed = 4): Policy {
  return createPolicy(defaultPolicyConfig(addition, { dModel: 16, layers: 1, heads: 2, seed }));
}

function weightsOf(policy: Policy): number[][] {
  return [...policy.weights.values()].map((w) => [...w.dataSync()]);
}

async function readLines(path: string): Promise<StepRecord[]> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

function withoutTimes(records: StepRecord[]): Record<string, number>[] {
  return records.map((r) =>
    Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith("time/")))
  );
}

const SMALL = { promptsPerStep: 2, maxTokens: 4 };

for (
  const [algorithm, config] of [
    ["ppo", { ...SMALL, epochs: 2, minibatches: 2 }],
    ["grpo", { ...SMALL, groupSize: 4, epochs: 2, minibatches: 2 }],
    ["trepo", { ...SMALL, groupSize: 2, positions: 2, continuations: 2 }],
  ] as const
) {
  Deno.test(`${algorithm}: 4 steps straight = 2 steps, then a fresh train call resuming for 2 more (bit-identical)`, async () => {
    const straightDir = await Deno.makeTempDir();
    const resumedDir = await Deno.makeTempDir();
    // A dense reward (share of "1" characters), so that every step moves the weights.
    const rewardFns = {
      ones: (_p: string, c: string) => [...c].filter((x) => x === "1").length / 4,
    };
    const common = { algorithm, config, task: "addition", seed: 7, evalEvery: 2, evalLimit: 20 };
    const straight = tinyPolicy();
    const initial = weightsOf(straight);
    const a = await train({
      ...common,
      rewardFns,
      policy: straight,
      steps: 4,
      outDir: straightDir,
    });
    assert(weightsOf(straight).some((w, i) => w.some((v, j) => v !== initial[i][j])));
    a.valueModel?.dispose();
    const first = tinyPolicy();
    const b = await train({
      ...common,
      rewardFns,
      policy: first,
      steps: 2,
      outDir: resumedDir,
      checkpointEvery: 2,
    });
    b.valueModel?.dispose();
    first.dispose();
    const tensors = tf.memory().numTensors;
    // A fresh call: no policy given, everything comes from the checkpoint.
    const c = await train({
      algorithm,
      task: "addition",
      rewardFns,
      steps: 4,
      outDir: resumedDir,
      resume: true,
    });
    assertEquals(weightsOf(c.policy), weightsOf(straight));
    if (a.valueModel !== undefined || c.valueModel !== undefined) {
      assert(c.valueModel !== undefined);
    }
    assertEquals(c.records.map((r) => r.step), [3, 4]);
    const straightLines = await readLines(`${straightDir}/metrics.jsonl`);
    const resumedLines = await readLines(`${resumedDir}/metrics.jsonl`);
    assertEquals(straightLines.map((r) => r.step), [0, 1, 2, 3, 4]);
    assertEquals(withoutTimes(resumedLines), withoutTimes(straightLines));
    c.policy.dispose();
    c.valueModel?.dispose();
    assertEquals(tf.memory().numTensors, tensors);
    straight.dispose();
    await Deno.remove(straightDir, { recursive: true });
    await Deno.remove(resumedDir, { recursive: true });
  });
}

Deno.test("train writes run.json with the models held and one metrics line per step", async () => {
  const dir = await Deno.makeTempDir();
  const policy = tinyPolicy();
  const seen: number[] = [];
  const result = await train({
    algorithm: "ppo",
    config: SMALL,
    task: addition,
    policy,
    steps: 2,
    outDir: dir,
    onStep: (r) => {
      seen.push(r.step);
    },
  });
  const run = JSON.parse(await Deno.readTextFile(`${dir}/run.json`));
  assertEquals(run.algorithm, "ppo");
  assertEquals(
    run.models.map((m: { role: string }) => m.role),
    ["policy", "reference", "value", "reward"],
  );
  assertEquals(run.models[0].parameters, policy.parameterCount);
  assertEquals(run.models[1].parameters, policy.parameterCount);
  assertGreater(run.models[2].parameters, 0);
  const lines = await readLines(`${dir}/metrics.jsonl`);
  assertEquals(lines.map((l) => l.step), [1, 2]);
  assertEquals(seen, [1, 2]);
  for (
    const key of [
      "reward/mean",
      "reward/std",
      "kl",
      "clip_ratio",
      "entropy",
      "loss/policy",
      "loss/value",
      "grad_norm",
      "response_length/mean",
      "time/sample_s",
      "time/train_s",
      "tokens/generated",
      "time/step_s",
    ]
  ) {
    assert(key in lines[0], `metric ${key} missing`);
  }
  await Deno.stat(`${dir}/checkpoint/model.safetensors`);
  await Deno.stat(`${dir}/checkpoint/value_model.safetensors`);
  await Deno.stat(`${dir}/reference/model.safetensors`);
  result.valueModel?.dispose();
  policy.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train with beta 0 holds no reference model", async () => {
  const policy = tinyPolicy();
  const result = await train({
    algorithm: "grpo",
    config: { ...SMALL, groupSize: 2, beta: 0 },
    task: addition,
    policy,
    steps: 1,
  });
  assertEquals(result.models.map((m) => m.role), ["policy", "reward"]);
  policy.dispose();
});

Deno.test("train refuses unknown algorithm and task names, listing the valid ones", async () => {
  const policy = tinyPolicy();
  await assertRejects(
    () => train({ algorithm: "dpo", task: "addition", policy, steps: 1 }),
    RangeError,
    'Cannot find the algorithm: unknown algorithm "dpo", expected one of "ppo", "grpo", "dr_grpo", "remax", "rloo", "reinforce", "trepo"',
  );
  await assertRejects(
    () => train({ algorithm: "grpo", task: "multiplication", policy, steps: 1 }),
    RangeError,
    'unknown task "multiplication", expected one of "addition"',
  );
  assertEquals(algorithmByName("dr-grpo").name, "dr_grpo");
  policy.dispose();
});

Deno.test("train refuses bad steps, config values and group sizes, naming the key", async () => {
  const policy = tinyPolicy();
  await assertRejects(
    () => train({ algorithm: "grpo", task: "addition", policy, steps: 0 }),
    RangeError,
    "Cannot train: steps must be at least 1, got 0",
  );
  await assertRejects(
    () => train({ algorithm: "grpo", task: "addition", policy, steps: 1.5 }),
    TypeError,
    "Cannot train: steps must be an integer, got 1.5",
  );
  await assertRejects(
    () =>
      train({ algorithm: "grpo", task: "addition", policy, steps: 1, config: { beta: "high" } }),
    TypeError,
    'Cannot configure grpo: config.beta must be a finite number, got "high"',
  );
  await assertRejects(
    () =>
      train({ algorithm: "grpo", task: "addition", policy, steps: 1, config: { clipEpsilon: 2 } }),
    RangeError,
    "config.clipEpsilon must be at most 1, got 2",
  );
  await assertRejects(
    () =>
      train({ algorithm: "rloo", task: "addition", policy, steps: 1, config: { groupSize: 1 } }),
    RangeError,
    "config.groupSize must be at least 2 for rloo, got 1",
  );
  await assertRejects(
    () => train({ algorithm: "grpo", task: "addition", steps: 1 }),
    TypeError,
    "Cannot train: a policy is required unless resuming",
  );
  policy.dispose();
});

Deno.test("train --resume without a checkpoint says where it looked", async () => {
  const dir = await Deno.makeTempDir();
  await assertRejects(
    () => train({ algorithm: "grpo", task: "addition", steps: 2, outDir: dir, resume: true }),
    Error,
    `Cannot resume training: no checkpoint in ${dir}/checkpoint`,
  );
  await assertRejects(
    () => train({ algorithm: "grpo", task: "addition", steps: 2, resume: true }),
    TypeError,
    "Cannot resume training: outDir is required",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a reward function returning NaN stops training with the prompt and completion; no checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  const policy = tinyPolicy();
  const error = await assertRejects(
    () =>
      train({
        algorithm: "grpo",
        config: { ...SMALL, groupSize: 2 },
        task: addition,
        policy,
        steps: 3,
        outDir: dir,
        checkpointEvery: 1,
        rewardFns: { broken: () => NaN },
      }),
    RangeError,
    'Cannot score the responses at step 1: Cannot score rollout: reward function "broken" must return a finite number, got NaN for row 0 (prompt',
  );
  assertStringIncludes(error.message, "completion");
  await assertRejects(() => Deno.stat(`${dir}/checkpoint`), Deno.errors.NotFound);
  assertEquals(await Deno.readTextFile(`${dir}/metrics.jsonl`), "");
  policy.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a reward function that throws stops training at that step with the prompt", async () => {
  const policy = tinyPolicy();
  let calls = 0;
  await assertRejects(
    () =>
      train({
        algorithm: "rloo",
        config: { ...SMALL, groupSize: 2 },
        task: addition,
        policy,
        steps: 3,
        rewardFns: {
          flaky: (p) => {
            if (++calls > 4) throw new Error("judge unavailable");
            return p.length > 0 ? 1 : 0;
          },
        },
      }),
    Error,
    'Cannot score the responses at step 2: Cannot score rollout: reward function "flaky" threw for row 0 (prompt',
  );
  policy.dispose();
});

Deno.test("a non-finite loss stops training with the step number and leaves the weights unchanged", async () => {
  const policy = tinyPolicy();
  const before = weightsOf(policy);
  await assertRejects(
    () =>
      train({
        algorithm: "reinforce",
        config: { promptsPerStep: 2, maxTokens: 4 },
        task: addition,
        policy,
        steps: 2,
        // Finite, but −A·logπ overflows float32.
        rewardFns: { huge: () => 3e38 },
      }),
    RangeError,
    "Cannot update the policy at step 1: the loss is Infinity; the weights were left unchanged",
  );
  assertEquals(weightsOf(policy), before);
  policy.dispose();
});

Deno.test("train refuses an outDir that holds a run (files untouched) unless overwrite, which moves it aside", async () => {
  const root = await Deno.makeTempDir();
  const dir = `${root}/run`;
  const common = { algorithm: "grpo", config: SMALL, task: "addition", outDir: dir } as const;
  const first = tinyPolicy();
  await train({ ...common, policy: first, steps: 3 });
  const metrics = await Deno.readTextFile(`${dir}/metrics.jsonl`);
  const weights = await Deno.readFile(`${dir}/checkpoint/model.safetensors`);
  const second = tinyPolicy(5);
  await assertRejects(
    () => train({ ...common, policy: second, steps: 1 }),
    Error,
    `Cannot start a run in ${dir}: it already holds one (run.json, metrics.jsonl, checkpoint/, reference/)`,
  );
  assertEquals(await Deno.readTextFile(`${dir}/metrics.jsonl`), metrics);
  assertEquals(await Deno.readFile(`${dir}/checkpoint/model.safetensors`), weights);
  await train({ ...common, policy: second, steps: 1, overwrite: true });
  assertEquals((await readLines(`${dir}/metrics.jsonl`)).map((r) => r.step), [1]);
  const aside = [...Deno.readDirSync(root)].map((e) => e.name).filter((n) => n !== "run");
  assertEquals(aside.length, 1);
  assert(aside[0].startsWith("run.old-"), aside[0]);
  assertEquals(await Deno.readTextFile(`${root}/${aside[0]}/metrics.jsonl`), metrics);
  // Every exit releases the lock: a failed start too.
  assertEquals(await Deno.stat(`${dir}/.lock`).then(() => true, () => false), false);
  first.dispose();
  second.dispose();
  await Deno.remove(root, { recursive: true });
});

Deno.test("resume checks seed, task, steps, reward weights and the policy against the checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  const policy = tinyPolicy();
  const common = { algorithm: "grpo", task: "addition", outDir: dir } as const;
  await train({ ...common, config: SMALL, policy, steps: 2, seed: 0 });
  const before = await Deno.readTextFile(`${dir}/run.json`);
  const tensors = tf.memory().numTensors;
  const cases: [Record<string, unknown>, string][] = [
    [{ seed: 5 }, `seed is 5 but the run in ${dir} has 0`],
    [{ steps: 1 }, `steps is 1 but the checkpoint in ${dir}/checkpoint is at step 2`],
    [{}, `the run in ${dir} is complete at step 2 of 2`],
    [
      { task: "sort_digits", steps: 3 },
      `the task is "sortDigits" but the run in ${dir} has "addition"`,
    ],
    [{ steps: 3, rewardWeights: { addition: 2 } }, `rewardWeights is {"addition":2}`],
    [{ steps: 3, config: { groupSize: 3 } }, "config.groupSize is 3"],
    [{
      steps: 3,
      policy: createPolicy(defaultPolicyConfig(addition, { dModel: 32, layers: 1, heads: 2 })),
    }, "the policy's dModel is 32 but the checkpoint's"],
  ];
  for (const [change, message] of cases) {
    await assertRejects(
      () => train({ ...common, resume: true, ...change } as Parameters<typeof train>[0]),
      RangeError,
      `Cannot resume training: ${message}`,
    );
    (change.policy as Policy | undefined)?.dispose();
  }
  assertEquals(
    await Deno.readTextFile(`${dir}/run.json`),
    before,
    "a refused resume writes nothing",
  );
  assertEquals(tf.memory().numTensors, tensors, "a refused resume holds no tensors");
  // steps may extend the run; its own seed is used.
  const extended = await train({ ...common, resume: true, steps: 3 });
  assertEquals(extended.records.map((r) => r.step), [3]);
  const run = JSON.parse(await Deno.readTextFile(`${dir}/run.json`));
  assertEquals([run.steps, run.seed, run.resumedFrom], [3, 0, 2]);
  extended.policy.dispose();
  policy.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a response budget that does not fit the policy is refused before any sampling, with the numbers", async () => {
  const dir = await Deno.makeTempDir();
  // addition's default policy has maxLength 6 + 4 = 10: a budget of 5 leaves 5 positions for "47+85=".
  const policy = tinyPolicy();
  let sampled = false;
  await assertRejects(
    () =>
      train({
        algorithm: "grpo",
        config: { ...SMALL, maxTokens: 5 },
        task: "addition",
        policy,
        steps: 1,
        evalEvery: 1,
        outDir: `${dir}/run`,
        onStep: () => {
          sampled = true;
        },
      }),
    RangeError,
    "tokens and the response budget (maxTokens, --max-tokens) is 5, more than the policy's 10 positions (6 + 5 = 11 > 10); give maxTokens at most 4",
  );
  assertEquals(sampled, false);
  assertEquals(await Deno.stat(`${dir}/run`).then(() => true, () => false), false);
  policy.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train: resume into the caller's own policy continues bit for bit, and saves", async () => {
  await initBackend({ backend: "cpu" });
  const dir = await Deno.makeTempDir();
  const config = defaultPolicyConfig(addition, { dModel: 16, layers: 1, heads: 2 });
  const run = { promptsPerStep: 1, groupSize: 2, maxTokens: 4, beta: 0.1 };
  const common = { algorithm: "grpo", task: "addition", config: run, checkpointEvery: 1 } as const;
  try {
    const straight = createPolicy(config);
    await train({ ...common, policy: straight, steps: 3, outDir: `${dir}/a` });
    const first = createPolicy(config);
    await train({ ...common, policy: first, steps: 2, outDir: `${dir}/b` });
    const own = createPolicy({ ...config, seed: config.seed + 1 }); // other values, same shape
    await train({
      algorithm: "grpo",
      task: "addition",
      policy: own,
      steps: 3,
      outDir: `${dir}/b`,
      resume: true,
    });
    for (const [name, w] of straight.weights) {
      assertEquals(
        Array.from(await own.weights.get(name)!.data()),
        Array.from(await w.data()),
        name,
      );
    }
    const [a, b] = await Promise.all(
      ["a", "b"].map((r) => Deno.readFile(`${dir}/${r}/checkpoint/optimizer.safetensors`)),
    );
    assertEquals(a, b);
    [straight, first, own].forEach((p) => p.dispose());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
