import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import {
  benchLmTrepo,
  everyProjectionName,
  lmBenchConfig,
  type LmBenchShape,
  lmBenchShape,
  randomPretrainedPolicy,
  SMOLLM2_135M_SHAPE,
} from "../../lib/cli/bench_lm.ts";
import { hasTransformers } from "../models/_transformers.ts";
import { modelFamily } from "../../lib/models/pretrained.ts";

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
  const c = lmBenchConfig(SMOLLM2_135M_SHAPE);
  assertEquals([c.hidden_size, c.num_hidden_layers, c.num_attention_heads], [576, 30, 9]);
  assertEquals([c.num_key_value_heads, c.intermediate_size, c.vocab_size], [3, 1536, 49152]);
  assertEquals(c.tie_word_embeddings, true);
  // One layer is enough to check the count formula: embed + per-layer + final norm.
  const p = randomPretrainedPolicy(lmBenchConfig({ ...SMOLLM2_135M_SHAPE, layers: 1 }));
  const perLayer = 576 * 576 * 2 + 576 * 192 * 2 + 3 * 576 * 1536 + 2 * 576;
  assertEquals(p.parameterCount, 49152 * 576 + perLayer + 576);
  assertEquals(49152 * 576 + 30 * perLayer + 576, 134_515_008);
  p.dispose();
});

Deno.test("bench:lm: --shape qwen2.5-0.5b is Qwen2.5-0.5B's (494.0 M parameters, q/k/v biases)", async () => {
  await initBackend({ backend: "cpu" });
  const shape = lmBenchShape("qwen2.5-0.5b");
  const c = lmBenchConfig(shape, "qwen2.5-0.5b");
  assertEquals([c.model_type, c.hidden_size, c.num_hidden_layers], ["qwen2", 896, 24]);
  assertEquals([c.num_attention_heads, c.num_key_value_heads, c.intermediate_size], [14, 2, 4864]);
  assertEquals([c.vocab_size, c.rope_theta, c.rms_norm_eps], [151936, 1e6, 1e-6]);
  assertEquals([c.tie_word_embeddings, c.eos_token_id], [true, 151643]);
  // Head size 64: q 896 → 896, k and v 896 → 128, each with a bias; o 896 → 896; MLP 3 × 896·4864.
  const perLayer = 896 * 896 + 896 + 2 * (896 * 128 + 128) + 896 * 896 + 3 * 896 * 4864 + 2 * 896;
  // 494,032,768 is what transformers counts for the folder tools/make_random_model.py writes.
  assertEquals(151936 * 896 + 24 * perLayer + 896, 494_032_768);
  // The weights the qwen2 family expects (no policy built: 136 M random floats take seconds).
  const shapes = [...modelFamily(c).weightShapes.values()];
  assertEquals(shapes.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0), 494_032_768);
  assertEquals(everyProjectionName(c), [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
  ]);
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
  assert(r.sample_peak_rss_mib > 0 && r.sample_peak_rss_mib <= r.peak_rss_mib);
  assertEquals(r.lora, null);
  assertEquals(r.info.sample_error, undefined);
  assertEquals(r.info.adam_error, undefined);
});

Deno.test("bench:lm: a LoRA run trains the rank-r adapter of every projection", async () => {
  await initBackend({ backend: "cpu" });
  const before = tf.memory().numTensors;
  const r = await benchLmTrepo(TINY, {
    steps: 1,
    model: "qwen2.5-0.5b",
    loraRank: 2,
    impl: "trepo-test",
  });
  assertEquals(tf.memory().numTensors, before);
  // TINY: hidden 12, 3 heads of 4 (q 12, k/v 4 wide), MLP 16; A [r, in] and B [out, r] per module.
  const modules = [[12, 12], [12, 4], [12, 4], [12, 12], [12, 16], [12, 16], [16, 12]];
  assertEquals(r.lora, {
    rank: 2,
    alpha: 4,
    target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    trainable_parameters: modules.reduce((s, [i, o]) => s + 2 * (i + o), 0),
  });
  // The base (qwen2: biases on q, k, v) is what `parameters` counts.
  assertEquals(r.parameters, 40 * 12 + (12 * 12 + 12 + 2 * (12 * 4 + 4) + 144 + 3 * 192 + 24) + 12);
  assertEquals(r.adam_step_ms.length, 1);
});

Deno.test("bench:lm: the PyTorch side runs a tiny qwen2 LoRA step with PEFT", async () => {
  if (!(await hasTransformers("bench:lm PyTorch side", ["peft"]))) return;
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify(lmBenchConfig(TINY, "qwen2.5-0.5b")),
    );
    const out = await new Deno.Command("python3", {
      args: [
        "tools/bench_lm.py",
        "--config",
        `${dir}/config.json`,
        ...["--samplePrompts", "2", "--promptTokens", "3", "--newTokens", "4"],
        ...["--trainBatch", "2", "--trainTokens", "6", "--threads", "1"],
        ...["--lora-rank", "2", "--lora-alpha", "4", "--lora-targets", "q_proj,down_proj"],
        ...["--out", `${dir}/torch.json`],
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr).slice(-2000));
    const r = JSON.parse(await Deno.readTextFile(`${dir}/torch.json`));
    assertEquals(
      r.parameters,
      40 * 12 + (12 * 12 + 12 + 2 * (12 * 4 + 4) + 144 + 3 * 192 + 24) + 12,
    );
    assertEquals(r.sample_tokens, 8);
    // q_proj 12 → 12 and down_proj 16 → 12 at rank 2: 2·(12 + 12) + 2·(16 + 12).
    assertEquals(r.lora.trainable_parameters, 2 * 24 + 2 * 28);
    assert(r.sample_peak_rss_mib > 0 && r.sample_peak_rss_mib <= r.peak_rss_mib);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench:lm: --help names the flags", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "lib/cli/bench_lm.ts", "--help"],
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 0);
  for (
    const flag of ["--shape", "--lora-rank", "--layers", "--quick", "--blas", "--python", "--out"]
  ) {
    assert(text.includes(flag), flag);
  }
});
