/**
 * What an estimator's gradient costs in generated tokens: its squared bias, its variance and its
 * tokens per estimate, so that the relative mean squared error of the average of the estimates a
 * budget of `B` generated tokens buys is
 *
 * `MSE(B)/‖∇J‖² = relativeBiasSquared + varianceTokens / B`,
 * `varianceTokens = relativeVariance × tokensPerEstimate`
 *
 * (`B / tokensPerEstimate` independent estimates: the variance falls as their number, the bias
 * does not). Every quantity comes with a standard error from the same `n` estimates.
 *
 * @module
 */
import type { ScoreJacobian } from "./score_jacobian.ts";

/** The cost-aware quantities of one estimator, each with its standard error (`…SE`). */
export interface EstimateCost {
  /** Mean generated tokens per estimate (responses, continuations, greedy decodes). */
  tokensPerEstimate: number;
  /** Its SE, `sd(tokens)/√n`. */
  tokensPerEstimateSE: number;
  /** Mean token states a critic scored per estimate (PPO's values; 0 for the others). */
  criticTokensPerEstimate: number;
  /** `‖E[ĝ] − ∇J‖²/‖∇J‖²`, estimated without the noise floor: `(‖ḡ − ∇J‖² − tr Σ/n)/‖∇J‖²`. */
  relativeBiasSquared: number;
  /** Its SE (delta method; the `tr Σ²` term bounded by `(tr Σ)²`, so on the safe side). */
  relativeBiasSquaredSE: number;
  /** `tr Σ/‖∇J‖²`, the variance of one estimate relative to `‖∇J‖²`. */
  relativeVariance: number;
  /** Its SE, `sd(‖ĝ_i − ḡ‖²)/(√n·‖∇J‖²)`. */
  relativeVarianceSE: number;
  /** `relativeVariance × tokensPerEstimate`: the variance one generated token buys down. */
  varianceTokens: number;
  /** Its SE (delta method on the product of two means, their correlation included). */
  varianceTokensSE: number;
  /** `c = ⟨E[ĝ], ∇J⟩/‖∇J‖²`, the best fixed rescale (a step-size change). */
  scale: number;
  /**
   * The same squared bias for `ĝ/c` (what is left after a step-size change): the part of
   * `E[ĝ]` off the direction of `∇J`, over `c²`; null when `c ≤ 0`.
   */
  rescaledBiasSquared: number | null;
  /** Its SE, null when `c ≤ 0`. */
  rescaledBiasSquaredSE: number | null;
  /** `varianceTokens / c²`, null when `c ≤ 0`. */
  rescaledVarianceTokens: number | null;
  /** Its SE, null when `c ≤ 0`. */
  rescaledVarianceTokensSE: number | null;
  /** Number of estimates `n`. */
  samples: number;
}

/** Mean and unbiased variance of a list. */
function moments(x: ArrayLike<number>): { mean: number; variance: number } {
  const n = x.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += x[i];
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (x[i] - mean) ** 2;
  return { mean, variance: ss / (n - 1) };
}

/** Indices of the non-zero entries. */
function support(c: Float64Array): number[] {
  const idx: number[] = [];
  for (let k = 0; k < c.length; k++) if (c[k] !== 0) idx.push(k);
  return idx;
}

/**
 * The cost-aware quantities of one estimator from `n` independent estimates (score-function
 * coefficients, as `summarizeEstimates` takes them) and what each cost.
 *
 * With `d_i = ‖ĝ_i − ḡ‖²` (by the Gram matrix), `tr Σ = Σ d_i/(n − 1)`;
 * `E‖ḡ − ∇J‖² = ‖E[ĝ] − ∇J‖² + tr Σ/n`, so the noise floor is subtracted from the squared bias
 * (the estimate can then be slightly negative for an unbiased estimator: it is reported as is).
 * The rescaled squared bias removes the best fixed scale first and subtracts the noise floor off
 * the direction of `∇J`, `(tr Σ − Var⟨ĝ, ∇J⟩/‖∇J‖²)/n`.
 *
 * @param estimates `n ≥ 2` coefficient vectors, each `[jacobian.rows]`.
 * @param tokens Generated tokens of each estimate, `[n]`.
 * @param criticTokens Critic-scored token states of each estimate, `[n]`.
 * @param jacobian The score Jacobian (`rows × columns`, with its Gram matrix).
 * @param exactGradient `∇J`, `[jacobian.columns]`, not zero.
 * @returns The quantities with their standard errors.
 * @throws {RangeError} With fewer than 2 estimates, lengths that disagree, or `∇J = 0`.
 *
 * @example Four estimates along one parameter, each costing 3 tokens
 * ```ts
 * import { estimateCost } from "./cost_frontier.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const jac = { rows: 1, columns: 1, data: Float64Array.from([1]), gram: Float64Array.from([1]) };
 * const draws = [0, 2, 0, 2].map((x) => Float64Array.from([x]));
 * const cost = estimateCost(draws, [3, 3, 3, 3], [0, 0, 0, 0], jac, Float64Array.from([1]));
 * assertAlmostEquals(cost.relativeVariance, 4 / 3); // Σ (x − 1)² / 3
 * assertAlmostEquals(cost.varianceTokens, 4);
 * assertAlmostEquals(cost.relativeBiasSquared, -1 / 3); // 0 − (4/3)/4: unbiased, noise floor removed
 * ```
 */
