import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { applyUpdate } from "../../lib/algorithms/update.ts";
import { loadPretrainedFolder, savePretrained } from "../../lib/models/pretrained.ts";
import { loraAdapterOf, loraPolicy, mergeAdapter } from "../../lib/models/lora.ts";
import { loadAdapter, saveAdapter } from "../../lib/models/peft_adapter.ts";
import {
  clonePolicy,
  createPolicy,
  freezePolicy,
  type Policy,
} from "../../lib/policy/transformer.ts";
import { pretrainedValueModel } from "../../lib/policy/value_model.ts";
import { sample } from "../../lib/sample/sample.ts";
import { disposeRollout } from "../../lib/sample/rollout.ts";
import { tokenLogProbs } from "../../lib/sample/token_log_probs.ts";
import {
  assert,
  assertArrayAlmostEquals,
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertThrows,
} from "@std/assert";
import { hasTransformers } from "./_transformers.ts";

const ROOT = new URL("../fixtures/hf/", import.meta.url).pathname;
const CHECK_PEFT = new URL("../../tools/check_peft.py", import.meta.url).pathname;
const LLAMA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
const GPT2_TARGETS = ["c_attn", "c_proj", "c_fc"];

interface Expected {
  sequences: { tokens: number[]; logits: number[][] }[];
}

function expected(family: string): Expected {
  return JSON.parse(Deno.readTextFileSync(`${ROOT}${family}_lora/expected.json`));
}

async function logitsOf(policy: Policy, tokens: readonly number[]): Promise<Float32Array> {
  const t = tf.tensor2d([[...tokens]], [1, tokens.length], "int32");
  const logits = policy.logits(t);
  const data = (await logits.data()) as Float32Array;
  tf.dispose([t, logits]);
  return data;
}

async function bits(w: tf.Tensor): Promise<Uint32Array> {
  return new Uint32Array(((await w.data()) as Float32Array).slice().buffer);
}

for (const family of ["llama", "gpt2"]) {
  Deno.test(`${family}: loadAdapter of a PEFT adapter gives PEFT's logits within 1e-4`, async () => {
    await initBackend({ backend: "cpu" });
    const before = tf.memory().numTensors;
    const { policy: base } = await loadPretrainedFolder(ROOT + family);
    const lora = await loadAdapter(base, `${ROOT}${family}_lora`);
    assert([...lora.weights.keys()].every((name) => /\.lora_[AB]\.weight$/.test(name)));
    for (const s of expected(family).sequences) {
      assertArrayAlmostEquals(await logitsOf(lora, s.tokens), s.logits.flat(), 1e-4);
    }
    // The adapter matters: the base's logits differ.
    const s = expected(family).sequences[0];
    const plain = await logitsOf(base, s.tokens);
    assert(plain.some((v, i) => Math.abs(v - s.logits.flat()[i]) > 1e-2));
    // mergeAdapter: the same function as a plain pretrained policy.
    const merged = mergeAdapter(lora);
    assertEquals(loraAdapterOf(merged), undefined);
    assertEquals([...merged.weights.keys()], [...base.weights.keys()]);
    assertArrayAlmostEquals(await logitsOf(merged, s.tokens), s.logits.flat(), 1e-4);
    for (const p of [merged, lora, base]) p.dispose();
    assertEquals(tf.memory().numTensors, before);
  });

  Deno.test(`${family}: a fresh LoRA policy's logits equal its base's exactly`, async () => {
    await initBackend({ backend: "cpu" });
    const { policy: base } = await loadPretrainedFolder(ROOT + family);
    const targetModules = family === "gpt2" ? GPT2_TARGETS : LLAMA_TARGETS;
    const lora = loraPolicy(base, { rank: 4, alpha: 16, targetModules, seed: 3 });
    const layers = base.config.layers;
    assertEquals(lora.weights.size, 2 * layers * (family === "gpt2" ? 4 : 7));
    const tokens = expected(family).sequences[0].tokens;
    assertEquals(await logitsOf(lora, tokens), await logitsOf(base, tokens));
    // A ~ U(−1/√in, 1/√in), B = 0; same seed, same bits.
    const module = family === "gpt2"
      ? "transformer.h.0.mlp.c_proj"
      : "model.layers.0.mlp.down_proj";
    const a = (await lora.weights.get(`${module}.lora_A.weight`)!.data()) as Float32Array;
    const fanIn = lora.weights.get(`${module}.lora_A.weight`)!.shape[1]!;
    assertEquals(fanIn, family === "gpt2" ? 4 * 48 : 80);
    assert(a.every((v) => Math.abs(v) <= 1 / Math.sqrt(fanIn)));
    assert(Math.max(...a.map(Math.abs)) > 0.8 / Math.sqrt(fanIn));
    assert((await lora.weights.get(`${module}.lora_B.weight`)!.data()).every((v) => v === 0));
    const again = loraPolicy(base, { rank: 4, alpha: 16, targetModules, seed: 3 });
    assertEquals(
      await bits(again.weights.get(`${module}.lora_A.weight`)!),
      await bits(
        lora.weights.get(`${module}.lora_A.weight`)!,
      ),
    );
    for (const p of [again, lora, base]) p.dispose();
  });
}

