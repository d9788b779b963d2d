/**
 * Read a run's evaluation curve at a given number of generated tokens, for comparisons at an
 * equal token budget (TRePO's continuations make it generate several times more tokens per
 * update than the response-level methods).
 *
 * @module
 */
import { checkNumber } from "../validate.ts";
import type { CurvePoint } from "./compare_summary.ts";

/** A curve read at a token budget. */
export interface PointAtTokens {
  /** The tokens the curve was read at. */
  tokens: number;
  /** The evaluated metric there (linear between the two evaluations around it). */
  accuracy: number;
  /** Policy updates there (linear between the same two evaluations, so fractional). */
  step: number;
  /** Training wall seconds there (linear likewise). */
  seconds: number;
}

/**
 * The value of a run's curve after `tokens` generated tokens, linear between the two evaluated
 * points whose token counts enclose it:
 * `v(N) = v_{i−1} + (N − n_{i−1}) / (n_i − n_{i−1}) · (v_i − v_{i−1})` for the first point `i`
 * with `n_i ≥ N` (`v_i` itself when `n_i = n_{i−1}`; `v_0` when `N = n_0`).
 * The step and the seconds at `N` are interpolated the same way.
 *
 * Used by the comparison at equal generated tokens (`compareAtEqualTokens`).
 *
 * Preconditions: the curve's token counts do not decrease (they are running sums);
 * `n_0 ≤ N ≤ n_last`: the budget is never extrapolated.
 *
 * @param curve A run's curve (see `accuracyCurve`), in step order.
 * @param tokens The budget N.
 * @returns The point at N.
 * @throws {RangeError} When the curve is empty, its tokens decrease, or N lies outside it.
 *
 * @example Halfway between two evaluations
 * ```ts
 * import { curveAtTokens } from "./curve_at_tokens.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const curve = [
 *   { step: 0, accuracy: 0.2, tokens: 0, seconds: 0 },
 *   { step: 10, accuracy: 0.4, tokens: 1000, seconds: 4 },
 *   { step: 20, accuracy: 0.5, tokens: 3000, seconds: 8 },
 * ];
 * // 2000 tokens lie halfway from 1000 to 3000: accuracy 0.45 after 15 updates and 6 s.
 * assertEquals(curveAtTokens(curve, 2000), { tokens: 2000, accuracy: 0.45, step: 15, seconds: 6 });
 * assertEquals(curveAtTokens(curve, 0).accuracy, 0.2);
 * ```
 */
export function curveAtTokens(curve: readonly CurvePoint[], tokens: number): PointAtTokens {
  const context = "Cannot read the curve at the token budget";
  checkNumber(context, "tokens", tokens);
  if (!Array.isArray(curve as unknown) || curve.length === 0) {
    throw new RangeError(`${context}: the curve must have at least one point`);
  }
  for (let i = 1; i < curve.length; i++) {
    if (curve[i].tokens < curve[i - 1].tokens) {
      throw new RangeError(
        `${context}: tokens must not decrease, got ${curve[i].tokens} after ${
          curve[i - 1].tokens
        } at point ${i}`,
      );
    }
  }
  const first = curve[0];
  const last = curve[curve.length - 1];
  if (tokens < first.tokens || tokens > last.tokens) {
    throw new RangeError(
      `${context}: ${tokens} tokens lie outside the curve's ${first.tokens}…${last.tokens}`,
    );
  }
  if (tokens === first.tokens) {
    return { tokens, accuracy: first.accuracy, step: first.step, seconds: first.seconds };
  }
  let i = 1;
  while (curve[i].tokens < tokens) i++;
  const a = curve[i - 1];
  const b = curve[i];
  if (b.tokens === a.tokens) {
    return { tokens, accuracy: b.accuracy, step: b.step, seconds: b.seconds };
  }
  const f = (tokens - a.tokens) / (b.tokens - a.tokens);
  const lerp = (x: number, y: number) => x + f * (y - x);
  return {
    tokens,
    accuracy: lerp(a.accuracy, b.accuracy),
    step: lerp(a.step, b.step),
    seconds: lerp(a.seconds, b.seconds),
  };
}