export function estimateCost(
  estimates: readonly Float64Array[],
  tokens: readonly number[],
  criticTokens: readonly number[],
  jacobian: ScoreJacobian,
  exactGradient: Float64Array,
): EstimateCost {
  const context = "Cannot measure the estimator's cost";
  const n = estimates.length;
  if (n < 2) throw new RangeError(`${context}: at least 2 estimates are needed, got ${n}`);
  if (tokens.length !== n || criticTokens.length !== n) {
    throw new RangeError(
      `${context}: one token count per estimate is needed (${n}), got ${tokens.length} generated and ${criticTokens.length} critic counts`,
    );
  }
  const { rows: D, columns: Pn, data, gram: M } = jacobian;
  if (exactGradient.length !== Pn) {
    throw new RangeError(
      `${context}: the exact gradient must have ${Pn} entries (the Jacobian's columns), got ${exactGradient.length}`,
    );
  }
  let gg = 0;
  for (let k = 0; k < Pn; k++) gg += exactGradient[k] ** 2;
  if (!(gg > 0)) throw new RangeError(`${context}: the exact gradient is zero`);

  const mean = new Float64Array(D);
  const supports = estimates.map((c, i) => {
    if (c.length !== D) {
      throw new RangeError(
        `${context}: estimate ${i} must have ${D} coefficients, got ${c.length}`,
      );
    }
    const idx = support(c);
    for (const k of idx) mean[k] += c[k] / n;
    return idx;
  });
  // u = M·C̄ (so ⟨ĝ_i, ḡ⟩ = C_i·u) and w = Jac·∇J (so ⟨ĝ_i, ∇J⟩ = C_i·w).
  const u = new Float64Array(D);
  const w = new Float64Array(D);
  for (let a = 0; a < D; a++) {
    let acc = 0;
    for (let b = 0; b < D; b++) if (mean[b] !== 0) acc += M[a * D + b] * mean[b];
    u[a] = acc;
    let dot = 0;
    for (let k = 0; k < Pn; k++) dot += data[a * Pn + k] * exactGradient[k];
    w[a] = dot;
  }
  let meanSquare = 0; // ‖ḡ‖²
  let meanDotG = 0; // ⟨ḡ, ∇J⟩
  for (let a = 0; a < D; a++) {
    meanSquare += mean[a] * u[a];
    meanDotG += mean[a] * w[a];
  }
  const deviation = new Float64Array(n); // ‖ĝ_i − ḡ‖²
  const alongG = new Float64Array(n); // ⟨ĝ_i, ∇J⟩
  const alongBias = new Float64Array(n); // ⟨ĝ_i, ḡ − ∇J⟩
  estimates.forEach((c, i) => {
    const idx = supports[i];
    let q = 0, cu = 0, cw = 0;
    for (const a of idx) {
      const ca = c[a];
      cu += ca * u[a];
      cw += ca * w[a];
      for (const b of idx) q += ca * M[a * D + b] * c[b];
    }
    deviation[i] = Math.max(0, q - 2 * cu + meanSquare);
    alongG[i] = cw;
    alongBias[i] = cu - cw;
  });
  const d = moments(deviation);
  const trace = d.mean * n / (n - 1); // tr Σ, unbiased
  const relativeVariance = trace / gg;
  const relativeVarianceSE = Math.sqrt(d.variance / n) * n / (n - 1) / gg;
  const biasNormSquared = Math.max(0, meanSquare - 2 * meanDotG + gg); // ‖ḡ − ∇J‖²
  const relativeBiasSquared = (biasNormSquared - trace / n) / gg;
  const relativeBiasSquaredSE = Math.sqrt(
    4 * moments(alongBias).variance / n + 2 * trace * trace / (n * n),
  ) / gg;

  const t = moments(tokens);
  const critic = moments(criticTokens);
  const varianceTokens = relativeVariance * t.mean;
  const influence = Array.from(
    { length: n },
    (_, i) => t.mean * (deviation[i] - d.mean) / gg + relativeVariance * (tokens[i] - t.mean),
  );
  const varianceTokensSE = Math.sqrt(moments(influence).variance / n);

  const scale = meanDotG / gg;
  const offDirection = Math.max(0, meanSquare - scale * scale * gg); // ‖ḡ − c∇J‖²
  const noiseOff = Math.max(0, trace - moments(alongG).variance / gg) / n;
  const rescaled = scale > 0;
  const c2 = scale * scale;
  return {
    tokensPerEstimate: t.mean,
    tokensPerEstimateSE: Math.sqrt(t.variance / n),
    criticTokensPerEstimate: critic.mean,
    relativeBiasSquared,
    relativeBiasSquaredSE,
    relativeVariance,
    relativeVarianceSE,
    varianceTokens,
    varianceTokensSE,
    scale,
    rescaledBiasSquared: rescaled ? (offDirection - noiseOff) / gg / c2 : null,
    rescaledBiasSquaredSE: rescaled
      ? Math.sqrt(
        4 * offDirectionVariance(alongBias, alongG, scale) / n +
          2 * trace * trace / (n * n),
      ) / gg / c2
      : null,
    rescaledVarianceTokens: rescaled ? varianceTokens / c2 : null,
    rescaledVarianceTokensSE: rescaled ? varianceTokensSE / c2 : null,
    samples: n,
  };
}

