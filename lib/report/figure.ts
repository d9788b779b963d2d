/**
 * Plotly figure types shared by the report helpers, and their validation.
 *
 * A figure is plain JSON in plotly.js's schema (`{ data, layout, config }`), so the same object
 * can be shown in Jupyter (`application/vnd.plotly.v1+json`), inlined in HTML, or rendered to an
 * image. Only the fields the report helpers rely on are typed; everything else plotly accepts
 * passes through unchanged.
 *
 * @module
 */

/** One value of a plotly data array: a number, a category, a date string, or a gap. */
export type Datum = number | string | null;

/** A plotly data array: plain values, or a typed array (for example from `tensor.data()`). */
export type DataArray = readonly Datum[] | Float32Array | Float64Array | Int32Array;

/** A plotly trace (`scatter`, `bar`, `heatmap`, …); extra plotly attributes pass through. */
export interface Trace {
  /** Trace type; plotly's default is `"scatter"`. */
  type?: string;
  /** Legend name. */
  name?: string;
  /** `"lines"`, `"markers"`, `"lines+markers"`, … (scatter only). */
  mode?: string;
  /** x values; when both `x` and `y` are given they must have the same length (a heatmap's x
   * labels the columns of z and its y the rows). */
  x?: DataArray;
  /** y values. */
  y?: DataArray;
  /** z values (heatmaps, surfaces): rows of numbers. */
  z?: readonly (readonly Datum[])[];
  /** Axis references such as `"x2"` / `"y2"` for subplots. */
  xaxis?: string;
  /** Axis reference for the y axis. */
  yaxis?: string;
  /** Any other plotly trace attribute. */
  [attribute: string]: unknown;
}

/** Plotly layout; extra plotly attributes pass through. */
export interface Layout {
  /** Figure title: a string or `{ text }`. */
  title?: string | { text?: string; [attribute: string]: unknown };
  /** Width in pixels. */
  width?: number;
  /** Height in pixels. */
  height?: number;
  /** Any other plotly layout attribute (`xaxis`, `yaxis2`, `grid`, `margin`, …). */
  [attribute: string]: unknown;
}

/** A plotly figure: traces, an optional layout and an optional plotly config. */
export interface Figure {
  /** At least one trace. */
  data: Trace[];
  /** Layout (title, axes, size). */
  layout?: Layout;
  /** plotly.js config (`responsive`, `displaylogo`, …). */
  config?: Record<string, unknown>;
}

/**
 * Check that a value is a figure the report helpers can show, and throw a clear error otherwise.
 *
 * Preconditions checked: `figure` is an object with a non-empty `data` array; every trace is an
 * object; `x`, `y` (and `z`) are arrays when present; `x` and `y` have the same length; `layout`
 * and `config` are objects when present.
 *
 * @param figure The candidate figure.
 * @param context What the caller was doing, used as the start of the error message
 *   (for example `"Cannot plot figure"`).
 * @returns Nothing; throws `TypeError` for wrong types or mismatched lengths and `RangeError`
 *   for a figure without traces.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { validateFigure } from "./figure.ts";
 *
 * validateFigure({ data: [{ x: [1, 2], y: [3, 4] }] }, "Cannot plot figure");
 * assertThrows(
 *   () => validateFigure({ data: [{ x: [1, 2], y: [3] }] }, "Cannot plot figure"),
 *   TypeError,
 *   "Cannot plot figure: trace 0 has 2 x values but 1 y values",
 * );
 * ```
 */
export function validateFigure(figure: unknown, context: string): asserts figure is Figure {
  if (figure === null || typeof figure !== "object" || Array.isArray(figure)) {
    throw new TypeError(
      `${context}: figure must be an object with a data array, got ${describeValue(figure)}`,
    );
  }
  const { data, layout, config } = figure as Record<string, unknown>;
  if (!Array.isArray(data)) {
    throw new TypeError(
      `${context}: figure.data must be an array of traces, got ${describeValue(data)}`,
    );
  }
  if (data.length === 0) {
    throw new RangeError(`${context}: figure has no traces`);
  }
  data.forEach((trace: unknown, i: number) => {
    if (trace === null || typeof trace !== "object" || Array.isArray(trace)) {
      throw new TypeError(`${context}: trace ${i} must be an object, got ${describeValue(trace)}`);
    }
    const t = trace as Record<string, unknown>;
    for (const axis of ["x", "y", "z"]) {
      if (t[axis] !== undefined && !isArrayLike(t[axis])) {
        throw new TypeError(
          `${context}: trace ${i} ${axis} must be an array, got ${describeValue(t[axis])}`,
        );
      }
    }
    if (t.type !== undefined && typeof t.type !== "string") {
      throw new TypeError(
        `${context}: trace ${i} type must be a string, got ${describeValue(t.type)}`,
      );
    }
    const x = t.x as ArrayLike<unknown> | undefined;
    const y = t.y as ArrayLike<unknown> | undefined;
    if (t.type === "heatmap") {
      // A heatmap's x labels its columns and y its rows: z is rows × columns.
      const z = t.z as ArrayLike<unknown> | undefined;
      if (z === undefined) throw new TypeError(`${context}: heatmap trace ${i} has no z values`);
      const rows = Array.from(
        z,
        (row) => isArrayLike(row) ? (row as ArrayLike<unknown>).length : -1,
      );
      if (rows.includes(-1)) {
        throw new TypeError(`${context}: heatmap trace ${i} z must be an array of rows`);
      }
      const columns = Math.max(0, ...rows);
      if (y !== undefined && y.length !== rows.length) {
        throw new TypeError(
          `${context}: heatmap trace ${i} has ${y.length} y values but ${rows.length} rows of z`,
        );
      }
      if (x !== undefined && x.length !== columns) {
        throw new TypeError(
          `${context}: heatmap trace ${i} has ${x.length} x values but ${columns} columns of z`,
        );
      }
      return;
    }
    if (x !== undefined && y !== undefined && x.length !== y.length) {
      throw new TypeError(
        `${context}: trace ${i} has ${x.length} x values but ${y.length} y values`,
      );
    }
  });
  for (const [name, value] of [["layout", layout], ["config", config]] as const) {
    if (
      value !== undefined && (value === null || typeof value !== "object" || Array.isArray(value))
    ) {
      throw new TypeError(
        `${context}: figure.${name} must be an object, got ${describeValue(value)}`,
      );
    }
  }
}

