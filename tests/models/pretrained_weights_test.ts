import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { modelFamily } from "../../lib/models/pretrained.ts";
import { loadWeights, planWeights } from "../../lib/models/pretrained_weights.ts";
import { readSafetensorsHeader, toFloat32 } from "../../lib/io/safetensors.ts";
import { loadPretrained } from "../../lib/hub/load_pretrained.ts";
import { assert, assertEquals, assertRejects } from "@std/assert";

const ROOT = new URL("../fixtures/hf/", import.meta.url).pathname;
const SHARDS = [1, 2, 3, 4, 5].map((i) => `model-0000${i}-of-00005.safetensors`);
const CONTEXT = "Cannot load the pretrained model";

async function copyFixture(family: string, dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for await (const e of Deno.readDir(ROOT + family)) {
    await Deno.copyFile(`${ROOT}${family}/${e.name}`, `${dir}/${e.name}`);
  }
}

async function familyOf(dir: string) {
  return modelFamily(JSON.parse(await Deno.readTextFile(`${dir}/config.json`)));
}

Deno.test("planWeights reads headers only and plans every weight, by shard in offset order", async () => {
  const dir = ROOT + "llama_untied";
  const family = await familyOf(dir);
  const plan = await planWeights(dir, SHARDS, family, CONTEXT);
  assertEquals([...plan.shards.keys()], SHARDS);
  const planned = [...plan.shards.values()].flat();
  assertEquals(new Set(planned.map((w) => w.internal)), new Set(family.weightShapes.keys()));
  for (const weights of plan.shards.values()) {
    for (let i = 1; i < weights.length; i++) {
      assert(weights[i - 1].tensor.offset < weights[i].tensor.offset);
    }
  }
});

Deno.test("loadWeights equals decoding each tensor of each shard whole", async () => {
  await initBackend({ backend: "cpu" });
  const dir = ROOT + "llama_untied";
  const family = await familyOf(dir);
  const weights = await loadWeights(await planWeights(dir, SHARDS, family, CONTEXT), family, "x");
  assertEquals([...weights.keys()], [...family.weightShapes.keys()]);
  for (const shard of SHARDS) {
    const bytes = await Deno.readFile(`${dir}/${shard}`);
    const header = await readSafetensorsHeader(`${dir}/${shard}`, shard);
    for (const [name, t] of header.tensors) {
      const expected = toFloat32(bytes.slice(t.offset, t.offset + t.byteLength), t.dtype);
      const w = weights.get(family.weightName(name)!)!;
      assertEquals(w.shape, t.shape, name);
      assertEquals(await w.data(), expected, name);
    }
  }
  for (const w of weights.values()) w.dispose();
});

Deno.test("a shard cut in pass 1 names the file and the tensor; nothing is allocated", async () => {
  await initBackend({ backend: "cpu" });
  const dir = await Deno.makeTempDir();
  try {
    await copyFixture("llama_untied", dir);
    const path = `${dir}/${SHARDS[2]}`;
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 10));
    const before = tf.memory().numTensors;
    await assertRejects(
      () => loadPretrained(dir),
      Error,
      `${
        SHARDS[2]
      }: the file is truncated: tensor "model.layers.2.self_attn.v_proj.weight" needs bytes`,
    );
    // A file shorter than its header length.
    await Deno.writeFile(path, bytes.subarray(0, 20));
    await assertRejects(() => loadPretrained(dir), Error, `${SHARDS[2]}: the file is truncated`);
    await Deno.writeFile(path, bytes.subarray(0, 4));
    await assertRejects(() => loadPretrained(dir), Error, "no header length");
    assertEquals(tf.memory().numTensors, before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a shard cut after pass 1 fails in pass 2 and disposes what was created", async () => {
  await initBackend({ backend: "cpu" });
  const dir = await Deno.makeTempDir();
  try {
    await copyFixture("llama_untied", dir);
    const family = await familyOf(dir);
    const plan = await planWeights(dir, SHARDS, family, CONTEXT);
    const path = `${dir}/${SHARDS[4]}`; // the last shard: the others are loaded by then
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 10));
    const before = tf.memory().numTensors;
    await assertRejects(
      () => loadWeights(plan, family, CONTEXT),
      Error,
      `${CONTEXT}: ${SHARDS[4]}: the file is truncated: tensor "lm_head.weight" ends at byte`,
    );
    assertEquals(tf.memory().numTensors, before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a NaN or Infinity weight is refused at load, naming the tensor; nothing is allocated", async () => {
  await initBackend({ backend: "cpu" });
  const dir = await Deno.makeTempDir();
  try {
    await copyFixture("llama", dir);
    const path = `${dir}/model.safetensors`;
    const header = await readSafetensorsHeader(path, "model.safetensors");
    const [name, tensor] = [...header.tensors].at(-1)!;
    // Bit patterns of +Infinity in each stored dtype, written into the tensor's third value.
    const infinity: Record<string, number[]> = {
      F32: [0x00, 0x00, 0x80, 0x7f],
      F16: [0x00, 0x7c],
      BF16: [0x80, 0x7f],
    };
    const bytes = await Deno.readFile(path);
    const width = infinity[tensor.dtype].length;
    bytes.set(infinity[tensor.dtype], tensor.offset + 2 * width);
    await Deno.writeFile(path, bytes);
    const before = tf.memory().numTensors;
    // Before the fix the model loaded and sampling failed later on NaN probabilities.
    await assertRejects(
      () => loadPretrained(dir),
      RangeError,
      `tensor "${name}" in model.safetensors must be finite, got Infinity at index 2`,
    );
    assertEquals(tf.memory().numTensors, before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
