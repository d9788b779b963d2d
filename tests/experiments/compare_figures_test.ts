import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import {
  accuracyPanels,
  algorithmColor,
  compareFigure,
  gridFigure,
  type Panel,
  signalPanels,
} from "../../lib/experiments/compare_figures.ts";
import type { CompareSection } from "../../lib/experiments/compare_summary.ts";
import { validateFigure } from "../../lib/report/figure.ts";

function section(): CompareSection {
  const point = (step: number, mean: number, std: number) => ({
    step,
    accuracy: { mean, std },
    tokens: 100 * step,
    seconds: 0.5 * step,
  });
  return {
    task: "addition",
    seeds: 2,
    steps: 4,
    samePromptsPerStep: true,
    rows: [],
    curves: {
      grpo: [point(0, 0.1, 0), point(2, 0.2, 0.05), point(4, 0.3, 0.1)],
      trepo: [point(0, 0.1, 0), point(4, 0.4, 0)],
    },
    signal: {
      grpo: {
        allEqualGroupFraction: [1, 0.5, 0, 0.5, 1, 1].map((value, i) => ({ step: i + 1, value })),
        nonzeroAdvantage: [{ step: 1, value: 0.25 }],
      },
      trepo: { allEqualGroupFraction: [], nonzeroAdvantage: [{ step: 1, value: 0.75 }] },
    },
  };
}

Deno.test("gridFigure: axes, titles and grid of a 2×2 layout", () => {
  const panel = (title: string): Panel => ({
    title,
    x: `x of ${title}`,
    y: `y of ${title}`,
    traces: [{ y: [1] }, { y: [2] }],
    yaxis: { range: [0, 1] },
  });
  const figure = gridFigure([[panel("a"), panel("b")], [panel("c"), panel("d")]], { width: 900 });
  validateFigure(figure, "test");
  assertEquals(
    figure.data.map((t) => `${t.xaxis}/${t.yaxis}`),
    ["x/y", "x/y", "x2/y2", "x2/y2", "x3/y3", "x3/y3", "x4/y4", "x4/y4"],
  );
  const layout = figure.layout as Record<string, unknown>;
  assertEquals((layout.grid as { rows: number; columns: number }).rows, 2);
  assertEquals((layout.xaxis3 as { title: { text: string } }).title.text, "x of c");
  assertEquals((layout.yaxis4 as { range: number[] }).range, [0, 1]);
  const annotations = layout.annotations as { text: string; xref: string }[];
  assertEquals(annotations.map((a) => [a.text, a.xref]), [
    ["<b>a</b>", "x domain"],
    ["<b>b</b>", "x2 domain"],
    ["<b>c</b>", "x3 domain"],
    ["<b>d</b>", "x4 domain"],
  ]);
  assertEquals(layout.width, 900);
});

Deno.test("gridFigure: bad layouts", () => {
  assertThrows(() => gridFigure([]), RangeError, "Cannot lay out the figure: there are no panels");
  const p: Panel = { title: "a", x: "x", y: "y", traces: [] };
  assertThrows(
    () => gridFigure([[p, p], [p]]),
    RangeError,
    "Cannot lay out the figure: every row must have 2 panels, got 2, 1",
  );
});

Deno.test("accuracyPanels: x is updates, tokens, seconds; y the mean over seeds", () => {
  const [updates, tokens, seconds] = accuracyPanels(section(), "main", true);
  const grpo = (p: Panel) => p.traces.find((t) => t.name === "grpo")!;
  assertEquals(grpo(updates).x, [0, 2, 4]);
  assertEquals(grpo(tokens).x, [0, 200, 400]);
  assertEquals(grpo(seconds).x, [0, 1, 2]);
  assertEquals(grpo(updates).y, [0.1, 0.2, 0.3]);
  assertEquals(grpo(updates).error_y, undefined);
  // grpo has a spread over seeds: a band (not in the legend) is drawn before its line; trepo none.
  assertEquals(updates.traces.map((t) => t.name), ["grpo ± std", "grpo", "trepo"]);
  assertEquals(updates.traces.map((t) => t.showlegend), [false, true, true]);
  assertEquals(tokens.traces.map((t) => t.showlegend), [false, false, false]);
  assertEquals((grpo(updates).line as { color: string }).color, algorithmColor("grpo", 0));
  assertEquals(updates.y, "greedy accuracy (addition)");
});

Deno.test("accuracyPanels: the band runs along mean + std and back along mean − std", () => {
  const [updates, tokens] = accuracyPanels(section(), "main", true);
  const band = updates.traces[0];
  // means 0.1, 0.2, 0.3 with stds 0, 0.05, 0.1
  assertEquals(band.x, [0, 2, 4, 4, 2, 0]);
  const y = band.y as number[];
  [0.1, 0.25, 0.4, 0.2, 0.15, 0.1].forEach((v, i) => assertAlmostEquals(y[i], v, 1e-12));
  assertEquals([band.fill, band.fillcolor], ["toself", "rgba(255, 127, 14, 0.15)"]);
  assertEquals(tokens.traces[0].x, [0, 200, 400, 400, 200, 0]);
});

Deno.test("accuracyPanels: a section's metric names the axis and the titles", () => {
  const credit = { ...section(), task: "tokenRewardChain", metric: "eval/sampled_reward" };
  const [updates, tokens] = accuracyPanels(credit, "credit", false, " (equal budget 300)");
  assertEquals(updates.y, "sampled reward (fraction of optimum) (tokenRewardChain)");
  assertEquals(updates.title, "credit: sampled reward vs policy updates");
  assertEquals(tokens.title, "credit: sampled reward vs generated tokens (equal budget 300)");
});

Deno.test("signalPanels: 5-step moving averages; algorithms without the metric have no line", () => {
  const [, allEqual, nonzero] = signalPanels(section(), "hard", false);
  assertEquals(allEqual.traces.map((t) => t.name), ["grpo"]);
  // [1, .5, 0, .5, 1, 1] → 1, .75, .5, .5, .6, (.5+0+.5+1+1)/5 = .6
  const y = allEqual.traces[0].y as number[];
  [1, 0.75, 0.5, 0.5, 0.6, 0.6].forEach((v, i) => assertAlmostEquals(y[i], v, 1e-12));
  assertEquals(nonzero.traces.map((t) => [t.name, t.y]), [["grpo", [0.25]], ["trepo", [0.75]]]);
});

Deno.test("compareFigure: one row without a hard section, two with, three with credit; valid plotly", () => {
  const one = compareFigure(section());
  const two = compareFigure(section(), section());
  const three = compareFigure(section(), section(), { section: section(), tokens: 300 });
  for (const figure of [one, two, three]) validateFigure(figure, "test");
  assertEquals((one.layout?.grid as { rows: number }).rows, 1);
  assertEquals((two.layout?.grid as { rows: number }).rows, 2);
  assertEquals((three.layout?.grid as { rows: number }).rows, 3);
  // 3 accuracy panels × (grpo band + grpo + trepo); then 3 + 1 (all-equal: grpo) + 2 (non-zero)
  assertEquals(one.data.length, 9);
  assertEquals(two.data.length, 15);
  assertEquals(three.data.length, 24);
});

Deno.test("algorithmColor: fixed colours for the six, spares cycle for others", () => {
  assertEquals(algorithmColor("ppo", 5), "#1f77b4");
  assertEquals(algorithmColor("x", 0), "#7f7f7f");
  assertEquals(algorithmColor("x", 3), "#7f7f7f");
});
