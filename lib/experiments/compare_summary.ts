/**
 * The numbers of an algorithm comparison (`deno task compare`): accuracy curves against steps,
 * generated tokens and wall seconds, mean ± standard deviation over seeds, steps to a threshold,
 * and the per-algorithm rows of `results/compare/summary.json`.
 *
 * Everything here is plain arithmetic on the step records that `train` returns (no tensors), so
 * that it can be checked by hand.
 *
 * @see https://arxiv.org/abs/2506.02553 — the paper's comparison of PPO, GRPO, ReMax, RLOO and
 *   TRePO, which these numbers measure.
 *
 * @module
 */
import { checkFiniteValues, checkNumber, describe } from "../validate.ts";

/** One step record as `train` writes it: the step and its metrics (`eval/accuracy`, …). */
export type CompareRecord = { readonly step: number } & Readonly<Record<string, number>>;

/** A model a run held (`train`'s `models`): its role, parameter count and whether it trains. */
export interface HeldModel {
  /** `"policy"`, `"reference"`, `"value"` or `"reward"`. */
  readonly role: string;
  /** Parameters (0 for a reward given as a program). */
  readonly parameters: number;
  /** Whether it is trained. */
  readonly trainable: boolean;
}

/** One (row, seed) run of a comparison. */
export interface CompareRun {
  /**
   * The row's label: the algorithm's name, or a named row such as `"trepo-every"` (see
   * `compareRowByLabel`). Rows are grouped, tabled and paired by it.
   */
  readonly algorithm: string;
  /** The algorithm the row runs, when it differs from the label or is recorded (`"trepo"`). */
  readonly recipe?: string;
  /** The resolved config the run's steps were given (every key of the algorithm's config). */
  readonly config?: Readonly<Record<string, unknown>>;
  /** The seed (warm start, prompts and sampling). */
  readonly seed: number;
  /**
   * The step-0 evaluation and one record per step, in increasing step order. Evaluated steps carry
   * `eval/accuracy`; every training step carries `tokens/generated` and `time/step_s` (training
   * time only, evaluation excluded).
   */
  readonly records: readonly CompareRecord[];
  /** Peak resident memory of the run's process, in MiB. */
  readonly peakRssMb: number;
  /** The models the run held. */
  readonly models: readonly HeldModel[];
  /** Adam steps on the policy per policy update (`epochs × minibatches`). */
  readonly adamStepsPerUpdate: number;
  /** A digest of the prompts of every step (equal across algorithms for one seed). */
  readonly promptsDigest?: string;
}

/** A mean and a sample standard deviation. */
export interface MeanStd {
  /** The mean. */
  mean: number;
  /** The sample standard deviation (÷(n−1)); 0 for a single value. */
  std: number;
}

/** A point of one run's accuracy curve. */
export interface CurvePoint {
  /** Policy updates so far. */
  step: number;
  /** Greedy eval accuracy after `step` updates. */
  accuracy: number;
  /** Tokens generated so far (responses, greedy baselines and continuations). */
  tokens: number;
  /** Training wall seconds so far (evaluation excluded). */
  seconds: number;
}

/** A point of the accuracy curve of one algorithm, over seeds. */
export interface MeanCurvePoint {
  /** Policy updates so far. */
  step: number;
  /** Greedy eval accuracy over seeds. */
  accuracy: MeanStd;
  /** Mean tokens generated so far. */
  tokens: number;
  /** Mean training wall seconds so far. */
  seconds: number;
}

/** A per-step metric averaged over seeds. */
export interface MetricPoint {
  /** The step. */
  step: number;
  /** The mean over the seeds that report the metric at this step. */
  value: number;
}

/** Steps needed to reach `initial accuracy + gain`, over seeds. */
export interface StepsToThreshold {
  /** The accuracy gain over each run's own initial accuracy that counts as reaching. */
  gain: number;
  /** Runs that reached it. */
  reached: number;
  /** Runs. */
  runs: number;
  /** Mean steps over the runs that reached it; `null` when none did. */
  mean: number | null;
  /** Steps of each run (seed order); `null` where it was not reached. */
  perSeed: (number | null)[];
}

