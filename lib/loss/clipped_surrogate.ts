/**
 * The clipped importance-ratio surrogate loss of PPO, per token (with DAPO's asymmetric clip and
 * the optional dual clip).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkFinite, checkNumber, checkRank, checkSameShape } from "../validate.ts";

const CONTEXT = "Cannot compute the clipped surrogate loss";

/** Inputs of {@linkcode clippedSurrogateLoss}. */
export interface ClippedSurrogateInputs {
  /** log π_θ(w_t | …) under the current policy, float32 `[B, T]`; differentiable. */
  logProbs: tf.Tensor2D;
  /** log π_old(w_t | …) under the policy that sampled the tokens, float32 `[B, T]`; a constant. */
  oldLogProbs: tf.Tensor2D;
  /** Token advantages A_t, float32 `[B, T]`; a constant. */
  advantages: tf.Tensor2D;
}

/** Options of {@linkcode clippedSurrogateLoss}. */
export interface ClippedSurrogateOptions {
  /** Lower clip range ε: ρ is clipped below at `1 − ε`. In (0, 1]; default 0.2. */
  epsilon?: number;
  /** Upper clip range ε_high: ρ is clipped above at `1 + ε_high` (DAPO's "clip higher"). Greater than 0; default `epsilon`. */
  epsilonHigh?: number;
  /**
   * Dual-clip constant c > 1: the loss of a token with `A < 0` is capped at `−A·c`, so that a
   * very large ratio on a bad token cannot produce an unbounded update. Off by default.
   */
  dualClip?: number;
}

/** Check the clip ranges; also used (in the same form) by `clipFraction`. */
function resolveClipRange(
  options: ClippedSurrogateOptions,
): { epsilon: number; epsilonHigh: number } {
  const epsilon = checkNumber(CONTEXT, "epsilon", options.epsilon ?? 0.2, {
    min: 0,
    exclusiveMin: true,
    max: 1,
  });
  const epsilonHigh = checkNumber(CONTEXT, "epsilonHigh", options.epsilonHigh ?? epsilon, {
    min: 0,
    exclusiveMin: true,
  });
  return { epsilon, epsilonHigh };
}

/**
 * The per-token clipped surrogate loss
 *
 * `ℓ_t = max(−A_t·ρ_t, −A_t·clip(ρ_t, 1 − ε, 1 + ε_high))`, `ρ_t = exp(log π_θ − log π_old)`,
 *
 * and, with `dualClip = c`, `ℓ_t = min(ℓ_t, −A_t·c)` for tokens with `A_t < 0`.
 *
 * On-policy (ρ = 1) the value is `−A_t` and the gradient w.r.t. `logProbs` is `−A_t`, the same as
 * `policyGradientLoss`: the unbiased estimator of Theorem 1 (response-level advantages, GRPO /
 * RLOO / ReMax) or of Theorem 2 (token-level advantages, PPO / TRePO) of the paper. Off-policy
 * epochs re-use the batch; the clip stops the ratio from moving far from 1. Where the clipped
 * term is strictly larger its gradient is zero; on a tie the unclipped term's gradient is used.
 *
 * @see https://arxiv.org/abs/2506.02553 (He, Xia, Zhou, Wei, Theorem 2)
 *
 * Used by: PPO, GRPO, ReMax, RLOO and TRePO (DAPO's asymmetric `epsilonHigh`, dual clip optional).
 *
 * Preconditions: all three tensors float32 with the same shape `[B, T]`; `oldLogProbs` and
 * `advantages` finite; `0 < epsilon ≤ 1`; `epsilonHigh > 0`; `dualClip > 1` when given. The loss
 * is not masked here: reduce it with `aggregateLoss`.
 *
 * @param inputs Current log-probs `[B, T]` (differentiable), old log-probs `[B, T]` and
 *   advantages `[B, T]` (constants).
 * @param options Clip ranges and the optional dual clip.
 * @returns The per-token loss, float32 `[B, T]`.
 * @throws {TypeError} When an input is not a float32 `[B, T]` tensor, the shapes differ, or an
 *   option is not a finite number.
 * @throws {RangeError} When an old log-prob or advantage is not finite, or an option is out of range.
 *
 * @example The ratio is clipped at 1 + ε for a positive advantage
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import {
 *   clippedSurrogateLoss,
 *   type ClippedSurrogateInputs,
 *   type ClippedSurrogateOptions,
 * } from "./clipped_surrogate.ts";
 * import { assertArrayAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const inputs: ClippedSurrogateInputs = {
 *   logProbs: tf.tensor2d([[Math.log(1.5), Math.log(1)]]),
 *   oldLogProbs: tf.tensor2d([[0, 0]]),
 *   advantages: tf.tensor2d([[2, -1]]),
 * };
 * const options: ClippedSurrogateOptions = { epsilon: 0.2 };
 * const loss = clippedSurrogateLoss(inputs, options);
 * // token 0: ρ = 1.5, max(−2·1.5, −2·1.2) = −2.4; token 1: ρ = 1, max(1, 1) = 1
 * assertArrayAlmostEquals(await loss.data(), [-2.4, 1], 1e-6);
 * tf.dispose([inputs.logProbs, inputs.oldLogProbs, inputs.advantages, loss]);
 * ```
 */
export function clippedSurrogateLoss(
  inputs: ClippedSurrogateInputs,
  options: ClippedSurrogateOptions = {},
): tf.Tensor2D {
  const { logProbs, oldLogProbs, advantages } = inputs ?? ({} as ClippedSurrogateInputs);
  checkRank(CONTEXT, "logProbs", logProbs, 2, "[B, T]", "float32");
  checkRank(CONTEXT, "oldLogProbs", oldLogProbs, 2, "[B, T]", "float32");
  checkRank(CONTEXT, "advantages", advantages, 2, "[B, T]", "float32");
  checkSameShape(CONTEXT, "logProbs", logProbs, "oldLogProbs", oldLogProbs);
  checkSameShape(CONTEXT, "logProbs", logProbs, "advantages", advantages);
  const { epsilon, epsilonHigh } = resolveClipRange(options ?? {});
  const dualClip = options?.dualClip === undefined
    ? undefined
    : checkNumber(CONTEXT, "dualClip", options.dualClip, { min: 1, exclusiveMin: true });
  checkFinite(CONTEXT, "oldLogProbs", oldLogProbs);
  checkFinite(CONTEXT, "advantages", advantages);
  return tf.tidy((): tf.Tensor => {
    const ratio = tf.exp(tf.sub(logProbs, oldLogProbs));
    const negAdvantages = tf.neg(advantages);
    const unclipped = tf.mul(negAdvantages, ratio);
    const clipped = tf.mul(negAdvantages, tf.clipByValue(ratio, 1 - epsilon, 1 + epsilonHigh));
    // tf.maximum sends the gradient to its first argument on a tie: the unclipped term.
    const loss = tf.maximum(unclipped, clipped);
    if (dualClip === undefined) return loss;
    const cap = tf.mul(negAdvantages, dualClip);
    return tf.where(tf.less(advantages, 0), tf.minimum(loss, cap), loss);
  }) as tf.Tensor2D;
}
