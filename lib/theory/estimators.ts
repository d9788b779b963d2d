/**
 * The policy-gradient estimators whose bias the theory lab measures. Each is a score-function
 * estimator `ĝ = (1/(P·G)) Σ_prompts Σ_i Σ_t c_{i,t} ∇log π(w_{i,t} | W_i[0..t−1])` over a fresh
 * batch of `G` sampled responses per prompt, returned as its coefficient table `C` (`S × V`:
 * the weight of each `∇log π(a | s)`), so the same estimate serves any differentiable policy
 * (see `score_jacobian.ts`). The group and prefix-value estimators call the advantage primitives
 * of `lib/advantage/`, so these checks exercise the code the algorithms use.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { baselineAdvantages } from "../advantage/baseline.ts";
import { groupRelativeAdvantages, type GroupScale } from "../advantage/group_relative.ts";
import { interpolatePrefixValues } from "../advantage/interpolate_prefix_values.ts";
import { leaveOneOutAdvantages } from "../advantage/leave_one_out.ts";
import { prefixValueAdvantages } from "../advantage/prefix_value.ts";
import type { Random } from "../random.ts";
import { checkInteger, checkNumber } from "../validate.ts";
import type { ResponseSpace } from "./enumerate_responses.ts";
import {
  greedyResponse,
  type ResponsePath,
  sampleCompletion,
  type TokenMeter,
} from "./exact_sampling.ts";
import type { ExactValues } from "./exact_values.ts";
import { responseReward, rewardToGo, type TokenRewards } from "./token_rewards.ts";

/** Everything an estimator may use: the exact distribution, the rewards and the exact values. */
export interface EstimationProblem {
  /** The enumerated space. */
  readonly space: ResponseSpace;
  /** `S × V` next-token probabilities of the policy (the sampling distribution). */
  readonly probs: Float64Array;
  /** The hidden token rewards that define `RM`. */
  readonly rewards: TokenRewards;
  /** Exact `Q` and `V` (used only by the "exact Eq. 28" estimator). */
  readonly values: ExactValues;
  /** Responses sampled per prompt for one estimate, `G`. */
  readonly groupSize: number;
}

/** A prediction about an estimator's mean: `E[ĝ] = ∇J` or not. */
export type Expectation = "unbiased" | "biased";

/** A gradient estimator under test. */
export interface GradientEstimator {
  /** Short identifier, e.g. `"zra-gamma-1"`. */
  readonly name: string;
  /** Human-readable label. */
  readonly label: string;
  /** Only what the paper states about this estimator. */
  readonly expected: Expectation | "unbiased up to a per-prompt rescale";
  /** Where the paper states it. */
  readonly claim: string;
  /** The lab's own prediction for this implementation (what its verdict should be). */
  readonly expectedHere: Expectation;
  /** The lab's prediction for the direction test, when it makes one. */
  readonly expectedDirection?: "unbiased up to scale" | "biased in direction";
  /** Why `expectedHere` (and `expectedDirection`) follow from the theory. */
  readonly reason: string;
  /** Present on a recipe run as shipped: its name and the full config it used. */
  readonly asShipped?: { readonly algorithm: string; readonly config: Record<string, unknown> };
  /**
   * One estimate from a fresh batch of sampled responses.
   *
   * @param meter Counts what the estimate generates (responses, continuations, greedy decodes)
   *   and what a critic scores, when given.
   * @returns `S·V` coefficients `C`, with `ĝ = Σ_{s,a} C[s,a] ∇log π(a | s)`.
   */
  estimate(
    problem: EstimationProblem,
    rng: Random,
    meter?: TokenMeter,
  ): Float64Array | Promise<Float64Array>;
  /**
   * `E[C]` in closed form by enumeration, when the estimator is a fixed function of each single
   * response (absent for estimators that couple the responses of a group or use extra rollouts).
   */
  expectedCoefficients?(problem: EstimationProblem): Float64Array;
}

/** Token weights of one response as a function of that response alone. */
type ResponseWeights = (problem: EstimationProblem, path: ResponsePath, reward: number) => number[];

/** Draw `G` responses from each prompt's root; prompt-major. */
function sampleBatch(
  problem: EstimationProblem,
  rng: Random,
  meter?: TokenMeter,
): ResponsePath[] {
  const paths: ResponsePath[] = [];
  for (const root of problem.space.roots) {
    for (let i = 0; i < problem.groupSize; i++) {
      paths.push(sampleCompletion(problem.space, problem.probs, root, rng, meter));
    }
  }
  return paths;
}

