import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { headLogits, headLogProbs } from "../../lib/models/lm_head.ts";
import type { LinearHead } from "../../lib/policy/architecture.ts";
import { entropyFromLogits } from "../../lib/loss/entropy.ts";
import { loadPretrained } from "../../lib/hub/load_pretrained.ts";
import { loraPolicy } from "../../lib/models/lora.ts";
import { createPolicy, type Policy } from "../../lib/policy/transformer.ts";
import { policyHead } from "../../lib/policy/architecture.ts";
import { oneHotFloat } from "../../lib/policy/layers.ts";
import { tokenLogProbs, tokenLogProbsAndEntropy } from "../../lib/sample/token_log_probs.ts";
import { sample } from "../../lib/sample/sample.ts";
import { disposeRollout, type Rollout } from "../../lib/sample/rollout.ts";
import { responseHidden } from "../../lib/sample/teacher_forcing.ts";
import { Random } from "../../lib/random.ts";
import { assert, assertEquals, assertThrows } from "@std/assert";

const ROOT = new URL("../fixtures/hf/", import.meta.url).pathname;

/** max |a − b| / max(|b|, floor): the relative error, with a floor for entries near zero. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  assertEquals(a.length, b.length);
  let scale = floor;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst / scale;
}

function randomTensor(rng: Random, shape: number[], scale = 1): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => scale * (rng.float() * 2 - 1)), shape);
}

/** The full formulation: all logits, their log-softmax, a one-hot pick (what main did). */
function fullLogProbs(hidden: tf.Tensor2D, head: LinearHead, ids: tf.Tensor1D, t: number) {
  const w = head.weight as tf.Tensor2D;
  let z: tf.Tensor2D = head.layout === "linear"
    ? tf.matMul(hidden, w, false, true)
    : tf.matMul(hidden, w);
  z = tf.div(z, t);
  const [n, vocab] = z.shape;
  return {
    logp: tf.sum(tf.mul(tf.logSoftmax(z), oneHotFloat(ids, vocab)), 1) as tf.Tensor1D,
    entropy: tf.reshape(entropyFromLogits(tf.reshape(z, [1, n, vocab]) as tf.Tensor3D), [-1]),
  };
}

for (const backend of ["cpu", "wasm"] as const) {
  for (const layout of ["linear", "conv1d"] as const) {
    for (const temperature of [1, 0.7]) {
      Deno.test(`headLogProbs (${backend}, ${layout}, τ ${temperature}): values and gradients equal the full log-softmax over several chunks, repeated targets included`, async () => {
        await initBackend({ backend });
        const rng = new Random(3);
        const [n, d, vocab] = [10, 6, 13];
        const hidden = randomTensor(rng, [n, d], 2) as tf.Tensor2D;
        const w = randomTensor(rng, layout === "linear" ? [vocab, d] : [d, vocab]) as tf.Tensor2D;
        const ids = tf.tensor1d(Array.from({ length: n }, (_, i) => (i * 5) % 7), "int32");
        const a = tf.tensor1d(Array.from({ length: n }, () => rng.float() - 0.5));
        const b = tf.tensor1d(Array.from({ length: n }, () => rng.float() - 0.5));
        const before = tf.memory().numTensors;
        // A loss on both outputs, so the entropy's gradient is checked too.
        const fused = tf.grads((h: tf.Tensor, x: tf.Tensor) => {
          const out = headLogProbs(h as tf.Tensor2D, { weight: x, layout }, ids, {
            temperature,
            chunkRows: 3,
            trainHead: true,
            entropyGradient: true,
          });
          return tf.add(tf.sum(tf.mul(out.logProbs, a)), tf.sum(tf.mul(out.entropy, b)));
        });
        const full = tf.grads((h: tf.Tensor, x: tf.Tensor) => {
          const out = fullLogProbs(h as tf.Tensor2D, { weight: x, layout }, ids, temperature);
          return tf.add(tf.sum(tf.mul(out.logp, a)), tf.sum(tf.mul(out.entropy, b)));
        });
        const [fh, fw] = fused([hidden, w]);
        const [rh, rw] = full([hidden, w]);
        assert(relativeError(await fh.data(), await rh.data()) < 1e-5, "dh");
        assert(relativeError(await fw.data(), await rw.data()) < 1e-5, "dW");
        const out = headLogProbs(hidden, { weight: w, layout }, ids, { temperature, chunkRows: 4 });
        const ref = tf.tidy(() => fullLogProbs(hidden, { weight: w, layout }, ids, temperature));
        assert(relativeError(await out.logProbs.data(), await ref.logp.data()) < 1e-5, "log p");
        assert(relativeError(await out.entropy.data(), await ref.entropy.data()) < 1e-5, "H");
        tf.dispose([fh, fw, rh, rw, out.logProbs, out.entropy, ref.logp, ref.entropy]);
        assertEquals(tf.memory().numTensors, before);
        tf.dispose([hidden, w, ids, a, b]);
      });
    }
  }
}

