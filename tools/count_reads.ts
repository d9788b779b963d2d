/**
 * Host reads per RL step: counts `data()`/`array()` calls (each one a device → host round trip on
 * a GPU backend) during one step of every recipe on a tiny policy (4-token responses), and writes
 * `results/webgpu_reads.json`. Run on the software adapter with
 * `TREPO_BACKEND=webgpu TREPO_ALLOW_SOFTWARE_ADAPTER=1 deno run -A --unstable-webgpu tools/count_reads.ts`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend.ts";
import { createPolicy, freezePolicy } from "../lib/policy/transformer.ts";
import { defaultPolicyConfig } from "../lib/tasks/default_policy_config.ts";
import { addition } from "../lib/tasks/addition.ts";
import { Random } from "../lib/random.ts";
import { resolveConfig } from "../lib/algorithms/step.ts";
import { ALGORITHM_NAMES, algorithmByName } from "../lib/algorithms/train.ts";
import { createValueModel } from "../lib/policy/value_model.ts";
const info = await initBackend();
let reads = 0;
const counts: Record<string, number> = {};
for (const m of ["data", "array"] as const) {
  const prototype = tf.Tensor.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const original = prototype[m];
  prototype[m] = function (this: unknown, ...a: unknown[]) {
    reads++;
    return original.apply(this, a);
  };
}
for (const name of ALGORITHM_NAMES) {
  const algorithm = algorithmByName(name);
  const config = resolveConfig(algorithm, { maxTokens: 4 });
  const policy = createPolicy(
    defaultPolicyConfig(addition, { dModel: 16, layers: 1, heads: 2, seed: 3 }),
  );
  const reference = config.beta > 0 ? freezePolicy(policy) : undefined;
  const valueModel = algorithm.usesValueModel
    ? createValueModel({ ...policy.config, seed: 9 })
    : undefined;
  const optimizers = {
    policy: tf.train.adam(1e-3),
    value: valueModel ? tf.train.adam(1e-3) : undefined,
  };
  const batch = {
    prompts: addition.prompts(new Random(5), config.promptsPerStep),
    tokenizer: addition.tokenizer,
    rewardFns: { r: (p: string, c: string) => addition.reward(p, c) },
    maxTokens: 4,
  };
  reads = 0;
  await algorithm.step({
    config,
    policy,
    reference,
    valueModel,
    optimizers,
    rng: new Random(1),
    step: 1,
  }, batch);
  console.log(`${info.backend} ${name}: reads per step ${reads}`);
  counts[name] = reads;
  policy.dispose();
  reference?.dispose();
  valueModel?.dispose();
}
await Deno.mkdir("results", { recursive: true });
await Deno.writeTextFile(
  "results/webgpu_reads.json",
  JSON.stringify({ backend: info.backend, responseTokens: 4, readsPerStep: counts }, null, 2) +
    "\n",
);