/** One algorithm's row of the comparison. */
export interface CompareRow {
  /** The algorithm's name. */
  algorithm: string;
  /** The seeds, in order. */
  seeds: number[];
  /** Mean greedy eval accuracy of the warm start (equal for every algorithm of a seed). */
  initialAccuracy: number;
  /** Greedy eval accuracy after the last update, over seeds. */
  finalAccuracy: MeanStd;
  /** Final minus initial accuracy, seed by seed (a paired difference), over seeds. */
  accuracyGain: MeanStd;
  /** Updates to reach the initial accuracy plus a gain. */
  stepsToThreshold: StepsToThreshold;
  /** Mean tokens generated per run. */
  generatedTokens: number;
  /** Mean training wall seconds per run (evaluation excluded). */
  wallSeconds: number;
  /** Mean peak resident memory per run's process, MiB. */
  peakRssMb: number;
  /** The roles of the models held (`policy`, `reference`, `value`, `reward`). */
  modelsHeld: string[];
  /** Parameters of every model held. */
  parameters: number;
  /** Parameters that are trained. */
  trainableParameters: number;
  /** Policy updates (RL steps) per run. */
  policyUpdates: number;
  /** Adam steps on the policy per update (`epochs × minibatches`). */
  adamStepsPerUpdate: number;
  /**
   * Mean over steps and seeds of the fraction of prompt groups whose rewards were all equal
   * (zero group-relative advantage); `null` when the algorithm does not report it.
   */
  allEqualGroupFraction: number | null;
  /**
   * Mean over steps and seeds of the fraction of responses (response-level advantages) or tokens
   * (TRePO's per-token advantages) with a non-zero advantage; `null` when not reported.
   */
  nonzeroAdvantageFraction: number | null;
  /**
   * Mean over steps and seeds of the fraction of tokens with a non-zero advantage *inside groups
   * whose rewards were all equal* (where GRPO's and RLOO's advantages are exactly 0); `null` when
   * not reported (only TRePO reports it) or when no group was all-equal.
   */
  nonzeroInEqualGroupsFraction: number | null;
  /** The per-seed numbers behind the means. */
  perSeed: {
    seed: number;
    initialAccuracy: number;
    finalAccuracy: number;
    generatedTokens: number;
    wallSeconds: number;
    peakRssMb: number;
  }[];
}

/** One variant of a comparison (the main one, the hard one or the credit one). */
export interface CompareSection {
  /** The task's name. */
  task: string;
  /**
   * The evaluation metric the curves and rows follow (the record key); the fields named
   * `accuracy` hold it. Absent means `"eval/accuracy"` (greedy exact-match accuracy).
   */
  metric?: string;
  /** Number of seeds. */
  seeds: number;
  /** Policy updates per run. */
  steps: number;
  /** Whether every algorithm saw the same prompts at every step, seed by seed. */
  samePromptsPerStep: boolean;
  /** One row per algorithm, in the order the runs came. */
  rows: CompareRow[];
  /** Each algorithm's mean accuracy curve. */
  curves: Record<string, MeanCurvePoint[]>;
  /** Each algorithm's per-step all-equal group fraction and non-zero advantage fraction. */
  signal: Record<string, { allEqualGroupFraction: MetricPoint[]; nonzeroAdvantage: MetricPoint[] }>;
}

/** The metric names the comparison reads from the step records. */
export const COMPARE_METRICS: Readonly<{
  accuracy: "eval/accuracy";
  tokens: "tokens/generated";
  seconds: "time/step_s";
  allEqual: "groups/all_equal_fraction";
  nonzero: "adv/nonzero_fraction";
  nonzeroInEqualGroups: "adv/nonzero_in_equal_groups";
  greedyReward: "eval/reward";
  sampledReward: "eval/sampled_reward";
}> = Object.freeze({
  accuracy: "eval/accuracy",
  tokens: "tokens/generated",
  seconds: "time/step_s",
  allEqual: "groups/all_equal_fraction",
  nonzero: "adv/nonzero_fraction",
  nonzeroInEqualGroups: "adv/nonzero_in_equal_groups",
  greedyReward: "eval/reward",
  sampledReward: "eval/sampled_reward",
});

