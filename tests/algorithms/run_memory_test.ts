/**
 * The memory checks of `train`: a step refused for memory, and an allocation failure inside a
 * step, leave the previous step's checkpoint on disk byte for byte as it was, and the error names
 * the step, the phase and the sizes. The run records the micro-batch its plan chose.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { createPolicy } from "../../lib/policy/transformer.ts";
import { defaultPolicyConfig } from "../../lib/tasks/default_policy_config.ts";
import { addition } from "../../lib/tasks/addition.ts";
import { train } from "../../lib/algorithms/train.ts";

async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile) continue;
    const bytes = await Deno.readFile(`${dir}/${entry.name}`);
    files[entry.name] = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
  }
  return files;
}

const CONFIG = { promptsPerStep: 2, groupSize: 2, maxTokens: 4 };

Deno.test("train: a step the memory held leaves no room for is refused; checkpoint k−1 intact", async () => {
  await initBackend({ backend: "cpu" });
  const policy = createPolicy(defaultPolicyConfig(addition, { dModel: 16, layers: 1, seed: 0 }));
  const outDir = await Deno.makeTempDir();
  let before: Record<string, string> | undefined;
  let ballast: tf.Tensor | undefined;
  const error = await assertRejects(
    () =>
      train({
        algorithm: "grpo",
        task: "addition",
        policy,
        steps: 3,
        checkpointEvery: 1,
        outDir,
        config: CONFIG,
        memoryLimitBytes: 32 * 2 ** 20,
        onStep: async (record) => {
          if (record.step !== 1) return;
          before = await snapshot(`${outDir}/checkpoint`);
          ballast = tf.zeros([8 * 2 ** 20]); // 32 MiB held from here on: step 2 cannot fit
        },
      }),
    RangeError,
    "Cannot run step 2: the sampling needs",
  );
  assertStringIncludes(error.message, "32 MiB held");
  assertStringIncludes(error.message, "holds 32 MiB");
  assertEquals(await snapshot(`${outDir}/checkpoint`), before);
  const lines = (await Deno.readTextFile(`${outDir}/metrics.jsonl`)).trim().split("\n");
  assertEquals(lines.length, 1);
  ballast?.dispose();
  policy.dispose();
});

Deno.test("train: an allocation failure inside a step is named; checkpoint k−1 intact", async () => {
  await initBackend({ backend: "cpu" });
  const policy = createPolicy(defaultPolicyConfig(addition, { dModel: 16, layers: 1, seed: 0 }));
  const outDir = await Deno.makeTempDir();
  let calls = 0;
  let before: Record<string, string> | undefined;
  const error = await assertRejects(
    () =>
      train({
        algorithm: "grpo",
        task: "addition",
        policy,
        steps: 3,
        checkpointEvery: 1,
        outDir,
        config: CONFIG,
        rewardFns: {
          exploding: () => {
            // Stands in for a backend that runs out of memory during step 2.
            if (++calls > 4) throw new RangeError("Array buffer allocation failed");
            return 0;
          },
        },
        onStep: async (record) => {
          if (record.step === 1) before = await snapshot(`${outDir}/checkpoint`);
        },
      }),
    Error,
    "Cannot run step 2: out of memory",
  );
  assertStringIncludes(error.message, "held before it; the plan's peak was");
  assertStringIncludes(
    error.message,
    "the checkpoint of the last completed step is left as it was",
  );
  assert(before !== undefined);
  assertEquals(await snapshot(`${outDir}/checkpoint`), before);
  policy.dispose();
});

Deno.test("train: run.json records the memory plan and the micro-batch it chose", async () => {
  await initBackend({ backend: "cpu" });
  const policy = createPolicy(defaultPolicyConfig(addition, { dModel: 16, layers: 1, seed: 0 }));
  const outDir = await Deno.makeTempDir();
  await train({ algorithm: "grpo", task: "addition", policy, steps: 1, outDir, config: CONFIG });
  const run = JSON.parse(await Deno.readTextFile(`${outDir}/run.json`));
  assertEquals(run.memory.microBatchSize, 4); // all 2 × 2 rows fit at once
  assertEquals(run.memory.items.weights, 4 * policy.parameterCount);
  assert(run.memory.peakBytes > run.memory.items.weights);
  policy.dispose();
});
