import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { enumerateResponses } from "../../lib/theory/enumerate_responses.ts";
import {
  type EstimationProblem,
  exactAdvantageEstimator,
  groupRelativeEstimator,
  leaveOneOutEstimator,
  prefixValueEstimator,
  rewardToGoEstimator,
  theoremEstimators,
  zeroRewardEstimator,
} from "../../lib/theory/estimators.ts";
import { exactGradient } from "../../lib/theory/exact_objective.ts";
import { exactValues } from "../../lib/theory/exact_values.ts";
import { projectCoefficients, scoreJacobian } from "../../lib/theory/score_jacobian.ts";
import { createTabularPolicy } from "../../lib/theory/tabular_policy.ts";
import { tokenProbabilities } from "../../lib/theory/token_probabilities.ts";
import { drawTokenRewards } from "../../lib/theory/token_rewards.ts";
import {
  assertAlmostEquals,
  assertEquals,
  assertGreater,
  assertLess,
  assertThrows,
} from "@std/assert";

await initBackend({ backend: "cpu" });

const space = enumerateResponses({ vocabSize: 4, eosToken: 3, maxTokens: 4, prompts: [[0], [1]] });
const policy = createTabularPolicy({ vocabSize: 4, contexts: space.contexts, seed: 7 });
const rewards = drawTokenRewards(space, { seed: 11, gamma: 0.9, scales: [1, 0.25] });
const probs = await tokenProbabilities(policy, space);
const problem: EstimationProblem = {
  space,
  probs,
  rewards,
  values: exactValues(space, probs, rewards),
  groupSize: 4,
};
const { gradient } = await exactGradient(policy, space, rewards);
const jacobian = await scoreJacobian(policy, space);
policy.dispose();

function relativeError(g: Float64Array): number {
  let d = 0, n = 0;
  for (let k = 0; k < g.length; k++) {
    d += (g[k] - gradient[k]) ** 2;
    n += gradient[k] ** 2;
  }
  return Math.sqrt(d / n);
}

Deno.test("Theorem 1: E[Σ_t RM(W) ∇log π] in closed form equals ∇J (γ = 0.9 in RM cancels)", () => {
  const g = projectCoefficients(jacobian, zeroRewardEstimator(1).expectedCoefficients!(problem));
  assertLess(relativeError(g), 1e-5);
  for (let k = 0; k < g.length; k++) assertAlmostEquals(g[k], gradient[k], 1e-5);
});

Deno.test("Eq. 26: the ZRA with γ = 0.9 is biased in closed form", () => {
  const g = projectCoefficients(jacobian, zeroRewardEstimator(0.9).expectedCoefficients!(problem));
  assertGreater(relativeError(g), 0.1);
});

Deno.test("Lemma 1 and Theorem 2 in closed form: reward-to-go and exact Q − V give ∇J", () => {
  for (
    const e of [
      rewardToGoEstimator(),
      exactAdvantageEstimator(),
      prefixValueEstimator({ continuations: 2 }),
    ]
  ) {
    const g = projectCoefficients(jacobian, e.expectedCoefficients!(problem));
    assertLess(relativeError(g), 1e-5, e.name);
  }
});

Deno.test("estimators' weights on a deterministic two-token response, worked out by hand", async () => {
  const tiny = enumerateResponses({ vocabSize: 2, eosToken: 1, maxTokens: 2, prompts: [[0]] });
  // contexts: 0 = root, 1 = after token 0; the policy always emits token 0: W = [0, 0].
  const p = Float64Array.from([1, 0, 1, 0]);
  const r = {
    gamma: 0.9,
    values: Float64Array.from([2, 0, 5, 0]),
    prefixRewards: Float64Array.from([0, 2]),
  };
  const tinyProblem: EstimationProblem = {
    space: tiny,
    probs: p,
    rewards: r,
    values: exactValues(tiny, p, r),
    groupSize: 2,
  };
  const rm = 2 + 0.9 * 5;
  const rng = new Random(1);
  // ZRA γ = 0.9: token 1 gets γ^(T−1)·RM, token 2 gets RM; averaged over G = 2 identical responses.
  assertEquals(Array.from(await zeroRewardEstimator(0.9).estimate(tinyProblem, rng)), [
    0.9 * rm,
    0,
    rm,
    0,
  ]);
  // Reward-to-go: token 1 gets G_1 = 2 + 0.9·5, token 2 gets γ·G_2 = 0.9·5.
  const rtg = await rewardToGoEstimator().estimate(tinyProblem, rng);
  assertAlmostEquals(rtg[0], rm, 1e-12);
  assertAlmostEquals(rtg[2], 0.9 * 5, 1e-12);
  // Equal rewards in a group: RLOO and Dr. GRPO give zero; TRePO's values are all RM: zero.
  for (
    const e of [
      leaveOneOutEstimator(),
      groupRelativeEstimator("none"),
      prefixValueEstimator({ continuations: 3 }),
    ]
  ) {
    assertEquals(
      Array.from(await e.estimate(tinyProblem, rng)).map(Math.abs),
      [0, 0, 0, 0],
      e.name,
    );
  }
});

Deno.test("theoremEstimators lists the 12 estimators with the paper's predictions", () => {
  const list = theoremEstimators();
  assertEquals(list.map((e) => e.name), [
    "reinforce-reward-to-go",
    "zra-gamma-1",
    "zra-gamma-0.9",
    "rloo",
    "grpo",
    "dr-grpo",
    "remax",
    "eq28-exact",
    "trepo-k1",
    "trepo-k4",
    "trepo-k16",
    "trepo-k4-m1",
  ]);
  // Only what the paper states: γ < 1 under the ZRA is biased (Eq. 26), GRPO's std is a rescale.
  assertEquals(list.filter((e) => e.expected === "biased").map((e) => e.name), ["zra-gamma-0.9"]);
  assertEquals(
    list.filter((e) => e.expected === "unbiased up to a per-prompt rescale").map((e) => e.name),
    ["grpo"],
  );
  // This lab's own predictions: Dr. GRPO's (G − 1)/G and interpolation are biased too.
  assertEquals(list.filter((e) => e.expectedHere === "biased").map((e) => e.name), [
    "zra-gamma-0.9",
    "grpo",
    "dr-grpo",
    "trepo-k4-m1",
  ]);
});

Deno.test("estimator factories reject bad options", () => {
  assertThrows(
    () => zeroRewardEstimator(0),
    RangeError,
    "Cannot create the zero-reward estimator: gamma must be greater than 0, got 0",
  );
  assertThrows(
    () => prefixValueEstimator({ continuations: 0 }),
    RangeError,
    "Cannot create the prefix-value estimator: continuations must be at least 1, got 0",
  );
  assertThrows(
    () => prefixValueEstimator({ continuations: 2, positions: -1 }),
    RangeError,
    "Cannot create the prefix-value estimator: positions must be at least 0, got -1",
  );
});