/**
 * Mean and sample standard deviation of some numbers,
 * `mean = Σx/n`, `std = sqrt(Σ(x − mean)²/(n − 1))` (0 when n = 1).
 *
 * Used by the comparison's `finalAccuracy` (mean ± std over seeds).
 *
 * @param values At least one finite number.
 * @returns `{ mean, std }`.
 * @throws {TypeError} When `values` is not an array.
 * @throws {RangeError} When it is empty or holds a non-finite value.
 *
 * @example
 * ```ts
 * import { meanStd } from "./compare_summary.ts";
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 *
 * const { mean, std } = meanStd([0.2, 0.4, 0.6]);
 * assertAlmostEquals(mean, 0.4);
 * assertAlmostEquals(std, 0.2); // sqrt((0.04 + 0 + 0.04) / 2)
 * assertEquals(meanStd([3]), { mean: 3, std: 0 });
 * ```
 */
export function meanStd(values: readonly number[]): MeanStd {
  const context = "Cannot compute mean and standard deviation";
  if (!Array.isArray(values as unknown)) {
    throw new TypeError(`${context}: values must be an array, got ${describe(values)}`);
  }
  if (values.length === 0) throw new RangeError(`${context}: values must not be empty`);
  checkFiniteValues(context, "values", values);
  const n = values.length;
  const mean = values.reduce((s, x) => s + x, 0) / n;
  if (n === 1) return { mean, std: 0 };
  const ss = values.reduce((s, x) => s + (x - mean) * (x - mean), 0);
  return { mean, std: Math.sqrt(ss / (n - 1)) };
}

function checkRecords(context: string, records: readonly CompareRecord[]): void {
  if (!Array.isArray(records as unknown)) {
    throw new TypeError(`${context}: records must be an array, got ${describe(records)}`);
  }
  let previous = -Infinity;
  records.forEach((record, i) => {
    if (record === null || typeof record !== "object" || !Number.isInteger(record.step)) {
      throw new TypeError(
        `${context}: record ${i} must be an object with an integer step, got ${describe(record)}`,
      );
    }
    if (record.step <= previous) {
      throw new RangeError(
        `${context}: steps must increase, got step ${record.step} after step ${previous} at record ${i}`,
      );
    }
    previous = record.step;
  });
}

/**
 * A run's accuracy curve against updates, generated tokens and training seconds:
 * for every record with `eval/accuracy`, `tokens = Σ_{s ≤ step} tokens/generated_s` and
 * `seconds = Σ_{s ≤ step} time/step_s` over the training steps so far.
 *
 * Preconditions: records in increasing step order; a missing `tokens/generated` or
 * `time/step_s` counts as 0.
 *
 * @param records The run's records (step 0 evaluation first, when there is one).
 * @param metric The record key followed (default `"eval/accuracy"`); a point's `accuracy` holds it.
 * @returns One point per evaluated record.
 * @throws {TypeError} When a record is not an object with an integer step.
 * @throws {RangeError} When steps do not increase.
 *
 * @example
 * ```ts
 * import { accuracyCurve } from "./compare_summary.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const curve = accuracyCurve([
 *   { step: 0, "eval/accuracy": 0.25 },
 *   { step: 1, "tokens/generated": 10, "time/step_s": 0.5 },
 *   { step: 2, "tokens/generated": 12, "time/step_s": 0.25, "eval/accuracy": 0.5 },
 * ]);
 * assertEquals(curve, [
 *   { step: 0, accuracy: 0.25, tokens: 0, seconds: 0 },
 *   { step: 2, accuracy: 0.5, tokens: 22, seconds: 0.75 },
 * ]);
 * ```
 */
