/**
 * Figures of an algorithm comparison: the evaluation metric (greedy accuracy, or a reward) against
 * policy updates, generated tokens and training seconds (mean ± std band over seeds), and the
 * reward signal each
 * algorithm had (fraction of all-equal groups, fraction with a non-zero advantage).
 *
 * @module
 */
import type { Figure, Layout, Trace } from "../report/figure.ts";
import type { CompareSection, MeanCurvePoint } from "./compare_summary.ts";

/** One colour per row label, the same in every figure (others cycle through the rest). */
export const ALGORITHM_COLORS: Readonly<Record<string, string>> = Object.freeze({
  ppo: "#1f77b4",
  grpo: "#ff7f0e",
  remax: "#2ca02c",
  rloo: "#d62728",
  trepo: "#9467bd",
  "trepo-every": "#17becf",
  reinforce: "#8c564b",
  dr_grpo: "#e377c2",
});

const SPARE_COLORS = ["#7f7f7f", "#bcbd22", "#aec7e8"];

/**
 * The colour of an algorithm in the comparison figures.
 *
 * @param algorithm The algorithm's name.
 * @param index Its position, used for names without a fixed colour.
 * @returns A CSS colour.
 *
 * @example
 * ```ts
 * import { algorithmColor } from "./compare_figures.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(algorithmColor("trepo", 0), "#9467bd");
 * assertEquals(algorithmColor("other", 1), "#bcbd22");
 * ```
 */
export function algorithmColor(algorithm: string, index: number): string {
  return ALGORITHM_COLORS[algorithm] ?? SPARE_COLORS[index % SPARE_COLORS.length];
}

/** One panel of a grid figure. */
export interface Panel {
  /** Title shown above the panel. */
  title: string;
  /** x-axis title. */
  x: string;
  /** y-axis title. */
  y: string;
  /** Traces; their axis references are set by {@linkcode gridFigure}. */
  traces: Trace[];
  /** Extra attributes of the panel's y axis (for example a range). */
  yaxis?: Record<string, unknown>;
}

/**
 * Lay panels out on a grid (rows of equal length) as one plotly figure with independent axes.
 *
 * @param rows The panels, row by row.
 * @param layout Extra layout (title, size).
 * @returns The figure.
 * @throws {RangeError} When there are no panels or the rows differ in length.
 *
 * @example
 * ```ts
 * import { gridFigure } from "./compare_figures.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const panel = (title: string) => ({ title, x: "step", y: "acc", traces: [{ y: [1, 2] }] });
 * const figure = gridFigure([[panel("a"), panel("b")]]);
 * assertEquals(figure.data.map((t) => [t.xaxis, t.yaxis]), [["x", "y"], ["x2", "y2"]]);
 * assertEquals((figure.layout?.grid as { columns: number }).columns, 2);
 * ```
 */
export function gridFigure(rows: readonly (readonly Panel[])[], layout: Layout = {}): Figure {
  const columns = rows[0]?.length ?? 0;
  if (columns === 0) throw new RangeError(`Cannot lay out the figure: there are no panels`);
  if (rows.some((row) => row.length !== columns)) {
    throw new RangeError(
      `Cannot lay out the figure: every row must have ${columns} panels, got ${
        rows.map((r) => r.length).join(", ")
      }`,
    );
  }
  const data: Trace[] = [];
  const axes: Record<string, unknown> = {};
  const annotations: Record<string, unknown>[] = [];
  rows.flat().forEach((panel, i) => {
    const suffix = i === 0 ? "" : String(i + 1);
    for (const trace of panel.traces) {
      data.push({ ...trace, xaxis: `x${suffix}`, yaxis: `y${suffix}` });
    }
    axes[`xaxis${suffix}`] = { title: { text: panel.x } };
    axes[`yaxis${suffix}`] = { title: { text: panel.y }, ...panel.yaxis };
    annotations.push({
      text: `<b>${panel.title}</b>`,
      xref: `x${suffix} domain`,
      yref: `y${suffix} domain`,
      x: 0.5,
      y: 1.02,
      xanchor: "center",
      yanchor: "bottom",
      showarrow: false,
    });
  });
  return {
    data,
    layout: {
      grid: { rows: rows.length, columns, pattern: "independent", ygap: 0.35, xgap: 0.12 },
      annotations,
      legend: { orientation: "h", y: -0.12 },
      margin: { t: 80 },
      ...axes,
      ...layout,
    },
  };
}

/** Words for the metrics a comparison section can follow (others print as their key). */
const METRIC_LABELS: Readonly<Record<string, string>> = Object.freeze({
  "eval/accuracy": "greedy accuracy",
  "eval/reward": "greedy reward",
  "eval/sampled_reward": "sampled reward (fraction of optimum)",
});

