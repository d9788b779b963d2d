/**
 * Discounted returns (reward-to-go) of per-token rewards.
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
  isDeviceBackend,
} from "../validate.ts";

/** Options of {@linkcode discountedReturns}. */
export interface DiscountedReturnsOptions {
  /** Discount factor γ in [0, 1] per valid token (default 1, the paper's choice under the ZRA). */
  gamma?: number;
}

/**
 * Reward-to-go of per-token rewards over the valid tokens of each sequence.
 *
 * `Gₜ = Σ_{s ≥ t, m_s = 1} γ^(k(s) − k(t)) · r_s` for valid `t`, and `Gₜ = 0` where `mₜ = 0`,
 * where `k(t)` counts the valid tokens up to `t` — masked positions are skipped, not counted as
 * steps (with the usual prefix masks this is the plain `Gₜ = rₜ + γ Gₜ₊₁`, 0 after the last valid
 * token). Rewards at masked positions are ignored.
 *
 * Under the Zero-Reward Assumption (the response reward on the last token, 0 elsewhere) and γ = 1,
 * every token's return is the response reward `RM(W)`; Eq. 26 of the paper shows that γ < 1 then
 * weights token t by `γ^(T−t)` and biases the gradient, so keep γ = 1 there.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Lemma 1 and Eq. 26 (arXiv 2506.02553).
 *
 * Used by REINFORCE-style token-reward baselines and as the λ = 1 case of GAE (PPO).
 *
 * Computed on the host in float64 by one reverse scan per row (the result is a constant of the
 * loss; the inputs are read for validation anyway). On a GPU backend (webgpu, webgl) the same scan
 * runs as tfjs ops in float32, and the value checks (finite rewards, 0/1 mask) are skipped: they
 * would need a synchronous device read.
 *
 * Preconditions: `tokenRewards` and `mask` are float32 of the same shape `[B, T]`; rewards finite;
 * mask entries 0 or 1.
 *
 * @param tokenRewards Per-token rewards, float32 `[B, T]`.
 * @param mask Valid-token mask, float32 0/1 `[B, T]`.
 * @param options The discount factor.
 * @returns Returns, float32 `[B, T]`, 0 at masked positions.
 * @throws {TypeError} When an argument is not a float32 tensor of rank 2 or the shapes differ.
 * @throws {RangeError} When a reward is NaN or infinite, the mask is not 0/1, or γ is outside
 * [0, 1].
 *
 * @example Reward on the last token, γ = 0.5
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { discountedReturns, type DiscountedReturnsOptions } from "./discounted_returns.ts";
 * import { assertArrayAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const rewards = tf.tensor2d([[0, 0, 1, 0]]);
 * const mask = tf.tensor2d([[1, 1, 1, 0]]);
 * const options: DiscountedReturnsOptions = { gamma: 0.5 };
 * const returns = discountedReturns(rewards, mask, options);
 * assertArrayAlmostEquals(await returns.data(), [0.25, 0.5, 1, 0]);
 * tf.dispose([rewards, mask, returns]);
 * ```
 */
export function discountedReturns(
  tokenRewards: tf.Tensor2D,
  mask: tf.Tensor2D,
  options: DiscountedReturnsOptions = {},
): tf.Tensor2D {
  const context = "Cannot compute discounted returns";
  const r = checkRank(context, "tokenRewards", tokenRewards, 2, "[B, T]", "float32");
  const m = checkRank(context, "mask", mask, 2, "[B, T]", "float32");
  checkSameShape(context, "tokenRewards", r, "mask", m);
  const { gamma = 1 } = options ?? {};
  checkNumber(context, "gamma", gamma, { min: 0, max: 1 });
  if (isDeviceBackend()) return discountedReturnsOps(r, m, gamma);
  checkMask(context, "mask", m);
  const rewards = r.dataSync() as Float32Array;
  checkFiniteValues(context, "tokenRewards", rewards);
  const valid = m.dataSync() as Float32Array;
  const [rows, columns] = r.shape;
  const out = new Float32Array(rows * columns);
  for (let b = 0; b < rows; b++) {
    let g = 0;
    for (let t = columns - 1; t >= 0; t--) {
      const i = b * columns + t;
      if (valid[i] !== 1) continue;
      g = rewards[i] + gamma * g;
      out[i] = g;
    }
  }
  return tf.tensor2d(out, [rows, columns]);
}

/** The reverse scan as tfjs ops (GPU backends, no synchronous read): T steps over `[B]` columns. */
function discountedReturnsOps(r: tf.Tensor, m: tf.Tensor, gamma: number): tf.Tensor2D {
  return tf.tidy(() => {
    const columns = r.shape[1] as number;
    const rewards = tf.unstack(r, 1);
    const valid = tf.unstack(tf.cast(tf.equal(m, 1), "float32"), 1);
    let g: tf.Tensor = tf.zerosLike(rewards[0]);
    const out: tf.Tensor[] = new Array(columns);
    for (let t = columns - 1; t >= 0; t--) {
      const next = rewards[t].add(g.mul(gamma));
      out[t] = next.mul(valid[t]);
      g = out[t].add(g.mul(tf.sub(1, valid[t])));
    }
    return tf.stack(out, 1) as tf.Tensor2D;
  });
}