export function accuracyCurve(
  records: readonly CompareRecord[],
  metric: string = COMPARE_METRICS.accuracy,
): CurvePoint[] {
  checkRecords("Cannot build the accuracy curve", records);
  const curve: CurvePoint[] = [];
  let tokens = 0;
  let seconds = 0;
  for (const record of records) {
    if (record.step > 0) {
      tokens += record[COMPARE_METRICS.tokens] ?? 0;
      seconds += record[COMPARE_METRICS.seconds] ?? 0;
    }
    const accuracy = record[metric];
    if (accuracy !== undefined) curve.push({ step: record.step, accuracy, tokens, seconds });
  }
  return curve;
}

/**
 * The first step at which a curve's accuracy is at least `threshold`.
 *
 * Used by the comparison's "steps to threshold" (with `threshold = initial accuracy + gain`).
 *
 * @param curve An accuracy curve (see {@linkcode accuracyCurve}).
 * @param threshold The accuracy to reach.
 * @returns The step, or `null` when the curve never reaches it.
 * @throws {RangeError} When `threshold` is not finite.
 *
 * @example
 * ```ts
 * import { stepsToThreshold } from "./compare_summary.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const curve = [0.1, 0.2, 0.35, 0.3].map((accuracy, i) => ({ step: 5 * i, accuracy, tokens: 0, seconds: 0 }));
 * assertEquals(stepsToThreshold(curve, 0.3), 10);
 * assertEquals(stepsToThreshold(curve, 0.5), null);
 * ```
 */
export function stepsToThreshold(curve: readonly CurvePoint[], threshold: number): number | null {
  checkNumber("Cannot find the steps to the threshold", "threshold", threshold);
  for (const point of curve) if (point.accuracy >= threshold) return point.step;
  return null;
}

/**
 * Average accuracy curves of several seeds at the steps every curve has:
 * accuracy as mean ± std, tokens and seconds as means.
 *
 * @param curves At least one curve.
 * @returns One point per step common to all curves, in step order.
 * @throws {RangeError} When there are no curves.
 *
 * @example
 * ```ts
 * import { meanCurve } from "./compare_summary.ts";
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 *
 * const a = [{ step: 0, accuracy: 0.2, tokens: 0, seconds: 0 }, { step: 5, accuracy: 0.4, tokens: 10, seconds: 2 }];
 * const b = [{ step: 0, accuracy: 0.4, tokens: 0, seconds: 0 }, { step: 5, accuracy: 0.6, tokens: 30, seconds: 4 }];
 * const mean = meanCurve([a, b]);
 * assertEquals(mean.map((p) => [p.step, p.tokens, p.seconds]), [[0, 0, 0], [5, 20, 3]]);
 * assertAlmostEquals(mean[1].accuracy.mean, 0.5);
 * assertAlmostEquals(mean[1].accuracy.std, Math.sqrt(0.02));
 * ```
 */
export function meanCurve(curves: readonly (readonly CurvePoint[])[]): MeanCurvePoint[] {
  if (!Array.isArray(curves as unknown) || curves.length === 0) {
    throw new RangeError(`Cannot average the accuracy curves: there must be at least one curve`);
  }
  const byStep = curves.map((curve) => new Map(curve.map((p) => [p.step, p])));
  const steps = [...byStep[0].keys()].filter((s) => byStep.every((m) => m.has(s)));
  steps.sort((a, b) => a - b);
  return steps.map((step) => {
    const points = byStep.map((m) => m.get(step)!);
    return {
      step,
      accuracy: meanStd(points.map((p) => p.accuracy)),
      tokens: points.reduce((s, p) => s + p.tokens, 0) / points.length,
      seconds: points.reduce((s, p) => s + p.seconds, 0) / points.length,
    };
  });
}

