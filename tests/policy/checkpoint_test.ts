import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { checkpointFiles, loadCheckpoint, saveCheckpoint } from "../../lib/policy/checkpoint.ts";
import { createPolicy, type Policy, type PolicyConfig } from "../../lib/policy/transformer.ts";
import { createValueModel } from "../../lib/policy/value_model.ts";
import { Random } from "../../lib/random.ts";
import { charTokenizer } from "../../lib/tasks/task.ts";
import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertGreater,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";

await initBackend({ backend: "cpu" });

const CONFIG: PolicyConfig = {
  vocabSize: 11,
  dModel: 8,
  layers: 2,
  heads: 2,
  maxLength: 9,
  seed: 3,
};

/** Overwrite every weight with values drawn from a seed (wide range, with -0 and tiny values). */
function randomize(weights: ReadonlyMap<string, tf.Variable>, seed: number): void {
  const rng = new Random(seed);
  tf.tidy(() => {
    for (const w of weights.values()) {
      const data = new Float32Array(w.size).map(() => rng.normal() * 10 ** (rng.int(9) - 4));
      data[0] = -0;
      w.assign(tf.tensor(data, w.shape, "float32"));
    }
  });
}

function sameBits(a: ReadonlyMap<string, tf.Variable>, b: ReadonlyMap<string, tf.Variable>): void {
  assertEquals([...a.keys()], [...b.keys()]);
  for (const [name, w] of a) {
    const x = new Uint32Array((w.dataSync() as Float32Array).slice().buffer);
    const y = new Uint32Array((b.get(name)!.dataSync() as Float32Array).slice().buffer);
    assertEquals(x, y, name);
  }
}

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "trepo_ckpt_" });
}

Deno.test("checkpoint: policy, value model, tokenizer, rng and state round trip bit-exactly", async () => {
  const before = tf.memory().numTensors;
  const root = await tempDir();
  const policy = createPolicy(CONFIG);
  const critic = createValueModel({ ...CONFIG, dModel: 4 });
  randomize(policy.weights, 1);
  randomize(critic.weights, 2);
  const rng = new Random(77);
  rng.next();
  const tokenizer = charTokenizer("0123456789");
  const state = { step: 12, metrics: { "reward/mean": 0.25 }, config: { lr: 1e-3, name: "grpo" } };
  await saveCheckpoint(`${root}/run/ckpt`, {
    policy,
    valueModel: critic,
    rng: { sampler: rng, trainer: new Random(5).state() },
    state,
    tokenizer,
  });
  const loaded = await loadCheckpoint(`${root}/run/ckpt/`);
  sameBits(policy.weights, loaded.policy.weights);
  sameBits(critic.weights, loaded.valueModel!.weights);
  assertEquals(loaded.policy.config, CONFIG);
  assertEquals(loaded.valueModel!.config, { ...CONFIG, dModel: 4 });
  assertEquals(loaded.policy.trainable, true);
  assertEquals(loaded.state, state);
  const restored = Random.fromState(
    (loaded.rng as Record<string, ReturnType<Random["state"]>>).sampler,
  );
  assertEquals([restored.next(), restored.next()], [rng.next(), rng.next()]);
  assertEquals(loaded.tokenizer!.vocab, tokenizer.vocab);
  assertEquals(loaded.tokenizer!.encode("42"), tokenizer.encode("42"));
  assertEquals(loaded.config.format, "trepo-checkpoint");
  assertEquals(loaded.config.vocab_size, 11);
  const files = (await checkpointFiles(`${root}/run/ckpt`)).map((p) => p.split("/").at(-1));
  assertEquals(files.sort(), [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "trainer_state.json",
    "value_model.safetensors",
  ]);
  // The same outputs from the restored model.
  const tokens = tf.tensor2d([[1, 2, 3, 4]], [1, 4], "int32");
  const a = policy.logits(tokens);
  const b = loaded.policy.logits(tokens);
  assertEquals(a.dataSync(), b.dataSync());
  tf.dispose([tokens, a, b]);
  policy.dispose();
  critic.dispose();
  loaded.policy.dispose();
  loaded.valueModel!.dispose();
  assertEquals(tf.memory().numTensors, before);
  // Only the checkpoint is left: no temporary siblings.
  const entries = [];
  for await (const e of Deno.readDir(`${root}/run`)) entries.push(e.name);
  assertEquals(entries, ["ckpt"]);
  await Deno.remove(root, { recursive: true });
});