Deno.test("saveAdapter round-trips bit-exactly, and PEFT loads what it writes", async () => {
  await initBackend({ backend: "cpu" });
  const dir = await Deno.makeTempDir();
  try {
    const pairs: string[] = [];
    for (const family of ["llama", "gpt2"]) {
      const { policy: base } = await loadPretrainedFolder(ROOT + family);
      const lora = await loadAdapter(base, `${ROOT}${family}_lora`);
      await saveAdapter(lora, `${dir}/${family}`, { baseModel: ROOT + family });
      const config = JSON.parse(await Deno.readTextFile(`${dir}/${family}/adapter_config.json`));
      const source = JSON.parse(
        await Deno.readTextFile(`${ROOT}${family}_lora/adapter_config.json`),
      );
      for (const key of ["r", "lora_alpha", "fan_in_fan_out", "peft_type", "task_type", "bias"]) {
        assertEquals(config[key], source[key], key);
      }
      assertEquals([...config.target_modules].sort(), [...source.target_modules].sort());
      const again = await loadAdapter(base, `${dir}/${family}`);
      assertEquals([...again.weights.keys()], [...lora.weights.keys()]);
      for (const [name, w] of lora.weights) {
        assertEquals(await bits(again.weights.get(name)!), await bits(w), name);
      }
      // Python PEFT loads the saved folder; compare with trepo's own logits.
      await writeLogits(again, family, `${dir}/${family}.json`);
      pairs.push(`${dir}/${family}.json`, ROOT + family, `${dir}/${family}`);
      for (const p of [again, lora, base]) p.dispose();
    }
    // An adapter made and trained by trepo (every llama projection, one Adam step).
    const { policy: base } = await loadPretrainedFolder(ROOT + "llama");
    const lora = loraPolicy(base, { rank: 3, alpha: 6, targetModules: LLAMA_TARGETS, seed: 9 });
    const tokens = tf.tensor2d([[5, 9, 17, 33, 2]], [1, 5], "int32");
    const optimizer = tf.train.adam(5e-2);
    await applyUpdate(
      optimizer,
      [...lora.weights.values()],
      () => tf.mean(tf.square(lora.logits(tokens))) as tf.Scalar,
      { maxGradNorm: Infinity, what: "the LoRA policy", step: 1 },
    );
    await saveAdapter(lora, `${dir}/trained`);
    await writeLogits(lora, "llama", `${dir}/trained.json`);
    pairs.push(`${dir}/trained.json`, ROOT + "llama", `${dir}/trained`);
    tokens.dispose();
    optimizer.dispose();
    lora.dispose();
    base.dispose();
    if (await hasTransformers("PEFT load of saveAdapter output", ["peft"])) {
      const out = await new Deno.Command("python3", { args: [CHECK_PEFT, ...pairs] }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      console.log(text.split("\n").filter((l) => /^(ok|FAIL) /.test(l)).join("\n"));
      assertEquals(out.code, 0, text.slice(-2000));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The policy's logits on the first sequences of the fixture, as tools/check_peft.py reads them. */
async function writeLogits(policy: Policy, family: string, path: string): Promise<void> {
  const sequences = [];
  for (const s of expected(family).sequences.slice(0, 2)) {
    const logits = Array.from(await logitsOf(policy, s.tokens));
    const v = policy.config.vocabSize;
    sequences.push({
      tokens: s.tokens,
      logits: s.tokens.map((_, t) => logits.slice(t * v, (t + 1) * v)),
    });
  }
  await Deno.writeTextFile(path, JSON.stringify({ sequences }));
}

Deno.test("one Adam step through applyUpdate moves only the adapters; base stays bit-identical", async () => {
  await initBackend({ backend: "cpu" });
  const { policy: base } = await loadPretrainedFolder(ROOT + "llama");
  const lora = loraPolicy(base, {
    rank: 2,
    alpha: 4,
    targetModules: ["q_proj", "down_proj"],
    seed: 0,
  });
  const baseBits = new Map<string, Uint32Array>();
  for (const [name, w] of base.weights) baseBits.set(name, await bits(w));
  const adapterBits = new Map<string, Uint32Array>();
  for (const [name, w] of lora.weights) adapterBits.set(name, await bits(w));
  const tokens = tf.tensor2d([[5, 9, 17, 33, 2]], [1, 5], "int32");
  const optimizer = tf.train.adam(1e-2);
  const result = await applyUpdate(
    optimizer,
    [...lora.weights.values()],
    () => tf.mean(tf.square(lora.logits(tokens))) as tf.Scalar,
    { maxGradNorm: Infinity, what: "the LoRA policy", step: 1 },
  );
  assert(result.gradNorm > 0);
  for (const [name, w] of base.weights) assertEquals(await bits(w), baseBits.get(name), name);
  // B gets the gradient (A's is 0 while B = 0, as in PEFT).
  for (const [name, w] of lora.weights) {
    if (name.includes("lora_B")) assertNotEquals(await bits(w), adapterBits.get(name), name);
  }
  tokens.dispose();
  optimizer.dispose();
  lora.dispose();
  base.dispose();
});

Deno.test("clone, freeze, value model, KV-cache sampling and tokenLogProbs with an adapter", async () => {
  await initBackend({ backend: "cpu" });
  const before = tf.memory().numTensors;
  const { policy: base } = await loadPretrainedFolder(ROOT + "llama");
  const lora = await loadAdapter(base, `${ROOT}llama_lora`);
  const copy = clonePolicy(lora);
  const frozen = freezePolicy(lora);
  assertEquals(copy.architecture, lora.architecture);
  assertEquals(frozen.trainable, false);
  const name = "model.layers.0.self_attn.q_proj.lora_A.weight";
  assert(copy.weights.get(name) !== lora.weights.get(name));
  const tokens = expected("llama").sequences[0].tokens;
  const reference = await logitsOf(lora, tokens);
  assertEquals(await logitsOf(copy, tokens), reference);
  assertEquals(await logitsOf(frozen, tokens), reference);
  // Disposing copies leaves the shared base usable.
  copy.dispose();
  frozen.dispose();
  assertEquals(await logitsOf(lora, tokens), reference);
  // The value model copies the adapters and adds its head; it starts at 0.
  const critic = pretrainedValueModel(lora);
  assertEquals(critic.weights.size, lora.weights.size + 2);
  const t = tf.tensor2d([tokens], [1, tokens.length], "int32");
  const values = critic.values(t);
  assert((await values.data()).every((v) => v === 0));
  tf.dispose([t, values]);
  critic.dispose();
  // Sampling with the KV cache equals the no-cache path; tokenLogProbs agrees with both.
  const prompts = [[5, 6, 7], [8], [9, 10]];
  const options = { maxTokens: 6, eosToken: 0, seed: 4, temperature: 0.8 };
  const cached = await sample(lora, prompts, { ...options, kvCache: true });
  const uncached = await sample(lora, prompts, { ...options, kvCache: false });
  assertEquals(await cached.tokens.array(), await uncached.tokens.array());
  assertArrayAlmostEquals(await cached.logProbs.data(), await uncached.logProbs.data(), 1e-4);
  const lp = tokenLogProbs(lora, cached, { temperature: 0.8 });
  assertArrayAlmostEquals(await lp.data(), await cached.logProbs.data(), 1e-4);
  lp.dispose();
  disposeRollout(cached);
  disposeRollout(uncached);
  lora.dispose();
  base.dispose();
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("mergeAdapter output saves with savePretrained and loads back with the adapter's logits", async () => {
  await initBackend({ backend: "cpu" });
  const dir = await Deno.makeTempDir();
  try {
    const { policy: base, tokenizer } = await loadPretrainedFolder(ROOT + "gpt2");
    const lora = await loadAdapter(base, `${ROOT}gpt2_lora`);
    const merged = mergeAdapter(lora);
    await savePretrained(merged, tokenizer, `${dir}/merged`);
    const again = await loadPretrainedFolder(`${dir}/merged`);
    const s = expected("gpt2").sequences[1];
    assertArrayAlmostEquals(await logitsOf(again.policy, s.tokens), s.logits.flat(), 1e-4);
    for (const p of [again.policy, merged, lora, base]) p.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loraPolicy and mergeAdapter: clear errors for bad input", async () => {
  await initBackend({ backend: "cpu" });
  const before = tf.memory().numTensors;
  const { policy: base } = await loadPretrainedFolder(ROOT + "llama");
  const ok = { rank: 2, alpha: 4, targetModules: ["q_proj"], seed: 0 };
  assertThrows(() => loraPolicy(base, { ...ok, rank: 0 }), RangeError, "rank must be an integer");
  assertThrows(() => loraPolicy(base, { ...ok, alpha: 0 }), RangeError, "alpha must be");
  assertThrows(
    () => loraPolicy(base, { ...ok, dropout: 0.1 }),
    RangeError,
    "dropout 0.1 is not supported; supported: 0",
  );
  assertThrows(() => loraPolicy(base, { ...ok, targetModules: [] }), TypeError, "non-empty");
  assertThrows(
    () => loraPolicy(base, { ...ok, targetModules: ["q_proj", "c_attn"] }),
    RangeError,
    'target module "c_attn" matches no module of the model; its linear modules: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj',
  );
  const gpt = createPolicy({ vocabSize: 8, dModel: 8, layers: 1, heads: 2, maxLength: 8, seed: 0 });
  assertThrows(() => loraPolicy(gpt, ok), TypeError, "no pretrained architecture");
  assertThrows(() => mergeAdapter(gpt), TypeError, "not a LoRA policy");
  await assertRejects(() => saveAdapter(gpt, "/nonexistent/x"), TypeError, "not a LoRA policy");
  const lora = loraPolicy(base, ok);
  assertThrows(() => loraPolicy(lora, ok), TypeError, "already a LoRA policy");
  for (const p of [gpt, lora, base]) p.dispose();
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("loadAdapter: clear errors, nothing half-loaded", async () => {
  await initBackend({ backend: "cpu" });
  const dir = await Deno.makeTempDir();
  try {
    const { policy: base } = await loadPretrainedFolder(ROOT + "llama");
    const { policy: gpt2 } = await loadPretrainedFolder(ROOT + "gpt2");
    const before = tf.memory().numTensors;
    await assertRejects(
      () => loadAdapter(base, `${dir}/none`),
      Error,
      "adapter_config.json is missing",
    );
    const source = JSON.parse(await Deno.readTextFile(`${ROOT}llama_lora/adapter_config.json`));
    const variant = async (name: string, config: Record<string, unknown>) => {
      await Deno.mkdir(`${dir}/${name}`);
      await Deno.writeTextFile(`${dir}/${name}/adapter_config.json`, JSON.stringify(config));
      await Deno.copyFile(
        `${ROOT}llama_lora/adapter_model.safetensors`,
        `${dir}/${name}/adapter_model.safetensors`,
      );
      return `${dir}/${name}`;
    };
    await assertRejects(
      async () => loadAdapter(base, await variant("ia3", { ...source, peft_type: "IA3" })),
      RangeError,
      'peft_type "IA3", which is not supported; supported: LORA',
    );
    await assertRejects(
      async () => loadAdapter(base, await variant("rs", { ...source, use_rslora: true })),
      RangeError,
      "use_rslora true, which is not supported; supported: false",
    );
    await assertRejects(
      async () => loadAdapter(base, await variant("dora", { ...source, use_dora: true })),
      RangeError,
      "use_dora true",
    );
    await assertRejects(
      async () => loadAdapter(base, await variant("bias", { ...source, bias: "all" })),
      RangeError,
      'bias "all", which is not supported; supported: none',
    );
    await assertRejects(
      async () => loadAdapter(base, await variant("rank", { ...source, r: 3 })),
      Error,
      'tensor "base_model.model.model.layers.0.mlp.down_proj.lora_A.weight" in adapter_model.safetensors has shape [4,80], expected [3,80]',
    );
    await Deno.mkdir(`${dir}/nofile`);
    await Deno.writeTextFile(`${dir}/nofile/adapter_config.json`, JSON.stringify(source));
    await assertRejects(
      () => loadAdapter(base, `${dir}/nofile`),
      Error,
      "adapter_model.safetensors is missing",
    );
    await assertRejects(
      () => loadAdapter(gpt2, `${ROOT}llama_lora`),
      RangeError,
      'adapts module "model.layers.0.mlp.down_proj", which the base model does not have; its linear modules: c_attn, c_proj, c_fc',
    );
    assertEquals(tf.memory().numTensors, before);
    base.dispose();
    gpt2.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("saveAdapter replaces its own earlier adapter folder, never another folder", async () => {
  await initBackend({ backend: "cpu" });
  const { policy: base } = await loadPretrainedFolder(`${ROOT}llama`);
  const lora = loraPolicy(base, { rank: 2, alpha: 4, targetModules: ["q_proj"], seed: 1 });
  const dir = await Deno.makeTempDir();
  try {
    await saveAdapter(lora, `${dir}/adapter`);
    const b = lora.weights.get("model.layers.0.self_attn.q_proj.lora_B.weight")!;
    b.assign(tf.onesLike(b));
    await saveAdapter(lora, `${dir}/adapter`); // a checkpoint is saved again at every step
    const back = await loadAdapter(base, `${dir}/adapter`);
    assertEquals(
      await back.weights.get("model.layers.0.self_attn.q_proj.lora_B.weight")!.data(),
      await b.data(),
    );
    back.dispose();
    await Deno.mkdir(`${dir}/notes`);
    await Deno.writeTextFile(`${dir}/notes/todo.txt`, "keep me");
    await assertRejects(
      () => saveAdapter(lora, `${dir}/notes`),
      Error,
      "is not a checkpoint (no adapter_config.json)",
    );
    assertEquals(await Deno.readTextFile(`${dir}/notes/todo.txt`), "keep me");
  } finally {
    lora.dispose();
    base.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