/** `C = (1/(P·G)) Σ_i Σ_t c_{i,t} e_{(s_{i,t}, w_{i,t})}`. */
function accumulate(
  problem: EstimationProblem,
  paths: readonly ResponsePath[],
  weights: readonly (readonly number[])[],
): Float64Array {
  const V = problem.space.vocabSize;
  const C = new Float64Array(problem.space.contexts.length * V);
  const norm = 1 / paths.length;
  paths.forEach((path, i) => {
    for (let t = 0; t < path.tokens.length; t++) {
      C[path.contexts[t] * V + path.tokens[t]] += norm * weights[i][t];
    }
  });
  return C;
}

/** An estimator whose token weights depend on one response only (closed-form mean available). */
function perResponseEstimator(
  base: Omit<GradientEstimator, "estimate" | "expectedCoefficients">,
  weights: ResponseWeights,
): GradientEstimator {
  return {
    ...base,
    estimate(problem, rng, meter) {
      const paths = sampleBatch(problem, rng, meter);
      const w = paths.map((p) =>
        weights(problem, p, responseReward(problem.space, problem.rewards, p))
      );
      return accumulate(problem, paths, w);
    },
    expectedCoefficients: (problem) => responseMean(problem, weights),
  };
}

/** `E[C] = (1/P) Σ_W π(W) Σ_t c_t(W) e_{(s_t, w_t)}` by enumeration, for per-response weights. */
function responseMean(problem: EstimationProblem, weights: ResponseWeights): Float64Array {
  const { space, probs, rewards } = problem;
  const V = space.vocabSize;
  const C = new Float64Array(space.contexts.length * V);
  const P = space.prompts.length;
  for (const w of space.responses) {
    let p = 1;
    for (let t = 0; t < w.tokens.length; t++) p *= probs[w.contexts[t] * V + w.tokens[t]];
    const path = { tokens: [...w.tokens], contexts: [...w.contexts] };
    const c = weights(problem, path, responseReward(space, rewards, path));
    for (let t = 0; t < w.tokens.length; t++) {
      C[w.contexts[t] * V + w.tokens[t]] += (p / P) * c[t];
    }
  }
  return C;
}

/**
 * REINFORCE on the true token rewards: `c_t = γ^(t−1) G_t`, `G_t = Σ_{k≥t} γ^(k−t) r_k`
 * (the Monte-Carlo form of Lemma 1; needs the hidden token rewards, which RL from response-level
 * rewards does not have — the reference point).
 *
 * @see He et al., arXiv 2506.02553, Lemma 1.
 * @returns The estimator (expected: unbiased).
 *
 * @example
 * ```ts
 * import { rewardToGoEstimator } from "./estimators.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(rewardToGoEstimator().expected, "unbiased");
 * ```
 */
export function rewardToGoEstimator(): GradientEstimator {
  return perResponseEstimator({
    name: "reinforce-reward-to-go",
    label: "REINFORCE, token-level reward-to-go",
    expected: "unbiased",
    claim: "Lemma 1 (policy gradient theorem on the token rewards)",
    expectedHere: "unbiased",
    expectedDirection: "unbiased up to scale",
    reason: "the policy gradient theorem itself",
  }, (problem, path) => {
    const g = rewardToGo(problem.space, problem.rewards, path);
    return g.map((x, t) => problem.rewards.gamma ** t * x);
  });
}

/**
 * REINFORCE under the Zero-Reward Assumption: `RM(W)` is placed on the last token and returns are
 * discounted with `γ`, so token `t` of a `T`-token response is weighted `c_t = γ^(T−t)·RM(W)`.
 * With `γ = 1` every token gets `RM(W)`: the GRPO/ReMax/RLOO estimator without baseline, unbiased
 * for `∇J` by Theorem 1. With `γ < 1` the weights are `γ^(T−1)·(1/γ)^(t−1)·RM(W)`: biased (Eq. 26).
 *
 * @see He et al., arXiv 2506.02553, Theorem 1 (Eq. 21) and Eq. 26.
 * @param gamma The discount used under the ZRA, in (0, 1].
 * @returns The estimator (expected: unbiased for γ = 1, biased for γ < 1).
 * @throws {RangeError} When `gamma` is outside (0, 1].
 *
 * @example
 * ```ts
 * import { zeroRewardEstimator } from "./estimators.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(zeroRewardEstimator(0.9).expected, "biased");
 * ```
 */
