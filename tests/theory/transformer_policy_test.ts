import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { createPolicy, freezePolicy } from "../../lib/policy/transformer.ts";
import { enumerateResponses } from "../../lib/theory/enumerate_responses.ts";
import { exactGradient } from "../../lib/theory/exact_objective.ts";
import { projectCoefficients, scoreJacobian } from "../../lib/theory/score_jacobian.ts";
import { zeroRewardEstimator } from "../../lib/theory/estimators.ts";
import { exactValues } from "../../lib/theory/exact_values.ts";
import { tokenProbabilities } from "../../lib/theory/token_probabilities.ts";
import { drawTokenRewards } from "../../lib/theory/token_rewards.ts";
import { transformerSequencePolicy } from "../../lib/theory/transformer_policy.ts";
import { assertAlmostEquals, assertEquals, assertLess, assertThrows } from "@std/assert";

await initBackend({ backend: "cpu" });

const config = { vocabSize: 4, dModel: 8, layers: 1, heads: 2, maxLength: 4, seed: 3 };

Deno.test("transformerSequencePolicy gives the log-softmax of the model's last-position logits", () => {
  const model = createPolicy(config);
  const policy = transformerSequencePolicy(model, { padToken: 3 });
  const before = tf.memory().numTensors;
  const contexts = [{ prompt: [0], prefix: [] }, { prompt: [1], prefix: [2, 0] }];
  const logp = policy.logProbs(contexts);
  assertEquals(logp.shape, [2, 4]);
  const got = logp.arraySync();
  for (const [i, c] of contexts.entries()) {
    const seq = [...c.prompt, ...c.prefix];
    const tokens = tf.tensor2d([seq], [1, seq.length], "int32");
    const logits = model.logits(tokens);
    const row = Array.from(logits.dataSync()).slice((seq.length - 1) * 4, seq.length * 4);
    const m = Math.max(...row);
    const z = Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0)) + m;
    row.forEach((x, a) => assertAlmostEquals(got[i][a], x - z, 1e-5));
    tf.dispose([tokens, logits]);
  }
  logp.dispose();
  policy.dispose(); // frees the cached token batch
  assertEquals(tf.memory().numTensors, before);
  model.dispose();
});

Deno.test("Theorem 1 holds for the transformer policy: closed-form ZRA γ = 1 mean equals autodiff ∇J", async () => {
  const space = enumerateResponses({
    vocabSize: 4,
    eosToken: 3,
    maxTokens: 3,
    prompts: [[0], [1]],
  });
  const model = createPolicy(config);
  const policy = transformerSequencePolicy(model, { padToken: 3 });
  const rewards = drawTokenRewards(space, { seed: 5, gamma: 0.9 });
  const probs = await tokenProbabilities(policy, space);
  const { gradient } = await exactGradient(policy, space, rewards);
  const jac = await scoreJacobian(policy, space);
  const problem = {
    space,
    probs,
    rewards,
    values: exactValues(space, probs, rewards),
    groupSize: 2,
  };
  const relative = (g: Float64Array) => {
    let d = 0, n = 0;
    g.forEach((x, k) => {
      d += (x - gradient[k]) ** 2;
      n += gradient[k] ** 2;
    });
    return Math.sqrt(d / n);
  };
  assertLess(
    relative(projectCoefficients(jac, zeroRewardEstimator(1).expectedCoefficients!(problem))),
    1e-4,
  );
  assertLess(
    0.05,
    relative(projectCoefficients(jac, zeroRewardEstimator(0.9).expectedCoefficients!(problem))),
  );
  policy.dispose();
  model.dispose();
});

Deno.test("transformerSequencePolicy rejects bad input", () => {
  const model = createPolicy(config);
  const frozen = freezePolicy(model);
  assertThrows(
    () => transformerSequencePolicy(frozen, { padToken: 3 }),
    TypeError,
    "Cannot adapt the transformer policy: policy must be trainable, got a frozen copy",
  );
  assertThrows(
    () => transformerSequencePolicy(model, { padToken: 4 }),
    RangeError,
    "Cannot adapt the transformer policy: padToken must be below vocabSize 4, got 4",
  );
  const policy = transformerSequencePolicy(model, { padToken: 3 });
  assertThrows(
    () => policy.logProbs([{ prompt: [], prefix: [] }]),
    RangeError,
    "Cannot evaluate the transformer policy: context 0 must have 1 to 4 tokens, got 0",
  );
  assertThrows(
    () => policy.logProbs([{ prompt: [0], prefix: [1, 1, 1, 1] }]),
    RangeError,
    "Cannot evaluate the transformer policy: context 0 must have 1 to 4 tokens, got 5",
  );
  frozen.dispose();
  model.dispose();
});
