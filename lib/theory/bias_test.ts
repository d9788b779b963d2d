/**
 * The bias test of the theory lab: is the mean of many independent sampled estimates equal to the
 * exact gradient, within sampling error?
 *
 * @module
 */
import { checkInteger, checkNumber } from "../validate.ts";
import { projectCoefficients, type ScoreJacobian } from "./score_jacobian.ts";

/** The first two moments of a set of independent gradient estimates. */
export interface EstimateSummary {
  /** Mean estimate `ḡ` in parameter space, `[parameterCount]`. */
  mean: Float64Array;
  /** Trace of the covariance: `(1/(n−1)) Σ_i ‖ĝ_i − ḡ‖²`. */
  variance: number;
  /** Number of estimates `n`. */
  samples: number;
}

/**
 * Summarise estimates given as score-function coefficients (`S·V` each): the mean is projected
 * through the Jacobian once and the spread is computed with the Gram matrix,
 * `‖ĝ_i − ḡ‖² = (C_i − C̄)ᵀ M (C_i − C̄)`, using the sparsity of each `C_i`.
 *
 * @param estimates `n ≥ 2` coefficient vectors of length `jacobian.rows`.
 * @param jacobian The score Jacobian (with its Gram matrix).
 * @returns Mean, trace of the covariance and `n`.
 * @throws {RangeError} With fewer than 2 estimates or a coefficient vector of the wrong length.
 *
 * @example Two estimates ±1 along one parameter: mean 0, variance 2
 * ```ts
 * import { summarizeEstimates } from "./bias_test.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const jac = { rows: 1, columns: 1, data: Float64Array.from([1]), gram: Float64Array.from([1]) };
 * const s = summarizeEstimates([Float64Array.from([1]), Float64Array.from([-1])], jac);
 * assertAlmostEquals(s.mean[0], 0);
 * assertAlmostEquals(s.variance, 2);
 * ```
 */
export function summarizeEstimates(
  estimates: readonly Float64Array[],
  jacobian: ScoreJacobian,
): EstimateSummary {
  const context = "Cannot summarise gradient estimates";
  const n = estimates.length;
  if (n < 2) throw new RangeError(`${context}: at least 2 estimates are needed, got ${n}`);
  const D = jacobian.rows;
  const M = jacobian.gram;
  const mean = new Float64Array(D);
  let sumSquares = 0; // Σ_i C_iᵀ M C_i
  estimates.forEach((c, i) => {
    if (c.length !== D) {
      throw new RangeError(
        `${context}: estimate ${i} must have ${D} coefficients, got ${c.length}`,
      );
    }
    const idx: number[] = [];
    for (let k = 0; k < D; k++) {
      if (c[k] !== 0) {
        idx.push(k);
        mean[k] += c[k] / n;
      }
    }
    for (const a of idx) for (const b of idx) sumSquares += c[a] * M[a * D + b] * c[b];
  });
  let meanSquare = 0; // C̄ᵀ M C̄
  for (let a = 0; a < D; a++) {
    if (mean[a] === 0) continue;
    for (let b = 0; b < D; b++) meanSquare += mean[a] * M[a * D + b] * mean[b];
  }
  const variance = Math.max(0, (sumSquares - n * meanSquare) / (n - 1));
  return { mean: projectCoefficients(jacobian, mean), variance, samples: n };
}

/** The outcome of {@linkcode biasTest}. */
export interface BiasTestResult {
  /** `‖ḡ − ∇J‖ / ‖∇J‖`. */
  relativeBias: number;
  /** `sqrt(variance / n) / ‖∇J‖`: the norm of the mean's sampling error, relative to `‖∇J‖`. */
  standardError: number;
  /** `relativeBias / standardError`. */
  zScore: number;
  /** `cos(ḡ, ∇J)`. */
  cosine: number;
  /** Trace of the covariance of one estimate (absolute, parameter-space units). */
  variance: number;
  /** Variance relative to `‖∇J‖²`. */
  relativeVariance: number;
  /** Number of estimates. */
  samples: number;
  /** `"unbiased"` when `relativeBias ≤ threshold · standardError`, else `"biased"`. */
  verdict: "unbiased" | "biased";
  /** Best scale `c = ⟨ḡ, ∇J⟩ / ‖∇J‖²` (1 for an unbiased estimator). */
  scale: number;
  /** `‖ḡ − c·∇J‖ / ‖∇J‖`: what is left after the best rescaling. */
  directionalBias: number;
  /** The same test on `directionalBias`: unbiased up to a positive scale (a step-size change)? */
  directionVerdict: "unbiased up to scale" | "biased in direction";
}