export function zeroRewardEstimator(gamma: number): GradientEstimator {
  checkNumber("Cannot create the zero-reward estimator", "gamma", gamma, {
    min: 0,
    max: 1,
    exclusiveMin: true,
  });
  return perResponseEstimator({
    name: `zra-gamma-${gamma}`,
    label: `REINFORCE under the ZRA, γ = ${gamma}`,
    expected: gamma === 1 ? "unbiased" : "biased",
    claim: gamma === 1 ? "Theorem 1 (Eq. 21)" : "Eq. 26 (token t weighted by (1/γ)^(t−1))",
    expectedHere: gamma === 1 ? "unbiased" : "biased",
    expectedDirection: gamma === 1 ? "unbiased up to scale" : "biased in direction",
    reason: gamma === 1
      ? "RM(W) on every token is Theorem 1's estimator"
      : "tokens far from the end are down-weighted by γ^(T−t), which depends on the token",
  }, (_problem, path, reward) => {
    const T = path.tokens.length;
    return path.tokens.map((_, j) => gamma ** (T - 1 - j) * reward);
  });
}

/** Response-level advantages of a batch → the same weight on every token of the response. */
function broadcast(paths: readonly ResponsePath[], advantages: ArrayLike<number>): number[][] {
  return paths.map((p, i) => p.tokens.map(() => advantages[i]));
}

