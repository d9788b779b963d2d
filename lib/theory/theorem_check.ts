/**
 * The theorem check: every estimator, many independent sampled estimates, compared with the exact
 * gradient of an enumerated objective.
 *
 * @module
 */
import { Random } from "../random.ts";
import { checkInteger } from "../validate.ts";
import { biasTest, type BiasTestResult, summarizeEstimates } from "./bias_test.ts";
import { type EstimateCost, estimateCost } from "./cost_frontier.ts";
import type { ResponseSpace } from "./enumerate_responses.ts";
import type { EstimationProblem, GradientEstimator } from "./estimators.ts";
import { exactGradient } from "./exact_objective.ts";
import { tokenMeter } from "./exact_sampling.ts";
import { exactValues } from "./exact_values.ts";
import { projectCoefficients, scoreJacobian } from "./score_jacobian.ts";
import type { SequencePolicy } from "./sequence_policy.ts";
import { tokenProbabilities } from "./token_probabilities.ts";
import type { TokenRewards } from "./token_rewards.ts";

/** `‖x‖₂`. */
function euclidean(x: ArrayLike<number>): number {
  let total = 0;
  for (let k = 0; k < x.length; k++) total += x[k] * x[k];
  return Math.sqrt(total);
}

/** Options of {@linkcode runTheoremCheck}. */
export interface TheoremCheckOptions {
  /** The policy under test (tabular or transformer adapter). */
  policy: SequencePolicy;
  /** The enumerated space (its contexts must be valid for the policy). */
  space: ResponseSpace;
  /** Hidden token rewards defining `RM`. */
  rewards: TokenRewards;
  /** The estimators to test. */
  estimators: readonly GradientEstimator[];
  /** Independent estimates per estimator, `n ≥ 2`. */
  estimates: number;
  /** Responses sampled per prompt in each estimate, `G ≥ 2`. */
  groupSize: number;
  /** Seed of the sampling (each estimator gets its own stream split from it, in order). */
  seed: number;
  /** Bias threshold in standard errors (default 4). */
  threshold?: number;
  /** Called after each estimator. */
  onEstimator?: (report: EstimatorReport) => void;
}

/**
 * The measured behaviour of one estimator: the bias test, and what its estimates cost in
 * generated tokens (`estimateCost`: tokens per estimate, squared bias, variance, their product).
 */
export interface EstimatorReport extends BiasTestResult, EstimateCost {
  /** Short identifier. */
  name: string;
  /** Human-readable label. */
  label: string;
  /** Only what the paper states. */
  expected: GradientEstimator["expected"];
  /** Where the paper states it. */
  claim: string;
  /** The lab's own prediction of the verdict for this implementation. */
  expectedHere: GradientEstimator["expectedHere"];
  /** The lab's prediction of the direction verdict, when it makes one (null otherwise). */
  expectedDirection: GradientEstimator["expectedDirection"] | null;
  /** Why the lab predicts what it does. */
  reason: string;
  /** True for a recipe run as shipped. */
  asShipped: boolean;
  /** The recipe's name (as-shipped rows only). */
  algorithm?: string;
  /** The full config the recipe ran with (as-shipped rows only). */
  config?: Record<string, unknown>;
  /** `‖E[ĝ] − ∇J‖/‖∇J‖` with `E[ĝ]` in closed form by enumeration, or null when not available. */
  exactRelativeBias: number | null;
  /** `cos(E[ĝ], ∇J)` with `E[ĝ]` in closed form, or null when not available. */
  exactCosine: number | null;
  /** Wall time of the estimates, seconds. */
  seconds: number;
}

/** The outcome of {@linkcode runTheoremCheck}. */
export interface TheoremCheckResult {
  /** `J` by automatic differentiation of the enumerated sum. */
  objective: number;
  /** `J` by backward induction of the exact values (a consistency check). */
  objectiveFromValues: number;
  /** `‖∇J‖`. */
  gradientNorm: number;
  /** `‖∇J_autodiff − Σ_W π(W)·RM(W)·Σ_t ∇log π(w_t)‖/‖∇J‖` (the Jacobian path, Theorem 1's form). */
  scoreFunctionCheck: number;
  /** Number of parameters θ. */
  parameters: number;
  /** One report per estimator, in the given order. */
  estimators: EstimatorReport[];
}

