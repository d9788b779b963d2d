import * as tf from "@tensorflow/tfjs";
import { assertArrayAlmostEquals, assertThrows } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import type { PolicyConfig } from "../../lib/policy/transformer.ts";
import { createValueModel } from "../../lib/policy/value_model.ts";
import { tokenValues } from "../../lib/sample/token_values.ts";
import { randomiseWeights, TEST_BACKENDS } from "../policy/reference_forward.ts";

const CONFIG: PolicyConfig = {
  vocabSize: 6,
  dModel: 8,
  layers: 1,
  heads: 2,
  maxLength: 12,
  seed: 5,
};

for (const backend of TEST_BACKENDS) {
  Deno.test(`tokenValues column t is the value of prompt + first t tokens (${backend})`, async () => {
    await initBackend({ backend });
    const critic = createValueModel(CONFIG);
    randomiseWeights(critic.weights, 7, 0.4);
    const promptTokens = [[1, 2, 3], [4]];
    const responses = [[5, 0, 0], [2, 3, 1]];
    const rollout = {
      promptTokens,
      tokens: tf.tensor2d(responses, [2, 3], "int32"),
      mask: tf.tensor2d([[1, 1, 0], [1, 1, 1]]),
      logProbs: tf.zeros([2, 3]) as tf.Tensor2D,
      lengths: [2, 3],
      groupSize: 1,
    };
    const got = await tokenValues(critic, rollout).array();
    for (let b = 0; b < 2; b++) {
      // Reference: the value model on each unpadded prefix alone (its last position).
      const expected: number[] = [];
      for (let t = 0; t < 3; t++) {
        if (rollout.lengths[b] <= t) {
          expected.push(0);
          continue;
        }
        const seq = [...promptTokens[b], ...responses[b].slice(0, t)];
        const input = tf.tensor2d([seq], [1, seq.length], "int32");
        const v = critic.values(input);
        expected.push(v.dataSync()[seq.length - 1]);
        tf.dispose([input, v]);
      }
      assertArrayAlmostEquals(got[b], expected, 1e-4);
    }
    tf.dispose([rollout.tokens, rollout.mask, rollout.logProbs]);
    critic.dispose();
  });
}

Deno.test("tokenValues rejects a mask of the wrong shape", async () => {
  await initBackend({ backend: "cpu" });
  const critic = createValueModel(CONFIG);
  const tokens = tf.tensor2d([[1, 2]], [1, 2], "int32");
  const mask = tf.ones([1, 3]) as tf.Tensor2D;
  assertThrows(
    () =>
      tokenValues(critic, {
        promptTokens: [[1]],
        tokens,
        mask,
        logProbs: mask,
        lengths: [2],
        groupSize: 1,
      }),
    TypeError,
    "Cannot compute token values: rollout.tokens and rollout.mask must have the same shape",
  );
  tf.dispose([tokens, mask]);
  critic.dispose();
});
