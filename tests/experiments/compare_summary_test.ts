import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import {
  accuracyCurve,
  type CompareRecord,
  type CompareRun,
  compareSection,
  meanCurve,
  meanStd,
  metricCurve,
  metricMean,
  stepsToThreshold,
  summarizeRuns,
} from "../../lib/experiments/compare_summary.ts";

Deno.test("meanStd: mean and sample standard deviation worked out by hand", () => {
  // [1, 2, 3, 4]: mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5; /3 → sqrt(5/3)
  const { mean, std } = meanStd([1, 2, 3, 4]);
  assertEquals(mean, 2.5);
  assertAlmostEquals(std, Math.sqrt(5 / 3), 1e-12);
  assertEquals(meanStd([0.7]), { mean: 0.7, std: 0 });
  assertEquals(meanStd([2, 2, 2]), { mean: 2, std: 0 });
});

Deno.test("meanStd: bad input", () => {
  assertThrows(
    () => meanStd([]),
    RangeError,
    "Cannot compute mean and standard deviation: values must not be empty",
  );
  assertThrows(() => meanStd([1, NaN]), RangeError, "values must be finite, got NaN at index 1");
  assertThrows(
    () => meanStd("1" as unknown as number[]),
    TypeError,
    "Cannot compute mean and standard deviation: values must be an array",
  );
});

Deno.test("accuracyCurve: tokens and seconds accumulate over every step, evaluated or not", () => {
  const records: CompareRecord[] = [
    { step: 0, "eval/accuracy": 0.1 },
    { step: 1, "tokens/generated": 5, "time/step_s": 0.5 },
    { step: 2, "tokens/generated": 7, "time/step_s": 1.5, "eval/accuracy": 0.2 },
    { step: 3, "tokens/generated": 4, "time/step_s": 1 },
    { step: 4, "tokens/generated": 6, "time/step_s": 2, "eval/accuracy": 0.4 },
  ];
  assertEquals(accuracyCurve(records), [
    { step: 0, accuracy: 0.1, tokens: 0, seconds: 0 },
    { step: 2, accuracy: 0.2, tokens: 12, seconds: 2 },
    { step: 4, accuracy: 0.4, tokens: 22, seconds: 5 },
  ]);
  assertEquals(accuracyCurve([]), []);
});

Deno.test("accuracyCurve: bad input", () => {
  assertThrows(
    () => accuracyCurve([{ step: 1 }, { step: 1 }]),
    RangeError,
    "Cannot build the accuracy curve: steps must increase, got step 1 after step 1 at record 1",
  );
  assertThrows(
    () => accuracyCurve([{ step: 0.5 } as CompareRecord]),
    TypeError,
    "Cannot build the accuracy curve: record 0 must be an object with an integer step",
  );
  assertThrows(
    () => accuracyCurve(null as unknown as CompareRecord[]),
    TypeError,
    "Cannot build the accuracy curve: records must be an array, got null",
  );
});

Deno.test("stepsToThreshold: the first evaluated step at or above the threshold", () => {
  const curve = [
    { step: 0, accuracy: 0.3, tokens: 0, seconds: 0 },
    { step: 5, accuracy: 0.34, tokens: 0, seconds: 0 },
    { step: 10, accuracy: 0.35, tokens: 0, seconds: 0 },
    { step: 15, accuracy: 0.5, tokens: 0, seconds: 0 },
  ];
  assertEquals(stepsToThreshold(curve, 0.35), 10); // equal counts as reached
  assertEquals(stepsToThreshold(curve, 0.2), 0);
  assertEquals(stepsToThreshold(curve, 0.51), null);
  assertEquals(stepsToThreshold([], 0), null);
  assertThrows(
    () => stepsToThreshold(curve, NaN),
    TypeError,
    "Cannot find the steps to the threshold: threshold must be a finite number, got NaN",
  );
});

Deno.test("meanCurve: averages at the steps every curve has", () => {
  const a = [
    { step: 0, accuracy: 0.1, tokens: 0, seconds: 0 },
    { step: 5, accuracy: 0.2, tokens: 50, seconds: 1 },
    { step: 10, accuracy: 0.3, tokens: 100, seconds: 2 },
  ];
  const b = [
    { step: 10, accuracy: 0.5, tokens: 300, seconds: 6 },
    { step: 0, accuracy: 0.3, tokens: 0, seconds: 0 },
  ];
  const mean = meanCurve([a, b]);
  assertEquals(mean.map((p) => [p.step, p.tokens, p.seconds]), [[0, 0, 0], [10, 200, 4]]);
  assertAlmostEquals(mean[0].accuracy.mean, 0.2, 1e-12);
  assertAlmostEquals(mean[1].accuracy.mean, 0.4, 1e-12);
  // two values 0.2 apart: std = sqrt(2 · 0.1² / 1) = 0.2 / sqrt(2)
  assertAlmostEquals(mean[1].accuracy.std, 0.2 / Math.SQRT2, 1e-12);
  assertThrows(
    () => meanCurve([]),
    RangeError,
    "Cannot average the accuracy curves: there must be at least one curve",
  );
});

