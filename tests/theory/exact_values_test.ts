import { initBackend } from "../../lib/backend.ts";
import { enumerateResponses } from "../../lib/theory/enumerate_responses.ts";
import { exactValues } from "../../lib/theory/exact_values.ts";
import { createTabularPolicy } from "../../lib/theory/tabular_policy.ts";
import { responseProbabilities, tokenProbabilities } from "../../lib/theory/token_probabilities.ts";
import { drawTokenRewards, responseReward } from "../../lib/theory/token_rewards.ts";
import { assertAlmostEquals } from "@std/assert";

await initBackend({ backend: "cpu" });

const space = enumerateResponses({ vocabSize: 4, eosToken: 3, maxTokens: 4, prompts: [[0], [1]] });
const policy = createTabularPolicy({ vocabSize: 4, contexts: space.contexts, seed: 2 });
const probs = await tokenProbabilities(policy, space);
policy.dispose();
const rewards = drawTokenRewards(space, { seed: 4, gamma: 0.9 });
const { values, actionValues, objective } = exactValues(space, probs, rewards);
const V = space.vocabSize;

Deno.test("exactValues: V(s) = Σ_a π(a|s) Q(s, a) at every context", () => {
  space.contexts.forEach((_, s) => {
    let v = 0;
    for (let a = 0; a < V; a++) v += probs[s * V + a] * actionValues[s * V + a];
    assertAlmostEquals(values[s], v, 1e-12);
  });
});

Deno.test("exactValues: Σ_t (Q − V) telescopes to RM(W) − V(root) on every response", () => {
  for (const w of space.responses) {
    let sum = 0;
    w.tokens.forEach((a, t) => sum += actionValues[w.contexts[t] * V + a] - values[w.contexts[t]]);
    assertAlmostEquals(sum, responseReward(space, rewards, w) - values[w.contexts[0]], 1e-12);
  }
});

Deno.test("exactValues: V(root) is the enumerated mean reward and V(s) the conditional mean", () => {
  const p = responseProbabilities(space, probs);
  const byPrompt = [0, 0];
  space.responses.forEach((w, i) =>
    byPrompt[w.promptIndex] += p[i] * responseReward(space, rewards, w)
  );
  assertAlmostEquals(values[space.roots[0]], byPrompt[0], 1e-12);
  assertAlmostEquals(values[space.roots[1]], byPrompt[1], 1e-12);
  assertAlmostEquals(objective, (byPrompt[0] + byPrompt[1]) / 2, 1e-12);
  // A depth-3 context: V = Σ over its 4 completions of π(a|s)·RM(prefix ⊕ a).
  const s = space.contexts.findIndex((c) => c.promptIndex === 0 && c.prefix.join() === "2,0,1");
  let v = 0;
  for (const w of space.responses) {
    if (w.promptIndex === 0 && w.tokens.slice(0, 3).join() === "2,0,1") {
      v += probs[s * V + w.tokens[3]] * responseReward(space, rewards, w);
    }
  }
  assertAlmostEquals(values[s], v, 1e-12);
});