/**
 * Mean of a metric over the training steps (step ≥ 1) of several runs that report it.
 *
 * @param runs Record lists of the runs.
 * @param key The metric's name.
 * @returns The mean over all (run, step) pairs that have a finite value, or `null` if none does.
 *
 * @example
 * ```ts
 * import { type CompareRecord, metricMean } from "./compare_summary.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const runs: CompareRecord[][] = [[{ step: 0 }, { step: 1, x: 1 }, { step: 2, x: 0 }], [{ step: 1, x: 0.5 }]];
 * assertEquals(metricMean(runs, "x"), 0.5);
 * assertEquals(metricMean(runs, "y"), null);
 * ```
 */
export function metricMean(
  runs: readonly (readonly CompareRecord[])[],
  key: string,
): number | null {
  let sum = 0;
  let n = 0;
  for (const records of runs) {
    for (const record of records) {
      const value = record[key];
      if (record.step >= 1 && typeof value === "number" && Number.isFinite(value)) {
        sum += value;
        n++;
      }
    }
  }
  return n === 0 ? null : sum / n;
}

/**
 * A metric averaged over runs step by step (over the runs that report it at that step).
 *
 * @param runs Record lists of the runs.
 * @param key The metric's name.
 * @returns One point per training step (≥ 1) at which some run reports the metric, in step order.
 *
 * @example
 * ```ts
 * import { metricCurve } from "./compare_summary.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const runs = [[{ step: 1, x: 1 }, { step: 2, x: 0 }], [{ step: 1, x: 0.5 }]];
 * assertEquals(metricCurve(runs, "x"), [{ step: 1, value: 0.75 }, { step: 2, value: 0 }]);
 * ```
 */
export function metricCurve(
  runs: readonly (readonly CompareRecord[])[],
  key: string,
): MetricPoint[] {
  const sums = new Map<number, [number, number]>();
  for (const records of runs) {
    for (const record of records) {
      const value = record[key];
      if (record.step >= 1 && typeof value === "number" && Number.isFinite(value)) {
        const [s, n] = sums.get(record.step) ?? [0, 0];
        sums.set(record.step, [s + value, n + 1]);
      }
    }
  }
  return [...sums.entries()].sort((a, b) => a[0] - b[0]).map(([step, [s, n]]) => ({
    step,
    value: s / n,
  }));
}

/**
 * One algorithm's row: accuracy (initial, final mean ± std, paired gain), steps to
 * `initial + gain`, generated tokens, training seconds, peak memory, models held and the
 * reward-signal fractions, from its runs (one per seed).
 *
 * Preconditions: every run is of the same algorithm, has the same number of updates, an
 * evaluation at step 0 and one after its last step.
 *
 * @param runs The algorithm's runs, one per seed.
 * @param options `gain`: the accuracy gain over each run's own initial accuracy that counts as
 *   reaching the threshold (default 0.05); `metric`: the record key followed instead of
 *   `"eval/accuracy"` (the row's accuracy fields then hold it).
 * @returns The row.
 * @throws {RangeError} When there are no runs, they mix algorithms or update counts, or a run
 *   lacks the step-0 or the final evaluation.
 *
 * @example
 * ```ts
 * import { type CompareRun, summarizeRuns } from "./compare_summary.ts";
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 *
 * const run = (seed: number, final: number): CompareRun => ({
 *   algorithm: "grpo", seed, peakRssMb: 200, adamStepsPerUpdate: 1,
 *   models: [{ role: "policy", parameters: 10, trainable: true }, { role: "reward", parameters: 0, trainable: false }],
 *   records: [
 *     { step: 0, "eval/accuracy": 0.2 },
 *     { step: 1, "tokens/generated": 8, "time/step_s": 1, "groups/all_equal_fraction": 0.5 },
 *     { step: 2, "tokens/generated": 8, "time/step_s": 1, "eval/accuracy": final },
 *   ],
 * });
 * const row = summarizeRuns([run(0, 0.3), run(1, 0.2)], { gain: 0.05 });
 * assertAlmostEquals(row.finalAccuracy.mean, 0.25);
 * assertEquals(row.stepsToThreshold.perSeed, [2, null]);
 * assertEquals([row.generatedTokens, row.wallSeconds, row.parameters], [16, 2, 10]);
 * assertEquals(row.allEqualGroupFraction, 0.5);
 * assertEquals(row.nonzeroAdvantageFraction, null);
 * ```
 */