Deno.test("metricMean and metricCurve: training steps only, over the runs that report", () => {
  const runs: CompareRecord[][] = [
    [{ step: 0, f: 9 }, { step: 1, f: 1 }, { step: 2, f: 0.5 }],
    [{ step: 1, f: 0 }, { step: 2 }, { step: 3, f: NaN }],
  ];
  // step 0 and the NaN are left out: (1 + 0.5 + 0) / 3
  assertAlmostEquals(metricMean(runs, "f")!, 0.5, 1e-12);
  assertEquals(metricMean(runs, "g"), null);
  assertEquals(metricCurve(runs, "f"), [{ step: 1, value: 0.5 }, { step: 2, value: 0.5 }]);
  assertEquals(metricCurve(runs, "g"), []);
});

/** A run whose numbers are easy to follow by hand. */
function run(
  algorithm: string,
  seed: number,
  accuracies: [number, number, number],
  options: { digest?: string; steps?: number; fraction?: number } = {},
): CompareRun {
  const steps = options.steps ?? 4;
  const records: CompareRecord[] = [{ step: 0, "eval/accuracy": accuracies[0] }];
  for (let step = 1; step <= steps; step++) {
    const record: Record<string, number> = {
      "tokens/generated": 10 + seed,
      "time/step_s": 0.25,
    };
    if (options.fraction !== undefined) record["groups/all_equal_fraction"] = options.fraction;
    if (step === 2) record["eval/accuracy"] = accuracies[1];
    if (step === steps) record["eval/accuracy"] = accuracies[2];
    records.push({ step, ...record });
  }
  return {
    algorithm,
    seed,
    records,
    peakRssMb: 100 + 10 * seed,
    adamStepsPerUpdate: algorithm === "ppo" ? 8 : 1,
    models: [
      { role: "policy", parameters: 1000, trainable: true },
      { role: "reference", parameters: 1000, trainable: false },
      ...(algorithm === "ppo" ? [{ role: "value", parameters: 900, trainable: true }] : []),
      { role: "reward", parameters: 0, trainable: false },
    ],
    promptsDigest: options.digest ?? `seed${seed}`,
  };
}

Deno.test("summarizeRuns: one algorithm over three seeds, worked out by hand", () => {
  const row = summarizeRuns([
    run("grpo", 0, [0.2, 0.22, 0.3], { fraction: 0.5 }),
    run("grpo", 1, [0.4, 0.46, 0.45], { fraction: 0.25 }),
    run("grpo", 2, [0.6, 0.6, 0.6], { fraction: 0 }),
  ], { gain: 0.05 });
  assertEquals(row.algorithm, "grpo");
  assertEquals(row.seeds, [0, 1, 2]);
  assertAlmostEquals(row.initialAccuracy, 0.4, 1e-12);
  // finals 0.3, 0.45, 0.6: mean 0.45, deviations ±0.15 → std sqrt(0.045 / 2) = 0.15
  assertAlmostEquals(row.finalAccuracy.mean, 0.45, 1e-12);
  assertAlmostEquals(row.finalAccuracy.std, 0.15, 1e-12);
  // gains 0.1, 0.05, 0: mean 0.05, std 0.05
  assertAlmostEquals(row.accuracyGain.mean, 0.05, 1e-12);
  assertAlmostEquals(row.accuracyGain.std, 0.05, 1e-12);
  // thresholds 0.25, 0.45, 0.65: seed 0 reaches at step 4 (0.22 < 0.25), seed 1 at step 2, seed 2 never
  assertEquals(row.stepsToThreshold.perSeed, [4, 2, null]);
  assertEquals([row.stepsToThreshold.reached, row.stepsToThreshold.runs], [2, 3]);
  assertEquals(row.stepsToThreshold.mean, 3);
  // tokens per run 4·10, 4·11, 4·12 → mean 44; seconds 4·0.25 = 1; memory 100, 110, 120 → 110
  assertEquals(row.generatedTokens, 44);
  assertEquals(row.wallSeconds, 1);
  assertEquals(row.peakRssMb, 110);
  assertEquals(row.modelsHeld, ["policy", "reference", "reward"]);
  assertEquals([row.parameters, row.trainableParameters], [2000, 1000]);
  assertEquals([row.policyUpdates, row.adamStepsPerUpdate], [4, 1]);
  assertAlmostEquals(row.allEqualGroupFraction!, 0.25, 1e-12);
  assertEquals(row.nonzeroAdvantageFraction, null);
  assertEquals(row.nonzeroInEqualGroupsFraction, null);
  assertEquals(row.perSeed.map((s) => s.finalAccuracy), [0.3, 0.45, 0.6]);
  const ppo = summarizeRuns([run("ppo", 0, [0.2, 0.2, 0.2])]);
  assertEquals([ppo.parameters, ppo.trainableParameters, ppo.adamStepsPerUpdate], [2900, 1900, 8]);
  assertEquals(ppo.stepsToThreshold.mean, null);
});

