/**
 * Per-token estimators of the KL divergence between the policy and a frozen reference model.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkFinite, checkOneOf, checkRank, checkSameShape } from "../validate.ts";

const CONTEXT = "Cannot compute the KL penalty";

/** The KL estimators of {@linkcode klPenalty} (Schulman's k1, k2, k3). */
export type KlEstimator = "k1" | "k2" | "k3";

/** The valid values of {@linkcode KlEstimator}, in order. */
export const KL_ESTIMATORS: readonly KlEstimator[] = ["k1", "k2", "k3"];

/** Options of {@linkcode klPenalty}. */
export interface KlPenaltyOptions {
  /** Which estimator; default `"k1"`. */
  estimator?: KlEstimator;
}

/**
 * A per-token estimate of `KL(π_θ ‖ π_ref)` from the log-probs of tokens sampled from the policy,
 * with `d_t = log π_θ(w_t | …) − log π_ref(w_t | …)`:
 *
 * - `"k1"`: `d` — unbiased, can be negative, high variance (PPO-style reward shaping);
 * - `"k2"`: `d²/2` — non-negative, biased, low variance;
 * - `"k3"`: `e^(−d) + d − 1` — non-negative (since eˣ ≥ 1 + x), unbiased for the KL when the tokens
 *   come from π_θ, low variance (GRPO's loss penalty).
 *
 * @see https://arxiv.org/abs/2506.02553 (the KL to the reference in GRPO and TRePO)
 *
 * Used by: GRPO and TRePO (k3, added to the per-token loss with weight β), PPO and ReMax (k1,
 * folded into the token rewards by `klShapedTokenRewards`).
 *
 * Preconditions: both tensors float32 with the same shape `[B, T]`; `refLogProbs` finite. The
 * result is not masked: reduce it with `aggregateLoss`.
 *
 * @param logProbs log π_θ of the sampled tokens, float32 `[B, T]`; differentiable.
 * @param refLogProbs log π_ref of the same tokens, float32 `[B, T]`; a constant.
 * @param options The estimator.
 * @returns The per-token estimate, float32 `[B, T]`.
 * @throws {TypeError} When an input is not a float32 `[B, T]` tensor or the shapes differ.
 * @throws {RangeError} For an unknown estimator (the message lists the valid ones) or a
 *   non-finite reference log-prob.
 *
 * @example The three estimators at d = log 2
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import {
 *   KL_ESTIMATORS,
 *   type KlEstimator,
 *   klPenalty,
 *   type KlPenaltyOptions,
 * } from "./kl_penalty.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const logProbs = tf.tensor2d([[Math.log(0.5)]]);
 * const refLogProbs = tf.tensor2d([[Math.log(0.25)]]);
 * const [k1, k2, k3] = KL_ESTIMATORS.map((estimator: KlEstimator) => {
 *   const options: KlPenaltyOptions = { estimator };
 *   return klPenalty(logProbs, refLogProbs, options);
 * });
 * const d = Math.log(2);
 * assertAlmostEquals((await k1.data())[0], d, 1e-6);
 * assertAlmostEquals((await k2.data())[0], d * d / 2, 1e-6);
 * assertAlmostEquals((await k3.data())[0], 0.5 + d - 1, 1e-6); // e^(−log 2) = 1/2
 * tf.dispose([logProbs, refLogProbs, k1, k2, k3]);
 * ```
 */
export function klPenalty(
  logProbs: tf.Tensor2D,
  refLogProbs: tf.Tensor2D,
  options: KlPenaltyOptions = {},
): tf.Tensor2D {
  checkRank(CONTEXT, "logProbs", logProbs, 2, "[B, T]", "float32");
  checkRank(CONTEXT, "refLogProbs", refLogProbs, 2, "[B, T]", "float32");
  checkSameShape(CONTEXT, "logProbs", logProbs, "refLogProbs", refLogProbs);
  const estimator = checkOneOf(CONTEXT, "estimator", options?.estimator ?? "k1", KL_ESTIMATORS);
  checkFinite(CONTEXT, "refLogProbs", refLogProbs);
  return tf.tidy((): tf.Tensor => {
    const d = tf.sub(logProbs, refLogProbs);
    switch (estimator) {
      case "k1":
        return d;
      case "k2":
        return tf.mul(tf.mul(d, d), 0.5);
      case "k3":
        return tf.sub(tf.add(tf.exp(tf.neg(d)), d), 1);
    }
  }) as tf.Tensor2D;
}