export function summarizeRuns(
  runs: readonly CompareRun[],
  options: { gain?: number; metric?: string } = {},
): CompareRow {
  const context = "Cannot summarize the runs";
  if (!Array.isArray(runs as unknown) || runs.length === 0) {
    throw new RangeError(`${context}: there must be at least one run`);
  }
  const gain = checkNumber(context, "gain", options.gain ?? 0.05);
  const algorithm = runs[0].algorithm;
  const steps = lastStep(runs[0]);
  const perSeed = runs.map((run) => {
    if (run.algorithm !== algorithm) {
      throw new RangeError(
        `${context}: every run must be of ${algorithm}, got ${run.algorithm} (seed ${run.seed})`,
      );
    }
    if (lastStep(run) !== steps) {
      throw new RangeError(
        `${context}: every run of ${algorithm} must have ${steps} updates, got ${
          lastStep(run)
        } (seed ${run.seed})`,
      );
    }
    const curve = accuracyCurve(run.records, options.metric);
    const first = curve[0];
    const last = curve[curve.length - 1];
    if (first === undefined || first.step !== 0) {
      throw new RangeError(
        `${context}: the run of ${algorithm} (seed ${run.seed}) has no step-0 evaluation`,
      );
    }
    if (last.step !== steps) {
      throw new RangeError(
        `${context}: the run of ${algorithm} (seed ${run.seed}) has no evaluation after step ${steps}`,
      );
    }
    return {
      seed: run.seed,
      initialAccuracy: first.accuracy,
      finalAccuracy: last.accuracy,
      generatedTokens: last.tokens,
      wallSeconds: last.seconds,
      peakRssMb: run.peakRssMb,
      reached: stepsToThreshold(curve, first.accuracy + gain),
    };
  });
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const reached = perSeed.map((s) => s.reached).filter((s): s is number => s !== null);
  const models = runs[0].models;
  return {
    algorithm,
    seeds: runs.map((r) => r.seed),
    initialAccuracy: mean(perSeed.map((s) => s.initialAccuracy)),
    finalAccuracy: meanStd(perSeed.map((s) => s.finalAccuracy)),
    accuracyGain: meanStd(perSeed.map((s) => s.finalAccuracy - s.initialAccuracy)),
    stepsToThreshold: {
      gain,
      reached: reached.length,
      runs: runs.length,
      mean: reached.length === 0 ? null : mean(reached),
      perSeed: perSeed.map((s) => s.reached),
    },
    generatedTokens: mean(perSeed.map((s) => s.generatedTokens)),
    wallSeconds: mean(perSeed.map((s) => s.wallSeconds)),
    peakRssMb: mean(perSeed.map((s) => s.peakRssMb)),
    modelsHeld: models.map((m) => m.role),
    parameters: models.reduce((s, m) => s + m.parameters, 0),
    trainableParameters: models.reduce((s, m) => s + (m.trainable ? m.parameters : 0), 0),
    policyUpdates: steps,
    adamStepsPerUpdate: runs[0].adamStepsPerUpdate,
    allEqualGroupFraction: metricMean(runs.map((r) => r.records), COMPARE_METRICS.allEqual),
    nonzeroAdvantageFraction: metricMean(runs.map((r) => r.records), COMPARE_METRICS.nonzero),
    nonzeroInEqualGroupsFraction: metricMean(
      runs.map((r) => r.records),
      COMPARE_METRICS.nonzeroInEqualGroups,
    ),
    perSeed: perSeed.map(({ reached: _, ...rest }) => rest),
  };
}

function lastStep(run: CompareRun): number {
  return run.records.length === 0 ? 0 : run.records[run.records.length - 1].step;
}

