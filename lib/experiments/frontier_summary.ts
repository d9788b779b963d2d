/**
 * The cost-aware frontier's written results: which estimator buys the smallest gradient error per
 * generated token. A table of each estimator's tokens per estimate, squared bias, variance and
 * `varianceTokens`; the relative MSE at a few budgets; verdict sentences built from those numbers
 * and their standard errors (none fixed in advance); and the frontier figure (relative MSE against
 * the token budget, log-log, one line per estimator).
 *
 * @module
 */
import type { Figure, Trace } from "../report/figure.ts";
import { type BudgetError, relativeMseAtBudget } from "../theory/cost_frontier.ts";
import type { EstimatorReport } from "../theory/theorem_check.ts";

/** The budgets (generated tokens) the table and the verdicts read the frontier at. */
export const FRONTIER_BUDGETS: readonly number[] = [1e3, 1e4, 1e5, 1e6];

/** How the frontier is made (method, not results). */
export const FRONTIER_METHOD = `
The frontier. Each row's n estimates also count what they generated (\`TokenMeter\`, filled where
the lab samples: the batch's responses, TRePO's continuations, ReMax's greedy decodes; EOS
included). tokens/estimate is their mean; PPO's critic scores every response token, reported apart
(critic tokens) and not counted as generation. With tr Σ the variance of one estimate,
relativeVariance = tr Σ/‖∇J‖², varianceTokens = relativeVariance × tokens/estimate, and
relativeBiasSquared = (‖ḡ − ∇J‖² − tr Σ/n)/‖∇J‖² (the noise floor removed, so an unbiased row can
read slightly below 0). Averaging the estimates a budget of B generated tokens buys gives
relative MSE(B) = relativeBiasSquared + varianceTokens/B, with SE √(SE_bias² + (SE_vt/B)²). A row
whose single estimate costs more than B is not affordable at B. frontier.png draws each line from
the cost of one estimate on, with the squared bias drawn as 0 where it is within 2 SE of 0. "After rescale" divides each
estimator by its best fixed scale c = ⟨ḡ, ∇J⟩/‖∇J‖² first (a step-size change: it removes the
scale bias of token-mean and constant normalisers, using the exact ∇J, which a run does not have).
Each estimate is one recipe step's first minibatch, and it is charged the whole batch's tokens
(PPO's first of its 2 minibatches uses half of them). All SEs are delta-method SEs from the same n
estimates; two rows are called apart when their MSEs differ by more than 2 combined SEs.
`;

/** One row of the frontier in `summary.json`: the cost fields and the error at each budget. */
export interface FrontierRow {
  name: string;
  label: string;
  tokensPerEstimate: number;
  tokensPerEstimateSE: number;
  criticTokensPerEstimate: number;
  relativeBiasSquared: number;
  relativeBiasSquaredSE: number;
  relativeVariance: number;
  relativeVarianceSE: number;
  varianceTokens: number;
  varianceTokensSE: number;
  scale: number;
  rescaledBiasSquared: number | null;
  rescaledBiasSquaredSE: number | null;
  rescaledVarianceTokens: number | null;
  /** The relative MSE at each of {@linkcode FRONTIER_BUDGETS}, keyed by the budget. */
  atBudget: Record<string, BudgetError | null>;
  /** The same after the best rescale. */
  rescaledAtBudget: Record<string, BudgetError | null>;
  samples: number;
}

/**
 * The frontier rows of a set of estimator reports.
 *
 * @param reports The rows (as-shipped recipes and the TRePO grid).
 * @param budgets The budgets to read the error at (default {@linkcode FRONTIER_BUDGETS}).
 * @returns One row per report, in order.
 *
 * @example
 * ```ts
 * import { frontierRows } from "./frontier_summary.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(frontierRows([]), []);
 * ```
 */
