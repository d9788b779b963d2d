import * as tf from "@tensorflow/tfjs";
import { assert, assertArrayAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { createPolicy, type PolicyConfig } from "../../lib/policy/transformer.ts";
import { createValueModel } from "../../lib/policy/value_model.ts";
import { referenceLogits, TEST_BACKENDS } from "./reference_forward.ts";

const CONFIG: PolicyConfig = {
  vocabSize: 6,
  dModel: 8,
  layers: 1,
  heads: 2,
  maxLength: 8,
  seed: 9,
};

for (const backend of TEST_BACKENDS) {
  Deno.test(`value model: [B, L] values equal the trunk's hidden state times the head (${backend})`, async () => {
    await initBackend({ backend });
    const critic = createValueModel(CONFIG);
    const policy = createPolicy(CONFIG);
    // Same seed ⇒ same trunk as the policy.
    for (const [name, w] of policy.weights) {
      if (name !== "head") assertEquals(w.dataSync(), critic.weights.get(name)!.dataSync(), name);
    }
    // Point the value head along e_0 plus a bias; the policy head with column 0 = e_0 gives
    // the same number as the policy's logit 0 (independent plain-JS reference).
    const head = new Float32Array(8 * 6);
    head[0] = 1; // head[0][0] = 1
    const headT = tf.tensor2d(head, [8, 6]);
    policy.weights.get("head")!.assign(headT);
    const vw = tf.tensor2d([[1], [0], [0], [0], [0], [0], [0], [0]]);
    const vb = tf.tensor1d([0.25]);
    critic.weights.get("value.w")!.assign(vw);
    critic.weights.get("value.b")!.assign(vb);
    const tokens = tf.tensor2d([[1, 2, 3], [5, 4, 0]], [2, 3], "int32");
    const values = critic.values(tokens);
    assertEquals(values.shape, [2, 3]);
    const got = await values.array();
    for (const b of [0, 1]) {
      const logits = referenceLogits(policy.weights, CONFIG, (await tokens.array())[b]);
      assertArrayAlmostEquals(got[b], logits.map((row) => row[0] + 0.25), 1e-4);
    }
    tf.dispose([headT, vw, vb, tokens, values]);
    critic.dispose();
    policy.dispose();
  });
}

Deno.test("value model: weights, count and errors", async () => {
  await initBackend({ backend: "cpu" });
  const critic = createValueModel(CONFIG);
  const names = [...critic.weights.keys()];
  assertEquals(names.slice(-2), ["value.w", "value.b"]);
  assert(!names.includes("head"));
  const d = 8;
  assertEquals(critic.parameterCount, 6 * d + 8 * d + (12 * d * d + 13 * d) + 2 * d + d + 1);
  assertThrows(
    () => createValueModel({ ...CONFIG, heads: 3 }),
    RangeError,
    "Cannot create the value model: dModel must be divisible by heads, got dModel 8 and heads 3",
  );
  const bad = tf.tensor2d([[1, 6]], [1, 2], "int32");
  assertThrows(
    () => critic.values(bad),
    RangeError,
    "Cannot compute the values: token ids must be in [0, 6), got 6 at flat index 1",
  );
  bad.dispose();
  critic.dispose();
});
