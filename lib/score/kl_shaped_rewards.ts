/**
 * KL-shaped per-token rewards: the response reward on the last valid token and a KL penalty to the
 * reference policy on every valid token (PPO's InstructGPT-style reward).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  checkFiniteValues,
  checkMask,
  checkNumber,
  checkRank,
  checkSameShape,
  formatShape,
  isDeviceBackend,
} from "../validate.ts";

/** Options of {@linkcode klShapedTokenRewards}. */
export interface KlShapedTokenRewardsOptions {
  /** KL coefficient β ≥ 0 (0 disables the penalty). */
  beta: number;
}

/**
 * Per-token rewards for a critic-based learner from a response-level reward.
 *
 * `rₜ = −β · (log π(wₜ | W[0..t−1]) − log π_ref(wₜ | W[0..t−1])) + [t = last valid token] · RM(W)`
 *
 * and `rₜ = 0` where `mask` is 0. The KL term is the k1 estimator `d = log π − log π_ref` per
 * sampled token. The response reward sits on the last valid token (the Zero-Reward Assumption);
 * a row with no valid token gets no reward at all. The result is a constant: compute it outside
 * any gradient closure.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Zero-Reward Assumption and Theorem 2
 * (arXiv 2506.02553).
 *
 * Used by PPO (input of `generalizedAdvantages`).
 *
 * Preconditions: `rewards` float32 `[B]`; `logProbs`, `refLogProbs` and `mask` float32 `[B, T]`
 * with the same `B`; all finite; mask 0/1; β ≥ 0. On a GPU backend (webgpu, webgl) the value
 * checks (finite, 0/1) are skipped, and the last valid token is found with tfjs ops (no
 * synchronous device read).
 *
 * @param rewards Response-level rewards `RM(W)`, float32 `[B]`.
 * @param logProbs Log-probs of the sampled tokens under the policy, float32 `[B, T]`.
 * @param refLogProbs Log-probs of the same tokens under the reference policy, float32 `[B, T]`.
 * @param mask Valid-token mask, float32 0/1 `[B, T]`.
 * @param options The KL coefficient β.
 * @returns Token rewards, float32 `[B, T]`, 0 at masked positions.
 * @throws {TypeError} When an argument is not a float32 tensor of the right rank or the shapes do
 * not fit.
 * @throws {RangeError} When a value is NaN or infinite, the mask is not 0/1, or β is negative.
 *
 * @example Reward 1 on a three-token response, β = 0.5
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import {
 *   klShapedTokenRewards,
 *   type KlShapedTokenRewardsOptions,
 * } from "./kl_shaped_rewards.ts";
 * import { assertArrayAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const rewards = tf.tensor1d([1]);
 * const logProbs = tf.tensor2d([[-1, -2, -0.5, 0]]);
 * const refLogProbs = tf.tensor2d([[-1.5, -2, -1, 0]]);
 * const mask = tf.tensor2d([[1, 1, 1, 0]]);
 * const options: KlShapedTokenRewardsOptions = { beta: 0.5 };
 * const tokenRewards = klShapedTokenRewards(rewards, logProbs, refLogProbs, mask, options);
 * // d = [0.5, 0, 0.5]; r = [−0.25, 0, −0.25 + 1, 0]
 * assertArrayAlmostEquals(await tokenRewards.data(), [-0.25, 0, 0.75, 0]);
 * tf.dispose([rewards, logProbs, refLogProbs, mask, tokenRewards]);
 * ```
 */
export function klShapedTokenRewards(
  rewards: tf.Tensor1D,
  logProbs: tf.Tensor2D,
  refLogProbs: tf.Tensor2D,
  mask: tf.Tensor2D,
  options: KlShapedTokenRewardsOptions,
): tf.Tensor2D {
  const context = "Cannot compute KL-shaped token rewards";
  const r = checkRank(context, "rewards", rewards, 1, "[B]", "float32");
  const lp = checkRank(context, "logProbs", logProbs, 2, "[B, T]", "float32");
  const ref = checkRank(context, "refLogProbs", refLogProbs, 2, "[B, T]", "float32");
  const m = checkRank(context, "mask", mask, 2, "[B, T]", "float32");
  checkSameShape(context, "logProbs", lp, "refLogProbs", ref);
  checkSameShape(context, "logProbs", lp, "mask", m);
  const [rows, columns] = m.shape;
  if (r.shape[0] !== rows) {
    throw new TypeError(
      `${context}: rewards and mask must have the same B, got rewards ${
        formatShape(r.shape)
      } and mask ${formatShape(m.shape)}`,
    );
  }
  const beta = checkNumber(context, "beta", options?.beta, { min: 0 });
  if (isDeviceBackend()) {
    return tf.tidy(() => {
      const valid = tf.cast(tf.equal(m, 1), "float32");
      // The last valid token is the valid one with no valid token after it.
      const fromHere = tf.cumsum(valid, 1, false, true);
      const last = tf.mul(valid, tf.cast(tf.equal(fromHere, 1), "float32"));
      const shaped = tf.mul(last, tf.expandDims(r, 1)).sub(lp.sub(ref).mul(beta));
      return tf.where(m.equal(1), shaped, 0) as tf.Tensor2D;
    });
  }
  checkMask(context, "mask", m);
  const rewardData = r.dataSync() as Float32Array;
  checkFiniteValues(context, "rewards", rewardData);
  checkFiniteValues(context, "logProbs", lp.dataSync() as Float32Array);
  checkFiniteValues(context, "refLogProbs", ref.dataSync() as Float32Array);
  const valid = m.dataSync() as Float32Array;
  const terminal = new Float32Array(rows * columns);
  for (let b = 0; b < rows; b++) {
    for (let t = columns - 1; t >= 0; t--) {
      if (valid[b * columns + t] === 1) {
        terminal[b * columns + t] = rewardData[b];
        break;
      }
    }
  }
  return tf.tidy(() => {
    const shaped = tf.tensor2d(terminal, [rows, columns]).sub(lp.sub(ref).mul(beta));
    return tf.where(m.equal(1), shaped, 0) as tf.Tensor2D;
  });
}