Deno.test("headLogProbs: a frozen head gets no gradient, and the hidden gradient is unchanged", async () => {
  await initBackend({ backend: "cpu" });
  const rng = new Random(5);
  const hidden = randomTensor(rng, [7, 4]) as tf.Tensor2D;
  const w = tf.variable(randomTensor(rng, [9, 4]), false);
  const ids = tf.tensor1d([0, 8, 3, 3, 1, 2, 7], "int32");
  const loss = (train: boolean) => (h: tf.Tensor) =>
    tf.sum(
      headLogProbs(h as tf.Tensor2D, { weight: w, layout: "linear" }, ids, {
        trainHead: train,
        chunkRows: 2,
      }).logProbs,
    );
  const frozen = tf.grad(loss(false))(hidden);
  const trained = tf.grad(loss(true))(hidden);
  assert(relativeError(await frozen.data(), await trained.data()) < 1e-6);
  tf.dispose([frozen, trained, hidden, w, ids]);
});

Deno.test("headLogProbs: bad shapes, dtypes, temperatures and chunk sizes are refused", async () => {
  await initBackend({ backend: "cpu" });
  const h = tf.zeros([3, 4]) as tf.Tensor2D;
  const w = tf.zeros([5, 4]);
  const ids = tf.tensor1d([0, 1, 2], "int32");
  const head: LinearHead = { weight: w, layout: "linear" };
  assertThrows(
    () => headLogProbs(h, { weight: w, layout: "conv1d" }, ids),
    TypeError,
    "does not match",
  );
  assertThrows(() => headLogProbs(h, head, tf.tensor1d([0, 1, 2])), TypeError, "int32 [3]");
  assertThrows(() => headLogProbs(h, head, tf.tensor1d([0], "int32")), TypeError, "int32 [3]");
  assertThrows(() => headLogProbs(h, head, ids, { temperature: 0 }), RangeError, "temperature");
  assertThrows(() => headLogProbs(h, head, ids, { chunkRows: 0 }), RangeError, "chunkRows");
  tf.dispose([h, w, ids]);
});

/** The log-probs of main's path: the head's full logits, log-softmax, one-hot pick. */
function referenceTokenLogProbs(policy: Policy, rollout: Rollout, temperature: number) {
  return tf.tidy(() => {
    const { hidden, batch, length } = responseHidden(
      "reference",
      policy.weights,
      policy.config,
      rollout,
      policy.architecture,
    );
    const logits = tf.div(policyHead(policy, hidden), temperature);
    const ids = tf.reshape(rollout.tokens, [batch * length]) as tf.Tensor1D;
    const picked = tf.sum(
      tf.mul(tf.logSoftmax(logits), oneHotFloat(ids, policy.config.vocabSize)),
      1,
    );
    return tf.mul(tf.reshape(picked, [batch, length]), rollout.mask) as tf.Tensor2D;
  });
}

async function checkAgainstFullHead(policy: Policy, temperature: number) {
  const vocab = policy.config.vocabSize;
  const rollout = await sample(policy, [[1, 2, 3], [4 % vocab]], {
    groupSize: 2,
    maxTokens: 5,
    eosToken: 0,
    temperature,
    seed: 11,
  });
  const weights = [...policy.weights.values()];
  const objective = (f: () => tf.Tensor2D) => () =>
    tf.tidy(() =>
      tf.sum(tf.mul(f(), tf.linspace(-1, 1, rollout.mask.size).reshape(rollout.mask.shape)))
    ) as tf.Scalar;
  const fused = tf.variableGrads(
    objective(() => tokenLogProbs(policy, rollout, { temperature })),
    weights,
  );
  const full = tf.variableGrads(
    objective(() => referenceTokenLogProbs(policy, rollout, temperature)),
    weights,
  );
  const a = tokenLogProbs(policy, rollout, { temperature });
  const b = referenceTokenLogProbs(policy, rollout, temperature);
  assert(relativeError(await a.data(), await b.data()) < 1e-5, "log-probs");
  for (const w of weights) {
    const err = relativeError(await fused.grads[w.name].data(), await full.grads[w.name].data());
    assert(err < 1e-5, `gradient of ${w.name}: relative error ${err}`);
  }
  tf.dispose([
    a,
    b,
    fused.value,
    full.value,
    ...Object.values(fused.grads),
    ...Object.values(full.grads),
  ]);
  disposeRollout(rollout);
}