export function frontierRows(
  reports: readonly EstimatorReport[],
  budgets: readonly number[] = FRONTIER_BUDGETS,
): FrontierRow[] {
  return reports.map((e) => ({
    name: e.name,
    label: e.label,
    tokensPerEstimate: e.tokensPerEstimate,
    tokensPerEstimateSE: e.tokensPerEstimateSE,
    criticTokensPerEstimate: e.criticTokensPerEstimate,
    relativeBiasSquared: e.relativeBiasSquared,
    relativeBiasSquaredSE: e.relativeBiasSquaredSE,
    relativeVariance: e.relativeVariance,
    relativeVarianceSE: e.relativeVarianceSE,
    varianceTokens: e.varianceTokens,
    varianceTokensSE: e.varianceTokensSE,
    scale: e.scale,
    rescaledBiasSquared: e.rescaledBiasSquared,
    rescaledBiasSquaredSE: e.rescaledBiasSquaredSE,
    rescaledVarianceTokens: e.rescaledVarianceTokens,
    atBudget: Object.fromEntries(budgets.map((b) => [String(b), relativeMseAtBudget(e, b)])),
    rescaledAtBudget: Object.fromEntries(
      budgets.map((b) => [String(b), relativeMseAtBudget(e, b, true)]),
    ),
    samples: e.samples,
  }));
}

/** A number for a table: 3 significant digits, exponent form when small or large. */
function num(x: number | null): string {
  if (x === null) return "—";
  if (x === 0) return "0";
  return Math.abs(x) < 1e-2 || Math.abs(x) >= 1e4 ? x.toExponential(2) : x.toPrecision(3);
}

/** `a ± b`. */
function pm(x: number | null, se: number | null): string {
  return x === null || se === null ? "—" : `${num(x)} ± ${num(se)}`;
}

/** A budget as people say it: 1k, 10k, 1M. */
export function budgetLabel(b: number): string {
  return b >= 1e6 ? `${b / 1e6}M` : b >= 1e3 ? `${b / 1e3}k` : String(b);
}

/**
 * The frontier's Markdown table: cost fields, then the relative MSE (± SE) at each budget, raw and
 * after the best rescale ("n/a" where one estimate costs more than the budget).
 *
 * @param rows Frontier rows.
 * @param budgets The budgets of the MSE columns (default {@linkcode FRONTIER_BUDGETS}).
 * @returns The table.
 *
 * @example
 * ```ts
 * import { frontierTable } from "./frontier_summary.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(frontierTable([]).split("\n").length, 2); // header and rule
 * ```
 */
export function frontierTable(
  rows: readonly FrontierRow[],
  budgets: readonly number[] = FRONTIER_BUDGETS,
): string {
  const cell = (e: BudgetError | null) =>
    e === null ? "—" : e.affordable ? pm(e.relativeMse, e.standardError) : "n/a";
  const header = [
    "estimator",
    "tokens/estimate",
    "critic tokens",
    "bias² / ‖∇J‖²",
    "variance / ‖∇J‖²",
    "varianceTokens",
    "scale",
    ...budgets.map((b) => `MSE at ${budgetLabel(b)}`),
    ...budgets.map((b) => `after rescale, at ${budgetLabel(b)}`),
  ];
  return [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...rows.map((r) =>
      `| ${
        [
          r.label,
          pm(r.tokensPerEstimate, r.tokensPerEstimateSE),
          r.criticTokensPerEstimate > 0 ? num(r.criticTokensPerEstimate) : "0",
          pm(r.relativeBiasSquared, r.relativeBiasSquaredSE),
          pm(r.relativeVariance, r.relativeVarianceSE),
          pm(r.varianceTokens, r.varianceTokensSE),
          r.scale.toFixed(3),
          ...budgets.map((b) => cell(r.atBudget[String(b)])),
          ...budgets.map((b) => cell(r.rescaledAtBudget[String(b)])),
        ].join(" | ")
      } |`
    ),
  ].join("\n");
}

