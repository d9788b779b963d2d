import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals, assertRejects } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { createPolicy, type PolicyConfig } from "../../lib/policy/transformer.ts";
import { greedy } from "../../lib/sample/greedy.ts";
import { disposeRollout } from "../../lib/sample/rollout.ts";
import { logSoftmax, randomiseWeights, TEST_BACKENDS } from "../policy/reference_forward.ts";

const CONFIG: PolicyConfig = {
  vocabSize: 6,
  dModel: 8,
  layers: 2,
  heads: 2,
  maxLength: 14,
  seed: 4,
};

for (const backend of TEST_BACKENDS) {
  Deno.test(`greedy picks the argmax of the unpadded logits at every step (${backend})`, async () => {
    await initBackend({ backend });
    const policy = createPolicy(CONFIG);
    randomiseWeights(policy.weights, 31, 0.5);
    const prompts = [[1, 2, 3], [4], [5, 5, 1, 2]];
    const r = await greedy(policy, prompts, { maxTokens: 6, eosToken: 0 });
    const tokens = await r.tokens.array();
    const lp = await r.logProbs.array();
    let checked = 0;
    for (let b = 0; b < prompts.length; b++) {
      for (let t = 0; t < r.lengths[b]; t++) {
        const seq = [...prompts[b], ...tokens[b].slice(0, t)];
        const input = tf.tensor2d([seq], [1, seq.length], "int32");
        const logits = policy.logits(input);
        const last = (await logits.array())[0][seq.length - 1];
        tf.dispose([input, logits]);
        const best = last.indexOf(Math.max(...last));
        assertEquals(tokens[b][t], best, `row ${b} step ${t}`);
        assertAlmostEquals(lp[b][t], logSoftmax(last)[best], 1e-4);
        checked++;
      }
      if (r.lengths[b] < 6) assertEquals(tokens[b][r.lengths[b] - 1], 0);
    }
    assert(checked >= 3);
    assertEquals(r.groupSize, 1);
    disposeRollout(r);
    policy.dispose();
  });
}

Deno.test("greedy rejects bad input with clear messages", async () => {
  await initBackend({ backend: "cpu" });
  const policy = createPolicy(CONFIG);
  const c = "Cannot decode greedily: ";
  await assertRejects(
    () => greedy(policy, [[1]], { maxTokens: 0, eosToken: 0 }),
    RangeError,
    c + "maxTokens must be at least 1, got 0",
  );
  await assertRejects(
    () => greedy(policy, [], { maxTokens: 2, eosToken: 0 }),
    RangeError,
    c + "prompts must not be empty, got an empty prompt list",
  );
  await assertRejects(
    () => greedy(policy, [[9]], { maxTokens: 2, eosToken: 0 }),
    RangeError,
    c + "prompt 0 has token 9 at index 0, outside the vocabulary [0, 6)",
  );
  await assertRejects(
    () => greedy(policy, [[1, 2, 3]], { maxTokens: 12, eosToken: 0 }),
    RangeError,
    c + "prompt 0 has 3 tokens, more than maxLength − maxTokens = 14 − 12 = 2",
  );
  policy.dispose();
});
