import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  compareAtEqualTokens,
  compareAtEqualUpdates,
} from "../../lib/experiments/budget_comparison.ts";
import type { CompareRecord, CompareRun } from "../../lib/experiments/compare_summary.ts";

const METRIC = "eval/sampled_reward";

/** A two-update run: `tokensPerStep` tokens per update, the metric at the given steps. */
function run(
  algorithm: string,
  seed: number,
  tokensPerStep: number,
  values: Record<number, number>,
): CompareRun {
  const records: CompareRecord[] = [0, 1, 2].map((step) => ({
    step,
    ...(step === 0 ? {} : { "tokens/generated": tokensPerStep, "time/step_s": 1 }),
    ...(values[step] === undefined ? {} : { [METRIC]: values[step] }),
  }));
  return { algorithm, seed, records, peakRssMb: 1, models: [], adamStepsPerUpdate: 1 };
}

/**
 * grpo: 100 and 150 tokens per update (totals 200 and 300), evaluated at 0 and 2.
 * trepo: 400 tokens per update (total 800), evaluated at 0, 1 and 2.
 */
const RUNS = [
  run("grpo", 0, 100, { 0: 0.2, 2: 0.4 }),
  run("grpo", 1, 150, { 0: 0.3, 2: 0.5 }),
  run("trepo", 0, 400, { 0: 0.2, 1: 0.3, 2: 0.6 }),
  run("trepo", 1, 400, { 0: 0.3, 1: 0.5, 2: 0.7 }),
];

Deno.test("compareAtEqualTokens: the smallest total, every curve read there, by hand", () => {
  const c = compareAtEqualTokens(RUNS, { metric: METRIC, label: "reward" });
  assertEquals([c.budget, c.amount, c.metric, c.seeds], ["tokens", 200, METRIC, [0, 1]]);
  const [grpo, trepo] = c.rows;
  // grpo s0 ends at 200 tokens: 0.4. grpo s1: 0.3 + (200/300)·0.2 = 0.43333 after 4/3 updates.
  assertAlmostEquals(grpo.perSeed[0], 0.4, 1e-12);
  assertAlmostEquals(grpo.perSeed[1], 0.3 + 0.2 * 2 / 3, 1e-12);
  assertAlmostEquals(grpo.steps.mean, (2 + 4 / 3) / 2, 1e-12);
  // trepo: halfway to its first evaluation (400 tokens): s0 0.2 → 0.3 gives 0.25; s1 0.3 → 0.5 gives 0.4.
  assertAlmostEquals(trepo.perSeed[0], 0.25, 1e-12);
  assertAlmostEquals(trepo.perSeed[1], 0.4, 1e-12);
  assertEquals(trepo.steps.mean, 0.5);
  assertEquals(trepo.tokens, { mean: 200, std: 0 });
  // Leader grpo; d = [0.15, 0.03333]: mean 0.091667, std 0.0825, t = 1.571 < 12.706 (1 df).
  assertEquals(c.leader, "grpo");
  const d = c.versusLeader[0].difference;
  assertEquals(c.versusLeader[0].algorithm, "trepo");
  assertAlmostEquals(d.mean, 0.0916667, 1e-6);
  assertAlmostEquals(d.std, 0.0824958, 1e-6);
  assertAlmostEquals(d.t!, 1.5714286, 1e-6);
  assertEquals([d.separated, c.leaderSeparatedFromAll], [false, false]);
  assertStringIncludes(c.verdict, "At 200 generated tokens per run");
  assertStringIncludes(
    c.verdict,
    "grpo has the highest mean reward (0.417 ± 0.024 over 2 seeds, reached after 1.7 updates)",
  );
  assertStringIncludes(
    c.verdict,
    "it cannot be separated from any other algorithm: trepo (+0.092 ± 0.082, t = 1.57)",
  );
  assertStringIncludes(c.verdict, "These 2 seeds do not rank the algorithms at this budget.");
});

Deno.test("compareAtEqualUpdates: the end of every run; the ranking can reverse", () => {
  const c = compareAtEqualUpdates(RUNS, { metric: METRIC, label: "reward" });
  assertEquals([c.budget, c.amount], ["updates", 2]);
  assertEquals(c.rows.map((r) => r.perSeed), [[0.4, 0.5], [0.6, 0.7]]);
  assertEquals(c.rows.map((r) => r.tokens.mean), [250, 800]);
  // trepo − grpo = [0.2, 0.2]: the same on both seeds, so separated without a t.
  assertEquals(c.leader, "trepo");
  assertEquals(c.versusLeader[0].difference.t, null);
  assert(c.leaderSeparatedFromAll);
  assertStringIncludes(
    c.verdict,
    "After 2 policy updates, trepo has the highest mean reward (0.650 ± 0.071 over 2 seeds).",
  );
  assertStringIncludes(
    c.verdict,
    "it is ahead of every other algorithm: grpo (+0.200 ± 0.000, same difference on every seed).",
  );
});

Deno.test("compareAtEqualTokens: an explicit budget, one seed, mixed verdicts", () => {
  const c = compareAtEqualTokens(RUNS, { metric: METRIC, tokens: 100 });
  assertEquals(c.amount, 100);
  // grpo s0 at 100 tokens: halfway 0.2 → 0.4.
  assertAlmostEquals(c.rows[0].perSeed[0], 0.3, 1e-12);
  const single = compareAtEqualTokens([RUNS[0], RUNS[2]], { metric: METRIC });
  assertStringIncludes(single.verdict, "With one seed no difference can be tested");
  // Three algorithms over three seeds: ahead of one, not separable from the other.
  const three = (a: string, finals: number[]) =>
    finals.map((f, seed) => run(a, seed, 100, { 0: 0, 2: f }));
  const c3 = compareAtEqualUpdates([
    ...three("rloo", [0.50, 0.52, 0.54]),
    ...three("grpo", [0.40, 0.41, 0.43]),
    ...three("ppo", [0.55, 0.40, 0.60]),
  ], { metric: METRIC });
  assertEquals(c3.leader, "rloo");
  assertStringIncludes(c3.verdict, "it is ahead of grpo (+0.107 ± 0.006, t = 32.00)");
  assertStringIncludes(c3.verdict, "it cannot be separated from ppo (+0.003 ± 0.101, t = 0.06)");
});

Deno.test("budget comparisons: bad input", () => {
  assertThrows(
    () => compareAtEqualTokens([], { metric: METRIC }),
    RangeError,
    "Cannot compare the algorithms at equal generated tokens: there must be at least one run",
  );
  assertThrows(
    () => compareAtEqualTokens(RUNS, { metric: METRIC, tokens: 250 }),
    RangeError,
    "the budget of 250 tokens exceeds the smallest run total, 200",
  );
  assertThrows(
    () => compareAtEqualUpdates(RUNS.slice(0, 3), { metric: METRIC }),
    RangeError,
    "every algorithm must have the same seeds to be paired, trepo has 0 and grpo has 0, 1",
  );
  assertThrows(
    () => compareAtEqualUpdates(RUNS, { metric: "eval/accuracy" }),
    RangeError,
    'the run of grpo (seed 0) has no "eval/accuracy" evaluation',
  );
  assertThrows(
    () => compareAtEqualUpdates([run("grpo", 0, 100, { 0: 0.1, 1: 0.2 })], { metric: METRIC }),
    RangeError,
    'has no "eval/sampled_reward" evaluation after its last update 2',
  );
});
