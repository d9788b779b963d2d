/**
 * The cost-aware frontier's written results: the MSE at a budget, the verdict sentences and the
 * figure come from the rows' numbers (worked out by hand here), not fixed prose.
 */
import { assert, assertAlmostEquals, assertEquals, assertStringIncludes } from "@std/assert";
import {
  frontierFigure,
  frontierRows,
  frontierTable,
  frontierVerdicts,
} from "../../lib/experiments/frontier_summary.ts";
import type { EstimatorReport } from "../../lib/theory/theorem_check.ts";

/** A report with only the fields the frontier reads set to something meaningful. */
function report(name: string, cost: {
  tokens: number;
  bias: number;
  biasSE: number;
  vt: number;
  vtSE: number;
  scale?: number;
  critic?: number;
}): EstimatorReport {
  const scale = cost.scale ?? 1;
  return {
    name,
    label: name.toUpperCase(),
    expected: "unbiased",
    claim: "",
    expectedHere: "unbiased",
    expectedDirection: null,
    reason: "",
    asShipped: true,
    relativeBias: 0,
    standardError: 0,
    zScore: 0,
    cosine: 1,
    variance: 0,
    relativeVariance: cost.vt / cost.tokens,
    samples: 1000,
    verdict: "unbiased",
    scale,
    directionalBias: 0,
    directionVerdict: "unbiased up to scale",
    exactRelativeBias: null,
    exactCosine: null,
    seconds: 0,
    tokensPerEstimate: cost.tokens,
    tokensPerEstimateSE: 0,
    criticTokensPerEstimate: cost.critic ?? 0,
    relativeBiasSquared: cost.bias,
    relativeBiasSquaredSE: cost.biasSE,
    relativeVarianceSE: 0,
    varianceTokens: cost.vt,
    varianceTokensSE: cost.vtSE,
    rescaledBiasSquared: cost.bias,
    rescaledBiasSquaredSE: cost.biasSE,
    rescaledVarianceTokens: cost.vt / (scale * scale),
    rescaledVarianceTokensSE: cost.vtSE / (scale * scale),
  };
}

// A: unbiased, 100 tokens, varianceTokens 200. B: biased (0.05), cheap variance (50), 2000 tokens.
// At 1k: A = 0 + 200/1000 = 0.2, B cannot afford one estimate. At 10k: A = 0.02, B = 0.055.
// At 1M: A = 2e-4, B = 0.05 + 5e-5.
const rows = frontierRows([
  report("a", { tokens: 100, bias: 0, biasSE: 1e-4, vt: 200, vtSE: 10 }),
  report("b", { tokens: 2000, bias: 0.05, biasSE: 1e-3, vt: 50, vtSE: 1 }),
], [1e3, 1e4, 1e6]);

Deno.test("frontierRows: relative MSE = bias² + varianceTokens/B, SE combined, affordability", () => {
  assertAlmostEquals(rows[0].atBudget["1000"]!.relativeMse, 0.2, 1e-12);
  assertAlmostEquals(rows[0].atBudget["1000"]!.standardError, Math.hypot(1e-4, 10 / 1000), 1e-12);
  assertEquals(rows[1].atBudget["1000"]!.affordable, false);
  assertAlmostEquals(rows[1].atBudget["10000"]!.relativeMse, 0.055, 1e-12);
  assertAlmostEquals(rows[1].atBudget["1000000"]!.relativeMse, 0.05005, 1e-12);
});

Deno.test("frontierVerdicts: the lowest error per budget, with its SE and whether it is apart", () => {
  const sentences = frontierVerdicts(rows, [1e3, 1e4]);
  assertStringIncludes(
    sentences[0],
    "At 1k generated tokens the lowest relative MSE is A: 0.200 ± 0.0100 (1 row cannot afford",
  );
  // 0.055 − 0.02 = 0.035 against 2·√(0.001² + 0.0001²+…) ≈ 0.002: apart.
  assertStringIncludes(sentences[1], "lowest relative MSE is A: 0.0200 ± 1.00e-3; next B: 0.0550");
  assertStringIncludes(sentences[1], "apart");
  assert(!sentences[1].includes("not apart"));
});

Deno.test("frontierVerdicts: close rows are called within noise; an oracle critic is named", () => {
  const close = frontierRows([
    report("ppo", { tokens: 100, bias: 0, biasSE: 1e-3, vt: 100, vtSE: 20, critic: 100 }),
    report("rloo", { tokens: 100, bias: 0, biasSE: 1e-3, vt: 110, vtSE: 20 }),
  ], [1e4]);
  const [first] = frontierVerdicts(close, [1e4]);
  assertStringIncludes(first, "PPO: 0.0100 ± 2.24e-3 (its critic is the exact V here, an oracle");
  assertStringIncludes(first, "not apart (within 2 combined SEs)");
});

Deno.test("frontierTable and frontierFigure: one row and one line per estimator and panel", () => {
  const table = frontierTable(rows, [1e3, 1e4, 1e6]);
  assertStringIncludes(table, "| B | 2.00e+3 ± 0 |");
  assertStringIncludes(table, "| n/a |");
  const figure = frontierFigure({ short: rows });
  assertEquals(figure.data.length, 4); // 2 rows × (raw, rescaled)
  const a = figure.data[0];
  // A's line starts at one estimate's cost (10² is the axis' start) and falls as 200/B.
  assertAlmostEquals((a.x as number[])[0], 100, 1e-9);
  assertAlmostEquals((a.y as number[])[0], 2, 1e-9);
  // B's squared bias (0.05 ± 0.001) is drawn as a floor; A's (0 ± 1e-4) is not.
  const b = figure.data[1];
  assertAlmostEquals((b.y as number[]).at(-1)!, 0.05 + 50 / 1e7, 1e-12);
});

Deno.test("frontierVerdicts: unbiased rows ranked by varianceTokens; TRePO's token ratio", () => {
  // Both unbiased (bias² within 2 SE of 0). REINFORCE: 500 tokens × 0.4 = 200; TRePO: 2000 ×
  // 0.3 = 600, so 3.00× the tokens for the same variance, and 0.4/0.3 = 1.33× less per estimate.
  const unbiased = frontierRows([
    report("reinforce", { tokens: 500, bias: 1e-4, biasSE: 1e-4, vt: 200, vtSE: 5 }),
    report("trepo-k1-every", { tokens: 2000, bias: -1e-4, biasSE: 1e-4, vt: 600, vtSE: 10 }),
    report("grpo", { tokens: 500, bias: 0.5, biasSE: 1e-3, vt: 5, vtSE: 1 }),
  ], [1e4]);
  const sentences = frontierVerdicts(unbiased, [1e4]);
  assertEquals(
    sentences.find((x) => x.startsWith("- Among the 2 rows")),
    "- Among the 2 rows whose squared bias is within 2 SE of 0 (where only varianceTokens " +
      "separates them, at every budget), the lowest varianceTokens is REINFORCE: 200 ± 5.00; " +
      "next TREPO-K1-EVERY: 600 ± 10.0, apart (3.00×).",
  );
  assertEquals(
    sentences.find((x) => x.startsWith("- The best unbiased TRePO")),
    "- The best unbiased TRePO, TREPO-K1-EVERY, needs 3.00× the generated tokens of REINFORCE " +
      "for the same variance (varianceTokens 600 ± 10.0); one of its estimates has 1.33× less " +
      "variance (0.300 against 0.400).",
  );
});
