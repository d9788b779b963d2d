/**
 * Compare algorithms at an equal budget, seed by seed: at the same number of policy updates (the
 * end of every run) or at the same number of generated tokens (every run's curve read where it
 * had generated N tokens, N the smallest total of any run). Each algorithm's per-seed values, the
 * leader, the leader's paired difference to every other algorithm, and a verdict sentence built
 * from those numbers.
 *
 * @module
 */
import { checkNumber } from "../validate.ts";
import {
  accuracyCurve,
  COMPARE_METRICS,
  type CompareRun,
  type CurvePoint,
  type MeanStd,
  meanStd,
} from "./compare_summary.ts";
import { curveAtTokens } from "./curve_at_tokens.ts";
import { type PairedDifference, pairedDifference } from "./paired_difference.ts";

/** One algorithm at the budget. */
export interface BudgetRow {
  /** The algorithm's name. */
  algorithm: string;
  /** Its metric at the budget, one per seed (seed order). */
  perSeed: number[];
  /** Mean ± std of `perSeed`. */
  value: MeanStd;
  /** Policy updates at the budget (fractional when interpolated), over seeds. */
  steps: MeanStd;
  /** Generated tokens at the budget, over seeds. */
  tokens: MeanStd;
}

/** A comparison at one budget. */
export interface BudgetComparison {
  /** What is held equal: policy updates, or generated tokens. */
  budget: "updates" | "tokens";
  /** The equal budget: updates per run, or tokens per run. */
  amount: number;
  /** The metric compared (a record key). */
  metric: string;
  /** The seeds, in order. */
  seeds: number[];
  /** One row per algorithm, in the order the algorithms first appear. */
  rows: BudgetRow[];
  /** The algorithm with the highest mean (the first of equals). */
  leader: string;
  /** The leader minus every other algorithm, seed by seed. */
  versusLeader: { algorithm: string; difference: PairedDifference }[];
  /** Whether the leader is separated (paired t test, 95 %) from every other algorithm. */
  leaderSeparatedFromAll: boolean;
  /** One paragraph that states the numbers above (derived from them, not fixed prose). */
  verdict: string;
}

/** Options of {@linkcode compareAtEqualUpdates} and {@linkcode compareAtEqualTokens}. */
export interface BudgetOptions {
  /** The record key compared (default `"eval/accuracy"`). */
  metric?: string;
  /** Words for the metric in the verdict (default the key). */
  label?: string;
}

/** Runs grouped by algorithm (first-appearance order), each sorted by seed, with equal seeds. */
function bySeed(context: string, runs: readonly CompareRun[]): {
  seeds: number[];
  groups: [string, CompareRun[]][];
} {
  if (!Array.isArray(runs as unknown) || runs.length === 0) {
    throw new RangeError(`${context}: there must be at least one run`);
  }
  const map = new Map<string, CompareRun[]>();
  for (const run of runs) map.set(run.algorithm, [...(map.get(run.algorithm) ?? []), run]);
  const groups = [...map.entries()].map(([a, list]): [string, CompareRun[]] => [
    a,
    [...list].sort((x, y) => x.seed - y.seed),
  ]);
  const seeds = groups[0][1].map((r) => r.seed);
  for (const [algorithm, list] of groups) {
    const have = list.map((r) => r.seed);
    if (have.length !== seeds.length || have.some((s, i) => s !== seeds[i])) {
      throw new RangeError(
        `${context}: every algorithm must have the same seeds to be paired, ${algorithm} has ${
          have.join(", ")
        } and ${groups[0][0]} has ${seeds.join(", ")}`,
      );
    }
  }
  return { seeds, groups };
}

function curveOf(context: string, run: CompareRun, metric: string): CurvePoint[] {
  const curve = accuracyCurve(run.records, metric);
  if (curve.length === 0) {
    throw new RangeError(
      `${context}: the run of ${run.algorithm} (seed ${run.seed}) has no "${metric}" evaluation`,
    );
  }
  return curve;
}

function signed(x: number): string {
  return `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(3)}`;
}

