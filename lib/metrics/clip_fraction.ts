/**
 * How often PPO's clip is active: the share of tokens that get no gradient from the surrogate.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkFinite, checkMask, checkNumber, checkRank, checkSameShape } from "../validate.ts";

const CONTEXT = "Cannot compute the clip fraction";

/** Inputs of {@linkcode clipFraction}. */
export interface ClipFractionInputs {
  /** log π_θ of the sampled tokens under the current policy, float32 `[B, T]`. */
  logProbs: tf.Tensor2D;
  /** log π_old of the same tokens under the sampling policy, float32 `[B, T]`. */
  oldLogProbs: tf.Tensor2D;
  /** Token advantages, float32 `[B, T]`. */
  advantages: tf.Tensor2D;
  /** Valid-token mask, float32 0/1 `[B, T]`. */
  mask: tf.Tensor2D;
}

/** Options of {@linkcode clipFraction}; the same clip ranges as `clippedSurrogateLoss`. */
export interface ClipFractionOptions {
  /** Lower clip range ε, in (0, 1]; default 0.2. */
  epsilon?: number;
  /** Upper clip range ε_high, greater than 0; default `epsilon`. */
  epsilonHigh?: number;
}

/**
 * The fraction of valid tokens where the clipped term of the surrogate is the active one,
 *
 * `(1/Σm) Σ_t m_t · [−A_t·clip(ρ_t, 1 − ε, 1 + ε_high) > −A_t·ρ_t]`, `ρ_t = exp(log π_θ − log π_old)`,
 *
 * computed in float32 with the same operations as `clippedSurrogateLoss`, so a token counts
 * exactly when the surrogate's gradient for it is zero (strictly larger: a tie is not clipped).
 * Logged as `clip_ratio`. Returns 0 when no token is valid.
 *
 * @see https://arxiv.org/abs/2506.02553
 *
 * Used by: PPO, GRPO, ReMax, RLOO and TRePO (a diagnostic of how off-policy the epochs are).
 *
 * Preconditions: all tensors float32 with the same shape `[B, T]`; `oldLogProbs` and `advantages`
 * finite; `mask` exactly 0/1; `0 < epsilon ≤ 1`, `epsilonHigh > 0`.
 *
 * @param inputs Log-probs, old log-probs, advantages and mask, each `[B, T]`.
 * @param options The clip ranges.
 * @returns A number in [0, 1].
 * @throws {TypeError} When an input is not a float32 `[B, T]` tensor, the shapes differ, or an
 *   option is not a finite number.
 * @throws {RangeError} For non-finite old log-probs or advantages, a mask entry other than 0/1,
 *   or an option out of range.
 *
 * @example One of two valid tokens is clipped
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import {
 *   clipFraction,
 *   type ClipFractionInputs,
 *   type ClipFractionOptions,
 * } from "./clip_fraction.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const inputs: ClipFractionInputs = {
 *   logProbs: tf.tensor2d([[Math.log(1.5), Math.log(1.1), Math.log(2)]]),
 *   oldLogProbs: tf.tensor2d([[0, 0, 0]]),
 *   advantages: tf.tensor2d([[1, 1, 1]]),
 *   mask: tf.tensor2d([[1, 1, 0]]),
 * };
 * const options: ClipFractionOptions = { epsilon: 0.2 };
 * // ρ = 1.5 > 1.2 with A > 0: clipped; ρ = 1.1: not clipped; the third token is masked
 * assertEquals(clipFraction(inputs, options), 0.5);
 * tf.dispose(Object.values(inputs));
 * ```
 */
export function clipFraction(
  inputs: ClipFractionInputs,
  options: ClipFractionOptions = {},
): number {
  const { logProbs, oldLogProbs, advantages, mask } = inputs ?? ({} as ClipFractionInputs);
  checkRank(CONTEXT, "logProbs", logProbs, 2, "[B, T]", "float32");
  checkRank(CONTEXT, "oldLogProbs", oldLogProbs, 2, "[B, T]", "float32");
  checkRank(CONTEXT, "advantages", advantages, 2, "[B, T]", "float32");
  checkRank(CONTEXT, "mask", mask, 2, "[B, T]", "float32");
  checkSameShape(CONTEXT, "logProbs", logProbs, "oldLogProbs", oldLogProbs);
  checkSameShape(CONTEXT, "logProbs", logProbs, "advantages", advantages);
  checkSameShape(CONTEXT, "logProbs", logProbs, "mask", mask);
  const epsilon = checkNumber(CONTEXT, "epsilon", options?.epsilon ?? 0.2, {
    min: 0,
    exclusiveMin: true,
    max: 1,
  });
  const epsilonHigh = checkNumber(CONTEXT, "epsilonHigh", options?.epsilonHigh ?? epsilon, {
    min: 0,
    exclusiveMin: true,
  });
  checkFinite(CONTEXT, "oldLogProbs", oldLogProbs);
  checkFinite(CONTEXT, "advantages", advantages);
  checkMask(CONTEXT, "mask", mask);
  const counts = tf.tidy(() => {
    const ratio = tf.exp(tf.sub(logProbs, oldLogProbs));
    const negAdvantages = tf.neg(advantages);
    const unclipped = tf.mul(negAdvantages, ratio);
    const clipped = tf.mul(negAdvantages, tf.clipByValue(ratio, 1 - epsilon, 1 + epsilonHigh));
    const active = tf.logicalAnd(tf.greater(clipped, unclipped), tf.greater(mask, 0));
    return tf.stack([tf.sum(tf.cast(active, "float32")), tf.sum(mask)]);
  });
  const [clippedCount, validCount] = counts.dataSync();
  counts.dispose();
  return validCount > 0 ? clippedCount / validCount : 0;
}
