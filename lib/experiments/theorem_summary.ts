/**
 * The theorem check's written results: the Markdown tables (the paper's estimators, then the
 * recipes as shipped), the sentences about every disagreement (each derived from the measured
 * row, none fixed in advance), the bias figure and the HTML report's sections.
 *
 * @module
 */
import type { Figure } from "../report/figure.ts";
import type { ReportSection } from "../report/html_report.ts";
import type { EstimatorReport } from "../theory/theorem_check.ts";
import {
  FRONTIER_METHOD,
  type FrontierRow,
  frontierTable,
  frontierVerdicts,
} from "./frontier_summary.ts";

/** One policy's section of `results/theorem/summary.json`. */
export interface TheoremSection {
  /** The problem and the run's settings. */
  setup: Record<string, unknown>;
  /** One row per estimator: the paper's estimators first, then the recipes as shipped. */
  estimators: EstimatorReport[];
  /** The cost-aware frontier: the recipes as shipped and the TRePO grid (when measured). */
  frontier?: FrontierRow[];
}

/** How the numbers are made (method, not results). */
export const THEOREM_METHOD = `
How to read this. Each estimator is run \`n\` times, every estimate on a fresh batch of responses
sampled with \`Random\` from the policy's exact distribution; per-sample gradients ∇log π are exact
(score Jacobian). ḡ is the mean estimate, ∇J the exact gradient of
J = (1/P) Σ_p Σ_W π(W|p)·RM(W) by autodiff of the enumerated sum. relative bias = ‖ḡ − ∇J‖/‖∇J‖;
SE = sqrt(tr Cov/n)/‖∇J‖ (the size of pure sampling noise in ḡ); verdict "unbiased" iff bias ≤ 4·SE.
"scale" = ⟨ḡ, ∇J⟩/‖∇J‖²; "direction" repeats the test after removing that best rescale. "exact bias"
is ‖E[ĝ] − ∇J‖/‖∇J‖ with E[ĝ] in closed form where one exists. A test with n estimates cannot see
a bias much below 4·SE.

Columns. "paper" holds only what the paper states; "expected here" is this lab's own prediction for
the implementation (with its reason in summary.json, \`reason\`); ⚠ marks a measured verdict that
differs from "expected here". The paper's estimators use G = 4 responses per prompt. The recipes
as shipped run their own code with their default config: a batch of promptsPerStep × groupSize
responses, the recipe's advantage function, and the weight its first Adam step gives every
∇log π(w_t | …) (minus the derivative of its loss with respect to the log-probs, at the point where
the policy is the sampler and the reference).

Objective. The hidden token rewards r(s, a) ~ N(0, σ_p²) (σ = 1 and 0.25 for the two prompts) define
RM(W) = Σ_t γ^(t−1) r_t with γ = 0.9, and every bias is measured against ∇E[RM], the true
token-level objective at γ = 0.9. Theorem 1 says γ cancels: the ZRA estimator with γ = 1
(RM(W) on every token) is unbiased for it. The "ZRA, γ = 0.9" row is the tempting alternative
(Eq. 26): returns discounted from the last token, so token t of a T-token response is weighted
γ^(T−t)·RM(W).
`;

function fmt(x: number | null, digits = 4): string {
  if (x === null) return "—";
  return Math.abs(x) !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4)
    ? x.toExponential(2)
    : x.toFixed(digits);
}

/** Whether the paper's statement and a measured verdict say the same thing. */
function paperAgrees(e: EstimatorReport): boolean {
  return e.expected === "biased" ? e.verdict === "biased" : e.verdict === "unbiased";
}

/**
 * A Markdown table of estimator rows.
 *
 * @param rows The rows (one section's paper estimators, or its as-shipped recipes).
 * @returns The table.
 *
 * @example
 * ```ts
 * import { estimatorTable } from "./theorem_summary.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(estimatorTable([]).split("\n").length, 2); // header and rule
 * ```
 */
