/**
 * Linear interpolation of prefix values between the positions where they were evaluated (TRePO).
 *
 * @module
 */
import { checkFiniteValues, checkInteger, describe } from "../validate.ts";

/**
 * Fill in the values of all `length + 1` prefixes of one response from a few evaluated ones.
 *
 * For `pₖ ≤ j ≤ pₖ₊₁`: `V̂(j) = vₖ + (vₖ₊₁ − vₖ) · (j − pₖ) / (pₖ₊₁ − pₖ)`,
 *
 * and `V̂(pₖ) = vₖ` exactly. Position `j` means "the prompt followed by the first `j` response
 * tokens": position 0 is the prompt (its value, e.g. the mean reward of the group) and position
 * `length` the complete response (its reward `RM(W)`). TRePO evaluates only a few positions by
 * Monte-Carlo continuations; interpolating the **values** (not the advantages) keeps
 * `Σₜ Aₜ = V̂(length) − V̂(0)` exact when the result goes through `prefixValueAdvantages`.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Section 5 (TRePO) (arXiv 2506.02553).
 *
 * Used by TRePO.
 *
 * Preconditions: `positions` are integers, strictly increasing, starting at 0 and ending at
 * `length`; `values` has one finite number per position.
 *
 * @param positions The evaluated prefix lengths `[P]`, integers `0 = p₀ < … < p_{P−1} = length`.
 * @param values The value at each position `[P]`.
 * @param length The valid response length (number of response tokens, EOS included), ≥ 0.
 * @returns The values of all prefixes, `length + 1` numbers.
 * @throws {TypeError} When `positions` or `values` is not an array, their lengths differ, a
 * position is not an integer or `length` is not an integer.
 * @throws {RangeError} When the positions do not start at 0, are not strictly increasing or do not
 * end at `length`, `length` is negative, or a value is NaN or infinite.
 *
 * @example Evaluated at the prompt, after 2 tokens and at the end of a 4-token response
 * ```ts
 * import { interpolatePrefixValues } from "./interpolate_prefix_values.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(interpolatePrefixValues([0, 2, 4], [0.5, 0.25, 1], 4), [0.5, 0.375, 0.25, 0.625, 1]);
 * ```
 */
export function interpolatePrefixValues(
  positions: ArrayLike<number>,
  values: ArrayLike<number>,
  length: number,
): number[] {
  const context = "Cannot interpolate prefix values";
  checkArrayLike(context, "positions", positions);
  checkArrayLike(context, "values", values);
  checkInteger(context, "length", length, 0);
  if (positions.length !== values.length) {
    throw new TypeError(
      `${context}: positions and values must have the same length, got ${positions.length} positions and ${values.length} values`,
    );
  }
  if (positions.length === 0) {
    throw new RangeError(`${context}: positions must start at 0 and end at ${length}, got none`);
  }
  for (let k = 0; k < positions.length; k++) {
    const p = positions[k];
    if (typeof p !== "number" || !Number.isInteger(p)) {
      throw new TypeError(
        `${context}: positions must be integers, got ${describe(p)} at index ${k}`,
      );
    }
    if (k === 0 && p !== 0) {
      throw new RangeError(`${context}: positions must start at 0, got ${p} at index 0`);
    }
    if (k > 0 && p <= positions[k - 1]) {
      throw new RangeError(
        `${context}: positions must be strictly increasing, got ${p} after ${
          positions[k - 1]
        } at index ${k}`,
      );
    }
  }
  const last = positions[positions.length - 1];
  if (last !== length) {
    throw new RangeError(
      `${context}: positions must end at length ${length}, got ${last} at index ${
        positions.length - 1
      }`,
    );
  }
  checkFiniteValues(context, "values", values);
  const out = new Array<number>(length + 1);
  for (let k = 0; k + 1 < positions.length; k++) {
    const start = positions[k];
    const end = positions[k + 1];
    const step = (values[k + 1] - values[k]) / (end - start);
    out[start] = values[k];
    for (let j = start + 1; j < end; j++) out[j] = values[k] + step * (j - start);
  }
  out[length] = values[values.length - 1];
  return out;
}

function checkArrayLike(context: string, name: string, value: unknown): void {
  const ok = Array.isArray(value) ||
    (ArrayBuffer.isView(value) && !(value instanceof DataView));
  if (!ok) {
    throw new TypeError(`${context}: ${name} must be an array of numbers, got ${describe(value)}`);
  }
}