async function adamSteps(policy: Policy, optimizer: tf.Optimizer, steps: number): Promise<void> {
  const tokens = tf.tensor2d([[1, 5, 2, 7], [3, 3, 9, 0]], [2, 4], "int32");
  const vars = [...policy.weights.values()];
  for (let i = 0; i < steps; i++) {
    const { value, grads } = tf.variableGrads(
      () => tf.tidy(() => tf.mean(tf.square(tf.sub(policy.logits(tokens), 0.5)))),
      vars,
    );
    optimizer.applyGradients(grads);
    tf.dispose([value, ...Object.values(grads)]);
  }
  tokens.dispose();
  await Promise.resolve();
}

Deno.test("checkpoint: Adam state (moments, iteration count, hyper-parameters) round trips and resumes", async () => {
  const before = tf.memory().numTensors;
  const root = await tempDir();
  const policy = createPolicy(CONFIG);
  const adam = tf.train.adam(0.01, 0.8, 0.95, 1e-6);
  await adamSteps(policy, adam, 3);
  await saveCheckpoint(root, { policy, optimizers: { policy: adam } });
  const loaded = await loadCheckpoint(root);
  const restored = loaded.optimizers!.policy;
  assertEquals(restored.getClassName(), "Adam");
  assertEquals(restored.getConfig(), {
    learningRate: 0.01,
    beta1: 0.8,
    beta2: 0.95,
    epsilon: 1e-6,
  });
  assertEquals(restored.iterations, 3);
  // The raw state: same iteration count, and each slot equals the original slot of the same weight.
  const original = await adam.getWeights();
  const saved = loaded.optimizerWeights!.policy;
  assertEquals(saved.length, original.length);
  assertEquals(saved[0].name, "iter");
  assertEquals(saved[0].tensor.dataSync()[0], 3);
  const weightOfVar = (p: Policy) => new Map([...p.weights].map(([n, v]) => [v.name, n]));
  const origNames = weightOfVar(policy);
  const newNames = weightOfVar(loaded.policy);
  const key = (name: string, names: Map<string, string>) => {
    const [v, slot] = name.split("/");
    return `${names.get(v)}/${slot}`;
  };
  const originalByKey = new Map(original.slice(1).map((w) => [key(w.name, origNames), w.tensor]));
  assertEquals(originalByKey.size, 2 * policy.weights.size);
  for (const w of saved.slice(1)) {
    assertEquals(w.tensor.dataSync(), originalByKey.get(key(w.name, newNames))!.dataSync(), w.name);
  }
  // One more step on each: the restored optimizer continues where the original left off.
  await adamSteps(policy, adam, 1);
  await adamSteps(loaded.policy, restored, 1);
  for (const [name, w] of policy.weights) {
    const x = w.dataSync();
    const y = loaded.policy.weights.get(name)!.dataSync();
    for (let i = 0; i < x.length; i++) assertAlmostEquals(y[i], x[i], 1e-6, name);
  }
  original[0].tensor.dispose();
  tf.dispose(saved.map((w) => w.tensor));
  adam.dispose();
  restored.dispose();
  policy.dispose();
  loaded.policy.dispose();
  assertEquals(tf.memory().numTensors, before);
  await Deno.remove(root, { recursive: true });
});

async function savedWith(dir: string, seed: number, step: number): Promise<Policy> {
  const policy = createPolicy(CONFIG);
  randomize(policy.weights, seed);
  await saveCheckpoint(dir, { policy, state: { step } });
  return policy;
}