/** The affordable rows at a budget, lowest error first. */
function ranked(
  rows: readonly FrontierRow[],
  budget: number,
  rescaled: boolean,
): { row: FrontierRow; error: BudgetError }[] {
  return rows
    .map((row) => ({
      row,
      error: (rescaled ? row.rescaledAtBudget : row.atBudget)[String(budget)],
    }))
    .filter((x): x is { row: FrontierRow; error: BudgetError } =>
      x.error !== null && x.error !== undefined && x.error.affordable
    )
    .sort((a, b) => a.error.relativeMse - b.error.relativeMse);
}

/**
 * One sentence per budget (raw and after rescale), built from the numbers: the lowest relative MSE
 * with its SE, the runner-up, and whether the two are apart (more than 2 combined SEs); then
 * the best TRePO row against the best other row at each budget.
 *
 * @param rows Frontier rows of one setting.
 * @param budgets Budgets (default {@linkcode FRONTIER_BUDGETS}).
 * @returns The sentences (Markdown list items).
 *
 * @example
 * ```ts
 * import { frontierVerdicts } from "./frontier_summary.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(frontierVerdicts([]), []);
 * ```
 */
export function frontierVerdicts(
  rows: readonly FrontierRow[],
  budgets: readonly number[] = FRONTIER_BUDGETS,
): string[] {
  if (rows.length === 0) return [];
  const out: string[] = [];
  const mse = (x: { error: BudgetError }) =>
    `${num(x.error.relativeMse)} ± ${num(x.error.standardError)}`;
  const apart = (a: BudgetError, b: BudgetError) =>
    b.relativeMse - a.relativeMse > 2 * Math.hypot(a.standardError, b.standardError);
  for (const rescaled of [false, true]) {
    for (const b of budgets) {
      const list = ranked(rows, b, rescaled);
      const where = `At ${budgetLabel(b)} generated tokens${
        rescaled ? ", after the best rescale," : ""
      }`;
      if (list.length === 0) {
        out.push(`- ${where} no estimator can afford one estimate.`);
        continue;
      }
      const [first, second] = list;
      const oracle = first.row.criticTokensPerEstimate > 0
        ? ` (its critic is the exact V here, an oracle; its ${
          num(first.row.criticTokensPerEstimate)
        } critic-scored tokens per estimate are not counted)`
        : "";
      const unaffordable = rows.length - list.length;
      const tail = unaffordable > 0
        ? ` (${unaffordable} row${unaffordable > 1 ? "s" : ""} cannot afford one estimate)`
        : "";
      out.push(
        `- ${where} the lowest relative MSE is ${first.row.label}: ${mse(first)}${oracle}` +
          (second === undefined
            ? `${tail}.`
            : `; next ${second.row.label}: ${mse(second)}, ${
              apart(first.error, second.error) ? "apart" : "not apart (within 2 combined SEs)"
            }${tail}.`),
      );
    }
  }
  const unbiased = rows
    .filter((r) => r.relativeBiasSquared <= 2 * r.relativeBiasSquaredSE)
    .sort((a, b) => a.varianceTokens - b.varianceTokens);
  if (unbiased.length > 0) {
    const [u1, u2] = unbiased;
    const vt = (r: FrontierRow) => `${num(r.varianceTokens)} ± ${num(r.varianceTokensSE)}`;
    const gap = u2 === undefined ? 0 : u2.varianceTokens - u1.varianceTokens;
    out.push(
      `- Among the ${unbiased.length} rows whose squared bias is within 2 SE of 0 (where only ` +
        `varianceTokens separates them, at every budget), the lowest varianceTokens is ${u1.label}: ${
          vt(u1)
        }` +
        (u2 === undefined
          ? "."
          : `; next ${u2.label}: ${vt(u2)}, ${
            gap > 2 * Math.hypot(u1.varianceTokensSE, u2.varianceTokensSE)
              ? `apart (${(u2.varianceTokens / u1.varianceTokens).toFixed(2)}×)`
              : "not apart (within 2 combined SEs)"
          }.`),
    );
    const bestTrepo = unbiased.find((r) => r.name.startsWith("trepo"));
    if (bestTrepo !== undefined && !u1.name.startsWith("trepo")) {
      const perEstimate = u1.relativeVariance / bestTrepo.relativeVariance;
      out.push(
        `- The best unbiased TRePO, ${bestTrepo.label}, needs ${
          (bestTrepo.varianceTokens / u1.varianceTokens).toFixed(2)
        }× the generated tokens of ${u1.label} for the same variance (varianceTokens ${
          vt(bestTrepo)
        }); one of its estimates has ${
          perEstimate >= 1
            ? `${perEstimate.toFixed(2)}× less`
            : `${(1 / perEstimate).toFixed(2)}× more`
        } variance (${num(bestTrepo.relativeVariance)} against ${num(u1.relativeVariance)}).`,
      );
    }
  }
  for (const b of budgets) {
    const list = ranked(rows, b, true);
    const trepo = list.find((x) => x.row.name.startsWith("trepo"));
    const other = list.find((x) => !x.row.name.startsWith("trepo"));
    if (trepo === undefined || other === undefined) continue;
    const better = trepo.error.relativeMse < other.error.relativeMse;
    const [lo, hi] = better ? [trepo, other] : [other, trepo];
    out.push(
      `- At ${budgetLabel(b)} tokens after rescale, the best TRePO (${trepo.row.label}, ${
        mse(trepo)
      }) is ${better ? "below" : "above"} the best other recipe (${other.row.label}, ${
        mse(other)
      })${apart(lo.error, hi.error) ? "" : ", within noise"}.`,
    );
  }
  return out;
}