/**
 * `Var⟨ĝ_i, ḡ − c∇J⟩`, from `⟨ĝ_i, ḡ − ∇J⟩` and `⟨ĝ_i, ∇J⟩` (`ḡ − c∇J = (ḡ − ∇J) + (1 − c)∇J`):
 * the first-order noise of `‖ḡ − c∇J‖²`.
 */
function offDirectionVariance(
  alongBias: Float64Array,
  alongG: Float64Array,
  scale: number,
): number {
  return moments(alongBias.map((x, i) => x + (1 - scale) * alongG[i])).variance;
}

/** A point of the frontier: the relative MSE at a budget and its standard error. */
export interface BudgetError {
  /** `relativeBiasSquared + varianceTokens / B`. */
  relativeMse: number;
  /** `√(SE_bias² + (SE_varianceTokens/B)²)` (the two treated as independent). */
  standardError: number;
  /** False when one estimate costs more than `B` tokens (no estimate fits the budget). */
  affordable: boolean;
}

/**
 * The relative mean squared error of the average of the estimates `budget` generated tokens buy.
 *
 * @param cost The estimator's quantities (or the rescaled ones, see `rescaled`).
 * @param budget Generated tokens, `B > 0`.
 * @param rescaled Use the quantities of `ĝ/c` (after a step-size change) instead.
 * @returns The error, its SE and whether one estimate fits the budget; null when `rescaled` and
 *   `c ≤ 0`.
 * @throws {RangeError} When `budget` is not a positive number.
 *
 * @example
 * ```ts
 * import { relativeMseAtBudget } from "./cost_frontier.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const cost = {
 *   tokensPerEstimate: 100, tokensPerEstimateSE: 0, criticTokensPerEstimate: 0,
 *   relativeBiasSquared: 0.01, relativeBiasSquaredSE: 0, relativeVariance: 2,
 *   relativeVarianceSE: 0, varianceTokens: 200, varianceTokensSE: 0, scale: 1,
 *   rescaledBiasSquared: 0.01, rescaledBiasSquaredSE: 0, rescaledVarianceTokens: 200,
 *   rescaledVarianceTokensSE: 0, samples: 10,
 * };
 * assertAlmostEquals(relativeMseAtBudget(cost, 10_000)!.relativeMse, 0.03);
 * ```
 */
export function relativeMseAtBudget(
  cost: EstimateCost,
  budget: number,
  rescaled = false,
): BudgetError | null {
  if (!(Number.isFinite(budget) && budget > 0)) {
    throw new RangeError(
      `Cannot evaluate the error at a budget: the budget must be a positive number of tokens, got ${budget}`,
    );
  }
  const bias = rescaled ? cost.rescaledBiasSquared : cost.relativeBiasSquared;
  const biasSE = rescaled ? cost.rescaledBiasSquaredSE : cost.relativeBiasSquaredSE;
  const vt = rescaled ? cost.rescaledVarianceTokens : cost.varianceTokens;
  const vtSE = rescaled ? cost.rescaledVarianceTokensSE : cost.varianceTokensSE;
  if (bias === null || biasSE === null || vt === null || vtSE === null) return null;
  return {
    relativeMse: bias + vt / budget,
    standardError: Math.sqrt(biasSE ** 2 + (vtSE / budget) ** 2),
    affordable: cost.tokensPerEstimate <= budget,
  };
}
