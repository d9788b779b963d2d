/**
 * Generalized advantage estimation (GAE) from per-token rewards and a learned value per token.
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

/** Inputs of {@linkcode generalizedAdvantages}, all float32 `[B, T]`. */
export interface GeneralizedAdvantagesInputs {
  /** Per-token rewards `rₜ` (e.g. from `klShapedTokenRewards`), float32 `[B, T]`. */
  tokenRewards: tf.Tensor2D;
  /** Critic values `Vₜ` of the state before token t, float32 `[B, T]`. */
  values: tf.Tensor2D;
  /** Valid-token mask, float32 0/1 `[B, T]`. */
  mask: tf.Tensor2D;
}

/** Options of {@linkcode generalizedAdvantages}. */
export interface GeneralizedAdvantagesOptions {
  /** Discount factor γ in [0, 1] (default 1). */
  gamma?: number;
  /** GAE trade-off λ in [0, 1]: 0 is the one-step TD error, 1 the Monte-Carlo return (default 1). */
  lambda?: number;
}

/** Result of {@linkcode generalizedAdvantages}. */
export interface GeneralizedAdvantages {
  /** Advantages `Aₜ`, float32 `[B, T]`, 0 at masked positions. */
  advantages: tf.Tensor2D;
  /** Value targets `Rₜ = Aₜ + Vₜ`, float32 `[B, T]`, 0 at masked positions. */
  returns: tf.Tensor2D;
}

/**
 * Generalized advantage estimation over the valid tokens of each sequence.
 *
 * `δₜ = rₜ + γ·Vₜ₊₁ − Vₜ`, `Aₜ = δₜ + γλ·Aₜ₊₁`, `Rₜ = Aₜ + Vₜ`,
 *
 * where `t + 1` is the next valid token, the value after the last valid token is 0 and `A` after it
 * is 0 (masked positions are skipped, not counted as steps; with prefix masks this is the textbook
 * recursion). Advantages and returns are 0 at masked positions; returns are computed before any
 * whitening. With λ = 1 the advantage is the discounted return minus the value,
 * `Aₜ = Gₜ − Vₜ`.
 *
 * Theorem 2 of the paper writes the policy gradient with the advantage `E[RM | after wₜ] −
 * E[RM | before wₜ]`; under the Zero-Reward Assumption with γ = 1 that is `Q − V`, the quantity PPO
 * estimates with GAE and a learned critic.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Theorem 2 (arXiv 2506.02553).
 *
 * Used by PPO.
 *
 * Computed on the host in float64 by one reverse scan per row (advantages and returns are constants
 * of the loss; the inputs are read for validation anyway). On a GPU backend (webgpu, webgl) the
 * same scan runs as tfjs ops in float32, one column at a time, and the value checks (finite
 * inputs, 0/1 mask) are skipped: they would need a synchronous device read.
 *
 * Preconditions: the three tensors are float32 of the same shape `[B, T]`; rewards and values
 * finite; mask entries 0 or 1.
 *
 * @param inputs Token rewards, values and mask, each float32 `[B, T]`.
 * @param options γ and λ.
 * @returns Advantages and returns, each float32 `[B, T]`.
 * @throws {TypeError} When an input is not a float32 tensor of rank 2 or the shapes differ.
 * @throws {RangeError} When a reward or value is NaN or infinite, the mask is not 0/1, or γ or λ is
 * outside [0, 1].
 *
 * @example One sequence of two valid tokens, γ = λ = 1
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import {
 *   type GeneralizedAdvantages,
 *   generalizedAdvantages,
 *   type GeneralizedAdvantagesInputs,
 *   type GeneralizedAdvantagesOptions,
 * } from "./generalized_advantages.ts";
 * import { assertArrayAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const inputs: GeneralizedAdvantagesInputs = {
 *   tokenRewards: tf.tensor2d([[0, 1, 0]]),
 *   values: tf.tensor2d([[0.5, 0.25, 9]]),
 *   mask: tf.tensor2d([[1, 1, 0]]),
 * };
 * const options: GeneralizedAdvantagesOptions = { gamma: 1, lambda: 1 };
 * const { advantages, returns }: GeneralizedAdvantages = generalizedAdvantages(inputs, options);
 * // A₁ = 1 + 0 − 0.25 = 0.75; A₀ = (0 + 0.25 − 0.5) + 0.75 = 0.5; R = A + V
 * assertArrayAlmostEquals(await advantages.data(), [0.5, 0.75, 0]);
 * assertArrayAlmostEquals(await returns.data(), [1, 1, 0]);
 * tf.dispose([inputs.tokenRewards, inputs.values, inputs.mask, advantages, returns]);
 * ```
 */
