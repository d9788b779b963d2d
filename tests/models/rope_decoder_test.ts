import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { lmBenchConfig, randomPretrainedPolicy } from "../../lib/cli/bench_lm.ts";
import { policyTrunk } from "../../lib/policy/architecture.ts";

/** A narrow llama whose MLP is wide, so a block's intermediates dwarf its kept keys and values. */
function llama(layers: number) {
  return lmBenchConfig({
    layers,
    hidden: 16,
    heads: 4,
    kvHeads: 2,
    intermediate: 256,
    vocab: 32,
    samplePrompts: 1,
    promptTokens: 1,
    newTokens: 1,
    trainBatch: 1,
    trainTokens: 1,
  });
}

/**
 * Bytes a prefill (`policyTrunk` with `collectCache`, inside one `tf.tidy` as the decoding loop
 * runs it) holds at its peak beyond its inputs and what it returns.
 */
async function prefillTransientBytes(layers: number): Promise<number> {
  const policy = randomPretrainedPolicy(llama(layers), 3);
  const tokens = tf.tensor2d(Array.from({ length: 4 * 16 }, (_, i) => i % 32), [4, 16], "int32");
  const start = tf.memory().numBytes;
  let kept = 0;
  const profile = await tf.profile(() => {
    const out = tf.tidy(() => {
      const { hidden, cache } = policyTrunk(policy, tokens, { collectCache: true });
      return [hidden, ...cache!.keys, ...cache!.values];
    });
    kept = out.reduce((s, t) => s + t.size * 4, 0);
    assertEquals(out.length, 1 + 2 * layers);
    tf.dispose(out);
  });
  tokens.dispose();
  policy.dispose();
  return profile.peakBytes - start - kept;
}

Deno.test("rope decoder: a prefill's transient memory does not grow with the layer count", async () => {
  await initBackend({ backend: "cpu" });
  const before = tf.memory().numTensors;
  const one = await prefillTransientBytes(1);
  const eight = await prefillTransientBytes(8);
  assertEquals(tf.memory().numTensors, before);
  // One block's MLP alone holds [64, 256] floats several times over (64 KiB each).
  assert(one > 3 * 64 * 256 * 4, `one layer: ${one} bytes`);
  // Holding every block's intermediates until the tidy ends made this 8× (the 4 GiB wasm heap
  // overran at SmolLM2-135M's 30 layers); one block's at a time keeps it flat.
  assert(eight < 1.5 * one, `8 layers: ${eight} bytes, 1 layer: ${one} bytes`);
});