Deno.test("checkpoint: leftovers of an interrupted save never hide or break the previous checkpoint", async () => {
  const root = await tempDir();
  const dir = `${root}/ckpt`;
  const first = await savedWith(dir, 1, 1);
  // (a) A crash while writing: a half-written partial sibling with a truncated model file.
  const partial = `${root}/.ckpt.partial-000000000000001-1-1`;
  await Deno.mkdir(partial);
  const model = await Deno.readFile(`${dir}/model.safetensors`);
  await Deno.writeFile(`${partial}/model.safetensors`, model.subarray(0, 100));
  let loaded = await loadCheckpoint(dir);
  assertEquals(loaded.state.step, 1);
  sameBits(first.weights, loaded.policy.weights);
  loaded.policy.dispose();

  // (b) A crash between the two renames: <dir> moved aside to an old sibling, new one staged.
  const second = await savedWith(`${root}/elsewhere`, 2, 2);
  await Deno.rename(dir, `${root}/.ckpt.old-000000000000002-1-1`);
  await Deno.rename(`${root}/elsewhere`, `${root}/.ckpt.staged-000000000000002-1-1`);
  loaded = await loadCheckpoint(dir);
  assertEquals(loaded.state.step, 2); // the complete new checkpoint wins
  sameBits(second.weights, loaded.policy.weights);
  loaded.policy.dispose();
  // (c) Only the old one survived: it is found.
  await Deno.remove(`${root}/.ckpt.staged-000000000000002-1-1`, { recursive: true });
  loaded = await loadCheckpoint(dir);
  assertEquals(loaded.state.step, 1);
  loaded.policy.dispose();
  // The next save replaces everything and cleans the leftovers up.
  const third = await savedWith(dir, 3, 3);
  loaded = await loadCheckpoint(dir);
  assertEquals(loaded.state.step, 3);
  assertEquals(loaded.dir, dir);
  loaded.policy.dispose();
  const entries = [];
  for await (const e of Deno.readDir(root)) entries.push(e.name);
  assertEquals(entries, ["ckpt"]);
  [first, second, third].forEach((p) => p.dispose());
  await Deno.remove(root, { recursive: true });
});

Deno.test("checkpoint: a writer killed mid-save always leaves a loadable, consistent checkpoint", async () => {
  const root = await tempDir();
  const dir = `${root}/ckpt`;
  const writer = new URL("./checkpoint_crash_writer.ts", import.meta.url).pathname;
  const seen: number[] = [];
  for (const delay of [3, 11, 23, 37, 53]) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", writer, dir],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    // Wait for the first completed save, then kill at a different moment each time.
    const reader = child.stdout.getReader();
    let text = "";
    while (!text.includes("saved")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    const loaded = await loadCheckpoint(dir);
    const step = loaded.state.step as number;
    assertGreater(step, 0);
    // Every weight was written by the same save as trainer_state.json.
    for (const [name, w] of loaded.policy.weights) {
      assert(w.dataSync().every((x) => x === step), `${name} is not from save ${step}`);
    }
    seen.push(step);
    loaded.policy.dispose();
  }
  assertEquals(seen.length, 5);
  await Deno.remove(root, { recursive: true });
});

Deno.test("checkpoint: truncated or corrupt files give errors naming the file", async () => {
  const root = await tempDir();
  const dir = `${root}/ckpt`;
  const policy = await savedWith(dir, 1, 1);
  const model = await Deno.readFile(`${dir}/model.safetensors`);
  await Deno.writeFile(`${dir}/model.safetensors`, model.subarray(0, model.length - 10));
  await assertRejects(
    () => loadCheckpoint(dir),
    Error,
    `${dir}/model.safetensors: the file is truncated: tensor "head" needs bytes`,
  );
  await Deno.writeFile(`${dir}/model.safetensors`, model.subarray(0, 4));
  await assertRejects(
    () => loadCheckpoint(dir),
    Error,
    `${dir}/model.safetensors: the file is truncated`,
  );
  await Deno.remove(`${dir}/model.safetensors`);
  await assertRejects(() => loadCheckpoint(dir), Error, `${dir}/model.safetensors is missing`);
  await Deno.writeFile(`${dir}/model.safetensors`, model);
  const config = await Deno.readTextFile(`${dir}/config.json`);
  await Deno.writeTextFile(`${dir}/config.json`, config.slice(0, 30));
  await assertRejects(() => loadCheckpoint(dir), Error, `${dir}/config.json is not valid JSON`);
  await Deno.writeTextFile(`${dir}/config.json`, config);
  await Deno.writeTextFile(`${dir}/trainer_state.json`, "{");
  await assertRejects(
    () => loadCheckpoint(dir),
    Error,
    `${dir}/trainer_state.json is not valid JSON`,
  );
  await assertRejects(() => loadCheckpoint(`${root}/nothing`), Error, "does not exist");
  policy.dispose();
  await Deno.remove(root, { recursive: true });
});

