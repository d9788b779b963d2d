/**
 * A paired comparison of two algorithms over seeds: the seed-by-seed differences, their mean ±
 * sample std, and a two-sided Student t test at 95 %.
 *
 * Pairing by seed cancels what both runs of a seed share (the warm start and the prompts), so
 * that the spread that remains is the algorithms' own.
 *
 * @module
 */
import { checkFiniteValues, checkInteger, describe } from "../validate.ts";
import { meanStd } from "./compare_summary.ts";

/** Two-sided 95 % critical values of Student's t for 1…30 degrees of freedom. */
const T_975 = [
  12.706,
  4.303,
  3.182,
  2.776,
  2.571,
  2.447,
  2.365,
  2.306,
  2.262,
  2.228,
  2.201,
  2.179,
  2.16,
  2.145,
  2.131,
  2.12,
  2.11,
  2.101,
  2.093,
  2.086,
  2.08,
  2.074,
  2.069,
  2.064,
  2.06,
  2.056,
  2.052,
  2.048,
  2.045,
  2.042,
];

/**
 * The two-sided 95 % critical value of Student's t, `t_{0.975, df}`, from a table for
 * 1…30 degrees of freedom (3 decimals) and the normal 1.960 beyond.
 *
 * @param df Degrees of freedom, an integer ≥ 1.
 * @returns The critical value.
 * @throws {RangeError} When `df` is not an integer ≥ 1.
 *
 * @example
 * ```ts
 * import { tCritical95 } from "./paired_difference.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(tCritical95(2), 4.303); // three seeds
 * assertEquals(tCritical95(4), 2.776); // five seeds
 * assertEquals(tCritical95(100), 1.96);
 * ```
 */
export function tCritical95(df: number): number {
  checkInteger("Cannot look up the t critical value", "df", df, 1);
  return df <= T_975.length ? T_975[df - 1] : 1.96;
}

/** The paired comparison of two per-seed lists. */
export interface PairedDifference {
  /** Seeds (pairs). */
  n: number;
  /** Mean of `a_s − b_s`. */
  mean: number;
  /** Sample std of `a_s − b_s` (0 for one pair). */
  std: number;
  /** `std / √n`. */
  standardError: number;
  /** `mean / standardError`; `null` for one pair or a zero standard error (up to rounding). */
  t: number | null;
  /** `t_{0.975, n−1}`; `null` for one pair. */
  critical: number | null;
  /**
   * Whether the difference is significant at 95 % (two-sided): `|t| > critical`. With a zero
   * standard error (every seed gave the same difference, up to rounding: at most 10⁻¹² of
   * max(1, |mean|)) it is separated when that difference is not 0. Never with one pair.
   */
  separated: boolean;
}

/**
 * Compare two algorithms seed by seed: with `d_s = a_s − b_s`, `mean = Σd/n`,
 * `std = sqrt(Σ(d − mean)²/(n − 1))`, `t = mean / (std/√n)`, separated when
 * `|t| > t_{0.975, n−1}` (a paired two-sided t test at 95 %).
 *
 * Used by the comparison's equal-updates and equal-tokens verdicts.
 *
 * Preconditions: `a[s]` and `b[s]` come from the same seed.
 *
 * @param a The first algorithm's numbers, in seed order.
 * @param b The second's, in the same order.
 * @returns The paired difference `a − b`.
 * @throws {TypeError} When either is not an array.
 * @throws {RangeError} When they are empty, differ in length, or hold a non-finite value.
 *
 * @example Three seeds
 * ```ts
 * import { pairedDifference } from "./paired_difference.ts";
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 *
 * // d = [0.1, 0.2, 0.3]: mean 0.2, std 0.1, standard error 0.1/√3, t = 2√3 ≈ 3.46 < 4.303.
 * const d = pairedDifference([0.5, 0.6, 0.7], [0.4, 0.4, 0.4]);
 * assertAlmostEquals(d.mean, 0.2);
 * assertAlmostEquals(d.std, 0.1);
 * assertAlmostEquals(d.t!, 2 * Math.sqrt(3));
 * assertEquals([d.critical, d.separated], [4.303, false]);
 * ```
 */
export function pairedDifference(a: readonly number[], b: readonly number[]): PairedDifference {
  const context = "Cannot compare the algorithms seed by seed";
  for (const [name, values] of [["a", a], ["b", b]] as const) {
    if (!Array.isArray(values as unknown)) {
      throw new TypeError(`${context}: ${name} must be an array, got ${describe(values)}`);
    }
    checkFiniteValues(context, name, values);
  }
  if (a.length === 0 || a.length !== b.length) {
    throw new RangeError(
      `${context}: a and b must be non-empty and of equal length, got ${a.length} and ${b.length}`,
    );
  }
  const n = a.length;
  const { mean, std } = meanStd(a.map((x, s) => x - b[s]));
  const standardError = std / Math.sqrt(n);
  if (n === 1) return { n, mean, std, standardError, t: null, critical: null, separated: false };
  const critical = tCritical95(n - 1);
  if (standardError <= 1e-12 * Math.max(1, Math.abs(mean))) {
    return { n, mean, std, standardError, t: null, critical, separated: mean !== 0 };
  }
  const t = mean / standardError;
  return { n, mean, std, standardError, t, critical, separated: Math.abs(t) > critical };
}
