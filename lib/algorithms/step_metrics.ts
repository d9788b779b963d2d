/**
 * The metrics every recipe's step reports besides its update's: the rewards
 * ({@linkcode rewardMetrics}), the rollout ({@linkcode rolloutMetrics}), the share of responses an
 * advantage moves ({@linkcode nonzeroFraction}), and the seconds of each phase
 * ({@linkcode phaseClock}).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Rollout } from "../sample/rollout.ts";
import { klPenalty } from "../loss/kl_penalty.ts";
import { rewardStats } from "../metrics/reward_stats.ts";
import { samplerLogProbGap } from "../metrics/sampler_gap.ts";
import type { Scored } from "./rollout.ts";
import type { StepMetrics } from "./step.ts";
import { secondsSince } from "./update.ts";

/**
 * The reward metrics of a step: `reward/mean` and `reward/std` of the combined response rewards
 * (`rewardStats`), the unweighted mean of each reward function `rewards/{name}/mean` (from
 * `score`), and `groups/all_equal_fraction`, the share of groups whose rewards are all equal
 * (where a group-relative advantage is 0).
 *
 * @param scored The rewards of step 2 (`scoreRollout`).
 * @param groupSize Responses per prompt (`G`); the rows are `N/G` groups of `G`.
 * @returns The metrics above.
 *
 * @example Two reward functions, two groups of two
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { rewardMetrics } from "./step_metrics.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const rewards = tf.tensor1d([1, 1, 0, 2]);
 * const metrics = rewardMetrics({
 *   rewards,
 *   values: [1, 1, 0, 2],
 *   metrics: { "rewards/correct/mean": 0.5, "rewards/format/mean": 0.5 },
 * }, 2);
 * assertEquals(metrics["reward/mean"], 1);
 * assertEquals(metrics["rewards/format/mean"], 0.5);
 * assertEquals(metrics["groups/all_equal_fraction"], 0.5);
 * rewards.dispose();
 * ```
 */
export function rewardMetrics(scored: Scored, groupSize: number): StepMetrics {
  const stats = rewardStats(scored.values, { groupSize });
  return {
    "reward/mean": stats.mean,
    "reward/std": stats.std,
    ...scored.metrics,
    "groups/all_equal_fraction": stats.allEqualGroupFraction,
  };
}

/**
 * Metrics every recipe reports about its rollout: mean response length, a sampled estimate of the
 * per-token entropy (`−mean log π_old` of the sampled tokens), and the k3 KL of the sampler to the
 * reference (when there is one).
 *
 * @param rollout The responses.
 * @param refLogProbs Reference log-probs `[B, T]`, or `undefined`.
 * @returns `response_length/mean`, `entropy`, `kl` (0 without a reference), and with a remote
 * sampler `sampler/logprob_gap_mean` and `sampler/logprob_gap_max` (`samplerLogProbGap`).
 */
export async function rolloutMetrics(
  rollout: Rollout,
  refLogProbs: tf.Tensor2D | undefined,
): Promise<StepMetrics> {
  // Entropy and KL in one read (one host round trip on a GPU backend).
  const both = tf.tidy(() => {
    const count = tf.maximum(tf.sum(rollout.mask), 1);
    const h = tf.div(tf.neg(tf.sum(tf.mul(rollout.logProbs, rollout.mask))), count);
    const k = refLogProbs === undefined ? tf.scalar(0) : tf.div(
      tf.sum(tf.mul(klPenalty(rollout.logProbs, refLogProbs, { estimator: "k3" }), rollout.mask)),
      count,
    );
    const parts = [h, k];
    if (rollout.samplerLogProbs !== undefined) {
      parts.push(
        ...tf.unstack(samplerLogProbGap(rollout.logProbs, rollout.samplerLogProbs, rollout.mask)),
      );
    }
    return tf.stack(parts);
  });
  const values = await both.data();
  both.dispose();
  const lengths = rollout.lengths;
  return {
    "response_length/mean": lengths.reduce((a, b) => a + b, 0) / Math.max(1, lengths.length),
    "entropy": values[0],
    "kl": values[1],
    ...(rollout.samplerLogProbs === undefined
      ? {}
      : { "sampler/logprob_gap_mean": values[2], "sampler/logprob_gap_max": values[3] }),
  };
}

/**
 * The fraction of responses whose advantage is not zero (a response-level advantage `[N]`).
 *
 * @param advantages `[N]`.
 * @returns A number in [0, 1].
 */
export async function nonzeroFraction(advantages: tf.Tensor): Promise<number> {
  const values = await advantages.data();
  let n = 0;
  for (const v of values) if (Math.abs(v) > 1e-12) n++;
  return n / Math.max(1, values.length);
}

/** The phases of a step that {@linkcode phaseClock} times, in the order they run. */
export const STEP_PHASES = ["sample", "score", "advantage", "reference", "train"] as const;

/** One phase of a step: its seconds are logged as `time/{phase}_s`. */
export type StepPhase = typeof STEP_PHASES[number];

/** The stopwatch of one step (see {@linkcode phaseClock}). */
export interface PhaseClock {
  /**
   * Run `work` and count its seconds to `phase`. A phase timed inside another one (TRePO's
   * continuations and their scoring, inside its advantage) is counted to itself only: its
   * seconds are taken out of the enclosing phase.
   */
  time<T>(phase: StepPhase, work: () => T | Promise<T>): Promise<T>;
  /**
   * `time/sample_s` (responses, ReMax's greedy ones, TRePO's continuations, and a remote
   * sampler's local old log-probs), `time/score_s` (the reward functions), `time/advantage_s`
   * (the advantage alone), `time/reference_s` (the reference's log-probs) and `time/train_s`
   * (the update); 0 for a phase never timed.
   */
  metrics(): StepMetrics;
}

/**
 * A stopwatch for the phases of one step, so that each `time/{phase}_s` holds what its name says
 * and the phases add up to the step (nested phases are not counted twice).
 *
 * @returns A fresh clock, every phase at 0.
 *
 * @example A phase inside another is counted once
 * ```ts
 * import { phaseClock } from "./step_metrics.ts";
 * import { assert, assertEquals } from "@std/assert";
 *
 * const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
 * const clock = phaseClock();
 * await clock.time("advantage", async () => {
 *   await wait(20);
 *   await clock.time("score", () => wait(60));
 * });
 * const m = clock.metrics();
 * assert(m["time/score_s"] >= 0.055);
 * assert(m["time/advantage_s"] >= 0.015 && m["time/advantage_s"] < 0.055);
 * assertEquals(m["time/train_s"], 0);
 * ```
 */
export function phaseClock(): PhaseClock {
  const seconds = Object.fromEntries(STEP_PHASES.map((p) => [p, 0])) as Record<StepPhase, number>;
  const running: StepPhase[] = [];
  return {
    async time<T>(phase: StepPhase, work: () => T | Promise<T>): Promise<T> {
      const start = performance.now();
      running.push(phase);
      try {
        return await work();
      } finally {
        running.pop();
        const elapsed = secondsSince(start);
        seconds[phase] += elapsed;
        const outer = running.at(-1);
        if (outer !== undefined) seconds[outer] -= elapsed;
      }
    },
    metrics(): StepMetrics {
      return Object.fromEntries(STEP_PHASES.map((p) => [`time/${p}_s`, seconds[p]]));
    },
  };
}
