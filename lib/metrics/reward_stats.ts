/**
 * Summary statistics of a batch of response-level rewards.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { checkFiniteValues, checkInteger, checkRank, describe } from "../validate.ts";

const CONTEXT = "Cannot compute reward statistics";

/** Options of {@linkcode rewardStats}. */
export interface RewardStatsOptions {
  /**
   * Responses per prompt G; the rewards of a group are contiguous. An integer ≥ 1 that divides
   * the number of rewards; default 1 (then every group is trivially all-equal).
   */
  groupSize?: number;
}

/** The result of {@linkcode rewardStats}. */
export interface RewardStats {
  /** Mean reward (`reward/mean`). */
  mean: number;
  /** Population standard deviation of the rewards, `sqrt(Σ(r − mean)²/N)` (`reward/std`). */
  std: number;
  /** Smallest reward. */
  min: number;
  /** Largest reward. */
  max: number;
  /**
   * Fraction of the N/G groups whose G rewards are all exactly equal. Group-relative advantages
   * of such a group are 0, so it contributes no policy gradient (GRPO, RLOO).
   */
  allEqualGroupFraction: number;
}

/**
 * Mean, population standard deviation, minimum and maximum of N response-level rewards, and the
 * fraction of groups of G contiguous rewards that are all equal,
 *
 * `allEqualGroupFraction = #{g : r_{gG} = … = r_{gG+G−1}} / (N/G)`.
 *
 * The paper notes that GRPO's gradient vanishes on a group whose rewards are all equal (the group
 * mean is the baseline of every response); this fraction is the share of prompts wasted that way.
 * Computed in float64 from the values (a tensor is read once).
 *
 * @see https://arxiv.org/abs/2506.02553
 *
 * Used by: every algorithm (`reward/mean`, `reward/std`); GRPO and RLOO for the all-equal fraction.
 *
 * Preconditions: N ≥ 1 finite rewards (a `number[]` or a float32 `[N]` tensor); `groupSize`
 * an integer ≥ 1 dividing N.
 *
 * @param rewards The rewards, `number[]` or float32 `[N]`; a tensor is not disposed.
 * @param options The group size.
 * @returns The statistics.
 * @throws {TypeError} When `rewards` is neither a number array nor a float32 `[N]` tensor, or
 *   `groupSize` is not an integer.
 * @throws {RangeError} When `rewards` is empty or not finite (the message names the first bad
 *   index), `groupSize < 1`, or `groupSize` does not divide N.
 *
 * @example Two groups of three
 * ```ts
 * import { type RewardStats, rewardStats, type RewardStatsOptions } from "./reward_stats.ts";
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 *
 * const options: RewardStatsOptions = { groupSize: 3 };
 * const stats: RewardStats = rewardStats([1, 1, 1, 0, 1, 0], options);
 * // mean 4/6; Σ(r − 2/3)² = 4·(1/9) + 2·(4/9) = 12/9, /6 = 2/9
 * assertAlmostEquals(stats.mean, 2 / 3);
 * assertAlmostEquals(stats.std, Math.sqrt(2 / 9));
 * assertEquals([stats.min, stats.max, stats.allEqualGroupFraction], [0, 1, 0.5]);
 * ```
 */
export function rewardStats(
  rewards: number[] | tf.Tensor1D,
  options: RewardStatsOptions = {},
): RewardStats {
  let values: ArrayLike<number>;
  if (Array.isArray(rewards)) {
    const bad = rewards.findIndex((r) => typeof r !== "number");
    if (bad >= 0) {
      throw new TypeError(
        `${CONTEXT}: rewards must contain only numbers, got ${
          describe(rewards[bad])
        } at index ${bad}`,
      );
    }
    values = rewards;
  } else if (rewards instanceof tf.Tensor) {
    values = checkRank(CONTEXT, "rewards", rewards, 1, "[N]", "float32").dataSync();
  } else {
    throw new TypeError(
      `${CONTEXT}: rewards must be a number array or a tf.Tensor1D, got ${describe(rewards)}`,
    );
  }
  const n = values.length;
  if (n === 0) throw new RangeError(`${CONTEXT}: rewards must not be empty, got 0 rewards`);
  checkFiniteValues(CONTEXT, "rewards", values);
  const groupSize = checkInteger(CONTEXT, "groupSize", options?.groupSize ?? 1);
  if (n % groupSize !== 0) {
    throw new RangeError(
      `${CONTEXT}: the number of rewards must be a multiple of groupSize ${groupSize}, got ${n}`,
    );
  }
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    sum += values[i];
    min = Math.min(min, values[i]);
    max = Math.max(max, values[i]);
  }
  const mean = sum / n;
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (values[i] - mean) ** 2;
  let allEqual = 0;
  for (let start = 0; start < n; start += groupSize) {
    let equal = true;
    for (let i = start + 1; i < start + groupSize && equal; i++) {
      equal = values[i] === values[start];
    }
    if (equal) allEqual++;
  }
  return {
    mean,
    std: Math.sqrt(squares / n),
    min,
    max,
    allEqualGroupFraction: allEqual / (n / groupSize),
  };
}