/** A colour per estimator name, stable across panels. */
function palette(names: readonly string[]): Map<string, string> {
  const colors = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
    "#756bb1",
    "#636363",
  ];
  return new Map(names.map((n, i) => [n, colors[i % colors.length]]));
}

/** The dash of a TRePO grid row by its position setting; solid for the other recipes. */
function dashOf(name: string): string {
  if (!name.startsWith("trepo")) return "solid";
  if (name.endsWith("-every")) return "dot";
  if (name.endsWith("-m4")) return "dashdot";
  return "dash";
}

/**
 * The frontier figure: relative MSE against the token budget (log-log), one line per estimator
 * from its measured `relativeBiasSquared` (drawn as 0 when within 2 SE of 0) and `varianceTokens`,
 * drawn from the budget of one estimate on; one row of panels per setting, raw on the left and
 * after the best rescale on the right.
 *
 * @param settings Frontier rows by setting name.
 * @param range The budgets of the x axis, `[lowest, highest]` (default 10² to 10⁷).
 * @returns The figure.
 *
 * @example
 * ```ts
 * import { frontierFigure } from "./frontier_summary.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(frontierFigure({}).data.length, 0);
 * ```
 */
export function frontierFigure(
  settings: Readonly<Record<string, readonly FrontierRow[]>>,
  range: readonly [number, number] = [1e2, 1e7],
): Figure {
  const names = [...new Set(Object.values(settings).flatMap((rows) => rows.map((r) => r.name)))];
  const color = palette(names);
  const shown = new Set<string>();
  const data: Trace[] = [];
  const entries = Object.entries(settings);
  const points = 41;
  entries.forEach(([, rows], i) => {
    for (const rescaled of [false, true]) {
      const axis = 2 * i + (rescaled ? 2 : 1);
      for (const r of rows) {
        const measured = rescaled ? r.rescaledBiasSquared : r.relativeBiasSquared;
        const se = rescaled ? r.rescaledBiasSquaredSE : r.relativeBiasSquaredSE;
        const vt = rescaled ? r.rescaledVarianceTokens : r.varianceTokens;
        if (measured === null || se === null || vt === null) continue;
        // A squared bias within 2 SE of 0 is not told apart from none: no floor is drawn.
        const bias = measured > 2 * se ? measured : 0;
        const from = Math.max(range[0], r.tokensPerEstimate);
        const x: number[] = [];
        for (let k = 0; k < points; k++) {
          x.push(from * (range[1] / from) ** (k / (points - 1)));
        }
        const first = !shown.has(r.name);
        shown.add(r.name);
        data.push({
          type: "scatter",
          mode: "lines",
          name: r.label,
          legendgroup: r.name,
          showlegend: first,
          x,
          y: x.map((b) => bias + vt / b),
          line: { color: color.get(r.name), dash: dashOf(r.name), width: 2 },
          xaxis: `x${axis === 1 ? "" : axis}`,
          yaxis: `y${axis === 1 ? "" : axis}`,
        });
      }
    }
  });
  const layout: Record<string, unknown> = {
    title: { text: "Relative MSE of the gradient against generated tokens (log-log)" },
    width: 1400,
    height: 420 * Math.max(1, entries.length),
    grid: { rows: Math.max(1, entries.length), columns: 2, pattern: "independent" },
    legend: { font: { size: 10 } },
    annotations: entries.flatMap(([name], i) =>
      [false, true].map((rescaled) => ({
        text: `${name}${rescaled ? ", after the best rescale" : ""}`,
        xref: `x${2 * i + (rescaled ? 2 : 1) === 1 ? "" : 2 * i + (rescaled ? 2 : 1)} domain`,
        yref: `y${2 * i + (rescaled ? 2 : 1) === 1 ? "" : 2 * i + (rescaled ? 2 : 1)} domain`,
        x: 0.5,
        y: 1.08,
        showarrow: false,
      }))
    ),
  };
  entries.forEach((_, i) => {
    for (const k of [2 * i + 1, 2 * i + 2]) {
      const suffix = k === 1 ? "" : String(k);
      layout[`xaxis${suffix}`] = { type: "log", title: { text: "generated tokens B" } };
      layout[`yaxis${suffix}`] = { type: "log", title: { text: "MSE / ‖∇J‖²" } };
    }
  });
  return { data, layout };
}