export function generalizedAdvantages(
  inputs: GeneralizedAdvantagesInputs,
  options: GeneralizedAdvantagesOptions = {},
): GeneralizedAdvantages {
  const context = "Cannot compute generalized advantages";
  const { tokenRewards, values, mask } = inputs ?? {};
  const r = checkRank(context, "tokenRewards", tokenRewards, 2, "[B, T]", "float32");
  const v = checkRank(context, "values", values, 2, "[B, T]", "float32");
  const m = checkRank(context, "mask", mask, 2, "[B, T]", "float32");
  checkSameShape(context, "tokenRewards", r, "values", v);
  checkSameShape(context, "tokenRewards", r, "mask", m);
  const { gamma = 1, lambda = 1 } = options ?? {};
  checkNumber(context, "gamma", gamma, { min: 0, max: 1 });
  checkNumber(context, "lambda", lambda, { min: 0, max: 1 });
  if (isDeviceBackend()) return generalizedAdvantagesOps(r, v, m, gamma, lambda);
  checkMask(context, "mask", m);
  const rewardData = r.dataSync() as Float32Array;
  checkFiniteValues(context, "tokenRewards", rewardData);
  const valueData = v.dataSync() as Float32Array;
  checkFiniteValues(context, "values", valueData);
  const valid = m.dataSync() as Float32Array;
  const [rows, columns] = r.shape;
  const advantages = new Float32Array(rows * columns);
  const returns = new Float32Array(rows * columns);
  for (let b = 0; b < rows; b++) {
    let nextValue = 0;
    let nextAdvantage = 0;
    for (let t = columns - 1; t >= 0; t--) {
      const i = b * columns + t;
      if (valid[i] !== 1) continue;
      const delta = rewardData[i] + gamma * nextValue - valueData[i];
      const advantage = delta + gamma * lambda * nextAdvantage;
      advantages[i] = advantage;
      returns[i] = advantage + valueData[i];
      nextValue = valueData[i];
      nextAdvantage = advantage;
    }
  }
  return {
    advantages: tf.tensor2d(advantages, [rows, columns]),
    returns: tf.tensor2d(returns, [rows, columns]),
  };
}

/** The reverse scan as tfjs ops (GPU backends): T steps over `[B]` columns, same recursion. */
function generalizedAdvantagesOps(
  r: tf.Tensor,
  v: tf.Tensor,
  m: tf.Tensor,
  gamma: number,
  lambda: number,
): GeneralizedAdvantages {
  return tf.tidy(() => {
    const columns = r.shape[1] as number;
    const rewards = tf.unstack(r, 1);
    const values = tf.unstack(v, 1);
    const valid = tf.unstack(tf.cast(tf.equal(m, 1), "float32"), 1);
    let nextValue: tf.Tensor = tf.zerosLike(rewards[0]);
    let nextAdvantage: tf.Tensor = tf.zerosLike(rewards[0]);
    const advantages: tf.Tensor[] = new Array(columns);
    const returns: tf.Tensor[] = new Array(columns);
    for (let t = columns - 1; t >= 0; t--) {
      const delta = rewards[t].add(nextValue.mul(gamma)).sub(values[t]);
      const advantage = delta.add(nextAdvantage.mul(gamma * lambda)).mul(valid[t]);
      advantages[t] = advantage;
      returns[t] = advantage.add(values[t]).mul(valid[t]);
      const keep = tf.sub(1, valid[t]);
      nextValue = values[t].mul(valid[t]).add(nextValue.mul(keep));
      nextAdvantage = advantage.add(nextAdvantage.mul(keep));
    }
    return {
      advantages: tf.stack(advantages, 1) as tf.Tensor2D,
      returns: tf.stack(returns, 1) as tf.Tensor2D,
    };
  });
}