/** Run `f` in a tidy scope and read its result with `await data()` (works on every backend). */
async function readTidy(f: () => tf.Tensor): Promise<Float32Array> {
  const t = tf.tidy(f);
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

/** The batch's response rewards as a float32 tensor `[P·G]` (caller disposes). */
function rewardTensor(problem: EstimationProblem, paths: readonly ResponsePath[]): tf.Tensor1D {
  return tf.tensor1d(paths.map((p) => responseReward(problem.space, problem.rewards, p)));
}

/**
 * RLOO: every token of response `i` weighted by `RM_i − mean of the other G − 1 rewards` of its
 * group (`leaveOneOutAdvantages`). The baseline is independent of response `i`: unbiased (Lemma 2).
 *
 * @see He et al., arXiv 2506.02553, Lemma 2 and §5.
 * @returns The estimator (expected: unbiased); requires `groupSize ≥ 2`.
 *
 * @example
 * ```ts
 * import { leaveOneOutEstimator } from "./estimators.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(leaveOneOutEstimator().name, "rloo");
 * ```
 */
export function leaveOneOutEstimator(): GradientEstimator {
  return {
    name: "rloo",
    label: "RLOO (leave-one-out baseline)",
    expected: "unbiased",
    claim: "Theorem 1 + Lemma 2",
    expectedHere: "unbiased",
    expectedDirection: "unbiased up to scale",
    reason: "the leave-one-out baseline does not depend on the response",
    // The other G − 1 responses are independent of response i: E[C] is Theorem 1's Σ_W π(W)·RM(W).
    expectedCoefficients: (problem) => zeroRewardEstimator(1).expectedCoefficients!(problem),
    async estimate(problem, rng, meter) {
      const paths = sampleBatch(problem, rng, meter);
      const advantages = await readTidy(() =>
        leaveOneOutAdvantages(rewardTensor(problem, paths), { groupSize: problem.groupSize })
      );
      return accumulate(problem, paths, broadcast(paths, advantages));
    },
  };
}

/**
 * GRPO-style group-relative weights (`groupRelativeAdvantages`): `RM_i − mean_g` (Dr. GRPO,
 * `scale: "none"`) or `(RM_i − mean_g)/(std_g + ε)` (GRPO, `scale: "group"`, ddof 1, ε = 1e-6).
 *
 * Note that `mean_g` includes response `i` itself, so `E[(RM_i − mean_g)∇log π_i] = ((G−1)/G)·∇J`:
 * Dr. GRPO is unbiased only up to the constant factor `(G − 1)/G` (a step-size change). The std
 * division is a sample-dependent per-prompt rescale: biased as an estimator of `∇J`.
 *
 * @see He et al., arXiv 2506.02553, Theorem 1, Lemma 2 and §5 (GRPO).
 * @param scale `"none"` (Dr. GRPO) or `"group"` (GRPO).
 * @returns The estimator (paper: Dr. GRPO unbiased; GRPO's std division a per-prompt rescale).
 *
 * @example
 * ```ts
 * import { groupRelativeEstimator } from "./estimators.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(groupRelativeEstimator("group").name, "grpo");
 * ```
 */
export function groupRelativeEstimator(
  scale: Extract<GroupScale, "group" | "none">,
): GradientEstimator {
  return {
    name: scale === "group" ? "grpo" : "dr-grpo",
    label: scale === "group" ? "GRPO (group mean, std scaling)" : "Dr. GRPO (group mean, no std)",
    expected: scale === "group" ? "unbiased up to a per-prompt rescale" : "unbiased",
    claim: scale === "group"
      ? "Theorem 1 + Lemma 2; §5 calls the std division a per-prompt rescale"
      : "Theorem 1 + Lemma 2 (group mean as prompt-level baseline)",
    expectedHere: "biased",
    expectedDirection: scale === "group" ? "biased in direction" : "unbiased up to scale",
    reason: scale === "group"
      ? "the sampled group std rescales each prompt by a random factor correlated with its rewards"
      : "the group mean includes the response itself: E[ĝ] = ((G − 1)/G)·∇J, a constant factor",
    // Dr. GRPO: RM_i − mean_g = ((G−1)/G)(RM_i − mean of the others), so E[C] = ((G−1)/G)·E[C_RLOO].
    // GRPO's data-dependent std has no closed form here.
    ...(scale === "none"
      ? {
        expectedCoefficients: (problem: EstimationProblem) =>
          zeroRewardEstimator(1).expectedCoefficients!(problem).map((c) =>
            c * (problem.groupSize - 1) / problem.groupSize
          ),
      }
      : {}),
    async estimate(problem, rng, meter) {
      const paths = sampleBatch(problem, rng, meter);
      const advantages = await readTidy(() =>
        groupRelativeAdvantages(rewardTensor(problem, paths), {
          groupSize: problem.groupSize,
          scale,
        })
      );
      return accumulate(problem, paths, broadcast(paths, advantages));
    },
  };
}

/**
 * ReMax: every token weighted by `RM_i − RM(greedy response of the prompt)`
 * (`baselineAdvantages`). The greedy response is a deterministic function of the policy, not of
 * the samples, so the baseline is prompt-level: unbiased (Lemma 2).
 *
 * @see He et al., arXiv 2506.02553, Lemma 2 and §5 (ReMax).
 * @returns The estimator (expected: unbiased).
 *
 * @example
 * ```ts
 * import { greedyBaselineEstimator } from "./estimators.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(greedyBaselineEstimator().name, "remax");
 * ```
 */
export function greedyBaselineEstimator(): GradientEstimator {
  const greedyRewards = (problem: EstimationProblem, meter?: TokenMeter): number[] =>
    problem.space.prompts.map((_, p) =>
      responseReward(
        problem.space,
        problem.rewards,
        greedyResponse(problem.space, problem.probs, p, meter),
      )
    );
  const closedForm = perResponseEstimator({
    name: "remax",
    label: "ReMax (greedy-response baseline)",
    expected: "unbiased",
    claim: "Theorem 1 + Lemma 2 (deterministic prompt-level baseline)",
    expectedHere: "unbiased",
    expectedDirection: "unbiased up to scale",
    reason: "the greedy response depends on the prompt only",
  }, (problem, path, reward) => {
    const b = greedyRewards(problem)[problem.space.contexts[path.contexts[0]].promptIndex];
    return path.tokens.map(() => reward - b);
  });
  return {
    ...closedForm,
    async estimate(problem, rng, meter) {
      const paths = sampleBatch(problem, rng, meter);
      const b = greedyRewards(problem, meter);
      const baselines = paths.map((p) => b[problem.space.contexts[p.contexts[0]].promptIndex]);
      const advantages = await readTidy(() =>
        baselineAdvantages(rewardTensor(problem, paths), tf.tensor1d(baselines))
      );
      return accumulate(problem, paths, broadcast(paths, advantages));
    },
  };
}

/**
 * Theorem 2 with the exact values: `c_t = Q(W[0..t−1], w_t) − V(W[0..t−1])`, where
 * `Q = E_{W^(t+1)}[RM]` and `V = E_{W^(t)}[RM]` are computed by enumeration (PPO's advantage with a
 * perfect critic under the ZRA, γ = 1).
 *
 * @see He et al., arXiv 2506.02553, Theorem 2 (Eq. 28).
 * @returns The estimator (expected: unbiased).
 *
 * @example
 * ```ts
 * import { exactAdvantageEstimator } from "./estimators.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(exactAdvantageEstimator().name, "eq28-exact");
 * ```
 */
export function exactAdvantageEstimator(): GradientEstimator {
  return perResponseEstimator({
    name: "eq28-exact",
    label: "Eq. 28 with exact Q − V",
    expected: "unbiased",
    claim: "Theorem 2 (Eq. 28)",
    expectedHere: "unbiased",
    expectedDirection: "unbiased up to scale",
    reason: "Theorem 2 with the exact values",
  }, (problem, path) => {
    const V = problem.space.vocabSize;
    const { values, actionValues } = problem.values;
    return path.tokens.map((a, t) => {
      const s = path.contexts[t];
      return actionValues[s * V + a] - values[s];
    });
  });
}

/** Options of {@linkcode prefixValueEstimator}. */
export interface PrefixValueEstimatorOptions {
  /** Continuations `K` per evaluated prefix (≥ 1). */
  continuations: number;
  /**
   * Interior positions `m` evaluated per response, chosen uniformly without replacement from
   * `1..T−1`; the others are interpolated linearly between evaluated values. Default: all
   * (no interpolation).
   */
  positions?: number;
}

/**
 * TRePO: Monte-Carlo prefix values from the policy's own rollouts,
 * `V̂(p) = (1/K) Σ_k RM(p ⊕ y_k)`, `y_k ~ π(· | p)`, at the prompt (position 0) and at interior
 * positions; `V̂(W[0..T]) = RM(W)`. Values at positions not evaluated are interpolated linearly
 * (`interpolatePrefixValues`), and token `t` gets `A_t = V̂(W[0..t]) − V̂(W[0..t−1])`
 * (`prefixValueAdvantages`), so `Σ_t A_t = RM(W) − V̂(w0)` exactly.
 *
 * With every position evaluated, each `V̂` is computed from rollouts independent of the token it
 * scores, so `E[V̂(W[0..t]) | W[0..t]] = Q` and `E[V̂(W[0..t−1])·∇log π(w_t)] = 0`: unbiased (Eq. 28).
 * With `m` random positions, a stretch of s tokens between two evaluated positions has its value
 * change spread evenly: each of its tokens gets 1/s of its own credit `Q − V` and 1/s of its
 * neighbours'. That holds at a fixed response length too, so the interpolated estimator is biased
 * in direction; this reading of the paper is not covered by its argument and is measured here.
 *
 * @see He et al., arXiv 2506.02553, Theorem 2 and §6 (TRePO).
 * @param options `K` and the number of evaluated interior positions.
 * @returns The estimator (paper: unbiased).
 * @throws {TypeError} When `continuations` or `positions` is not an integer.
 * @throws {RangeError} When `continuations < 1` or `positions < 0`.
 *
 * @example
 * ```ts
 * import { prefixValueEstimator } from "./estimators.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(prefixValueEstimator({ continuations: 4 }).name, "trepo-k4");
 * assertEquals(prefixValueEstimator({ continuations: 4, positions: 1 }).name, "trepo-k4-m1");
 * ```
 */
export function prefixValueEstimator(options: PrefixValueEstimatorOptions): GradientEstimator {
  const context = "Cannot create the prefix-value estimator";
  const { continuations: K, positions: m } = options ?? {};
  checkInteger(context, "continuations", K, 1);
  if (m !== undefined) checkInteger(context, "positions", m, 0);
  // E[V̂(p) | p] = V(p) and the rollouts are independent of the scored tokens, while the estimator
  // is linear in the V̂: its mean replaces V̂ by the exact V and averages over the position draws.
  const meanWeights: ResponseWeights = (problem, path, reward) => {
    const L = path.tokens.length;
    const interior = Array.from({ length: L - 1 }, (_, j) => j + 1);
    const subsets = m === undefined || m >= interior.length
      ? [interior]
      : combinations(interior, m);
    const weights = new Array<number>(L).fill(0);
    for (const subset of subsets) {
      const positions = [0, ...subset, L];
      const values = positions.map((pos) =>
        pos === L ? reward : problem.values.values[path.contexts[pos]]
      );
      const full = interpolatePrefixValues(positions, values, L);
      for (let t = 0; t < L; t++) weights[t] += (full[t + 1] - full[t]) / subsets.length;
    }
    return weights;
  };
  return {
    expectedCoefficients: (problem) => responseMean(problem, meanWeights),
    name: `trepo-k${K}${m === undefined ? "" : `-m${m}`}`,
    label: `TRePO, K = ${K}, ${m === undefined ? "all positions" : `m = ${m} + interpolation`}`,
    expected: "unbiased",
    claim: m === undefined
      ? "Theorem 2 (Eq. 28) with Monte-Carlo values from independent rollouts"
      : "Eq. 28 (the paper does not say how unevaluated positions are filled)",
    expectedHere: m === undefined ? "unbiased" : "biased",
    expectedDirection: m === undefined ? "unbiased up to scale" : "biased in direction",
    reason: m === undefined
      ? "every prefix value comes from rollouts independent of the token it scores"
      : "each token of an interpolated stretch of s tokens gets 1/s of its own credit",
    async estimate(problem, rng, meter) {
      const { space, probs, rewards } = problem;
      const paths = sampleBatch(problem, rng, meter);
      const T = space.maxTokens;
      const prefixValues = new Float32Array(paths.length * (T + 1));
      const mask = new Float32Array(paths.length * T);
      const rolloutValue = (s: number): number => {
        let total = 0;
        for (let k = 0; k < K; k++) {
          total += rewards.prefixRewards[s] +
            responseReward(space, rewards, sampleCompletion(space, probs, s, rng, meter));
        }
        return total / K;
      };
      paths.forEach((path, i) => {
        const L = path.tokens.length;
        let interior = Array.from({ length: L - 1 }, (_, j) => j + 1);
        if (m !== undefined && m < interior.length) {
          interior = rng.shuffle(interior).slice(0, m).sort((a, b) => a - b);
        }
        const positions = [0, ...interior, L];
        const values = positions.map((pos) =>
          pos === L ? responseReward(space, rewards, path) : rolloutValue(path.contexts[pos])
        );
        const full = interpolatePrefixValues(positions, values, L);
        for (let t = 0; t <= T; t++) prefixValues[i * (T + 1) + t] = full[Math.min(t, L)];
        for (let t = 0; t < L; t++) mask[i * T + t] = 1;
      });
      const advantages = await readTidy(() =>
        prefixValueAdvantages(
          tf.tensor2d(prefixValues, [paths.length, T + 1]),
          tf.tensor2d(mask, [paths.length, T]),
        )
      );
      return accumulate(
        problem,
        paths,
        paths.map((p, i) => p.tokens.map((_, t) => advantages[i * T + t])),
      );
    },
  };
}

/** All `k`-element subsets of `items`, in lexicographic order. */
function combinations(items: readonly number[], k: number): number[][] {
  if (k === 0) return [[]];
  const out: number[][] = [];
  items.forEach((x, i) => {
    for (const rest of combinations(items.slice(i + 1), k - 1)) out.push([x, ...rest]);
  });
  return out;
}

/**
 * The estimators of the theorem check, in report order: REINFORCE on token rewards, the ZRA with
 * γ = 1 and γ = 0.9, RLOO, GRPO, Dr. GRPO, ReMax, exact Eq. 28, TRePO with K ∈ {1, 4, 16} (all
 * positions) and TRePO with K = 4 at one random position plus interpolation.
 *
 * @param options `zraGamma` for the discounted ZRA estimator (default 0.9).
 * @returns The estimators.
 *
 * @example
 * ```ts
 * import { theoremEstimators } from "./estimators.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(theoremEstimators().length, 12);
 * ```
 */
export function theoremEstimators(options: { zraGamma?: number } = {}): GradientEstimator[] {
  const { zraGamma = 0.9 } = options;
  return [
    rewardToGoEstimator(),
    zeroRewardEstimator(1),
    zeroRewardEstimator(zraGamma),
    leaveOneOutEstimator(),
    groupRelativeEstimator("group"),
    groupRelativeEstimator("none"),
    greedyBaselineEstimator(),
    exactAdvantageEstimator(),
    prefixValueEstimator({ continuations: 1 }),
    prefixValueEstimator({ continuations: 4 }),
    prefixValueEstimator({ continuations: 16 }),
    prefixValueEstimator({ continuations: 4, positions: 1 }),
  ];
}
