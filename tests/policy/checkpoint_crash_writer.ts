// Helper process for checkpoint_test.ts: saves a checkpoint over and over, each save with every
// weight filled with the save's step number, until it is killed.
// Usage: deno run -A checkpoint_crash_writer.ts <dir>
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { saveCheckpoint } from "../../lib/policy/checkpoint.ts";
import { createPolicy } from "../../lib/policy/transformer.ts";

await initBackend({ backend: "cpu" });
const dir = Deno.args[0];
const policy = createPolicy({
  vocabSize: 16,
  dModel: 32,
  layers: 2,
  heads: 2,
  maxLength: 16,
  seed: 0,
});
for (let step = 1;; step++) {
  tf.tidy(() => {
    for (const w of policy.weights.values()) w.assign(tf.fill(w.shape, step));
  });
  await saveCheckpoint(dir, { policy, state: { step } });
  console.log(`saved ${step}`);
}
