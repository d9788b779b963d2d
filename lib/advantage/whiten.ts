/**
 * Masked whitening: rescale values to unit variance over the valid entries of a batch.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  checkFinite,
  checkMask,
  checkNumber,
  checkRank,
  checkSameShape,
  isDeviceBackend,
} from "../validate.ts";

/** Options of {@linkcode whiten}. */
export interface WhitenOptions {
  /** Delta degrees of freedom of the variance: 1 divides by `n − 1` (default), 0 by `n`. */
  ddof?: 0 | 1;
  /** Added to the variance before the square root (default `1e-8`). */
  epsilon?: number;
  /**
   * Leave the whitened values centred on 0 (default `true`). When `false` the mean is added back
   * after whitening, `(x − μ)/√(σ² + ε) + μ`, as TRL's and verl's `masked_whiten(shift_mean=False)`
   * do: the valid entries keep their mean `μ` and get unit variance.
   */
  shiftMean?: boolean;
}

/**
 * Whiten the valid entries of `x` with statistics taken over all valid entries of the batch.
 *
 * With `n = Σ m`, `μ = Σ m·x / n` and `σ² = Σ m·(x − μ)² / (n − ddof)`:
 *
 * - `shiftMean: true` (default): `y = m · (x − μ) / √(σ² + ε)`
 * - `shiftMean: false`:          `y = m · ((x − μ) / √(σ² + ε) + μ)`: whitened, then the mean put
 *   back, as in TRL's and verl's `masked_whiten(shift_mean=False)`
 *
 * The default `ddof = 1` is Bessel's correction, as in TRL's and verl's `masked_var(unbiased=True)`,
 * which their `masked_whiten` uses. Masked positions are 0 in the result and do not enter the
 * statistics (TRL and verl leave masking the output to the caller).
 *
 * Used by PPO (advantage whitening) and optionally to rescale token rewards.
 *
 * Preconditions: `x` and `mask` are float32 of the same shape `[B, T]`; `x` finite; mask 0/1 with
 * more than `ddof` valid entries. On a GPU backend (webgpu, webgl) these value checks are skipped
 * (they would need a synchronous device read); shapes are still checked.
 *
 * @param x Values to whiten, float32 `[B, T]`.
 * @param mask Valid-entry mask, float32 0/1 `[B, T]`.
 * @param options ddof, epsilon and whether to subtract the mean.
 * @returns Whitened values, float32 `[B, T]`, 0 at masked positions.
 * @throws {TypeError} When an argument is not a float32 tensor of rank 2 or the shapes differ.
 * @throws {RangeError} When an entry of `x` is NaN or infinite, the mask is not 0/1 or has at most
 * `ddof` valid entries, `epsilon` is negative or `ddof` is neither 0 nor 1.
 *
 * @example Three valid entries
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { whiten, type WhitenOptions } from "./whiten.ts";
 * import { assertArrayAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const x = tf.tensor2d([[1, 2], [3, 100]]);
 * const mask = tf.tensor2d([[1, 1], [1, 0]]);
 * // μ = 2, σ² = (1 + 0 + 1) / 2 = 1
 * const options: WhitenOptions = { epsilon: 0 };
 * const y = whiten(x, mask, options);
 * assertArrayAlmostEquals(await y.data(), [-1, 0, 1, 0]);
 * tf.dispose([x, mask, y]);
 * ```
 *
 * @example The mean put back (`shiftMean: false`)
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { whiten } from "./whiten.ts";
 * import { assertArrayAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const x = tf.tensor2d([[1, 2, 3, 6]]);
 * const mask = tf.tensor2d([[1, 1, 1, 1]]);
 * // μ = 3, x − μ = [−2, −1, 0, 3], σ² = (4 + 1 + 0 + 9) / (4 − 1) = 14/3, σ = 2.1602469
 * // (x − μ)/σ = [−0.9258201, −0.4629100, 0, 1.3887301]; + μ:
 * const y = whiten(x, mask, { epsilon: 0, shiftMean: false });
 * assertArrayAlmostEquals(await y.data(), [2.0741799, 2.5370900, 3, 4.3887301], 1e-6);
 * tf.dispose([x, mask, y]);
 * ```
 */
export function whiten(
  x: tf.Tensor2D,
  mask: tf.Tensor2D,
  options: WhitenOptions = {},
): tf.Tensor2D {
  const context = "Cannot whiten values";
  const values = checkRank(context, "x", x, 2, "[B, T]", "float32");
  const m = checkRank(context, "mask", mask, 2, "[B, T]", "float32");
  checkSameShape(context, "x", values, "mask", m);
  const { ddof = 1, epsilon = 1e-8, shiftMean = true } = options ?? {};
  if (ddof !== 0 && ddof !== 1) {
    throw new RangeError(`${context}: ddof must be 0 or 1, got ${ddof}`);
  }
  checkNumber(context, "epsilon", epsilon, { min: 0 });
  if (typeof shiftMean !== "boolean") {
    throw new TypeError(`${context}: shiftMean must be a boolean, got ${typeof shiftMean}`);
  }
  checkMask(context, "mask", m);
  checkFinite(context, "x", values);
  // The valid count: read on the host backends (to check it); a tensor on a GPU backend, where a
  // synchronous read is not possible, and the check is skipped.
  const device = isDeviceBackend();
  let count = 0;
  if (!device) {
    for (const v of m.dataSync()) count += v;
    if (count <= ddof) {
      throw new RangeError(
        `${context}: mask must have at least ${
          ddof + 1
        } valid entries with ddof ${ddof}, got ${count}`,
      );
    }
  }
  return tf.tidy(() => {
    const n: number | tf.Tensor = device ? tf.sum(m) : count;
    const mean = values.mul(m).sum().div(n);
    const variance = values.sub(mean).square().mul(m).sum().div(tf.sub(n, ddof));
    const whitened = values.sub(mean).mul(variance.add(epsilon).rsqrt());
    const result = shiftMean ? whitened : whitened.add(mean);
    return tf.where(m.equal(1), result, 0) as tf.Tensor2D;
  });
}