export function estimatorTable(rows: readonly EstimatorReport[]): string {
  const line = (e: EstimatorReport) =>
    `| ${e.label} | ${e.expected} | ${e.expectedHere} | **${e.verdict}**${
      e.verdict === e.expectedHere ? "" : " ⚠"
    } | ${fmt(e.relativeBias)} ± ${fmt(e.standardError)} | ${fmt(e.zScore, 1)} | ${
      fmt(e.cosine)
    } | ${fmt(e.scale, 3)} | ${e.directionVerdict}${
      e.expectedDirection !== null && e.expectedDirection !== e.directionVerdict ? " ⚠" : ""
    } | ${fmt(e.relativeVariance, 3)} | ${fmt(e.exactRelativeBias)} | ${e.samples} |`;
  return [
    "| estimator | paper | expected here | measured | relative bias ± SE | z | cosine | scale | direction | variance / ‖∇J‖² | exact bias | n |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows.map(line),
  ].join("\n");
}

/**
 * One sentence for every row whose measured verdict is not what the paper states, or not what
 * this lab expected, built from that row's numbers alone.
 *
 * @param rows Estimator rows.
 * @returns The sentences, in row order (none when everything agrees).
 *
 * @example
 * ```ts
 * import { disagreements } from "./theorem_summary.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(disagreements([]), []);
 * ```
 */
export function disagreements(rows: readonly EstimatorReport[]): string[] {
  return rows.filter((e) => !paperAgrees(e) || e.verdict !== e.expectedHere).map((e) => {
    const measured = `measured ${e.verdict} (relative bias ${fmt(e.relativeBias)} ± ${
      fmt(e.standardError)
    }, z ${fmt(e.zScore, 1)}, scale ${fmt(e.scale, 3)}, cosine ${
      fmt(e.cosine)
    }, ${e.directionVerdict})`;
    const paper = paperAgrees(e)
      ? `as the paper states (${e.expected}; ${e.claim})`
      : `where the paper states ${e.expected} (${e.claim})`;
    const here = e.verdict === e.expectedHere
      ? `This lab expected ${e.expectedHere}: ${e.reason}.`
      : `⚠ This lab expected ${e.expectedHere} (${e.reason}); the measurement disagrees.`;
    const direction = e.expectedDirection === null
      ? ""
      : e.expectedDirection === e.directionVerdict
      ? ` The direction test agrees with the prediction (${e.expectedDirection}).`
      : ` ⚠ The direction test expected ${e.expectedDirection}.`;
    return `- ${e.label}: ${measured}, ${paper}. ${here}${direction}`;
  });
}

/**
 * The whole `summary.md`.
 *
 * @param sections The policy sections, by name.
 * @param command The command that made them.
 * @param seconds Its wall time.
 * @param backend The tfjs backend.
 * @returns Markdown.
 */
export function theoremMarkdown(
  sections: Readonly<Record<string, TheoremSection>>,
  command: string,
  seconds: number,
  backend: string,
): string {
  return [
    "# Theorem check: bias of policy-gradient estimators (arXiv 2506.02553)",
    "",
    `Command: \`${command}\` (${seconds.toFixed(1)} s, backend ${backend}).`,
    THEOREM_METHOD,
    FRONTIER_METHOD,
    ...Object.entries(sections).flatMap(([name, section]) => {
      const paperRows = section.estimators.filter((e) => !e.asShipped);
      const shipped = section.estimators.filter((e) => e.asShipped);
      const notes = disagreements(section.estimators);
      const frontier = section.frontier ?? [];
      return [
        `## ${name} ${name === "long" ? "responses (tabular policy)" : "policy"}`,
        "",
        ...(paperRows.length === 0
          ? []
          : ["### The paper's estimators", "", estimatorTable(paperRows), ""]),
        "### The recipes as shipped" + (name === "long" ? " and the TRePO grid" : ""),
        "",
        estimatorTable(shipped),
        "",
        ...(frontier.length === 0 ? [] : [
          "### Cost-aware frontier: gradient error per generated token",
          "",
          frontierTable(frontier),
          "",
          ...frontierVerdicts(frontier),
          "",
        ]),
        "### Where a measurement differs from the paper or from this lab's expectation",
        "",
        ...(notes.length === 0 ? ["Nowhere."] : notes),
        "",
        "Setup:",
        "",
        Object.entries(section.setup).map(([k, v]) =>
          `- \`${k}\`: ${
            typeof v === "number"
              ? (Number.isInteger(v) ? String(v) : fmt(v, 6))
              : JSON.stringify(v)
          }`
        ).join("\n"),
        "",
      ];
    }),
  ].join("\n");
}

