import * as tf from "@tensorflow/tfjs";
import {
  assert,
  assertArrayAlmostEquals,
  assertEquals,
  assertNotEquals,
  assertThrows,
} from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import {
  clonePolicy,
  createPolicy,
  freezePolicy,
  type Policy,
  type PolicyConfig,
} from "../../lib/policy/transformer.ts";
import {
  logSoftmax,
  randomiseWeights,
  referenceLogits,
  TEST_BACKENDS,
} from "./reference_forward.ts";

const CONFIG: PolicyConfig = {
  vocabSize: 7,
  dModel: 8,
  layers: 2,
  heads: 2,
  maxLength: 10,
  seed: 3,
};

function randomise(policy: Policy, seed: number): void {
  randomiseWeights(policy.weights, seed);
}

for (const backend of TEST_BACKENDS) {
  Deno.test(`logits have shape [B, L, V] and match a plain-JS forward pass (${backend})`, async () => {
    await initBackend({ backend });
    const policy = createPolicy(CONFIG);
    randomise(policy, 11);
    const rows = [[1, 2, 3, 4, 5], [6, 0, 0, 2, 1]];
    const tokens = tf.tensor2d(rows, [2, 5], "int32");
    const logits = policy.logits(tokens);
    assertEquals(logits.shape, [2, 5, 7]);
    const got = await logits.array();
    for (let b = 0; b < 2; b++) {
      const expected = referenceLogits(policy.weights, CONFIG, rows[b]);
      assertArrayAlmostEquals(got[b].flat(), expected.flat(), 1e-4);
    }
    tf.dispose([tokens, logits]);
    policy.dispose();
  });

  Deno.test(`logits are causal: a later token does not change earlier logits (${backend})`, async () => {
    await initBackend({ backend });
    const policy = createPolicy(CONFIG);
    randomise(policy, 12);
    const a = tf.tensor2d([[1, 2, 3, 4, 5, 6]], [1, 6], "int32");
    const b = tf.tensor2d([[1, 2, 3, 0, 0, 1]], [1, 6], "int32");
    const la = await policy.logits(a).array();
    const lb = await policy.logits(b).array();
    assertArrayAlmostEquals(la[0].slice(0, 3).flat(), lb[0].slice(0, 3).flat(), 1e-6);
    assert(Math.abs(la[0][3][0] - lb[0][3][0]) > 1e-6, "position 3 must see its own token");
    tf.dispose([a, b]);
    policy.dispose();
  });

  Deno.test(`weights are deterministic in the seed (${backend})`, async () => {
    await initBackend({ backend });
    const a = createPolicy(CONFIG);
    const b = createPolicy(CONFIG);
    const c = createPolicy({ ...CONFIG, seed: 4 });
    for (const [name, w] of a.weights) {
      assertEquals(w.dataSync(), b.weights.get(name)!.dataSync(), name);
    }
    assertNotEquals(a.weights.get("wte")!.dataSync(), c.weights.get("wte")!.dataSync());
    // Initial statistics: normal(0, 0.02) matrices, unit gains, zero biases.
    const wfc = Array.from(a.weights.get("h0.mlp.wfc")!.dataSync());
    const std = Math.sqrt(wfc.reduce((s, v) => s + v * v, 0) / wfc.length);
    assert(Math.abs(std - 0.02) < 0.003, `std ${std}`);
    const residual = Array.from(a.weights.get("h1.attn.wo")!.dataSync());
    const rstd = Math.sqrt(residual.reduce((s, v) => s + v * v, 0) / residual.length);
    assert(Math.abs(rstd - 0.02 / Math.sqrt(4)) < 0.004, `residual std ${rstd}`);
    assertEquals(Array.from(a.weights.get("h0.ln1.g")!.dataSync()), new Array(8).fill(1));
    assertEquals(Array.from(a.weights.get("h0.attn.bqkv")!.dataSync()), new Array(24).fill(0));
    a.dispose();
    b.dispose();
    c.dispose();
  });
  Deno.test(`gradients reach every weight and match finite differences (${backend})`, async () => {
    await initBackend({ backend });
    const policy = createPolicy({ ...CONFIG, layers: 1 });
    randomise(policy, 5);
    const tokens = tf.tensor2d([[1, 2, 3, 1]], [1, 4], "int32");
    const target = tf.oneHot(tf.tensor1d([2, 3, 1, 0], "int32"), 7).cast("float32");
    const loss = () =>
      tf.tidy(() =>
        tf.sum(tf.mul(tf.logSoftmax(tf.reshape(policy.logits(tokens), [4, 7])), target))
      )
        .asScalar();
    const { grads, value } = tf.variableGrads(loss);
    for (const name of policy.weights.keys()) {
      const g = grads[policy.weights.get(name)!.name];
      assert(g !== undefined, `no gradient for ${name}`);
    }
    // Finite difference on one embedding entry of a used token and one of the position table.
    for (
      const [name, index] of [["wte", 2 * 8 + 3], ["wpe", 1 * 8 + 5], ["h0.attn.wqkv", 17]] as const
    ) {
      const w = policy.weights.get(name)!;
      const original = w.dataSync().slice();
      const eps = 1e-2;
      const at = (delta: number) => {
        const data = original.slice();
        data[index] += delta;
        const t = tf.tensor(data, w.shape);
        w.assign(t);
        t.dispose();
        const l = loss();
        const v = l.dataSync()[0];
        l.dispose();
        return v;
      };
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      at(0);
      const analytic = grads[w.name].dataSync()[index];
      assert(Math.abs(numeric - analytic) < 2e-3, `${name}: ${numeric} vs ${analytic}`);
    }
    tf.dispose(grads);
    tf.dispose([value, tokens, target]);
    policy.dispose();
  });
}