Deno.test("checkpoint: a config that does not match the weights is refused", async () => {
  const before = tf.memory().numTensors;
  const root = await tempDir();
  const dir = `${root}/ckpt`;
  const policy = await savedWith(dir, 1, 1);
  const text = await Deno.readTextFile(`${dir}/config.json`);
  const config = JSON.parse(text);
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({ ...config, policy: { ...CONFIG, dModel: 16 } }),
  );
  const error = await assertRejects(() => loadCheckpoint(dir), Error, "does not match");
  assertStringIncludes(error.message, `${dir}/model.safetensors does not match ${dir}/config.json`);
  assertStringIncludes(
    error.message,
    `weight "wte" has shape [11, 8] in the file but [11, 16] by the config`,
  );
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({ ...config, policy: { ...CONFIG, layers: 3 } }),
  );
  await assertRejects(() => loadCheckpoint(dir), Error, `missing weights "h2.ln1.g"`);
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({ ...config, policy: { ...CONFIG, layers: 1 } }),
  );
  await assertRejects(() => loadCheckpoint(dir), Error, `unexpected weights "h1.ln1.g"`);
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({ ...config, policy: { ...CONFIG, heads: 3 } }),
  );
  await assertRejects(() => loadCheckpoint(dir), RangeError, "dModel must be divisible by heads");
  await Deno.writeTextFile(`${dir}/config.json`, text);
  await assertRejects(
    () => loadCheckpoint(dir, { policyConfig: { ...CONFIG, vocabSize: 12 } }),
    Error,
    "does not match the expected",
  );
  policy.dispose();
  assertEquals(tf.memory().numTensors, before);
  await Deno.remove(root, { recursive: true });
});

Deno.test("checkpoint: refuses to replace a directory that is not a checkpoint, and bad inputs", async () => {
  const root = await tempDir();
  await Deno.writeTextFile(`${root}/notes.txt`, "keep me");
  const policy = createPolicy(CONFIG);
  await assertRejects(
    () => saveCheckpoint(root, { policy }),
    Error,
    "exists and is not a checkpoint (no config.json); refusing to replace it",
  );
  assertEquals(await Deno.readTextFile(`${root}/notes.txt`), "keep me");
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  await assertRejects(
    () => saveCheckpoint(`${root}/c`, { policy, state: circular }),
    TypeError,
    "state must be JSON-serialisable",
  );
  await assertRejects(
    // deno-lint-ignore no-explicit-any
    () => saveCheckpoint(`${root}/c`, { policy: {} as any }),
    TypeError,
    "policy must be a Policy",
  );
  await assertRejects(
    // deno-lint-ignore no-explicit-any
    () => saveCheckpoint(`${root}/c`, { policy, rng: { a: 3 } as any }),
    TypeError,
    "rng.a must be a Random or a RandomState",
  );
  const other: tf.Variable = tf.variable(tf.zeros([2]));
  const sgdLike: tf.Optimizer = tf.train.adam(0.1);
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(other)), [other]);
  sgdLike.applyGradients(grads);
  tf.dispose([value, ...Object.values(grads)]);
  await assertRejects(
    () => saveCheckpoint(`${root}/c`, { policy, optimizers: { policy: sgdLike } }),
    RangeError,
    "neither a policy nor a value-model weight",
  );
  // Nothing was left behind by the failed saves.
  const entries = [];
  for await (const e of Deno.readDir(root)) entries.push(e.name);
  assertEquals(entries, ["notes.txt"]);
  sgdLike.dispose();
  other.dispose();
  policy.dispose();
  await Deno.remove(root, { recursive: true });
});

Deno.test("checkpoint: a NaN weight is refused at load, naming the weight; nothing is allocated", async () => {
  const root = await tempDir();
  const dir = `${root}/ckpt`;
  const policy = createPolicy(CONFIG);
  const weight = policy.weights.get("lnf.g")!;
  const values = new Float32Array(weight.size).fill(1);
  values[3] = NaN;
  weight.assign(tf.tensor(values, weight.shape, "float32"));
  await saveCheckpoint(dir, { policy });
  const before = tf.memory().numTensors;
  // Before the fix the checkpoint loaded and sampling failed later on NaN probabilities.
  await assertRejects(
    () => loadCheckpoint(dir),
    RangeError,
    `${dir}/model.safetensors: weight "lnf.g" must be finite, got NaN at index 3`,
  );
  assertEquals(tf.memory().numTensors, before);
  policy.dispose();
  await Deno.remove(root, { recursive: true });
});
