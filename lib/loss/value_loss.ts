/**
 * The squared-error loss of a learned value function (the critic), with PPO's optional value clip.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkFinite, checkNumber, checkRank, checkSameShape } from "../validate.ts";

const CONTEXT = "Cannot compute the value loss";

/** Inputs of {@linkcode valueLoss}. */
export interface ValueLossInputs {
  /** Current value predictions V_φ, float32 `[B, T]`; differentiable. */
  values: tf.Tensor2D;
  /**
   * The predictions of the critic that was used to compute the advantages, float32 `[B, T]`;
   * a constant. Needed only with `clip`.
   */
  oldValues?: tf.Tensor2D;
  /** Regression targets R (e.g. GAE returns), float32 `[B, T]`; a constant. */
  returns: tf.Tensor2D;
}

/** Options of {@linkcode valueLoss}. */
export interface ValueLossOptions {
  /**
   * Value clip range: how far the prediction may move from `oldValues` before the clipped error
   * takes over. Greater than 0; off by default.
   */
  clip?: number;
}

/**
 * The per-token value loss
 *
 * `ℓ_t = ½·max((v_t − R_t)², (v_clip,t − R_t)²)`, `v_clip = v_old + clamp(v − v_old, −clip, clip)`,
 *
 * and, without `clip`, `ℓ_t = ½(v_t − R_t)²`. The clipped form is pessimistic: it never rewards a
 * prediction for moving further than `clip` from the old one.
 *
 * @see https://arxiv.org/abs/2506.02553 (Theorem 2: the critic estimates V in PPO's advantage)
 *
 * Used by: PPO (the only algorithm here with a learned critic).
 *
 * Preconditions: all tensors float32 with the same shape `[B, T]`; `returns` and `oldValues`
 * finite; `oldValues` given when `clip` is; `clip > 0`. Not masked: reduce with `aggregateLoss`.
 *
 * @param inputs Predictions `[B, T]` (differentiable), old predictions `[B, T]` and targets
 *   `[B, T]` (constants).
 * @param options The optional clip range.
 * @returns The per-token loss, float32 `[B, T]`.
 * @throws {TypeError} When an input is not a float32 `[B, T]` tensor, the shapes differ,
 *   `oldValues` is missing with `clip`, or `clip` is not a finite number.
 * @throws {RangeError} When a target or old value is not finite, or `clip ≤ 0`.
 *
 * @example Clipped and unclipped
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { valueLoss, type ValueLossInputs, type ValueLossOptions } from "./value_loss.ts";
 * import { assertArrayAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const values = tf.tensor2d([[1.5, 0]]);
 * const oldValues = tf.tensor2d([[1, 0]]);
 * const returns = tf.tensor2d([[2, 1]]);
 * const plain = valueLoss({ values, returns });
 * // ½(1.5 − 2)² = 0.125; ½(0 − 1)² = 0.5
 * assertArrayAlmostEquals(await plain.data(), [0.125, 0.5]);
 * const inputs: ValueLossInputs = { values, oldValues, returns };
 * const options: ValueLossOptions = { clip: 0.2 };
 * const clipped = valueLoss(inputs, options);
 * // token 0: v_clip = 1 + 0.2 = 1.2, ½·max(0.25, 0.64) = 0.32
 * assertArrayAlmostEquals(await clipped.data(), [0.32, 0.5], 1e-6);
 * tf.dispose([values, oldValues, returns, plain, clipped]);
 * ```
 */
export function valueLoss(
  inputs: ValueLossInputs,
  options: ValueLossOptions = {},
): tf.Tensor2D {
  const { values, oldValues, returns } = inputs ?? ({} as ValueLossInputs);
  checkRank(CONTEXT, "values", values, 2, "[B, T]", "float32");
  checkRank(CONTEXT, "returns", returns, 2, "[B, T]", "float32");
  checkSameShape(CONTEXT, "values", values, "returns", returns);
  const clip = options?.clip === undefined
    ? undefined
    : checkNumber(CONTEXT, "clip", options.clip, { min: 0, exclusiveMin: true });
  if (clip !== undefined && oldValues === undefined) {
    throw new TypeError(`${CONTEXT}: oldValues is required when clip is given, got undefined`);
  }
  if (oldValues !== undefined) {
    checkRank(CONTEXT, "oldValues", oldValues, 2, "[B, T]", "float32");
    checkSameShape(CONTEXT, "values", values, "oldValues", oldValues);
    checkFinite(CONTEXT, "oldValues", oldValues);
  }
  checkFinite(CONTEXT, "returns", returns);
  return tf.tidy(() => {
    const error = tf.sub(values, returns);
    const squared = tf.mul(error, error);
    if (clip === undefined || oldValues === undefined) return tf.mul(squared, 0.5);
    const clippedValues = tf.add(
      oldValues,
      tf.clipByValue(tf.sub(values, oldValues), -clip, clip),
    );
    const clippedError = tf.sub(clippedValues, returns);
    return tf.mul(tf.maximum(squared, tf.mul(clippedError, clippedError)), 0.5);
  });
}
