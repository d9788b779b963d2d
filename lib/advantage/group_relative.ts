/**
 * Group-relative advantages: each response's reward compared with the other responses sampled for
 * the same prompt (GRPO and its variants).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkFinite, checkInteger, checkNumber, checkOneOf, checkRank } from "../validate.ts";

/**
 * How {@linkcode groupRelativeAdvantages} rescales the centred rewards:
 * `"group"` by each group's standard deviation (GRPO), `"batch"` by the standard deviation of the
 * whole batch, `"none"` not at all (Dr. GRPO).
 */
export type GroupScale = "group" | "batch" | "none";

/** The valid values of {@linkcode GroupScale}. */
export const GROUP_SCALES: readonly GroupScale[] = ["group", "batch", "none"];

/** Options of {@linkcode groupRelativeAdvantages}. */
export interface GroupRelativeOptions {
  /** Responses per prompt `G`; the responses of one prompt are contiguous. Must divide `N`. */
  groupSize: number;
  /** How the centred rewards are rescaled (default `"group"`). */
  scale?: GroupScale;
  /** Added to the standard deviation before dividing (default `1e-6`). */
  epsilon?: number;
  /** Delta degrees of freedom of the standard deviation: 1 divides by `n − 1` (default), 0 by `n`. */
  ddof?: 0 | 1;
}

/**
 * Group-relative advantages of response-level rewards.
 *
 * With `g` the group of response `i` (the `G` contiguous responses of one prompt):
 *
 * - `"group"`: `Aᵢ = (rᵢ − mean_g) / (std_g + ε)`
 * - `"batch"`: `Aᵢ = (rᵢ − mean_g) / (std_all + ε)`, where `std_all` is the standard deviation of all
 *   `N` rewards
 * - `"none"`:  `Aᵢ = rᵢ − mean_g`
 *
 * with `std = √(Σ (r − mean)² / (n − ddof))`. A group whose rewards are all equal gets exactly 0
 * (no learning signal), whatever the scale. Rewards are response-level: broadcast the result over
 * the response tokens with `broadcastToTokens`.
 *
 * Theorem 1 of the paper shows that `Σₜ RM(W) ∇log π(wₜ | W[0..t−1])` is an unbiased estimate of the
 * token-level policy gradient, and Lemma 2 that a prompt-level baseline (the group mean) keeps it
 * unbiased; the division by `std_g` is a per-prompt rescaling, not variance reduction.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., "Response-Level Rewards Are All You Need
 * for Online Reinforcement Learning in LLMs: A Mathematical Perspective", Theorem 1 and Lemma 2.
 *
 * Used by GRPO (`"group"`), Dr. GRPO (`"none"`) and batch-normalised variants (`"batch"`).
 *
 * Preconditions: `rewards` is float32 of shape `[N]` with finite entries; `groupSize` is a positive
 * integer dividing `N`.
 *
 * @param rewards Response-level rewards, float32 `[N]`, groups contiguous.
 * @param options Group size, scale, epsilon and ddof.
 * @returns Advantages, float32 `[N]`.
 * @throws {TypeError} When `rewards` is not a float32 tensor of rank 1 or `groupSize` is not an
 * integer.
 * @throws {RangeError} When `groupSize` is below 1 or does not divide `N`, `scale` is unknown,
 * `epsilon` is negative, `ddof` is neither 0 nor 1, or a reward is NaN or infinite.
 *
 * @example Two prompts, three responses each
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import {
 *   GROUP_SCALES,
 *   groupRelativeAdvantages,
 *   type GroupRelativeOptions,
 *   type GroupScale,
 * } from "./group_relative.ts";
 * import { assertArrayAlmostEquals, assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * assertEquals(GROUP_SCALES, ["group", "batch", "none"]);
 * const rewards = tf.tensor1d([1, 0, 2, 5, 5, 5]);
 * const scale: GroupScale = "none";
 * const options: GroupRelativeOptions = { groupSize: 3, scale };
 * const advantages = groupRelativeAdvantages(rewards, options);
 * // Group 1 has mean 1; group 2 has equal rewards, hence exactly 0.
 * assertArrayAlmostEquals(await advantages.data(), [0, -1, 1, 0, 0, 0]);
 * tf.dispose([rewards, advantages]);
 * ```
 */
export function groupRelativeAdvantages(
  rewards: tf.Tensor1D,
  options: GroupRelativeOptions,
): tf.Tensor1D {
  const context = "Cannot compute group-relative advantages";
  const r = checkRank(context, "rewards", rewards, 1, "[N]", "float32");
  const { groupSize, scale = "group", epsilon = 1e-6, ddof = 1 } = options ?? {};
  checkInteger(context, "groupSize", groupSize, 1);
  const n = r.shape[0];
  if (n % groupSize !== 0) {
    throw new RangeError(
      `${context}: groupSize must divide the number of rewards, got groupSize ${groupSize} for ${n} rewards`,
    );
  }
  checkOneOf(context, "scale", scale, GROUP_SCALES);
  checkNumber(context, "epsilon", epsilon, { min: 0 });
  if (ddof !== 0 && ddof !== 1) {
    throw new RangeError(`${context}: ddof must be 0 or 1, got ${ddof}`);
  }
  checkFinite(context, "rewards", r);
  return tf.tidy(() => {
    const grouped = r.reshape([n / groupSize, groupSize]);
    const centred = grouped.sub(grouped.mean(1, true));
    let scaled: tf.Tensor = centred;
    if (scale === "group") {
      const variance = centred.square().sum(1, true).div(Math.max(groupSize - ddof, 1));
      scaled = centred.div(variance.sqrt().add(epsilon));
    } else if (scale === "batch") {
      const variance = r.sub(r.mean()).square().sum().div(Math.max(n - ddof, 1));
      scaled = centred.div(variance.sqrt().add(epsilon));
    }
    // Equal rewards give exactly 0 (float32 rounding of the mean could leave a tiny residue).
    const equal = grouped.max(1, true).equal(grouped.min(1, true));
    return tf.where(equal, 0, scaled).reshape([n]) as tf.Tensor1D;
  });
}