/**
 * Test an estimator for bias against the exact gradient.
 *
 * With `n` independent estimates of covariance trace `σ²`, the mean's error `ḡ − E[ĝ]` has
 * expected squared norm `σ²/n`, so `SE = sqrt(σ²/n)/‖∇J‖` is the relative size of pure sampling
 * noise. The verdict is `"unbiased"` when `‖ḡ − ∇J‖/‖∇J‖ ≤ threshold·SE` (threshold 4: under
 * unbiasedness the ratio concentrates near 1 in many dimensions and is |N(0,1)| in one), else
 * `"biased"`. A biased estimator smaller than the test's resolution passes: report `n` and `SE`.
 * `directionVerdict` applies the same test after removing the best scalar rescale `c`, which
 * separates "biased by a constant factor" (a learning-rate change) from "biased in direction".
 *
 * @see He et al., arXiv 2506.02553 (Theorem 1 claims unbiasedness; Eq. 26 claims bias).
 * @param summary Mean, variance and count of the estimates.
 * @param exactGradient `∇J`, same length as `summary.mean`.
 * @param options `threshold` in standard errors (default 4).
 * @returns Relative bias, standard error, cosine, variance and verdicts.
 * @throws {RangeError} When lengths differ, `∇J = 0`, or the threshold is not positive.
 *
 * @example An exact mean is unbiased
 * ```ts
 * import { biasTest } from "./bias_test.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const g = Float64Array.from([3, 4]);
 * const result = biasTest({ mean: Float64Array.from([3, 4]), variance: 25, samples: 100 }, g);
 * assertEquals(result.verdict, "unbiased");
 * assertEquals(result.standardError, 0.1);
 * ```
 */
export function biasTest(
  summary: EstimateSummary,
  exactGradient: Float64Array,
  options: { threshold?: number } = {},
): BiasTestResult {
  const context = "Cannot test for bias";
  const { threshold = 4 } = options;
  checkNumber(context, "threshold", threshold, { min: 0, exclusiveMin: true });
  checkInteger(context, "samples", summary.samples, 2);
  if (summary.mean.length !== exactGradient.length) {
    throw new RangeError(
      `${context}: the mean estimate has ${summary.mean.length} entries but the exact gradient has ${exactGradient.length}`,
    );
  }
  let gg = 0, mg = 0, mm = 0;
  for (let k = 0; k < exactGradient.length; k++) {
    gg += exactGradient[k] ** 2;
    mg += summary.mean[k] * exactGradient[k];
    mm += summary.mean[k] ** 2;
  }
  if (!(gg > 0)) throw new RangeError(`${context}: the exact gradient is zero`);
  const norm = Math.sqrt(gg);
  const bias = Math.sqrt(Math.max(0, mm - 2 * mg + gg)) / norm;
  const scale = mg / gg;
  const residual = Math.sqrt(Math.max(0, mm - scale * scale * gg)) / norm;
  const standardError = Math.sqrt(summary.variance / summary.samples) / norm;
  return {
    relativeBias: bias,
    standardError,
    zScore: standardError > 0 ? bias / standardError : (bias > 0 ? Infinity : 0),
    cosine: mm > 0 ? mg / (Math.sqrt(mm) * norm) : 0,
    variance: summary.variance,
    relativeVariance: summary.variance / gg,
    samples: summary.samples,
    verdict: bias <= threshold * standardError ? "unbiased" : "biased",
    scale,
    directionalBias: residual,
    directionVerdict: residual <= threshold * standardError && scale > 0
      ? "unbiased up to scale"
      : "biased in direction",
  };
}
