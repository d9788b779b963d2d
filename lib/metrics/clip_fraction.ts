/**
 * How often PPO's clip is active: the share of tokens that get no gradient from the surrogate.
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
 * Reads its result synchronously, so it throws on a GPU backend (webgpu, webgl); there, use
 * {@linkcode clipFractionCounts} and `await counts.data()` (as the training step does).
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
 * @throws {Error} On a GPU backend (see above).
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
  if (isDeviceBackend()) {
    throw new Error(
      `${CONTEXT}: clipFraction reads synchronously, which the ${tf.getBackend()} backend cannot do; use clipFractionCounts and await its data()`,
    );
  }
  const counts = clipFractionCounts(inputs, options);
  const [clippedCount, validCount] = counts.dataSync();
  counts.dispose();
  return validCount > 0 ? clippedCount / validCount : 0;
}

/**
 * {@linkcode clipFraction} as a tensor, for reading asynchronously (on every backend):
 * `[Σ_t m_t · clipped_t, Σ_t m_t]`. The fraction is the first entry divided by the second (0 when
 * the second is 0). Same checks as {@linkcode clipFraction}; on a GPU backend the value checks
 * (finite inputs, 0/1 mask) are skipped.
 *
 * @param inputs Log-probs, old log-probs, advantages and mask, each `[B, T]`.
 * @param options The clip ranges.
 * @returns float32 `[2]`: clipped count, valid count.
 * @throws {TypeError} As {@linkcode clipFraction}.
 * @throws {RangeError} As {@linkcode clipFraction}.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { clipFractionCounts } from "./clip_fraction.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const logProbs = tf.tensor2d([[Math.log(1.5), Math.log(1.1), Math.log(2)]]);
 * const zeros = tf.zeros([1, 3]) as tf.Tensor2D;
 * const advantages = tf.ones([1, 3]) as tf.Tensor2D;
 * const mask = tf.tensor2d([[1, 1, 0]]);
 * const counts = clipFractionCounts({ logProbs, oldLogProbs: zeros, advantages, mask });
 * assertEquals(Array.from(await counts.data()), [1, 2]);
 * tf.dispose([logProbs, zeros, advantages, mask, counts]);
 * ```
 */
export function clipFractionCounts(
  inputs: ClipFractionInputs,
  options: ClipFractionOptions = {},
): tf.Tensor1D {
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
  return tf.tidy(() => {
    const ratio = tf.exp(tf.sub(logProbs, oldLogProbs));
    const negAdvantages = tf.neg(advantages);
    const unclipped = tf.mul(negAdvantages, ratio);
    const clipped = tf.mul(negAdvantages, tf.clipByValue(ratio, 1 - epsilon, 1 + epsilonHigh));
    const active = tf.logicalAnd(tf.greater(clipped, unclipped), tf.greater(mask, 0));
    return tf.stack([tf.sum(tf.cast(active, "float32")), tf.sum(mask)]) as tf.Tensor1D;
  });
}
