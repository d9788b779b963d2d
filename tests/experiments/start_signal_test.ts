import { assertAlmostEquals, assertEquals } from "@std/assert";
import { startSignal } from "../../lib/experiments/start_signal.ts";
import type { CompareRun } from "../../lib/experiments/compare_summary.ts";

const run = (step1: Record<string, number>): CompareRun => ({
  algorithm: "grpo",
  seed: 0,
  peakRssMb: 1,
  adamStepsPerUpdate: 1,
  models: [],
  records: [
    { step: 0, "eval/accuracy": 0 },
    { step: 1, ...step1 },
    { step: 2, "groups/all_equal_fraction": 1, "reward/std": 9 },
  ],
});

Deno.test("startSignal: the first update's batch only, mean ± std over runs", () => {
  const signal = startSignal([
    run({ "groups/all_equal_fraction": 0, "reward/std": 0.1, "response_length/mean": 8 }),
    run({ "groups/all_equal_fraction": 0.5, "reward/std": 0.3, "response_length/mean": 10 }),
  ]);
  assertEquals(signal.runs, 2);
  assertEquals(signal.allEqualGroupFraction, { mean: 0.25, std: Math.sqrt(0.125) });
  assertAlmostEquals(signal.rewardStd!.mean, 0.2, 1e-12);
  assertEquals(signal.responseLength?.mean, 9);
  assertEquals(signal.rewardMean, null);
});

Deno.test("startSignal: runs without a step 1 and non-finite values are left out", () => {
  const noStep: CompareRun = { ...run({}), records: [{ step: 0 }] };
  const signal = startSignal([noStep, run({ "reward/std": NaN, "reward/mean": 0.4 })]);
  assertEquals(signal.runs, 1);
  assertEquals(signal.rewardStd, null);
  assertEquals(signal.rewardMean, { mean: 0.4, std: 0 });
});
