/**
 * The theorem check's written results: sentences come from the measured rows, not fixed prose.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import type { EstimatorReport } from "../../lib/theory/theorem_check.ts";
import {
  disagreements,
  estimatorTable,
  theoremMarkdown,
} from "../../lib/experiments/theorem_summary.ts";

function row(overrides: Partial<EstimatorReport>): EstimatorReport {
  return {
    name: "x",
    label: "X",
    expected: "unbiased",
    claim: "Theorem 1",
    expectedHere: "unbiased",
    expectedDirection: "unbiased up to scale",
    reason: "a reason",
    asShipped: false,
    relativeBias: 0.01,
    standardError: 0.02,
    zScore: 0.5,
    cosine: 0.999,
    variance: 1,
    relativeVariance: 2,
    samples: 100,
    verdict: "unbiased",
    scale: 1,
    directionalBias: 0.01,
    directionVerdict: "unbiased up to scale",
    exactRelativeBias: null,
    exactCosine: null,
    seconds: 0.1,
    tokensPerEstimate: 100,
    tokensPerEstimateSE: 1,
    criticTokensPerEstimate: 0,
    relativeBiasSquared: 0,
    relativeBiasSquaredSE: 1e-4,
    relativeVarianceSE: 0.1,
    varianceTokens: 200,
    varianceTokensSE: 10,
    rescaledBiasSquared: 0,
    rescaledBiasSquaredSE: 1e-4,
    rescaledVarianceTokens: 200,
    rescaledVarianceTokensSE: 10,
    ...overrides,
  };
}

Deno.test("a row that agrees with the paper and with the lab gets no sentence", () => {
  assertEquals(disagreements([row({})]), []);
});

Deno.test("a disagreement with the paper is described with the row's own numbers", () => {
  const [sentence] = disagreements([row({
    label: "Dr. GRPO",
    verdict: "biased",
    expectedHere: "biased",
    relativeBias: 0.2512,
    standardError: 0.0123,
    zScore: 20.4,
    scale: 0.75,
    reason: "(G − 1)/G",
  })]);
  assertStringIncludes(
    sentence,
    "Dr. GRPO: measured biased (relative bias 0.2512 ± 0.0123, z 20.4",
  );
  assertStringIncludes(sentence, "scale 0.750");
  assertStringIncludes(sentence, "where the paper states unbiased (Theorem 1)");
  assertStringIncludes(sentence, "This lab expected biased: (G − 1)/G.");
  assertStringIncludes(sentence, "The direction test agrees with the prediction");
});

Deno.test("a measurement that contradicts the lab's own prediction is flagged", () => {
  const [sentence] = disagreements([
    row({ verdict: "biased", directionVerdict: "biased in direction" }),
  ]);
  assertStringIncludes(
    sentence,
    "⚠ This lab expected unbiased (a reason); the measurement disagrees.",
  );
  assertStringIncludes(sentence, "⚠ The direction test expected unbiased up to scale.");
  assertStringIncludes(estimatorTable([row({ verdict: "biased" })]), "**biased** ⚠");
});

Deno.test("the Markdown puts the paper's estimators and the recipes as shipped in two tables", () => {
  const md = theoremMarkdown(
    {
      tabular: { setup: { n: 3 }, estimators: [row({}), row({ label: "RLOO", asShipped: true })] },
    },
    "deno task theorem",
    1.5,
    "wasm",
  );
  const paper = md.indexOf("### The paper's estimators");
  const shipped = md.indexOf("### The recipes as shipped");
  assertEquals(paper > 0 && shipped > paper, true);
  assertStringIncludes(md.slice(shipped), "| RLOO |");
  assertStringIncludes(md, "Nowhere.");
});
