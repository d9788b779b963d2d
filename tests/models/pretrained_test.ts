import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { savePretrained } from "../../lib/models/pretrained.ts";
import { loadPretrained } from "../../lib/hub/load_pretrained.ts";
import { clonePolicy, freezePolicy } from "../../lib/policy/transformer.ts";
import { greedy } from "../../lib/sample/greedy.ts";
import { sample } from "../../lib/sample/sample.ts";
import { disposeRollout } from "../../lib/sample/rollout.ts";
import { tokenLogProbs } from "../../lib/sample/token_log_probs.ts";
import { assert, assertArrayAlmostEquals, assertEquals, assertRejects } from "@std/assert";

const ROOT = new URL("../fixtures/hf/", import.meta.url).pathname;
const FAMILIES = ["gpt2", "llama", "llama_untied", "qwen2", "qwen3"];

interface Expected {
  sequences: { tokens: number[]; logits: number[][] }[];
  greedy: { prompts: number[][]; eos: number; max_new_tokens: number; tokens: number[][] };
}

function expected(family: string): Expected {
  return JSON.parse(Deno.readTextFileSync(`${ROOT}${family}/expected.json`));
}

/** Tokens up to and including the first EOS (transformers pads after it). */
function untilEos(tokens: readonly number[], eos: number): number[] {
  const i = tokens.indexOf(eos);
  return i < 0 ? [...tokens] : tokens.slice(0, i + 1);
}

for (const family of FAMILIES) {
  Deno.test(`${family}: logits equal transformers within 1e-4 on several sequences`, async () => {
    await initBackend({ backend: "cpu" });
    const before = tf.memory().numTensors;
    const { policy, tokenizer } = await loadPretrained(ROOT + family);
    assertEquals(policy.architecture?.modelType, family.replace("_untied", ""));
    assertEquals(tokenizer.eosTokenIds, [0, 2]);
    for (const s of expected(family).sequences) {
      const tokens = tf.tensor2d([s.tokens], [1, s.tokens.length], "int32");
      const logits = policy.logits(tokens);
      assertArrayAlmostEquals(await logits.data(), s.logits.flat(), 1e-4);
      tf.dispose([tokens, logits]);
    }
    policy.dispose();
    assertEquals(tf.memory().numTensors, before);
  });

  Deno.test(`${family}: greedy on left-padded prompts equals transformers' generate`, async () => {
    await initBackend({ backend: "cpu" });
    const { policy } = await loadPretrained(ROOT + family);
    const g = expected(family).greedy;
    for (const useCache of [true, false]) {
      const rollout = await greedy(policy, g.prompts, {
        maxTokens: g.max_new_tokens,
        eosToken: g.eos,
        kvCache: useCache,
      });
      const rows = (await rollout.tokens.array()) as number[][];
      const mask = (await rollout.mask.array()) as number[][];
      rows.forEach((row, b) => {
        const mine = row.slice(0, mask[b].reduce((a, m) => a + m, 0));
        assertEquals(mine, untilEos(g.tokens[b], g.eos), `row ${b}, useCache ${useCache}`);
      });
      // tokenLogProbs (teacher forcing) agrees with the sampler's log-probs.
      const lp = tokenLogProbs(policy, rollout);
      assertArrayAlmostEquals(await lp.data(), await rollout.logProbs.data(), 1e-4);
      lp.dispose();
      disposeRollout(rollout);
    }
    policy.dispose();
  });
}

Deno.test("qwen3: sampled log-probs equal tokenLogProbs; clone and freeze keep the family", async () => {
  await initBackend({ backend: "cpu" });
  const { policy } = await loadPretrained(ROOT + "qwen3");
  const frozen = freezePolicy(policy);
  const copy = clonePolicy(policy);
  assertEquals(frozen.trainable, false);
  assertEquals(copy.architecture, policy.architecture);
  const rollout = await sample(frozen, [[5, 6, 7], [8]], {
    maxTokens: 6,
    eosToken: 0,
    seed: 1,
    temperature: 0.7,
  });
  const lp = tokenLogProbs(copy, rollout, { temperature: 0.7 });
  assertArrayAlmostEquals(await lp.data(), await rollout.logProbs.data(), 1e-4);
  lp.dispose();
  disposeRollout(rollout);
  for (const p of [policy, frozen, copy]) p.dispose();
});