/**
 * Words for a section's metric, for axis titles and tables.
 *
 * @param section A comparison section (its `metric`; absent means greedy accuracy).
 * @returns The words.
 *
 * @example
 * ```ts
 * import { metricLabel } from "./compare_figures.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(metricLabel({ metric: "eval/sampled_reward" }), "sampled reward (fraction of optimum)");
 * assertEquals(metricLabel({}), "greedy accuracy");
 * ```
 */
export function metricLabel(section: { metric?: string }): string {
  const metric = section.metric ?? "eval/accuracy";
  return METRIC_LABELS[metric] ?? metric;
}

/** `#rrggbb` → `rgba(r, g, b, alpha)`. */
function translucent(color: string, alpha: number): string {
  const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  if (hex === null) return color;
  const [r, g, b] = hex.slice(1).map((h) => parseInt(h, 16));
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

/**
 * Traces of one panel: per algorithm, a band from mean − std to mean + std over seeds (a filled
 * polygon, drawn first and only when some std is non-zero) and the line of the means, of the
 * metric against `x(point)`.
 */
function curveTraces(
  section: CompareSection,
  x: (p: MeanCurvePoint) => number,
  showLegend: boolean,
  label: string,
): Trace[] {
  return Object.entries(section.curves).flatMap(([algorithm, curve], i): Trace[] => {
    const color = algorithmColor(algorithm, i);
    const xs = curve.map(x);
    const line: Trace = {
      type: "scatter",
      mode: "lines+markers",
      name: algorithm,
      legendgroup: algorithm,
      showlegend: showLegend,
      x: xs,
      y: curve.map((p) => p.accuracy.mean),
      line: { color },
      marker: { color, size: 5 },
      hovertemplate: `${algorithm} (${label}): %{y:.3f} at %{x}<extra></extra>`,
    };
    if (!curve.some((p) => p.accuracy.std > 0)) return [line];
    const band: Trace = {
      type: "scatter",
      mode: "lines",
      name: `${algorithm} ± std`,
      legendgroup: algorithm,
      showlegend: false,
      x: [...xs, ...[...xs].reverse()],
      y: [
        ...curve.map((p) => p.accuracy.mean + p.accuracy.std),
        ...curve.map((p) => p.accuracy.mean - p.accuracy.std).reverse(),
      ],
      fill: "toself",
      fillcolor: translucent(color, 0.15),
      line: { width: 0, color },
      hoverinfo: "skip",
    };
    return [band, line];
  });
}

/**
 * The three metric panels of a comparison section: its evaluation metric (greedy accuracy unless
 * the section names another; mean over seeds, with a band of ± one sample std over seeds when
 * there is more than one) against policy updates, against generated tokens (at the mean tokens of
 * each evaluation), and against training wall seconds. Part of the spread is the spread of the
 * warm starts, which every algorithm of a seed shares: the summary's paired gains remove it.
 *
 * @param section A comparison section (see `compareSection`).
 * @param label A word naming the section in the panel titles (`"main"`, `"hard"`, `"credit"`).
 * @param showLegend Whether these traces appear in the legend.
 * @param tokensNote Words added to the tokens panel's title (for example the equal budget).
 * @returns Three panels.
 *
 * @example
 * ```ts
 * import { accuracyPanels } from "./compare_figures.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const point = (step: number, mean: number) => ({ step, accuracy: { mean, std: 0 }, tokens: 10 * step, seconds: step });
 * const section = { task: "addition", seeds: 1, steps: 2, samePromptsPerStep: true, rows: [], signal: {},
 *   curves: { grpo: [point(0, 0.1), point(2, 0.3)] } };
 * const [steps, tokens] = accuracyPanels(section, "main", true);
 * assertEquals(steps.traces[0].x, [0, 2]);
 * assertEquals(tokens.traces[0].x, [0, 20]);
 * ```
 */
export function accuracyPanels(
  section: CompareSection,
  label: string,
  showLegend: boolean,
  tokensNote = "",
): Panel[] {
  const words = metricLabel(section);
  const short = words.split(" (")[0];
  const y = `${words} (${section.task})`;
  return [
    {
      title: `${label}: ${short} vs policy updates`,
      x: "policy updates",
      y,
      traces: curveTraces(section, (p) => p.step, showLegend, "updates"),
      yaxis: { rangemode: "tozero" },
    },
    {
      title: `${label}: ${short} vs generated tokens${tokensNote}`,
      x: "generated tokens",
      y,
      traces: curveTraces(section, (p) => p.tokens, false, "tokens"),
      yaxis: { rangemode: "tozero" },
    },
    {
      title: `${label}: ${short} vs training seconds`,
      x: "training wall seconds",
      y,
      traces: curveTraces(section, (p) => p.seconds, false, "seconds"),
      yaxis: { rangemode: "tozero" },
    },
  ];
}

/** A moving average over `window` points (shorter at the start). */
function smooth(values: readonly number[], window: number): number[] {
  return values.map((_, i) => {
    const from = Math.max(0, i - window + 1);
    const part = values.slice(from, i + 1);
    return part.reduce((s, v) => s + v, 0) / part.length;
  });
}

/**
 * The reward-signal panels of a comparison section: accuracy against updates, the fraction of
 * prompt groups whose rewards were all equal (GRPO's zero-gradient groups), and the fraction of
 * responses/tokens with a non-zero advantage, per update (moving average over 5 updates).
 * Algorithms that do not report a fraction have no line in that panel.
 *
 * @param section A comparison section.
 * @param label A word naming the section in the panel titles.
 * @param showLegend Whether the accuracy traces appear in the legend.
 * @returns Three panels.
 *
 * @example
 * ```ts
 * import { signalPanels } from "./compare_figures.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const section = { task: "addition", seeds: 1, steps: 2, samePromptsPerStep: true, rows: [], curves: { grpo: [] },
 *   signal: { grpo: { allEqualGroupFraction: [{ step: 1, value: 1 }, { step: 2, value: 0 }], nonzeroAdvantage: [] } } };
 * const [, allEqual, nonzero] = signalPanels(section, "hard", false);
 * assertEquals(allEqual.traces[0].y, [1, 0.5]);
 * assertEquals(nonzero.traces.length, 0);
 * ```
 */
export function signalPanels(section: CompareSection, label: string, showLegend: boolean): Panel[] {
  const line = (key: "allEqualGroupFraction" | "nonzeroAdvantage") =>
    Object.entries(section.signal).flatMap(([algorithm, signal], i): Trace[] => {
      const points = signal[key];
      if (points.length === 0) return [];
      return [{
        type: "scatter",
        mode: "lines",
        name: algorithm,
        legendgroup: algorithm,
        showlegend: false,
        x: points.map((p) => p.step),
        y: smooth(points.map((p) => p.value), 5),
        line: { color: algorithmColor(algorithm, i) },
      }];
    });
  return [
    {
      title: `${label}: ${metricLabel(section).split(" (")[0]} vs policy updates`,
      x: "policy updates",
      y: `${metricLabel(section)} (${section.task})`,
      traces: curveTraces(section, (p) => p.step, showLegend, "updates"),
      yaxis: { rangemode: "tozero" },
    },
    {
      title: `${label}: groups with all rewards equal`,
      x: "policy updates",
      y: "fraction of groups (5-step mean)",
      traces: line("allEqualGroupFraction"),
      yaxis: { range: [0, 1.05] },
    },
    {
      title: `${label}: non-zero advantages`,
      x: "policy updates",
      y: "fraction of responses / tokens (5-step mean)",
      traces: line("nonzeroAdvantage"),
      yaxis: { range: [0, 1.05] },
    },
  ];
}

/**
 * The comparison's main figure (`curves.png`): the metric panels of the main section; when there
 * is a hard section, its accuracy and reward-signal panels on the next row; when there is a
 * credit section, its metric panels (a reward) on the last row, the tokens panel titled with the
 * equal token budget when one is given.
 *
 * @param main The main section.
 * @param hard The hard section, if any.
 * @param credit The credit section and its equal token budget, if any.
 * @returns A 1×3, 2×3 or 3×3 figure.
 *
 * @example
 * ```ts
 * import { compareFigure } from "./compare_figures.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const section = { task: "addition", seeds: 1, steps: 1, samePromptsPerStep: true, rows: [],
 *   curves: { grpo: [{ step: 0, accuracy: { mean: 0.1, std: 0 }, tokens: 0, seconds: 0 }] },
 *   signal: { grpo: { allEqualGroupFraction: [], nonzeroAdvantage: [] } } };
 * assertEquals(compareFigure(section).data.length, 3);
 * assertEquals(compareFigure(section, section).data.length, 4);
 * assertEquals(compareFigure(section, undefined, { section, tokens: 100 }).data.length, 6);
 * ```
 */
export function compareFigure(
  main: CompareSection,
  hard?: CompareSection,
  credit?: { section: CompareSection; tokens?: number },
): Figure {
  const rows = [accuracyPanels(main, "main", true)];
  if (hard !== undefined) rows.push(signalPanels(hard, "hard", false));
  if (credit !== undefined) {
    const note = credit.tokens === undefined ? "" : ` (equal budget ${Math.round(credit.tokens)})`;
    rows.push(accuracyPanels(credit.section, "credit", false, note));
  }
  return gridFigure(rows, {
    title: {
      text: `PPO, GRPO, ReMax, RLOO, TRePO, REINFORCE from one SFT warm start (${main.seeds} seed${
        main.seeds === 1 ? "" : "s"
      }, ${main.steps} updates; mean ± std over seeds; arXiv 2506.02553)`,
    },
    width: 1500,
    height: 80 + 450 * rows.length,
  });
}
