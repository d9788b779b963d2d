/**
 * The cost-aware frontier's quantities against hand-worked numbers: the moments of four synthetic
 * estimates, a one-token binary problem whose variance per token is worked out in closed form, and
 * the tokens an estimate generates counted by hand on a deterministic policy.
 */
import { assert, assertAlmostEquals, assertEquals, assertLess, assertThrows } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { defaultPpoConfig } from "../../lib/algorithms/ppo.ts";
import { defaultReinforceConfig } from "../../lib/algorithms/reinforce.ts";
import { defaultRemaxConfig } from "../../lib/algorithms/remax.ts";
import { defaultTrepoConfig } from "../../lib/algorithms/trepo.ts";
import { asShippedEstimators, trepoFrontierEstimators } from "../../lib/theory/as_shipped.ts";
import { estimateCost, relativeMseAtBudget } from "../../lib/theory/cost_frontier.ts";
import { enumerateResponses } from "../../lib/theory/enumerate_responses.ts";
import type { EstimationProblem } from "../../lib/theory/estimators.ts";
import { tokenMeter } from "../../lib/theory/exact_sampling.ts";
import { exactValues } from "../../lib/theory/exact_values.ts";
import { createTabularPolicy } from "../../lib/theory/tabular_policy.ts";
import { runTheoremCheck } from "../../lib/theory/theorem_check.ts";
import { tokenProbabilities } from "../../lib/theory/token_probabilities.ts";
import { drawTokenRewards } from "../../lib/theory/token_rewards.ts";

await initBackend({ backend: "cpu" });

const identity2 = {
  rows: 2,
  columns: 2,
  data: Float64Array.from([1, 0, 0, 1]),
  gram: Float64Array.from([1, 0, 0, 1]),
};

Deno.test("estimateCost: four estimates, every moment worked out by hand", () => {
  // ĝ ∈ {(1,0), (3,0), (1,2), (3,2)}, ∇J = (1,1): ḡ = (2,1), ‖∇J‖² = 2, ‖ĝ_i − ḡ‖² = 2 each.
  const draws = [[1, 0], [3, 0], [1, 2], [3, 2]].map((x) => Float64Array.from(x));
  const cost = estimateCost(
    draws,
    [2, 4, 2, 4],
    [0, 1, 0, 1],
    identity2,
    Float64Array.from([1, 1]),
  );
  // tr Σ = 4·2/3 = 8/3; relative 4/3; every deviation equal, so its SE is 0.
  assertAlmostEquals(cost.relativeVariance, 4 / 3, 1e-12);
  assertAlmostEquals(cost.relativeVarianceSE, 0, 1e-12);
  // (‖ḡ − ∇J‖² − tr Σ/n)/‖∇J‖² = (1 − 2/3)/2.
  assertAlmostEquals(cost.relativeBiasSquared, 1 / 6, 1e-12);
  // ⟨ĝ_i, ḡ − ∇J⟩ = 1, 3, 1, 3 (variance 4/3): √(4·(4/3)/4 + 2·(8/3)²/16)/2 = √20/6.
  assertAlmostEquals(cost.relativeBiasSquaredSE, Math.sqrt(20) / 6, 1e-12);
  assertAlmostEquals(cost.tokensPerEstimate, 3, 1e-12);
  assertAlmostEquals(cost.tokensPerEstimateSE, Math.sqrt(4 / 3) / 2, 1e-12);
  assertAlmostEquals(cost.criticTokensPerEstimate, 0.5, 1e-12);
  assertAlmostEquals(cost.varianceTokens, 4, 1e-12);
  // Influence 4/3·(t_i − 3) = ∓4/3: variance 64/27, SE √(16/27).
  assertAlmostEquals(cost.varianceTokensSE, Math.sqrt(16 / 27), 1e-12);
  // c = ⟨ḡ, ∇J⟩/‖∇J‖² = 3/2; ‖ḡ − c∇J‖² = 1/2; ⟨ĝ_i, ∇J⟩ = 1, 3, 3, 5 (variance 8/3), so the
  // noise off ∇J is (8/3 − 4/3)/4 = 1/3: ((1/2 − 1/3)/2)/(9/4) = 1/27.
  assertAlmostEquals(cost.scale, 1.5, 1e-12);
  assertAlmostEquals(cost.rescaledBiasSquared!, 1 / 27, 1e-12);
  assertAlmostEquals(cost.rescaledVarianceTokens!, 16 / 9, 1e-12);
  // MSE at B = 100 tokens: 1/6 + 4/100.
  assertAlmostEquals(relativeMseAtBudget(cost, 100)!.relativeMse, 1 / 6 + 0.04, 1e-12);
  assertEquals(relativeMseAtBudget(cost, 2)!.affordable, false);
});

Deno.test("estimateCost and relativeMseAtBudget reject bad input before any work", () => {
  const draws = [Float64Array.from([1, 0]), Float64Array.from([0, 1])];
  assertThrows(
    () => estimateCost(draws, [1], [0, 0], identity2, Float64Array.from([1, 1])),
    RangeError,
    "one token count per estimate",
  );
  assertThrows(
    () => estimateCost(draws, [1, 1], [0, 0], identity2, Float64Array.from([0, 0])),
    RangeError,
    "the exact gradient is zero",
  );
  const cost = estimateCost(draws, [1, 1], [0, 0], identity2, Float64Array.from([1, 1]));
  assertThrows(() => relativeMseAtBudget(cost, 0), RangeError, "positive number of tokens");
});

