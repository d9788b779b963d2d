import { assertEquals, assertThrows } from "@std/assert";
import { heatmapFigure } from "../../lib/report/heatmap.ts";
import { plot } from "../../lib/report/plot.ts";
import { jupyterDisplaySymbol } from "../../lib/report/display.ts";
import type { Trace } from "../../lib/report/figure.ts";

Deno.test("heatmapFigure pads short rows with gaps and keeps rows in order, top to bottom", () => {
  const figure = heatmapFigure({
    z: [[0.5, -2, 0.25], [1], [0, null]],
    text: [["1", "2", "<eos>"], ["7"], ["4", "x"]],
    rowLabels: ["a", "a", "b"],
    title: "credit",
    colorbarTitle: "A_t",
  });
  assertEquals(figure.data.length, 1);
  const trace = figure.data[0] as Trace;
  assertEquals(trace.type, "heatmap");
  assertEquals(trace.z, [[0.5, -2, 0.25], [1, null, null], [0, null, null]]);
  assertEquals(trace.text, [["1", "2", "<eos>"], ["7", "", ""], ["4", "x", ""]]);
  assertEquals(trace.texttemplate, "%{text}");
  // symmetric default range: ±max|z| = ±2
  assertEquals([trace.zmin, trace.zmax], [-2, 2]);
  // repeated row labels stay separate rows: rows are placed by index, labels go on ticks
  const yaxis = figure.layout!.yaxis as Record<string, unknown>;
  assertEquals(yaxis.tickvals, [0, 1, 2]);
  assertEquals(yaxis.ticktext, ["a", "a", "b"]);
  assertEquals(yaxis.autorange, "reversed");
  const xaxis = figure.layout!.xaxis as Record<string, unknown>;
  assertEquals(xaxis.tickvals, [0, 1, 2]);
  assertEquals(xaxis.ticktext, ["0", "1", "2"]);
  assertEquals(figure.layout!.title, { text: "credit" });
});

Deno.test("heatmapFigure takes a shared colour range and column labels", () => {
  const figure = heatmapFigure({
    z: [[0, 0]],
    zmin: -0.5,
    zmax: 1.5,
    columnLabels: ["t1", "t2"],
  });
  const trace = figure.data[0] as Trace;
  assertEquals([trace.zmin, trace.zmax], [-0.5, 1.5]);
  assertEquals((figure.layout!.xaxis as Record<string, unknown>).ticktext, ["t1", "t2"]);
  // all zeros without a range: ±1, so that 0 is the neutral colour
  const zeros = heatmapFigure({ z: [[0, 0]] }).data[0] as Trace;
  assertEquals([zeros.zmin, zeros.zmax], [-1, 1]);
});

Deno.test("a heatmap figure goes through plot (x and y are left out, so their lengths never clash)", () => {
  const chart = plot(heatmapFigure({ z: [[1, 2, 3], [4, 5, 6]], title: "h" }));
  const bundle = chart[jupyterDisplaySymbol]();
  assertEquals(bundle["text/plain"], 'Plotly figure "h": 1 trace (heatmap), 6 points');
});

Deno.test("heatmapFigure refuses mismatched sizes and bad values with clear messages", () => {
  const context = "Cannot make heatmap";
  assertThrows(() => heatmapFigure({ z: [] }), RangeError, `${context}: z has no rows`);
  assertThrows(() => heatmapFigure({ z: [[], []] }), RangeError, "every row of z is empty");
  assertThrows(
    () => heatmapFigure({ z: "no" as unknown as number[][] }),
    TypeError,
    `${context}: z must be an array of rows, got "no"`,
  );
  assertThrows(
    () => heatmapFigure({ z: [[1], 2 as unknown as number[]] }),
    TypeError,
    `${context}: z row 1 must be an array, got 2`,
  );
  assertThrows(
    () => heatmapFigure({ z: [[1, NaN]] }),
    TypeError,
    `${context}: z[0][1] must be a finite number or null, got NaN`,
  );
  assertThrows(
    () => heatmapFigure({ z: [[1], [2]], text: [["a"]] }),
    TypeError,
    `${context}: text has 1 rows but z has 2`,
  );
  assertThrows(
    () => heatmapFigure({ z: [[1], [2, 3]], text: [["a"], ["b"]] }),
    TypeError,
    `${context}: text row 1 has 1 cells but z row 1 has 2`,
  );
  assertThrows(
    () => heatmapFigure({ z: [[1], [2]], rowLabels: ["a"] }),
    TypeError,
    `${context}: rowLabels has 1 labels but z has 2 rows`,
  );
  assertThrows(
    () => heatmapFigure({ z: [[1, 2], [3]], columnLabels: ["a"] }),
    TypeError,
    `${context}: columnLabels has 1 labels but the widest row of z has 2 values`,
  );
  assertThrows(
    () => heatmapFigure({ z: [[1]], zmin: 1, zmax: 1 }),
    RangeError,
    `${context}: zmin must be less than zmax, got 1 and 1`,
  );
  assertThrows(
    () => heatmapFigure({ z: [[1]], digits: -1 }),
    RangeError,
    `${context}: digits must be an integer in [0, 12], got -1`,
  );
});