/**
 * A compact table across settings (for the README): per estimator and setting, tokens per
 * estimate, squared bias, `varianceTokens`, and the relative MSE at one budget, raw and after the
 * best rescale (± SE; "n/a" where one estimate costs more than the budget, "—" where the setting
 * has no such row).
 *
 * @param settings Frontier rows by setting name (rows matched by estimator name).
 * @param budget The budget of the MSE columns (it must be one the rows were read at).
 * @returns The table.
 *
 * @example
 * ```ts
 * import { frontierCompactTable } from "./frontier_summary.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(frontierCompactTable({ short: [] }, 1e4).split("\n").length, 2);
 * ```
 */
export function frontierCompactTable(
  settings: Readonly<Record<string, readonly FrontierRow[]>>,
  budget: number,
): string {
  const entries = Object.entries(settings);
  const labels = new Map<string, string>();
  for (const [, rows] of entries) {
    for (const r of rows) if (!labels.has(r.name)) labels.set(r.name, r.label);
  }
  const cell = (e: BudgetError | null | undefined) =>
    e === null || e === undefined ? "—" : e.affordable ? pm(e.relativeMse, e.standardError) : "n/a";
  const header = [
    "estimator",
    ...entries.flatMap(([name]) => [
      `${name}: tokens`,
      `${name}: bias²`,
      `${name}: varianceTokens`,
      `${name}: MSE at ${budgetLabel(budget)}`,
      `${name}: after rescale`,
    ]),
  ];
  return [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...[...labels].map(([name, label]) =>
      `| ${
        [
          label,
          ...entries.flatMap(([, rows]) => {
            const r = rows.find((x) => x.name === name);
            if (r === undefined) return ["—", "—", "—", "—", "—"];
            return [
              num(r.tokensPerEstimate),
              pm(r.relativeBiasSquared, r.relativeBiasSquaredSE),
              pm(r.varianceTokens, r.varianceTokensSE),
              cell(r.atBudget[String(budget)]),
              cell(r.rescaledAtBudget[String(budget)]),
            ];
          }),
        ].join(" | ")
      } |`
    ),
  ].join("\n");
}
