import { assertEquals, assertThrows } from "@std/assert";
import {
  type Figure,
  figureTitle,
  summarizeFigure,
  toPlainFigure,
  validateFigure,
} from "../../lib/report/figure.ts";

const context = "Cannot plot figure";

Deno.test("validateFigure accepts scatter, bar and heatmap traces", () => {
  validateFigure({ data: [{ x: [1, 2], y: [3, 4] }] }, context);
  validateFigure({ data: [{ type: "bar", x: ["a", "b"], y: [1, null] }] }, context);
  validateFigure({ data: [{ type: "heatmap", z: [[1, 2], [3, 4]] }], layout: {} }, context);
  // 2 rows × 3 columns: x labels the 3 columns, y the 2 rows.
  validateFigure({
    data: [{ type: "heatmap", x: ["a", "b", "c"], y: ["r1", "r2"], z: [[1, 2, 3], [4, 5, 6]] }],
  }, context);
  validateFigure({ data: [{ y: new Float32Array([1, 2, 3]) }] }, context);
});

Deno.test("validateFigure rejects bad figures with exact errors", () => {
  const cases: [unknown, ErrorConstructor | RangeErrorConstructor, string][] = [
    [null, TypeError, "Cannot plot figure: figure must be an object with a data array, got null"],
    [[1], TypeError, "figure must be an object with a data array, got an array of length 1"],
    [{}, TypeError, "Cannot plot figure: figure.data must be an array of traces, got undefined"],
    [{ data: [] }, RangeError, "Cannot plot figure: figure has no traces"],
    [{ data: [5] }, TypeError, "Cannot plot figure: trace 0 must be an object, got 5"],
    [{ data: [{ y: [1] }, { y: "abc" }] }, TypeError, 'trace 1 y must be an array, got "abc"'],
    [{ data: [{ x: [1, 2, 3], y: [1, 2] }] }, TypeError, "trace 0 has 3 x values but 2 y values"],
    [{ data: [{ type: 3, y: [1] }] }, TypeError, "trace 0 type must be a string, got 3"],
    [{ data: [{ type: "heatmap", x: [1] }] }, TypeError, "heatmap trace 0 has no z values"],
    [
      { data: [{ type: "heatmap", y: [1], z: [[1, 2], [3, 4]] }] },
      TypeError,
      "heatmap trace 0 has 1 y values but 2 rows of z",
    ],
    [
      { data: [{ type: "heatmap", x: [1, 2, 3], z: [[1, 2], [3, 4]] }] },
      TypeError,
      "heatmap trace 0 has 3 x values but 2 columns of z",
    ],
    [{ data: [{ y: [1] }], layout: [] }, TypeError, "figure.layout must be an object"],
    [{ data: [{ y: [1] }], config: "x" }, TypeError, "figure.config must be an object"],
  ];
  for (const [figure, errorClass, message] of cases) {
    assertThrows(() => validateFigure(figure, context), errorClass, message);
  }
});

Deno.test("figureTitle and summarizeFigure", () => {
  const figure: Figure = {
    data: [{ y: [1, 2, 3] }, { y: [4, 5, 6] }, { type: "bar", x: ["a", "b"], y: [1, 2] }],
    layout: { title: "Rewards" },
  };
  assertEquals(figureTitle(figure), "Rewards");
  // 3 + 3 + 2 points, two scatter traces and one bar trace
  assertEquals(
    summarizeFigure(figure),
    'Plotly figure "Rewards": 3 traces (scatter ×2, bar), 8 points',
  );
  assertEquals(
    summarizeFigure({ data: [{ type: "heatmap", z: [[1, 2, 3], [4, 5, 6]] }] }),
    "Plotly figure: 1 trace (heatmap), 6 points",
  );
});

Deno.test("toPlainFigure converts typed arrays and leaves the input alone", () => {
  const y = new Float64Array([0.25, 0.5]);
  const figure: Figure = { data: [{ x: [1, 2], y }], layout: { height: 300 } };
  const plain = toPlainFigure(figure);
  assertEquals(plain.data[0].y, [0.25, 0.5]);
  assertEquals(Array.isArray(plain.data[0].y), true);
  assertEquals(figure.data[0].y, y);
  assertEquals(JSON.parse(JSON.stringify(plain)), {
    data: [{ x: [1, 2], y: [0.25, 0.5] }],
    layout: { height: 300 },
  });
});
