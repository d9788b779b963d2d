import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { enumerateResponses } from "../../lib/theory/enumerate_responses.ts";
import { scoreJacobian } from "../../lib/theory/score_jacobian.ts";
import { createTabularPolicy } from "../../lib/theory/tabular_policy.ts";
import { tokenProbabilities } from "../../lib/theory/token_probabilities.ts";
import { assertAlmostEquals, assertEquals } from "@std/assert";

await initBackend({ backend: "cpu" });

Deno.test("scoreJacobian of a tabular policy is e_a − π(·|s) in block s, and M = Jac·Jacᵀ", async () => {
  const space = enumerateResponses({ vocabSize: 3, eosToken: 2, maxTokens: 2, prompts: [[0]] });
  const policy = createTabularPolicy({ vocabSize: 3, contexts: space.contexts, seed: 4 });
  const probs = await tokenProbabilities(policy, space);
  const before = tf.memory().numTensors;
  const jac = await scoreJacobian(policy, space);
  assertEquals(tf.memory().numTensors, before);
  const V = 3, P = 9;
  assertEquals([jac.rows, jac.columns], [9, 9]);
  for (let s = 0; s < 3; s++) {
    for (let a = 0; a < V; a++) {
      for (let k = 0; k < P; k++) {
        const [s2, b] = [Math.floor(k / V), k % V];
        const expected = s2 === s ? (a === b ? 1 : 0) - probs[s * V + b] : 0;
        assertAlmostEquals(jac.data[(s * V + a) * P + k], expected, 1e-6);
      }
    }
  }
  for (let i = 0; i < 9; i++) {
    for (let j = 0; j < 9; j++) {
      let dot = 0;
      for (let k = 0; k < P; k++) dot += jac.data[i * P + k] * jac.data[j * P + k];
      assertAlmostEquals(jac.gram[i * 9 + j], dot, 1e-12);
    }
  }
  policy.dispose();
});
