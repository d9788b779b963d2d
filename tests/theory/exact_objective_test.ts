import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { enumerateResponses, type ResponseSpace } from "../../lib/theory/enumerate_responses.ts";
import { exactGradient, exactObjective } from "../../lib/theory/exact_objective.ts";
import { createTabularPolicy } from "../../lib/theory/tabular_policy.ts";
import { drawTokenRewards, type TokenRewards } from "../../lib/theory/token_rewards.ts";
import { assertAlmostEquals, assertEquals, assertLess } from "@std/assert";

await initBackend({ backend: "cpu" });

/** Plain float64 reference: J(θ) = (1/P) Σ_W Π_t softmax(θ_{s_t})_{w_t} · Σ_t γ^(t−1) r(s_t, w_t). */
function referenceObjective(space: ResponseSpace, theta: Float64Array, rewards: TokenRewards) {
  const V = space.vocabSize;
  const softmax = (s: number, a: number) => {
    let m = -Infinity;
    for (let b = 0; b < V; b++) m = Math.max(m, theta[s * V + b]);
    let z = 0;
    for (let b = 0; b < V; b++) z += Math.exp(theta[s * V + b] - m);
    return Math.exp(theta[s * V + a] - m) / z;
  };
  let total = 0;
  for (const w of space.responses) {
    let p = 1, rm = 0;
    w.tokens.forEach((a, t) => {
      p *= softmax(w.contexts[t], a);
      rm += rewards.gamma ** t * rewards.values[w.contexts[t] * V + a];
    });
    total += p * rm;
  }
  return total / space.prompts.length;
}

Deno.test("exactObjective and exactGradient match a float64 reference and finite differences", async () => {
  const space = enumerateResponses({
    vocabSize: 3,
    eosToken: 2,
    maxTokens: 3,
    prompts: [[0], [1]],
  });
  const policy = createTabularPolicy({ vocabSize: 3, contexts: space.contexts, seed: 5 });
  const rewards = drawTokenRewards(space, { seed: 9, gamma: 0.9, scales: [1, 0.5] });
  const theta = Float64Array.from(policy.variables[0].dataSync());
  const before = tf.memory().numTensors;
  const j = exactObjective(policy, space, rewards);
  assertAlmostEquals(j.dataSync()[0], referenceObjective(space, theta, rewards), 1e-6);
  j.dispose();
  const { value, gradient } = await exactGradient(policy, space, rewards);
  assertEquals(tf.memory().numTensors, before);
  assertAlmostEquals(value, referenceObjective(space, theta, rewards), 1e-6);
  assertEquals(gradient.length, theta.length);
  const h = 1e-5;
  let maxError = 0, maxGrad = 0;
  for (let k = 0; k < theta.length; k++) {
    const plus = theta.slice(), minus = theta.slice();
    plus[k] += h;
    minus[k] -= h;
    const fd =
      (referenceObjective(space, plus, rewards) - referenceObjective(space, minus, rewards)) /
      (2 * h);
    maxError = Math.max(maxError, Math.abs(fd - gradient[k]));
    maxGrad = Math.max(maxGrad, Math.abs(fd));
  }
  assertLess(maxError, 2e-6);
  assertLess(0.01, maxGrad); // the check is not vacuous
  policy.dispose();
});
