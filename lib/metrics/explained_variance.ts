/**
 * How much of the variance of the returns a critic explains.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkFinite, checkMask, checkRank, checkSameShape, isDeviceBackend } from "../validate.ts";

const CONTEXT = "Cannot compute the explained variance";

/**
 * The explained variance of the value predictions over the valid tokens,
 *
 * `EV = 1 − Var[R − V] / Var[R]`, both variances over the tokens with `m = 1` (the divisor cancels,
 * so biased and unbiased variances give the same ratio).
 *
 * 1 is a perfect critic, 0 one no better than predicting the mean return, and a negative value one
 * worse than that. Returns `NaN` when it is undefined: no valid token, or every valid return equal
 * (`Var[R] = 0`, e.g. a batch where every response got the same reward).
 *
 * @see https://arxiv.org/abs/2506.02553 (Theorem 2: PPO's critic estimates V)
 *
 * Used by: PPO (logged as a diagnostic of the critic).
 *
 * Reads its result synchronously, so it throws on a GPU backend (webgpu, webgl); there, use
 * {@linkcode explainedVarianceAsync} (as PPO does).
 *
 * Preconditions: all tensors float32 with the same shape `[B, T]`; `returns` finite; `mask`
 * exactly 0/1.
 *
 * @param values Critic predictions V, float32 `[B, T]`.
 * @param returns Targets R, float32 `[B, T]`.
 * @param mask Valid-token mask, float32 0/1 `[B, T]`.
 * @returns A number ≤ 1, or `NaN` when undefined.
 * @throws {TypeError} When an input is not a float32 `[B, T]` tensor or the shapes differ.
 * @throws {RangeError} For a non-finite return or a mask entry other than 0/1.
 * @throws {Error} On a GPU backend (see above).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { explainedVariance } from "./explained_variance.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const returns = tf.tensor2d([[1, 3, 7]]);
 * const values = tf.tensor2d([[2, 2, 7]]);
 * const mask = tf.tensor2d([[1, 1, 0]]);
 * // valid R = [1, 3]: Var = 1; R − V = [−1, 1]: Var = 1 → EV = 1 − 1/1 = 0
 * assertAlmostEquals(explainedVariance(values, returns, mask), 0, 1e-6);
 * tf.dispose([returns, values, mask]);
 * ```
 */
export function explainedVariance(
  values: tf.Tensor2D,
  returns: tf.Tensor2D,
  mask: tf.Tensor2D,
): number {
  if (isDeviceBackend()) {
    throw new Error(
      `${CONTEXT}: explainedVariance reads synchronously, which the ${tf.getBackend()} backend cannot do; use explainedVarianceAsync`,
    );
  }
  const stats = explainedVarianceStats(values, returns, mask);
  const result = fromStats(stats.dataSync());
  stats.dispose();
  return result;
}

/**
 * {@linkcode explainedVariance} read asynchronously (`await t.data()`), so it works on every
 * backend, GPU ones included. Same checks, except that on a GPU backend the value checks (finite
 * returns, 0/1 mask) are skipped.
 *
 * @param values Critic predictions V, float32 `[B, T]`.
 * @param returns Targets R, float32 `[B, T]`.
 * @param mask Valid-token mask, float32 0/1 `[B, T]`.
 * @returns A number ≤ 1, or `NaN` when undefined.
 * @throws {TypeError} When an input is not a float32 `[B, T]` tensor or the shapes differ.
 * @throws {RangeError} For a non-finite return or a mask entry other than 0/1 (host backends).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { explainedVarianceAsync } from "./explained_variance.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const returns = tf.tensor2d([[1, 3, 7]]);
 * const values = tf.tensor2d([[2, 2, 7]]);
 * const mask = tf.tensor2d([[1, 1, 0]]);
 * assertAlmostEquals(await explainedVarianceAsync(values, returns, mask), 0, 1e-6);
 * tf.dispose([returns, values, mask]);
 * ```
 */
export async function explainedVarianceAsync(
  values: tf.Tensor2D,
  returns: tf.Tensor2D,
  mask: tf.Tensor2D,
): Promise<number> {
  const stats = explainedVarianceStats(values, returns, mask);
  try {
    return fromStats(await stats.data());
  } finally {
    stats.dispose();
  }
}

function fromStats(stats: ArrayLike<number>): number {
  const [count, range, returnVariance, residualVariance] = Array.from(stats);
  if (count === 0 || range === 0) return NaN;
  return 1 - residualVariance / returnVariance;
}

/** `[count, range of R, Var R, Var (R − V)]` over the valid tokens, after the input checks. */
function explainedVarianceStats(
  values: tf.Tensor2D,
  returns: tf.Tensor2D,
  mask: tf.Tensor2D,
): tf.Tensor1D {
  checkRank(CONTEXT, "values", values, 2, "[B, T]", "float32");
  checkRank(CONTEXT, "returns", returns, 2, "[B, T]", "float32");
  checkRank(CONTEXT, "mask", mask, 2, "[B, T]", "float32");
  checkSameShape(CONTEXT, "values", values, "returns", returns);
  checkSameShape(CONTEXT, "values", values, "mask", mask);
  checkFinite(CONTEXT, "returns", returns);
  checkMask(CONTEXT, "mask", mask);
  return tf.tidy(() => {
    const valid = tf.greater(mask, 0);
    const count = tf.sum(mask);
    const denominator = tf.maximum(count, 1);
    const maskedVariance = (x: tf.Tensor): tf.Tensor => {
      const zeros = tf.zerosLike(x);
      const mean = tf.div(tf.sum(tf.where(valid, x, zeros)), denominator);
      const centred = tf.sub(x, mean);
      return tf.div(tf.sum(tf.where(valid, tf.mul(centred, centred), zeros)), denominator);
    };
    const big = tf.fill(returns.shape, Infinity);
    const highest = tf.max(tf.where(valid, returns, tf.neg(big)));
    const lowest = tf.min(tf.where(valid, returns, big));
    return tf.stack([
      count,
      tf.sub(highest, lowest),
      maskedVariance(returns),
      maskedVariance(tf.sub(returns, values)),
    ]) as tf.Tensor1D;
  });
}