/**
 * Run the theorem check: compute `J`, `∇J` (autodiff), the score Jacobian and exact values once;
 * then for each estimator draw `n` independent estimates (each from a fresh batch of `G`
 * responses per prompt sampled with `Random` from the exact distribution) and apply
 * {@linkcode biasTest}. Estimators with a closed-form mean also report the exact bias.
 *
 * @see He et al., arXiv 2506.02553, Theorems 1–2, Eq. 26.
 * @param options Policy, space, rewards, estimators and sampling settings.
 * @returns Exact quantities and one report per estimator.
 * @throws {RangeError} When `estimates < 2` or `groupSize < 2`.
 *
 * @example
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { enumerateResponses } from "./enumerate_responses.ts";
 * import { createTabularPolicy } from "./tabular_policy.ts";
 * import { drawTokenRewards } from "./token_rewards.ts";
 * import { zeroRewardEstimator } from "./estimators.ts";
 * import { runTheoremCheck } from "./theorem_check.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const space = enumerateResponses({ vocabSize: 3, eosToken: 2, maxTokens: 2, prompts: [[0]] });
 * const policy = createTabularPolicy({ vocabSize: 3, contexts: space.contexts, seed: 1 });
 * const rewards = drawTokenRewards(space, { seed: 2 });
 * const result = await runTheoremCheck({
 *   policy, space, rewards, estimators: [zeroRewardEstimator(1)], estimates: 200, groupSize: 4, seed: 3,
 * });
 * assertEquals(result.estimators[0].verdict, "unbiased");
 * policy.dispose();
 * ```
 */
export async function runTheoremCheck(options: TheoremCheckOptions): Promise<TheoremCheckResult> {
  const context = "Cannot run the theorem check";
  const { policy, space, rewards, estimators, estimates, groupSize, seed, threshold = 4 } = options;
  checkInteger(context, "estimates", estimates, 2);
  checkInteger(context, "groupSize", groupSize, 2);
  const probs = await tokenProbabilities(policy, space);
  const values = exactValues(space, probs, rewards);
  const exact = await exactGradient(policy, space, rewards);
  const jacobian = await scoreJacobian(policy, space);
  const norm = euclidean(exact.gradient);
  const problem: EstimationProblem = { space, probs, rewards, values, groupSize };
  const relativeDistance = (g: Float64Array): number => {
    let d = 0;
    for (let k = 0; k < g.length; k++) d += (g[k] - exact.gradient[k]) ** 2;
    return Math.sqrt(d) / norm;
  };
  const cosine = (g: Float64Array): number => {
    let dot = 0;
    for (let k = 0; k < g.length; k++) dot += g[k] * exact.gradient[k];
    return dot / (euclidean(g) * norm);
  };
  // Theorem 1's form with exact expectations: Σ_W π(W)·RM(W)·Σ_t ∇log π(w_t) / P.
  const theorem1 = new Float64Array(space.contexts.length * space.vocabSize);
  space.responses.forEach((w) => {
    let p = 1;
    for (let t = 0; t < w.tokens.length; t++) {
      p *= probs[w.contexts[t] * space.vocabSize + w.tokens[t]];
    }
    let rm = 0;
    for (let t = 0; t < w.tokens.length; t++) {
      rm += rewards.gamma ** t * rewards.values[w.contexts[t] * space.vocabSize + w.tokens[t]];
    }
    for (let t = 0; t < w.tokens.length; t++) {
      theorem1[w.contexts[t] * space.vocabSize + w.tokens[t]] += p * rm / space.prompts.length;
    }
  });
  const master = new Random(seed);
  const reports: EstimatorReport[] = [];
  for (const estimator of estimators) {
    const rng = master.split();
    const start = performance.now();
    const draws: Float64Array[] = [];
    const tokens: number[] = [];
    const criticTokens: number[] = [];
    for (let i = 0; i < estimates; i++) {
      const meter = tokenMeter();
      draws.push(await estimator.estimate(problem, rng, meter));
      tokens.push(meter.generated);
      criticTokens.push(meter.criticScored);
    }
    const summary = summarizeEstimates(draws, jacobian);
    const seconds = (performance.now() - start) / 1000;
    const expectedC = estimator.expectedCoefficients?.(problem);
    const expectedG = expectedC ? projectCoefficients(jacobian, expectedC) : undefined;
    const report: EstimatorReport = {
      name: estimator.name,
      label: estimator.label,
      expected: estimator.expected,
      claim: estimator.claim,
      expectedHere: estimator.expectedHere,
      expectedDirection: estimator.expectedDirection ?? null,
      reason: estimator.reason,
      asShipped: estimator.asShipped !== undefined,
      ...(estimator.asShipped === undefined
        ? {}
        : { algorithm: estimator.asShipped.algorithm, config: estimator.asShipped.config }),
      ...estimateCost(draws, tokens, criticTokens, jacobian, exact.gradient),
      ...biasTest(summary, exact.gradient, { threshold }),
      exactRelativeBias: expectedG ? relativeDistance(expectedG) : null,
      exactCosine: expectedG ? cosine(expectedG) : null,
      seconds,
    };
    reports.push(report);
    options.onEstimator?.(report);
  }
  return {
    objective: exact.value,
    objectiveFromValues: values.objective,
    gradientNorm: norm,
    scoreFunctionCheck: relativeDistance(projectCoefficients(jacobian, theorem1)),
    parameters: policy.parameterCount,
    estimators: reports,
  };
}
