/**
 * The GPU scale table: for widths 128/512/1024 and 2/8/12 layers, the milliseconds of one Adam
 * step of the policy (batch 16 × 64 tokens, next-token loss) and sampling tokens/s (16 rows × 32
 * new tokens, KV cache). The first step of each shape is timed apart (shader compilation on
 * webgpu). Run by `tools/gpu_check.sh`:
 * `deno run -A tools/gpu/scale.ts [--backend webgpu] [--quick] [--out results/gpu/scale_tfjs.json]`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendName, initBackend } from "../../lib/backend.ts";
import { defaultResultsPath } from "../../lib/cli/results_path.ts";
import { createPolicy } from "../../lib/policy/transformer.ts";
import { applyUpdate } from "../../lib/algorithms/update.ts";
import { sample } from "../../lib/sample/sample.ts";

const args = Deno.args;
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes("--quick");
const backend = flag("--backend") as BackendName | undefined;
const out = flag("--out") ?? defaultResultsPath("results/gpu/scale_tfjs.json", quick);
const info = await initBackend(backend === undefined ? {} : { backend });
const widths = quick ? [32] : [128, 512, 1024];
const depths = quick ? [1] : [2, 8, 12];
const [batch, length, newTokens, repeats] = quick ? [2, 8, 4, 2] : [16, 64, 32, 3];
const vocab = 64;
const rows: Record<string, number>[] = [];
for (const d of widths) {
  for (const layers of depths) {
    const policy = createPolicy({
      vocabSize: vocab,
      dModel: d,
      layers,
      heads: Math.max(1, d / 64),
      maxLength: length + newTokens + 8,
      seed: 1,
    });
    const optimizer = tf.train.adam(1e-4);
    const weights = [...policy.weights.values()];
    const ids = Array.from(
      { length: batch },
      (_, b) => Array.from({ length: length + 1 }, (_, t) => (b * 7 + t * 3) % vocab),
    );
    const inputs = tf.tensor2d(ids.map((r) => r.slice(0, -1)), undefined, "int32");
    const targets = tf.oneHot(tf.tensor2d(ids.map((r) => r.slice(1)), undefined, "int32"), vocab);
    const step = async () => {
      const t0 = performance.now();
      await applyUpdate(optimizer, weights, () => {
        const logits = policy.logits(inputs);
        return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), targets), -1))) as tf.Scalar;
      }, { maxGradNorm: 1, what: "the policy", step: 0 });
      return performance.now() - t0;
    };
    const firstStepMs = await step();
    const times: number[] = [];
    for (let i = 0; i < repeats; i++) times.push(await step());
    const prompts = Array.from({ length: batch }, (_, b) => [1 + (b % 5), 2, 3]);
    const s0 = performance.now();
    const r = await sample(policy, prompts, { maxTokens: newTokens, eosToken: 0, seed: 1 });
    const firstSampleS = (performance.now() - s0) / 1000;
    const s1 = performance.now();
    const r2 = await sample(policy, prompts, { maxTokens: newTokens, eosToken: 0, seed: 2 });
    const sampleS = (performance.now() - s1) / 1000;
    const generated = r2.lengths.reduce((a, b) => a + b, 0);
    tf.dispose([r.tokens, r.mask, r.logProbs, r2.tokens, r2.mask, r2.logProbs, inputs, targets]);
    optimizer.dispose();
    const row = {
      dModel: d,
      layers,
      parameters: policy.parameterCount,
      firstStepMs,
      stepMs: times.sort((a, b) => a - b)[Math.floor(times.length / 2)],
      firstSampleS,
      sampleTokensPerS: generated / sampleS,
    };
    policy.dispose();
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}
await Deno.mkdir(out.slice(0, out.lastIndexOf("/")) || ".", { recursive: true });
await Deno.writeTextFile(
  out,
  JSON.stringify({ backend: info.backend, batch, length, newTokens, rows }, null, 2) + "\n",
);