function listText(items: string[]): string {
  return items.length <= 1
    ? items.join("")
    : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

/**
 * The verdict paragraph of a budget comparison, from its numbers only: the budget, the leader
 * with its mean ± std, and which algorithms the leader is separated from by a paired two-sided
 * t test at 95 % (each with the mean ± std of the paired difference and t), and which not.
 *
 * @param comparison A comparison without its verdict.
 * @param label Words for the metric.
 * @returns The paragraph.
 *
 * @example
 * ```ts
 * import { budgetVerdict } from "./budget_comparison.ts";
 * import { pairedDifference } from "./paired_difference.ts";
 * import { assertStringIncludes } from "@std/assert";
 *
 * const row = (algorithm: string, perSeed: number[]) => ({ algorithm, perSeed,
 *   value: { mean: perSeed.reduce((s, x) => s + x) / perSeed.length, std: 0 },
 *   steps: { mean: 10, std: 0 }, tokens: { mean: 100, std: 0 } });
 * const text = budgetVerdict({
 *   budget: "tokens", amount: 100, metric: "eval/reward", seeds: [0, 1],
 *   rows: [row("grpo", [0.5, 0.6]), row("rloo", [0.4, 0.5])], leader: "grpo",
 *   versusLeader: [{ algorithm: "rloo", difference: pairedDifference([0.5, 0.6], [0.4, 0.5]) }],
 *   leaderSeparatedFromAll: true,
 * }, "reward");
 * assertStringIncludes(text, "At 100 generated tokens per run");
 * assertStringIncludes(text, "grpo has the highest mean reward (0.550 ± 0.000 over 2 seeds, reached after 10.0 updates)");
 * assertStringIncludes(text, "it is ahead of every other algorithm: rloo (+0.100 ± 0.000, same difference on every seed)");
 * ```
 */
export function budgetVerdict(
  comparison: Omit<BudgetComparison, "verdict">,
  label: string,
): string {
  const { budget, amount, rows, leader, versusLeader, seeds } = comparison;
  const where = budget === "updates"
    ? `After ${amount} policy updates`
    : `At ${
      Math.round(amount)
    } generated tokens per run (the smallest total of any run; each run's curve read there, linear between its evaluations)`;
  const lead = rows.find((r) => r.algorithm === leader)!;
  const n = seeds.length;
  const head = `${where}, ${leader} has the highest mean ${label} (${
    lead.value.mean.toFixed(3)
  } ± ${lead.value.std.toFixed(3)} over ${n} seed${n === 1 ? "" : "s"}${
    budget === "tokens" ? `, reached after ${lead.steps.mean.toFixed(1)} updates` : ""
  }).`;
  if (versusLeader.length === 0) return `${head} It is the only algorithm compared.`;
  if (n === 1) {
    return `${head} With one seed no difference can be tested: the ranking is not evidence.`;
  }
  const item = ({ algorithm, difference: d }: BudgetComparison["versusLeader"][number]) =>
    `${algorithm} (${signed(d.mean)} ± ${d.std.toFixed(3)}, ${
      d.t === null ? "same difference on every seed" : `t = ${d.t.toFixed(2)}`
    })`;
  const ahead = versusLeader.filter((v) => v.difference.separated).map(item);
  const tied = versusLeader.filter((v) => !v.difference.separated).map(item);
  const critical = versusLeader[0].difference.critical!;
  const test = `Paired over seeds (leader minus other, two-sided t test at 95 %, |t| > ${
    critical.toFixed(3)
  }, no correction for the ${versusLeader.length} comparison${
    versusLeader.length === 1 ? "" : "s"
  })`;
  if (tied.length === 0) {
    return `${head} ${test}, it is ahead of every other algorithm: ${listText(ahead)}.`;
  }
  if (ahead.length === 0) {
    return `${head} ${test}, it cannot be separated from any other algorithm: ${
      listText(tied)
    }. These ${n} seeds do not rank the algorithms at this budget.`;
  }
  return `${head} ${test}, it is ahead of ${listText(ahead)}; it cannot be separated from ${
    listText(tied)
  }.`;
}

function finish(
  partial: Omit<BudgetComparison, "leader" | "versusLeader" | "leaderSeparatedFromAll" | "verdict">,
  label: string,
): BudgetComparison {
  let leaderRow = partial.rows[0];
  for (const row of partial.rows) if (row.value.mean > leaderRow.value.mean) leaderRow = row;
  const versusLeader = partial.rows.filter((r) => r !== leaderRow).map((r) => ({
    algorithm: r.algorithm,
    difference: pairedDifference(leaderRow.perSeed, r.perSeed),
  }));
  const comparison = {
    ...partial,
    leader: leaderRow.algorithm,
    versusLeader,
    leaderSeparatedFromAll: versusLeader.every((v) => v.difference.separated),
  };
  return { ...comparison, verdict: budgetVerdict(comparison, label) };
}

/**
 * Compare algorithms at an equal number of policy updates: every run's metric after its last
 * update, seed by seed (see {@linkcode budgetVerdict} for the test).
 *
 * Preconditions: every algorithm has one run per seed, the same seeds, and an evaluation after
 * its last update; all runs make the same number of updates.
 *
 * @param runs Every (algorithm, seed) run.
 * @param options The metric and its words.
 * @returns The comparison.
 * @throws {RangeError} When there are no runs, the seeds differ between algorithms, a run has no
 *   evaluation of the metric, or the update counts differ.
 *
 * @example
 * ```ts
 * import { compareAtEqualUpdates } from "./budget_comparison.ts";
 * import type { CompareRun } from "./compare_summary.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const run = (algorithm: string, seed: number, final: number): CompareRun => ({
 *   algorithm, seed, peakRssMb: 1, adamStepsPerUpdate: 1, models: [],
 *   records: [{ step: 0, "eval/reward": 0.2 }, { step: 1, "tokens/generated": 5, "eval/reward": final }],
 * });
 * const c = compareAtEqualUpdates(
 *   [run("grpo", 0, 0.3), run("grpo", 1, 0.5), run("rloo", 0, 0.2), run("rloo", 1, 0.3)],
 *   { metric: "eval/reward" },
 * );
 * assertEquals([c.amount, c.leader, c.rows[0].perSeed], [1, "grpo", [0.3, 0.5]]);
 * ```
 */
export function compareAtEqualUpdates(
  runs: readonly CompareRun[],
  options: BudgetOptions = {},
): BudgetComparison {
  const context = "Cannot compare the algorithms at equal updates";
  const metric = options.metric ?? COMPARE_METRICS.accuracy;
  const { seeds, groups } = bySeed(context, runs);
  let updates: number | undefined;
  const rows = groups.map(([algorithm, list]): BudgetRow => {
    const ends = list.map((run) => {
      const end = curveOf(context, run, metric).at(-1)!;
      const last = run.records.at(-1)!.step;
      if (end.step !== last) {
        throw new RangeError(
          `${context}: the run of ${algorithm} (seed ${run.seed}) has no "${metric}" evaluation after its last update ${last}`,
        );
      }
      updates ??= last;
      if (last !== updates) {
        throw new RangeError(
          `${context}: every run must make the same number of updates, got ${updates} and ${last} (${algorithm}, seed ${run.seed})`,
        );
      }
      return end;
    });
    return {
      algorithm,
      perSeed: ends.map((p) => p.accuracy),
      value: meanStd(ends.map((p) => p.accuracy)),
      steps: meanStd(ends.map((p) => p.step)),
      tokens: meanStd(ends.map((p) => p.tokens)),
    };
  });
  return finish(
    { budget: "updates", amount: updates!, metric, seeds, rows },
    options.label ?? metric,
  );
}

/**
 * Compare algorithms at an equal number of generated tokens: with `N` the smallest total of
 * generated tokens of any run (or `options.tokens`, at most that), every run's metric at `N`
 * tokens, read on its curve linearly between the two evaluations around `N`
 * (see `curveAtTokens`), then compared seed by seed (see {@linkcode budgetVerdict}).
 *
 * Preconditions: every algorithm has one run per seed and the same seeds; every run is evaluated
 * at step 0 and after its last update.
 *
 * @param runs Every (algorithm, seed) run.
 * @param options The metric, its words, and `tokens`: the budget N (default the smallest total).
 * @returns The comparison, with `amount = N`.
 * @throws {RangeError} When there are no runs, the seeds differ between algorithms, a run has no
 *   evaluation of the metric, or `tokens` exceeds some run's total.
 *
 * @example The budget is the smaller run's total; the larger run is read halfway
 * ```ts
 * import { compareAtEqualTokens } from "./budget_comparison.ts";
 * import type { CompareRun } from "./compare_summary.ts";
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 *
 * const run = (algorithm: string, tokensPerStep: number, final: number): CompareRun => ({
 *   algorithm, seed: 0, peakRssMb: 1, adamStepsPerUpdate: 1, models: [],
 *   records: [
 *     { step: 0, "eval/reward": 0.2 },
 *     { step: 1, "tokens/generated": tokensPerStep },
 *     { step: 2, "tokens/generated": tokensPerStep, "eval/reward": final },
 *   ],
 * });
 * const c = compareAtEqualTokens([run("grpo", 50, 0.4), run("trepo", 100, 0.6)], { metric: "eval/reward" });
 * assertEquals(c.amount, 100); // grpo's total
 * assertAlmostEquals(c.rows[1].perSeed[0], 0.4); // trepo at 100 of its 200 tokens: halfway 0.2 → 0.6
 * assertEquals(c.rows[1].steps.mean, 1);
 * ```
 */
export function compareAtEqualTokens(
  runs: readonly CompareRun[],
  options: BudgetOptions & { tokens?: number } = {},
): BudgetComparison {
  const context = "Cannot compare the algorithms at equal generated tokens";
  const metric = options.metric ?? COMPARE_METRICS.accuracy;
  const { seeds, groups } = bySeed(context, runs);
  const curves = groups.map(([algorithm, list]) =>
    [algorithm, list.map((run) => curveOf(context, run, metric))] as const
  );
  const smallest = Math.min(...curves.flatMap(([, cs]) => cs.map((c) => c.at(-1)!.tokens)));
  const budget = options.tokens === undefined
    ? smallest
    : checkNumber(context, "tokens", options.tokens, { min: 0 });
  if (budget > smallest) {
    throw new RangeError(
      `${context}: the budget of ${budget} tokens exceeds the smallest run total, ${smallest}`,
    );
  }
  const rows = curves.map(([algorithm, cs]): BudgetRow => {
    const points = cs.map((c) => curveAtTokens(c, budget));
    return {
      algorithm,
      perSeed: points.map((p) => p.accuracy),
      value: meanStd(points.map((p) => p.accuracy)),
      steps: meanStd(points.map((p) => p.step)),
      tokens: meanStd(points.map((p) => p.tokens)),
    };
  });
  return finish({ budget: "tokens", amount: budget, metric, seeds, rows }, options.label ?? metric);
}