/**
 * Relative bias ± SE against the 4·SE threshold, and the variance, for every row of every section.
 *
 * @param sections The policy sections, by name.
 * @returns A two-panel figure.
 */
export function theoremFigure(sections: Readonly<Record<string, TheoremSection>>): Figure {
  const data: Figure["data"] = [];
  const colors = ["#1f77b4", "#ff7f0e"];
  Object.entries(sections).forEach(([name, section], i) => {
    const labels = section.estimators.map((e) => e.name);
    data.push({
      type: "scatter",
      mode: "markers",
      name: `${name}: relative bias ± SE`,
      x: labels,
      y: section.estimators.map((e) => e.relativeBias),
      error_y: { type: "data", array: section.estimators.map((e) => e.standardError) },
      marker: { color: colors[i % 2], size: 9 },
    });
    data.push({
      type: "scatter",
      mode: "markers",
      name: `${name}: 4·SE threshold`,
      x: labels,
      y: section.estimators.map((e) => 4 * e.standardError),
      marker: { color: colors[i % 2], symbol: "line-ew-open", size: 16, line: { width: 2 } },
    });
    data.push({
      type: "bar",
      name: `${name}: variance / ‖∇J‖²`,
      x: labels,
      y: section.estimators.map((e) => e.relativeVariance),
      marker: { color: colors[i % 2] },
      xaxis: "x2",
      yaxis: "y2",
    });
  });
  return {
    data,
    layout: {
      title: { text: "Bias of policy-gradient estimators vs exact ∇J (arXiv 2506.02553)" },
      width: 1300,
      height: 800,
      grid: { rows: 2, columns: 1, pattern: "independent" },
      yaxis: { title: { text: "‖ḡ − ∇J‖ / ‖∇J‖" } },
      yaxis2: { title: { text: "variance / ‖∇J‖² (log)" }, type: "log" },
      barmode: "group",
    },
  };
}

/**
 * The HTML report's sections: method, figure, then one table per policy section.
 *
 * @param sections The policy sections, by name.
 * @param command The command that made them.
 * @param figure The figure and its PNG, when one was rendered.
 * @returns Report sections for `writeHtmlReport`.
 */
export function theoremReportSections(
  sections: Readonly<Record<string, TheoremSection>>,
  command: string,
  figure: { figure: Figure; image?: Uint8Array },
): ReportSection[] {
  return [
    {
      title: "Theorem check: bias of policy-gradient estimators",
      text: `${command}\n${THEOREM_METHOD}`,
    },
    { title: "Relative bias ± SE vs the 4·SE threshold; variance (log)", ...figure },
    ...Object.entries(sections).map(([name, section]): ReportSection => ({
      title: `${name} policy`,
      text: disagreements(section.estimators).join("\n"),
      table: section.estimators.map((e) => ({
        estimator: e.label,
        "as shipped": e.asShipped ? "yes" : "",
        paper: e.expected,
        "expected here": e.expectedHere,
        measured: e.verdict,
        "relative bias": e.relativeBias,
        SE: e.standardError,
        z: e.zScore,
        cosine: e.cosine,
        scale: e.scale,
        direction: e.directionVerdict,
        "variance / ‖∇J‖²": e.relativeVariance,
        "exact bias": e.exactRelativeBias,
        n: e.samples,
      })),
    })),
  ];
}
