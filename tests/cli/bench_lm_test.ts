import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import {
  benchLmTrepo,
  llamaBenchConfig,
  type LmBenchShape,
  randomPretrainedPolicy,
  SMOLLM2_135M_SHAPE,
} from "../../lib/cli/bench_lm.ts";

const TINY: LmBenchShape = {
  layers: 1,
  hidden: 12,
  heads: 3,
  kvHeads: 1,
  intermediate: 16,
  vocab: 40,
  samplePrompts: 2,
  promptTokens: 3,
  newTokens: 4,
  trainBatch: 2,
  trainTokens: 6,
};

Deno.test("bench:lm: the default shape is SmolLM2-135M's (134.5 M parameters)", async () => {
  await initBackend({ backend: "cpu" });
  const c = llamaBenchConfig(SMOLLM2_135M_SHAPE);
  assertEquals([c.hidden_size, c.num_hidden_layers, c.num_attention_heads], [576, 30, 9]);
  assertEquals([c.num_key_value_heads, c.intermediate_size, c.vocab_size], [3, 1536, 49152]);
  assertEquals(c.tie_word_embeddings, true);
  // One layer is enough to check the count formula: embed + per-layer + final norm.
  const p = randomPretrainedPolicy(llamaBenchConfig({ ...SMOLLM2_135M_SHAPE, layers: 1 }));
  const perLayer = 576 * 576 * 2 + 576 * 192 * 2 + 3 * 576 * 1536 + 2 * 576;
  assertEquals(p.parameterCount, 49152 * 576 + perLayer + 576);
  assertEquals(49152 * 576 + 30 * perLayer + 576, 134_515_008);
  p.dispose();
});

Deno.test("bench:lm: one tiny trepo run reports every field and frees its tensors", async () => {
  await initBackend({ backend: "cpu" });
  const before = tf.memory().numTensors;
  const r = await benchLmTrepo(TINY, { steps: 2, impl: "trepo-test" });
  assertEquals(tf.memory().numTensors, before);
  assertEquals(r.impl, "trepo-test");
  assertEquals(r.sample_tokens, 8);
  assertEquals(r.adam_step_ms.length, 2);
  assert(r.sample_tokens_per_s > 0 && r.adam_step_median_ms > 0 && r.peak_rss_mib > 0);
});

Deno.test("bench:lm: --help names the flags", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "lib/cli/bench_lm.ts", "--help"],
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 0);
  for (const flag of ["--layers", "--quick", "--blas", "--python", "--out"]) {
    assert(text.includes(flag), flag);
  }
});