Deno.test("one binary token: REINFORCE as shipped has the hand-worked variance per token", async () => {
  // Responses [0] or [1] (1 token, EOS = 1), π(0) = p. Per response X = s·(1, −1) in logit space,
  // s = r0·(1 − p) w.p. p and −r1·p w.p. 1 − p: ‖∇J‖² = 2E[s]², tr Cov(ĝ) = 2Var(s)/B, and B
  // responses cost B tokens, so varianceTokens = Var(s)/E[s]² whatever B.
  const space = enumerateResponses({ vocabSize: 2, eosToken: 1, maxTokens: 1, prompts: [[0]] });
  const rewards = drawTokenRewards(space, { seed: 5 });
  const policy = createTabularPolicy({ vocabSize: 2, contexts: space.contexts, seed: 3 });
  try {
    const probs = await tokenProbabilities(policy, space);
    const p = probs[0];
    const [r0, r1] = [rewards.values[0], rewards.values[1]];
    const mean = p * (1 - p) * (r0 - r1);
    const second = p * (r0 * (1 - p)) ** 2 + (1 - p) * (r1 * p) ** 2;
    const varianceTokens = (second - mean * mean) / (mean * mean);
    const B = defaultReinforceConfig.promptsPerStep * defaultReinforceConfig.groupSize;
    const reinforce = asShippedEstimators(1).find((e) => e.name === "reinforce-as-shipped")!;
    const result = await runTheoremCheck({
      policy,
      space,
      rewards,
      estimators: [reinforce],
      estimates: 4000,
      groupSize: 4,
      seed: 9,
    });
    const row = result.estimators[0];
    assertEquals(row.tokensPerEstimate, B);
    assertEquals(row.tokensPerEstimateSE, 0);
    assertEquals(row.criticTokensPerEstimate, 0);
    assertLess(row.varianceTokensSE, 0.1 * varianceTokens); // the check below has teeth
    assertLess(Math.abs(row.varianceTokens - varianceTokens), 4 * row.varianceTokensSE);
    assertLess(Math.abs(row.relativeVariance - varianceTokens / B), 4 * row.relativeVarianceSE);
    assertLess(Math.abs(row.relativeBiasSquared), 4 * row.relativeBiasSquaredSE); // unbiased
  } finally {
    policy.dispose();
  }
});

Deno.test("tokens per estimate: a hand count on a policy that always writes [0, 0, 0]", async () => {
  const space = enumerateResponses({ vocabSize: 2, eosToken: 1, maxTokens: 3, prompts: [[0]] });
  const probs = new Float64Array(space.contexts.length * 2);
  for (let s = 0; s < space.contexts.length; s++) probs[2 * s] = 1; // token 0, never EOS
  const rewards = drawTokenRewards(space, { seed: 1 });
  const problem: EstimationProblem = {
    space,
    probs,
    rewards,
    values: exactValues(space, probs, rewards),
    groupSize: 4,
  };
  const count = async (name: string) => {
    const estimator = [...asShippedEstimators(3), ...trepoFrontierEstimators(3)]
      .find((e) => e.name === name);
    assert(estimator, name);
    const meter = tokenMeter();
    await estimator.estimate(problem, new Random(2), meter);
    return meter;
  };
  const rows = (c: { promptsPerStep: number; groupSize: number }) => c.promptsPerStep * c.groupSize;
  // Every response is 3 tokens.
  assertEquals(await count("reinforce-as-shipped"), {
    generated: 3 * rows(defaultReinforceConfig),
    criticScored: 0,
  });
  // ReMax adds one 3-token greedy decode per prompt of the batch.
  assertEquals(
    (await count("remax-as-shipped")).generated,
    3 * rows(defaultRemaxConfig) + 3 * defaultRemaxConfig.promptsPerStep,
  );
  // PPO's critic scores the 3 states of every response; it generates nothing else.
  assertEquals(await count("ppo-as-shipped"), {
    generated: 3 * rows(defaultPpoConfig),
    criticScored: 3 * rows(defaultPpoConfig),
  });
  // TRePO, K = 2, every position (1 and 2): continuations of 2 and 1 tokens, K of each, per row;
  // V̂(0) comes from the group's other responses (G = 4), so the prompt is not continued.
  assertEquals(defaultTrepoConfig.groupSize > 1, true);
  assertEquals(
    (await count("trepo-as-shipped-k2-every")).generated,
    3 * rows(defaultTrepoConfig) + rows(defaultTrepoConfig) * 2 * (2 + 1),
  );
  // m = 1: one interior position, a continuation of 2 or 1 tokens, K = 1.
  const m1 = (await count("trepo-as-shipped-k1-m1")).generated - 3 * rows(defaultTrepoConfig);
  assert(m1 >= rows(defaultTrepoConfig) && m1 <= 2 * rows(defaultTrepoConfig), `${m1}`);
});
