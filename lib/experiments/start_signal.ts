/**
 * How much reward signal the warm start gives: the first update's batch (sampled from the warm
 * start, before any change of the policy) of every run, summarised over runs.
 *
 * @module
 */
import type { CompareRun, MeanStd } from "./compare_summary.ts";
import { meanStd } from "./compare_summary.ts";

/** The reward signal of the warm start's samples. */
export interface StartSignal {
  /** Runs whose step-1 record reports the metrics. */
  runs: number;
  /** Fraction of prompt groups whose rewards were all equal (zero group-relative advantage). */
  allEqualGroupFraction: MeanStd | null;
  /** Standard deviation of the batch's rewards. */
  rewardStd: MeanStd | null;
  /** Mean reward of the batch. */
  rewardMean: MeanStd | null;
  /** Mean response length in tokens (EOS included). */
  responseLength: MeanStd | null;
}

/**
 * The reward signal at the start of a comparison: `groups/all_equal_fraction`, `reward/std`,
 * `reward/mean` and `response_length/mean` of every run's first update (step 1, whose responses
 * are sampled from the warm start before the update), mean ± std over the runs that report each.
 *
 * @param runs Every (algorithm, seed) run.
 * @returns The summary; a metric no run reports is `null`.
 *
 * @example
 * ```ts
 * import { startSignal } from "./start_signal.ts";
 * import type { CompareRun } from "./compare_summary.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const run = (allEqual: number): CompareRun => ({
 *   algorithm: "grpo", seed: 0, peakRssMb: 1, adamStepsPerUpdate: 1, models: [],
 *   records: [{ step: 0 }, { step: 1, "groups/all_equal_fraction": allEqual }, { step: 2, "groups/all_equal_fraction": 1 }],
 * });
 * const signal = startSignal([run(0), run(0.5)]);
 * assertEquals(signal.allEqualGroupFraction?.mean, 0.25); // step 1 only
 * assertEquals([signal.runs, signal.rewardStd], [2, null]);
 * ```
 */
export function startSignal(runs: readonly CompareRun[]): StartSignal {
  const first = runs.map((run) => run.records.find((r) => r.step === 1));
  const over = (key: string): MeanStd | null => {
    const values = first.map((r) => r?.[key]).filter((v): v is number =>
      typeof v === "number" && Number.isFinite(v)
    );
    return values.length === 0 ? null : meanStd(values);
  };
  return {
    runs: first.filter((r) => r !== undefined).length,
    allEqualGroupFraction: over("groups/all_equal_fraction"),
    rewardStd: over("reward/std"),
    rewardMean: over("reward/mean"),
    responseLength: over("response_length/mean"),
  };
}