for (const family of ["gpt2", "llama", "llama_untied", "qwen2", "qwen3"]) {
  Deno.test(`tokenLogProbs on ${family}: values and every weight's gradient equal the full-logits path (τ 0.8)`, async () => {
    await initBackend({ backend: "cpu" });
    const { policy } = await loadPretrained(ROOT + family);
    await checkAgainstFullHead(policy, 0.8);
    policy.dispose();
  });
}

Deno.test("tokenLogProbs on the built-in GPT (untied conv1d head) and on a LoRA policy equal the full-logits path", async () => {
  await initBackend({ backend: "cpu" });
  const gpt = createPolicy({
    vocabSize: 11,
    dModel: 8,
    layers: 1,
    heads: 2,
    maxLength: 12,
    seed: 2,
  });
  await checkAgainstFullHead(gpt, 1.3);
  gpt.dispose();
  const { policy: base } = await loadPretrained(ROOT + "llama");
  const lora = loraPolicy(base, {
    rank: 2,
    alpha: 4,
    targetModules: ["q_proj", "v_proj"],
    seed: 1,
  });
  // Non-zero B, so the adapters change the logits.
  for (const [name, w] of lora.weights) {
    if (name.includes("lora_B")) w.assign(tf.fill(w.shape, 0.05));
  }
  await checkAgainstFullHead(lora, 1);
  lora.dispose();
  base.dispose();
});

Deno.test("tokenLogProbsAndEntropy: the entropy equals the full distribution's at every valid token", async () => {
  await initBackend({ backend: "cpu" });
  const { policy } = await loadPretrained(ROOT + "qwen2");
  const rollout = await sample(policy, [[5, 6]], {
    groupSize: 3,
    maxTokens: 4,
    eosToken: 0,
    seed: 4,
  });
  const { logProbs, entropy } = tokenLogProbsAndEntropy(policy, rollout, { temperature: 0.9 });
  const expected = tf.tidy(() => {
    const { hidden, batch, length } = responseHidden(
      "x",
      policy.weights,
      policy.config,
      rollout,
      policy.architecture,
    );
    const z = tf.div(policyHead(policy, hidden), 0.9);
    const h = entropyFromLogits(tf.reshape(z, [batch, length, -1]) as tf.Tensor3D);
    return tf.mul(h, rollout.mask);
  });
  assert(relativeError(await entropy.data(), await expected.data()) < 1e-5);
  tf.dispose([logProbs, entropy, expected]);
  disposeRollout(rollout);
  policy.dispose();
});

Deno.test("headLogProbs: the peak memory of forward + backward does not grow with N × V beyond one chunk", async () => {
  await initBackend({ backend: "wasm" });
  const [d, vocab, chunkRows] = [8, 2048, 32];
  const w = tf.variable(tf.randomNormal([vocab, d], 0, 0.1, "float32", 1));
  const peak = async (n: number) => {
    const hidden = tf.randomNormal([n, d], 0, 1, "float32", 2) as tf.Tensor2D;
    const ids = tf.tensor1d(Array.from({ length: n }, (_, i) => (i * 31) % vocab), "int32");
    const info = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(
        () =>
          tf.sum(
            headLogProbs(hidden, { weight: w, layout: "linear" }, ids, { chunkRows }).logProbs,
          ),
        [w],
      );
      tf.dispose([value, ...Object.values(grads)]);
    });
    tf.dispose([hidden, ids]);
    return info.peakBytes;
  };
  const small = await peak(128);
  const large = await peak(1024);
  const chunk = chunkRows * vocab * 4;
  const full = 1024 * vocab * 4; // one [N, V] float32 tensor: 8 MiB
  // Going from 128 to 1024 rows adds only [N]- and [N, d]-sized tensors, never an [N, V] one.
  assert(large - small < chunk, `peak grew by ${large - small} bytes`);
  assert(large < full / 2, `peak ${large} bytes`);
  w.dispose();
});

Deno.test("headLogits: both layouts equal the plain products, on cpu and wasm", async () => {
  for (const backend of ["cpu", "wasm"] as const) {
    await initBackend({ backend });
    const rng = new Random(9);
    const h = randomTensor(rng, [5, 3]) as tf.Tensor2D;
    const w = randomTensor(rng, [7, 3]) as tf.Tensor2D;
    const a = headLogits({ weight: w, layout: "linear" }, h);
    const b = tf.matMul(h, w, false, true);
    const wt = tf.transpose(w);
    const c = headLogits({ weight: wt, layout: "conv1d" }, h);
    assert(relativeError(await a.data(), await b.data()) < 1e-6, backend);
    assert(relativeError(await c.data(), await b.data()) < 1e-6, backend);
    tf.dispose([h, w, a, b, wt, c]);
  }
});
