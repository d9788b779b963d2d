/**
 * `heatmapFigure`: a plotly heatmap of per-token values (advantages, values, log-probs), one row
 * per response and one column per token position, with the decoded tokens written in the cells.
 *
 * @module
 */

import { describeValue, type Figure, type Trace } from "./figure.ts";

/** Options of {@linkcode heatmapFigure}. */
export interface HeatmapOptions {
  /**
   * The values, `[rows][columns]`. Rows may be shorter than the widest one (responses of
   * different lengths): the missing cells are drawn as gaps. `null` marks a gap too.
   */
  z: readonly (readonly (number | null)[])[];
  /** Text written in each cell (for example the decoded token), the same shape as `z`. */
  text?: readonly (readonly string[])[];
  /** One label per row (y axis, top to bottom); default `"0"`, `"1"`, … */
  rowLabels?: readonly string[];
  /** One label per column (x axis); default the column index. */
  columnLabels?: readonly (string | number)[];
  /** Figure title. */
  title?: string;
  /** Title of the colour bar (for example `"A_t"`). */
  colorbarTitle?: string;
  /** x-axis title (default `"token position"`). */
  xTitle?: string;
  /** y-axis title (default none). */
  yTitle?: string;
  /**
   * Lower end of the colour range; with `zmax`, default `−max|z|` so that 0 is the neutral
   * colour (a diverging scale, red below 0, blue above). Give both to share one scale between
   * figures.
   */
  zmin?: number;
  /** Upper end of the colour range; default `max|z|` (1 when every value is 0). */
  zmax?: number;
  /** A plotly colour scale (name or `[fraction, colour]` pairs); default red–white–blue. */
  colorscale?: string | readonly (readonly [number, string])[];
  /** Digits of the values in the hover text (default 3). */
  digits?: number;
  /** Height in pixels; default grows with the number of rows. */
  height?: number;
  /** Width in pixels; default responsive. */
  width?: number;
}

/** Red (negative) – white (0) – blue (positive), ColorBrewer RdBu end points. */
const DIVERGING: readonly (readonly [number, string])[] = [
  [0, "#b2182b"],
  [0.5, "#f7f7f7"],
  [1, "#2166ac"],
];

/**
 * Build a plotly heatmap figure of per-token values: row `r`, column `t` is `z[r][t]`, labelled
 * with `text[r][t]` (written in the cell and in the hover). Rows are drawn top to bottom in the
 * given order (row labels may repeat: rows are placed by index). Shorter rows are padded with
 * gaps. The default colour range is symmetric around 0, so the sign of a value is its colour.
 * Used by the TRePO-vs-GRPO credit notebook (`notebooks/05_trepo_credit.ipynb`).
 *
 * Preconditions: at least one row with at least one cell; every value finite or `null`; `text`
 * (when given) of exactly the shape of `z`; one row label per row; one column label per column of
 * the widest row; `zmin < zmax`.
 *
 * @param options Values, cell text, labels, title and colour range.
 * @returns A plotly figure (`{ data: [heatmap], layout }`), to pass to `plot`.
 * @throws {TypeError} For a value that is not a finite number or `null`, or mismatched sizes of
 *   `text`, `rowLabels` or `columnLabels`.
 * @throws {RangeError} For an empty `z`, or `zmin ≥ zmax`.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { heatmapFigure } from "./heatmap.ts";
 *
 * const figure = heatmapFigure({ z: [[0.5, -0.25], [1]], text: [["4", "2"], ["7"]] });
 * const trace = figure.data[0];
 * assertEquals(trace.z, [[0.5, -0.25], [1, null]]);
 * assertEquals(trace.text, [["4", "2"], ["7", ""]]);
 * assertEquals([trace.zmin, trace.zmax], [-1, 1]);
 * assertThrows(
 *   () => heatmapFigure({ z: [[1, 2]], text: [["a"]] }),
 *   TypeError,
 *   "Cannot make heatmap: text row 0 has 1 cells but z row 0 has 2",
 * );
 * ```
 */