Deno.test("summarizeRuns: bad input", () => {
  assertThrows(
    () => summarizeRuns([]),
    RangeError,
    "Cannot summarize the runs: there must be at least one run",
  );
  assertThrows(
    () => summarizeRuns([run("grpo", 0, [0, 0, 0]), run("rloo", 1, [0, 0, 0])]),
    RangeError,
    "Cannot summarize the runs: every run must be of grpo, got rloo (seed 1)",
  );
  assertThrows(
    () => summarizeRuns([run("grpo", 0, [0, 0, 0]), run("grpo", 1, [0, 0, 0], { steps: 5 })]),
    RangeError,
    "every run of grpo must have 4 updates, got 5 (seed 1)",
  );
  const noStart = run("grpo", 0, [0, 0, 0]);
  assertThrows(
    () => summarizeRuns([{ ...noStart, records: noStart.records.slice(1) }]),
    RangeError,
    "the run of grpo (seed 0) has no step-0 evaluation",
  );
  const noEnd = run("grpo", 0, [0, 0, 0]);
  const records = noEnd.records.map((r) => r.step === 4 ? { step: 4, "tokens/generated": 1 } : r);
  assertThrows(
    () => summarizeRuns([{ ...noEnd, records }]),
    RangeError,
    "the run of grpo (seed 0) has no evaluation after step 4",
  );
  assertThrows(
    () => summarizeRuns([noEnd], { gain: Infinity }),
    TypeError,
    "Cannot summarize the runs: gain must be a finite number, got Infinity",
  );
});

Deno.test("compareSection: rows in order of appearance, curves, and the same-prompts check", () => {
  const runs = [
    run("ppo", 1, [0.4, 0.4, 0.5]),
    run("grpo", 1, [0.4, 0.45, 0.5], { fraction: 1 }),
    run("ppo", 0, [0.2, 0.3, 0.3]),
    run("grpo", 0, [0.2, 0.2, 0.2], { fraction: 0 }),
  ];
  const section = compareSection("addition", runs);
  assertEquals(section.rows.map((r) => [r.algorithm, r.seeds]), [["ppo", [0, 1]], ["grpo", [
    0,
    1,
  ]]]);
  assertEquals([section.task, section.seeds, section.steps], ["addition", 2, 4]);
  assertEquals(section.samePromptsPerStep, true);
  assertEquals(section.curves.grpo.map((p) => p.step), [0, 2, 4]);
  assertAlmostEquals(section.curves.grpo[1].accuracy.mean, 0.325, 1e-12);
  assertEquals(section.signal.grpo.allEqualGroupFraction.map((p) => p.value), [0.5, 0.5, 0.5, 0.5]);
  assertEquals(section.signal.ppo.allEqualGroupFraction, []);
  const differing = [run("ppo", 0, [0, 0, 0]), run("grpo", 0, [0, 0, 0], { digest: "other" })];
  assertEquals(compareSection("addition", differing).samePromptsPerStep, false);
});

Deno.test("compareSection: bad input", () => {
  assertThrows(
    () => compareSection("addition", []),
    RangeError,
    "Cannot summarize the comparison: there must be at least one run",
  );
  assertThrows(
    () =>
      compareSection("addition", [
        run("ppo", 0, [0, 0, 0]),
        run("grpo", 0, [0, 0, 0], { steps: 3 }),
      ]),
    RangeError,
    "every run must have the same number of updates, got 4 for ppo and 3 for grpo (seed 0)",
  );
  assertThrows(
    () =>
      compareSection("addition", [
        run("ppo", 0, [0, 0, 0]),
        run("ppo", 1, [0, 0, 0]),
        run("grpo", 0, [0, 0, 0]),
      ]),
    RangeError,
    "every algorithm must have one run per seed, grpo has seeds 0 of 0, 1",
  );
});

Deno.test("compareSection: another metric (a reward) drives the curves and rows", () => {
  const reward = (algorithm: string, seed: number, values: number[]): CompareRun => ({
    algorithm,
    seed,
    peakRssMb: 1,
    adamStepsPerUpdate: 1,
    models: [],
    promptsDigest: "d",
    records: values.map((v, step) => ({
      step,
      ...(step === 0 ? {} : { "tokens/generated": 10, "time/step_s": 1 }),
      "eval/accuracy": 0,
      "eval/sampled_reward": v,
    })),
  });
  const runs = [reward("grpo", 0, [0.2, 0.3]), reward("grpo", 1, [0.4, 0.7])];
  const section = compareSection("tokenRewardChain", runs, { metric: "eval/sampled_reward" });
  assertEquals(section.metric, "eval/sampled_reward");
  assertEquals(section.rows[0].finalAccuracy.mean, 0.5);
  assertAlmostEquals(section.rows[0].accuracyGain.mean, 0.2, 1e-12); // (0.1 + 0.3) / 2
  assertEquals(section.curves.grpo.map((p) => p.accuracy.mean), [0.30000000000000004, 0.5]);
  // Without the option the section follows greedy accuracy and carries no metric field.
  const plain = compareSection("tokenRewardChain", runs);
  assertEquals([plain.metric, plain.rows[0].finalAccuracy.mean], [undefined, 0]);
  assertEquals(accuracyCurve(runs[1].records, "eval/sampled_reward").map((p) => p.accuracy), [
    0.4,
    0.7,
  ]);
});
