import * as tf from "@tensorflow/tfjs";
import { assert, assertArrayAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { createPolicy, type PolicyConfig } from "../../lib/policy/transformer.ts";
import { sample } from "../../lib/sample/sample.ts";
import { tokenLogProbs } from "../../lib/sample/token_log_probs.ts";
import { disposeRollout } from "../../lib/sample/rollout.ts";
import {
  logSoftmax,
  randomiseWeights,
  referenceLogits,
  TEST_BACKENDS,
} from "../policy/reference_forward.ts";

const CONFIG: PolicyConfig = {
  vocabSize: 6,
  dModel: 8,
  layers: 2,
  heads: 2,
  maxLength: 16,
  seed: 2,
};
const PROMPTS = [[1, 2, 3, 4, 5], [3], [2, 4]];

for (const backend of TEST_BACKENDS) {
  Deno.test(`sampler log-probs equal teacher-forced tokenLogProbs within 1e-4 (${backend})`, async () => {
    await initBackend({ backend });
    const policy = createPolicy(CONFIG);
    randomiseWeights(policy.weights, 41, 0.3);
    for (const temperature of [1, 0.7]) {
      const r = await sample(policy, PROMPTS, {
        groupSize: 3,
        maxTokens: 6,
        eosToken: 0,
        seed: 9,
        temperature,
      });
      const lp = tokenLogProbs(policy, r, { temperature });
      assertEquals(lp.shape, r.logProbs.shape);
      assertArrayAlmostEquals(lp.dataSync(), r.logProbs.dataSync(), 1e-4);
      lp.dispose();
      disposeRollout(r);
    }
    policy.dispose();
  });

  Deno.test(`left-padded rows give the same log-probs as each row alone (${backend})`, async () => {
    await initBackend({ backend });
    const policy = createPolicy(CONFIG);
    randomiseWeights(policy.weights, 42, 0.4);
    const responses = [[2, 3, 0], [5, 1, 1], [4, 0, 0]];
    const lengths = [3, 3, 2];
    const rollout = {
      promptTokens: PROMPTS,
      tokens: tf.tensor2d(responses, [3, 3], "int32"),
      mask: tf.tensor2d(lengths.map((n) => [0, 1, 2].map((t) => (t < n ? 1 : 0)))),
      logProbs: tf.zeros([3, 3]) as tf.Tensor2D,
      lengths,
      groupSize: 1,
    };
    const before = tf.memory().numTensors;
    const lp = await tokenLogProbs(policy, rollout).array();
    assertEquals(tf.memory().numTensors, before + 1);
    for (let b = 0; b < 3; b++) {
      // Independent plain-JS forward pass of the unpadded row.
      const seq = [...PROMPTS[b], ...responses[b]];
      const logits = referenceLogits(policy.weights, CONFIG, seq);
      const expected = responses[b].map((tok, t) =>
        t < lengths[b] ? logSoftmax(logits[PROMPTS[b].length + t - 1])[tok] : 0
      );
      assertArrayAlmostEquals(lp[b], expected, 1e-4);
    }
    disposeRollout(rollout);
    policy.dispose();
  });
}

Deno.test("tokenLogProbs is differentiable with respect to the policy", async () => {
  await initBackend({ backend: "wasm" });
  const policy = createPolicy(CONFIG);
  const r = await sample(policy, PROMPTS, { maxTokens: 4, eosToken: 0, seed: 1 });
  const { value, grads } = tf.variableGrads(() => tf.sum(tokenLogProbs(policy, r)));
  assertEquals(Object.keys(grads).length, policy.weights.size);
  const g = grads[policy.weights.get("head")!.name];
  assert(tf.norm(g).dataSync()[0] > 0);
  tf.dispose(grads);
  value.dispose();
  disposeRollout(r);
  policy.dispose();
});

Deno.test("tokenLogProbs rejects bad rollouts", async () => {
  await initBackend({ backend: "cpu" });
  const policy = createPolicy(CONFIG);
  const tokens = tf.tensor2d([[1, 2]], [1, 2], "int32");
  const floats = tf.tensor2d([[1, 2]]);
  const mask = tf.ones([1, 2]) as tf.Tensor2D;
  const base = { promptTokens: [[1]], tokens, mask, logProbs: mask, lengths: [2], groupSize: 1 };
  const c = "Cannot compute token log-probs: ";
  assertThrows(
    () => tokenLogProbs(policy, { ...base, tokens: floats }),
    TypeError,
    c + "rollout.tokens must have dtype int32, got float32",
  );
  assertThrows(
    () => tokenLogProbs(policy, { ...base, promptTokens: [[1], [2]] }),
    TypeError,
    c + "rollout.promptTokens must hold one prompt per row (1), got an array of length 2",
  );
  assertThrows(
    () => tokenLogProbs(policy, base, { temperature: 0 }),
    RangeError,
    c + "temperature must be greater than 0, got 0",
  );
  assertThrows(
    () => tokenLogProbs(policy, { ...base, promptTokens: [new Array(16).fill(1)] }),
    RangeError,
    c + "longest prompt (16) plus response length (2) exceeds maxLength 16 + 1",
  );
  tf.dispose([tokens, floats, mask]);
  policy.dispose();
});