export function heatmapFigure(options: HeatmapOptions): Figure {
  const context = "Cannot make heatmap";
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${context}: options must be an object, got ${describeValue(options)}`);
  }
  const { z, text, rowLabels, columnLabels } = options;
  if (!Array.isArray(z)) {
    throw new TypeError(`${context}: z must be an array of rows, got ${describeValue(z)}`);
  }
  if (z.length === 0) throw new RangeError(`${context}: z has no rows`);
  z.forEach((row: unknown, r: number) => {
    if (!Array.isArray(row)) {
      throw new TypeError(`${context}: z row ${r} must be an array, got ${describeValue(row)}`);
    }
    row.forEach((value: unknown, t: number) => {
      if (value !== null && (typeof value !== "number" || !Number.isFinite(value))) {
        throw new TypeError(
          `${context}: z[${r}][${t}] must be a finite number or null, got ${describeValue(value)}`,
        );
      }
    });
  });
  const columns = Math.max(...z.map((row) => row.length));
  if (columns === 0) throw new RangeError(`${context}: every row of z is empty`);
  if (text !== undefined) {
    if (!Array.isArray(text)) {
      throw new TypeError(`${context}: text must be an array of rows, got ${describeValue(text)}`);
    }
    if (text.length !== z.length) {
      throw new TypeError(`${context}: text has ${text.length} rows but z has ${z.length}`);
    }
    text.forEach((row: unknown, r: number) => {
      if (!Array.isArray(row) || row.some((cell) => typeof cell !== "string")) {
        throw new TypeError(`${context}: text row ${r} must be an array of strings`);
      }
      if (row.length !== z[r].length) {
        throw new TypeError(
          `${context}: text row ${r} has ${row.length} cells but z row ${r} has ${z[r].length}`,
        );
      }
    });
  }
  if (rowLabels !== undefined) {
    if (!Array.isArray(rowLabels) || rowLabels.some((label) => typeof label !== "string")) {
      throw new TypeError(`${context}: rowLabels must be an array of strings`);
    }
    if (rowLabels.length !== z.length) {
      throw new TypeError(
        `${context}: rowLabels has ${rowLabels.length} labels but z has ${z.length} rows`,
      );
    }
  }
  if (columnLabels !== undefined) {
    if (!Array.isArray(columnLabels)) {
      throw new TypeError(
        `${context}: columnLabels must be an array, got ${describeValue(columnLabels)}`,
      );
    }
    if (columnLabels.length !== columns) {
      throw new TypeError(
        `${context}: columnLabels has ${columnLabels.length} labels but the widest row of z has ${columns} values`,
      );
    }
  }
  const digits = options.digits ?? 3;
  if (!Number.isInteger(digits) || digits < 0 || digits > 12) {
    throw new RangeError(`${context}: digits must be an integer in [0, 12], got ${digits}`);
  }
  let largest = 0;
  for (const row of z) {
    for (const v of row) if (v !== null) largest = Math.max(largest, Math.abs(v));
  }
  const half = largest > 0 ? largest : 1;
  const zmin = options.zmin ?? -half;
  const zmax = options.zmax ?? half;
  for (const [name, value] of [["zmin", zmin], ["zmax", zmax]] as const) {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new TypeError(
        `${context}: ${name} must be a finite number, got ${describeValue(value)}`,
      );
    }
  }
  if (zmin >= zmax) {
    throw new RangeError(`${context}: zmin must be less than zmax, got ${zmin} and ${zmax}`);
  }

  const pad = <T>(row: readonly T[], fill: T): T[] => [
    ...row,
    ...Array.from({ length: columns - row.length }, () => fill),
  ];
  // x and y are left to plotly's defaults (column and row indices): labels go on the ticks, so
  // repeated row labels stay separate rows.
  const rowIndex = z.map((_, r) => r);
  const x = Array.from({ length: columns }, (_, t) => t);
  const trace: Trace = {
    type: "heatmap",
    z: z.map((row) => pad(row, null)),
    zmin,
    zmax,
    colorscale: options.colorscale ?? DIVERGING,
    xgap: 1,
    ygap: 1,
    hoverongaps: false,
    colorbar: options.colorbarTitle === undefined ? {} : { title: { text: options.colorbarTitle } },
    hovertemplate: `row %{y}, position %{x}${
      text === undefined ? "" : ": %{text}"
    }<br>%{z:.${digits}f}<extra></extra>`,
  };
  if (text !== undefined) {
    trace.text = text.map((row) => pad(row, ""));
    trace.texttemplate = "%{text}";
    trace.textfont = { size: 12 };
  }
  const rows = z.length;
  return {
    data: [trace],
    layout: {
      ...(options.title === undefined ? {} : { title: { text: options.title } }),
      height: options.height ?? Math.max(220, 120 + 24 * rows),
      ...(options.width === undefined ? {} : { width: options.width }),
      margin: { l: 150, r: 20, t: options.title === undefined ? 20 : 50, b: 50 },
      xaxis: {
        title: { text: options.xTitle ?? "token position" },
        tickmode: "array",
        tickvals: x,
        ticktext: columnLabels === undefined ? x.map(String) : columnLabels.map(String),
        side: "bottom",
      },
      yaxis: {
        ...(options.yTitle === undefined ? {} : { title: { text: options.yTitle } }),
        tickmode: "array",
        tickvals: rowIndex,
        ticktext: rowLabels === undefined ? rowIndex.map(String) : [...rowLabels],
        autorange: "reversed",
      },
    },
  };
}