Deno.test("weights have stable names, shapes and count", async () => {
  await initBackend({ backend: "cpu" });
  const policy = createPolicy(CONFIG);
  const names = [...policy.weights.keys()];
  assertEquals(names.slice(0, 4), ["wte", "wpe", "h0.ln1.g", "h0.ln1.b"]);
  assertEquals(names.slice(-3), ["lnf.g", "lnf.b", "head"]);
  assertEquals(names.length, 2 + 12 * 2 + 3);
  assertEquals(policy.weights.get("h1.attn.wqkv")!.shape, [8, 24]);
  assertEquals(policy.weights.get("head")!.shape, [8, 7]);
  const { vocabSize: v, dModel: d, maxLength: m } = CONFIG;
  assertEquals(policy.parameterCount, v * d + m * d + 2 * (12 * d * d + 13 * d) + 2 * d + d * v);
  assertEquals(policy.trainable, true);
  policy.dispose();
});

Deno.test("clonePolicy copies values into independent trainable variables; freezePolicy is frozen", async () => {
  await initBackend({ backend: "cpu" });
  const policy = createPolicy(CONFIG);
  const clone = clonePolicy(policy);
  const frozen = freezePolicy(policy);
  const before = Array.from(policy.weights.get("head")!.dataSync());
  const ones = tf.onesLike(policy.weights.get("head")!);
  policy.weights.get("head")!.assign(ones);
  ones.dispose();
  assertEquals(Array.from(clone.weights.get("head")!.dataSync()), before);
  assertEquals(Array.from(frozen.weights.get("head")!.dataSync()), before);
  assertEquals(clone.trainable, true);
  assertEquals(frozen.trainable, false);
  assert([...frozen.weights.values()].every((w) => !w.trainable));
  assert([...clone.weights.values()].every((w) => w.trainable));
  policy.dispose();
  clone.dispose();
  frozen.dispose();
});

Deno.test("createPolicy rejects invalid configurations", async () => {
  await initBackend({ backend: "cpu" });
  assertThrows(
    () => createPolicy({ ...CONFIG, dModel: 9, heads: 2 }),
    RangeError,
    "Cannot create the policy: dModel must be divisible by heads, got dModel 9 and heads 2",
  );
  assertThrows(
    () => createPolicy({ ...CONFIG, layers: 0 }),
    RangeError,
    "Cannot create the policy: layers must be at least 1, got 0",
  );
  assertThrows(
    () => createPolicy({ ...CONFIG, vocabSize: 2.5 }),
    TypeError,
    "Cannot create the policy: vocabSize must be an integer, got 2.5",
  );
  assertThrows(
    () => createPolicy({ ...CONFIG, seed: NaN }),
    TypeError,
    "Cannot create the policy: seed must be a finite number, got NaN",
  );
});

Deno.test("logits rejects bad token tensors", async () => {
  await initBackend({ backend: "cpu" });
  const policy = createPolicy(CONFIG);
  const floats = tf.tensor2d([[1, 2]]);
  const outside = tf.tensor2d([[1, 7]], [1, 2], "int32");
  const long = tf.zeros([1, 11], "int32") as tf.Tensor2D;
  assertThrows(
    () => policy.logits(floats),
    TypeError,
    "Cannot compute the policy logits: tokens must have dtype int32, got float32",
  );
  assertThrows(
    () => policy.logits(outside),
    RangeError,
    "Cannot compute the policy logits: token ids must be in [0, 7), got 7 at flat index 1",
  );
  assertThrows(
    () => policy.logits(long),
    RangeError,
    "Cannot compute the policy logits: tokens has length 11, more than maxLength 10",
  );
  tf.dispose([floats, outside, long]);
  policy.dispose();
});

Deno.test("log-softmax reference helper is normalised", () => {
  const lp = logSoftmax([1, 2, 3]);
  assertArrayAlmostEquals([lp.reduce((a, v) => a + Math.exp(v), 0)], [1], 1e-12);
});

Deno.test("100 Adam steps leave the tensor count unchanged", async () => {
  for (const backend of TEST_BACKENDS) {
    await initBackend({ backend });
    const policy = createPolicy({ ...CONFIG, layers: 1 });
    const optimizer = tf.train.adam(1e-2);
    const tokens = tf.tensor2d([[1, 2, 3, 4], [4, 3, 2, 1]], [2, 4], "int32");
    const target = tf.oneHot(tf.tensor1d([2, 3, 4, 0, 3, 2, 1, 0], "int32"), 7).cast("float32");
    const step = () => {
      const { value, grads } = tf.variableGrads(() =>
        tf.tidy(() =>
          tf.neg(
            tf.mean(
              tf.sum(tf.mul(tf.logSoftmax(tf.reshape(policy.logits(tokens), [8, 7])), target), 1),
            ),
          )
        ).asScalar()
      );
      optimizer.applyGradients(grads as tf.NamedTensorMap as Record<string, tf.Variable>);
      const loss = value.dataSync()[0];
      tf.dispose(grads);
      value.dispose();
      return loss;
    };
    const first = step(); // the optimiser creates its slots on the first step
    const before = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 100; i++) last = step();
    assertEquals(tf.memory().numTensors, before, backend);
    assert(last < first / 2, `${backend}: loss ${first} -> ${last} should fall when memorising`);
    optimizer.dispose();
    tf.dispose([tokens, target]);
    policy.dispose();
  }
});