/**
 * The figure's title as plain text, or `undefined` when it has none.
 *
 * @param figure A figure.
 * @returns The title text.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { figureTitle } from "./figure.ts";
 *
 * assertEquals(figureTitle({ data: [{ y: [1] }], layout: { title: { text: "Reward" } } }), "Reward");
 * assertEquals(figureTitle({ data: [{ y: [1] }] }), undefined);
 * ```
 */
export function figureTitle(figure: Figure): string | undefined {
  const title = figure.layout?.title;
  if (typeof title === "string") return title;
  if (title && typeof title.text === "string") return title.text;
  return undefined;
}

/**
 * A one-line plain-text summary of a figure: title, trace count and types, point count.
 *
 * @param figure A valid figure.
 * @returns For example `Plotly figure "Reward": 2 traces (scatter ×2), 20 points`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { summarizeFigure } from "./figure.ts";
 *
 * assertEquals(
 *   summarizeFigure({ data: [{ y: [1, 2] }, { type: "bar", x: ["a"], y: [3] }] }),
 *   "Plotly figure: 2 traces (scatter, bar), 3 points",
 * );
 * ```
 */
export function summarizeFigure(figure: Figure): string {
  const counts = new Map<string, number>();
  let points = 0;
  for (const trace of figure.data) {
    const type = trace.type ?? "scatter";
    counts.set(type, (counts.get(type) ?? 0) + 1);
    const n = Math.max(trace.x?.length ?? 0, trace.y?.length ?? 0);
    points += n > 0 ? n : (trace.z?.reduce((sum, row) => sum + row.length, 0) ?? 0);
  }
  const types = [...counts].map(([type, n]) => (n > 1 ? `${type} ×${n}` : type)).join(", ");
  const title = figureTitle(figure);
  const traces = `${figure.data.length} trace${figure.data.length === 1 ? "" : "s"}`;
  return `Plotly figure${title ? ` "${title}"` : ""}: ${traces} (${types}), ${points} point${
    points === 1 ? "" : "s"
  }`;
}

/**
 * A copy of a figure that is plain JSON: typed arrays in `x`, `y` and `z` become arrays.
 *
 * @param figure A valid figure.
 * @returns A new figure sharing no arrays that were typed arrays.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { toPlainFigure } from "./figure.ts";
 *
 * const plain = toPlainFigure({ data: [{ y: new Float32Array([0.5, 1]) }] });
 * assertEquals(JSON.stringify(plain), '{"data":[{"y":[0.5,1]}]}');
 * ```
 */
export function toPlainFigure(figure: Figure): Figure {
  const data = figure.data.map((trace) => {
    const copy: Trace = { ...trace };
    for (const axis of ["x", "y"] as const) {
      const values = trace[axis];
      if (values !== undefined && !Array.isArray(values)) {
        copy[axis] = Array.from(values as ArrayLike<number>);
      }
    }
    if (trace.z !== undefined) {
      copy.z = trace.z.map((row) => (Array.isArray(row) ? row : Array.from(row)));
    }
    return copy;
  });
  return { ...figure, data };
}

function isArrayLike(value: unknown): boolean {
  return Array.isArray(value) || ArrayBuffer.isView(value);
}

/**
 * Describe a value for an error message, like `describe` in `lib/validate.ts` but without
 * loading tfjs (the report helpers do not need it).
 *
 * @param value Any value.
 * @returns A short description: quoted strings, `an array of length n`, `an object`, `null`, …
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { describeValue } from "./figure.ts";
 *
 * assertEquals(describeValue([1, 2]), "an array of length 2");
 * assertEquals(describeValue("a"), '"a"');
 * ```
 */
export function describeValue(value: unknown): string {
  if (typeof value === "string") {
    return `"${value.length > 40 ? value.slice(0, 37) + "..." : value}"`;
  }
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return String(value);
}
