/**
 * The vanilla (REINFORCE) policy-gradient loss, per token.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkFinite, checkRank, checkSameShape } from "../validate.ts";

const CONTEXT = "Cannot compute the policy-gradient loss";

/** Inputs of {@linkcode policyGradientLoss}. */
export interface PolicyGradientLossInputs {
  /** log π(w_t | W[0..t−1]) of the sampled tokens, float32 `[B, T]`; differentiable. */
  logProbs: tf.Tensor2D;
  /** Token advantages A_t, float32 `[B, T]`; a constant (computed outside the gradient closure). */
  advantages: tf.Tensor2D;
}

/**
 * The per-token policy-gradient loss `ℓ_t = −A_t · log π(w_t | W[0..t−1])`.
 *
 * Its gradient is `−A_t ∇log π(w_t | …)`, so minimising the aggregated loss follows the
 * one-sample estimate `Σ_t A_t ∇log π(w_t | …)` of Lemma 1 / Theorem 1 (Eq. 21) of the paper: with
 * `A_t = RM(W) − b(w0)` this is the unbiased estimator behind GRPO, ReMax, RLOO and REINFORCE
 * when they take one gradient step per batch (on-policy). Off-policy steps use
 * `clippedSurrogateLoss` instead; it has the same value gradient on-policy.
 *
 * @see https://arxiv.org/abs/2506.02553 (He, Xia, Zhou, Wei, Theorem 1)
 *
 * Used by: REINFORCE, and by GRPO / ReMax / RLOO when `epochs = 1`.
 *
 * Preconditions: both tensors float32 with the same shape `[B, T]`; `advantages` finite. The loss
 * is not masked here: reduce it with `aggregateLoss`, which ignores masked positions.
 *
 * @param inputs The log-probs `[B, T]` (differentiable) and the advantages `[B, T]` (constant).
 * @returns The per-token loss, float32 `[B, T]`.
 * @throws {TypeError} When an input is not a float32 `[B, T]` tensor or the shapes differ.
 * @throws {RangeError} When an advantage is NaN or infinite (the message names its flat index).
 *
 * @example −A·logπ, token by token
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { policyGradientLoss, type PolicyGradientLossInputs } from "./policy_gradient.ts";
 * import { assertArrayAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const logProbs = tf.tensor2d([[-0.5, -2]]);
 * const advantages = tf.tensor2d([[1, -0.5]]);
 * const inputs: PolicyGradientLossInputs = { logProbs, advantages };
 * const loss = policyGradientLoss(inputs);
 * // −(1)(−0.5) = 0.5; −(−0.5)(−2) = −1
 * assertArrayAlmostEquals(await loss.data(), [0.5, -1]);
 * tf.dispose([logProbs, advantages, loss]);
 * ```
 */
export function policyGradientLoss(inputs: PolicyGradientLossInputs): tf.Tensor2D {
  const { logProbs, advantages } = inputs ?? ({} as PolicyGradientLossInputs);
  checkRank(CONTEXT, "logProbs", logProbs, 2, "[B, T]", "float32");
  checkRank(CONTEXT, "advantages", advantages, 2, "[B, T]", "float32");
  checkSameShape(CONTEXT, "logProbs", logProbs, "advantages", advantages);
  checkFinite(CONTEXT, "advantages", advantages);
  return tf.tidy(() => tf.neg(tf.mul(advantages, logProbs)));
}