Deno.test("savePretrained round-trips bit-exactly (llama, sharded BF16 source)", async () => {
  await initBackend({ backend: "cpu" });
  const dir = await Deno.makeTempDir();
  try {
    const { policy, tokenizer } = await loadPretrained(ROOT + "llama_untied");
    await savePretrained(policy, tokenizer, `${dir}/saved`);
    const again = await loadPretrained(`${dir}/saved`);
    assertEquals([...again.policy.weights.keys()], [...policy.weights.keys()]);
    for (const [name, w] of policy.weights) {
      const a = new Uint32Array((await w.data() as Float32Array).buffer);
      const b = new Uint32Array(
        (await again.policy.weights.get(name)!.data() as Float32Array).buffer,
      );
      assertEquals(a, b, name);
    }
    assertEquals(again.tokenizer.chatTemplate, tokenizer.chatTemplate);
    assertEquals(again.tokenizer.eosTokenIds, tokenizer.eosTokenIds);
    policy.dispose();
    again.policy.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function copyFixture(family: string, dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for await (const e of Deno.readDir(ROOT + family)) {
    await Deno.copyFile(`${ROOT}${family}/${e.name}`, `${dir}/${e.name}`);
  }
}

Deno.test("loadPretrained: clear errors for bad folders", async () => {
  await initBackend({ backend: "cpu" });
  const dir = await Deno.makeTempDir();
  try {
    const before = tf.memory().numTensors;
    await assertRejects(() => loadPretrained(`${dir}/none`), Error, "config.json is missing");
    // Unknown model_type.
    await copyFixture("qwen2", `${dir}/a`);
    const config = JSON.parse(await Deno.readTextFile(`${dir}/a/config.json`));
    await Deno.writeTextFile(
      `${dir}/a/config.json`,
      JSON.stringify({ ...config, model_type: "mistral" }),
    );
    await assertRejects(
      () => loadPretrained(`${dir}/a`),
      RangeError,
      'model_type "mistral" is not supported; supported: gpt2, llama, qwen2, qwen3',
    );
    // Unsupported rope scaling.
    await Deno.writeTextFile(
      `${dir}/a/config.json`,
      JSON.stringify({
        ...config,
        rope_parameters: { rope_type: "yarn", rope_theta: 1e4, factor: 2 },
      }),
    );
    await assertRejects(
      () => loadPretrained(`${dir}/a`),
      RangeError,
      '"yarn" is not supported; supported: default, llama3',
    );
    // Shape disagreeing with config.json.
    await Deno.writeTextFile(
      `${dir}/a/config.json`,
      JSON.stringify({ ...config, intermediate_size: 70 }),
    );
    await assertRejects(
      () => loadPretrained(`${dir}/a`),
      Error,
      'tensor "model.layers.0.mlp.down_proj.weight" in model.safetensors has shape [48,72], config.json implies [48,70]',
    );
    // Tokenizer vocabulary larger than the model's.
    await Deno.writeTextFile(
      `${dir}/a/config.json`,
      JSON.stringify({ ...config, vocab_size: 300 }),
    );
    await assertRejects(
      () => loadPretrained(`${dir}/a`),
      Error,
      "has shape [360,48], config.json implies [300,48]",
    );
    // Truncated file.
    await Deno.writeTextFile(`${dir}/a/config.json`, JSON.stringify(config));
    const bytes = await Deno.readFile(`${dir}/a/model.safetensors`);
    await Deno.writeFile(`${dir}/a/model.safetensors`, bytes.subarray(0, bytes.length - 100));
    await assertRejects(
      () => loadPretrained(`${dir}/a`),
      Error,
      "model.safetensors: the file is truncated: tensor",
    );
    // A missing shard.
    await copyFixture("llama_untied", `${dir}/b`);
    await Deno.remove(`${dir}/b/model-00003-of-00005.safetensors`);
    await assertRejects(
      () => loadPretrained(`${dir}/b`),
      Error,
      "model-00003-of-00005.safetensors is missing",
    );
    // A bad dtype.
    await copyFixture("gpt2", `${dir}/c`);
    const gpt = await Deno.readFile(`${dir}/c/model.safetensors`);
    const n = Number(new DataView(gpt.buffer).getBigUint64(0, true));
    const header = new TextDecoder().decode(gpt.subarray(8, 8 + n)).replaceAll('"F32"', '"I32"');
    gpt.set(new TextEncoder().encode(header), 8);
    await Deno.writeFile(`${dir}/c/model.safetensors`, gpt);
    await assertRejects(
      () => loadPretrained(`${dir}/c`),
      Error,
      "has dtype I32; supported: F32, F16, BF16",
    );
    assertEquals(tf.memory().numTensors, before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadPretrained: a tokenizer with more ids than the model is refused", async () => {
  await initBackend({ backend: "cpu" });
  const dir = await Deno.makeTempDir();
  try {
    await copyFixture("qwen2", dir);
    const tok = JSON.parse(await Deno.readTextFile(`${dir}/tokenizer.json`));
    tok.added_tokens.push({
      id: 400,
      content: "<|extra|>",
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    });
    await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify(tok));
    await assertRejects(
      () => loadPretrained(dir),
      RangeError,
      "the tokenizer has 401 ids, more than the model's vocab_size 360",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pretrained policies are trainable: gradients reach every weight", async () => {
  await initBackend({ backend: "cpu" });
  const { policy } = await loadPretrained(ROOT + "qwen3");
  const tokens = tf.tensor2d([[3, 4, 5, 6]], [1, 4], "int32");
  const { grads, value } = tf.variableGrads(() => tf.mean(policy.logits(tokens)) as tf.Scalar);
  assertEquals(Object.keys(grads).length, policy.weights.size);
  for (const g of Object.values(grads)) assert(Number.isFinite((await g.data())[0]));
  tf.dispose([tokens, value, ...Object.values(grads)]);
  policy.dispose();
});