/**
 * One variant of a comparison from all its runs: a row and a mean curve per algorithm (in the
 * order the algorithms first appear), per-step signal fractions, and whether every algorithm saw
 * the same prompts at every step (equal `promptsDigest` for equal seeds).
 *
 * @param task The task's name.
 * @param runs Every (algorithm, seed) run.
 * @param options `gain` for the steps to threshold (default 0.05); `metric`, the record key the
 *   curves and rows follow (default `"eval/accuracy"`; recorded in the section when given).
 * @returns The section.
 * @throws {RangeError} When there are no runs, or the runs do not all have the same number of
 *   updates, or an algorithm lacks a seed another one has (see also {@linkcode summarizeRuns}).
 *
 * @example
 * ```ts
 * import { compareSection, type CompareRun } from "./compare_summary.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const run = (algorithm: string, final: number): CompareRun => ({
 *   algorithm, seed: 0, peakRssMb: 100, adamStepsPerUpdate: 1, promptsDigest: "abc",
 *   models: [{ role: "policy", parameters: 10, trainable: true }],
 *   records: [
 *     { step: 0, "eval/accuracy": 0.1 },
 *     { step: 1, "tokens/generated": 4, "time/step_s": 0.5, "eval/accuracy": final },
 *   ],
 * });
 * const section = compareSection("addition", [run("grpo", 0.2), run("rloo", 0.3)]);
 * assertEquals(section.rows.map((r) => [r.algorithm, r.finalAccuracy.mean]), [["grpo", 0.2], ["rloo", 0.3]]);
 * assertEquals([section.seeds, section.steps, section.samePromptsPerStep], [1, 1, true]);
 * ```
 */
export function compareSection(
  task: string,
  runs: readonly CompareRun[],
  options: { gain?: number; metric?: string } = {},
): CompareSection {
  const context = "Cannot summarize the comparison";
  if (!Array.isArray(runs as unknown) || runs.length === 0) {
    throw new RangeError(`${context}: there must be at least one run`);
  }
  const steps = lastStep(runs[0]);
  const byAlgorithm = new Map<string, CompareRun[]>();
  for (const run of runs) {
    if (lastStep(run) !== steps) {
      throw new RangeError(
        `${context}: every run must have the same number of updates, got ${steps} for ${
          runs[0].algorithm
        } and ${lastStep(run)} for ${run.algorithm} (seed ${run.seed})`,
      );
    }
    const list = byAlgorithm.get(run.algorithm) ?? [];
    list.push(run);
    byAlgorithm.set(run.algorithm, list);
  }
  const seeds = [...new Set(runs.map((r) => r.seed))].sort((a, b) => a - b);
  for (const [algorithm, list] of byAlgorithm) {
    const have = new Set(list.map((r) => r.seed));
    const missing = seeds.filter((s) => !have.has(s));
    if (missing.length > 0 || list.length !== seeds.length) {
      throw new RangeError(
        `${context}: every algorithm must have one run per seed, ${algorithm} has seeds ${
          list.map((r) => r.seed).join(", ")
        } of ${seeds.join(", ")}`,
      );
    }
    list.sort((a, b) => a.seed - b.seed);
  }
  let samePromptsPerStep = true;
  for (const seed of seeds) {
    const digests = new Set(runs.filter((r) => r.seed === seed).map((r) => r.promptsDigest));
    if (digests.size !== 1 || digests.has(undefined)) samePromptsPerStep = false;
  }
  const rows: CompareRow[] = [];
  const curves: Record<string, MeanCurvePoint[]> = {};
  const signal: CompareSection["signal"] = {};
  for (const [algorithm, list] of byAlgorithm) {
    rows.push(summarizeRuns(list, options));
    curves[algorithm] = meanCurve(list.map((r) => accuracyCurve(r.records, options.metric)));
    const records = list.map((r) => r.records);
    signal[algorithm] = {
      allEqualGroupFraction: metricCurve(records, COMPARE_METRICS.allEqual),
      nonzeroAdvantage: metricCurve(records, COMPARE_METRICS.nonzero),
    };
  }
  return {
    task,
    ...(options.metric === undefined ? {} : { metric: options.metric }),
    seeds: seeds.length,
    steps,
    samePromptsPerStep,
    rows,
    curves,
    signal,
  };
}
