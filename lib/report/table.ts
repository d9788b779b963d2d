/**
 * `table(rows)`: rows of records shown as an HTML / Markdown / plain-text table in Jupyter.
 *
 * @module
 */

import { jupyterDisplaySymbol, type MediaBundle } from "./display.ts";
import { describeValue } from "./figure.ts";
import { escapeHtml } from "./plotly_html.ts";

/** One table row: column name → value (numbers, strings, booleans, null, dates, …). */
export type TableRow = Readonly<Record<string, unknown>>;

/** Options of {@linkcode table}. */
export interface TableOptions {
  /** Columns to show, in order; default: every key, in order of first appearance. */
  columns?: readonly string[];
  /** Significant digits for non-integer numbers (default 4). */
  digits?: number;
  /** A caption shown above the table. */
  caption?: string;
}

/** A displayable table returned by {@linkcode table}. */
export interface TableDisplay {
  /** Column names, in order. */
  readonly columns: readonly string[];
  /** Formatted cell text, `[rows][columns]`. */
  readonly cells: readonly (readonly string[])[];
  /** Which columns hold only numbers (right-aligned). */
  readonly numeric: readonly boolean[];
  /** An HTML `<table>`. */
  toHtml(): string;
  /** A GitHub-flavoured Markdown table. */
  toMarkdown(): string;
  /** An aligned plain-text table. */
  toText(): string;
  /** The MIME bundle: `text/html`, `text/markdown`, `text/plain`. */
  [jupyterDisplaySymbol](): MediaBundle;
}

/**
 * Format a number for people: integers in full, other numbers to `digits` significant digits
 * (trailing zeros dropped), very large or small magnitudes in exponent form.
 *
 * @param value The number.
 * @param digits Significant digits for non-integers (default 4), 1 to 17.
 * @returns The text, e.g. `0.1235`, `1.5`, `421000`, `2.5e-7`, `NaN`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { formatNumber } from "./table.ts";
 *
 * assertEquals(formatNumber(0.123456), "0.1235");
 * assertEquals(formatNumber(1.5), "1.5");
 * assertEquals(formatNumber(421000), "421000");
 * assertEquals(formatNumber(0.00000025), "2.5e-7");
 * assertEquals(formatNumber(12345.678), "12346");
 * ```
 */
export function formatNumber(value: number, digits = 4): string {
  if (!Number.isInteger(digits) || digits < 1 || digits > 17) {
    throw new RangeError(
      `Cannot format number: digits must be an integer in [1, 17], got ${digits}`,
    );
  }
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (Number.isInteger(value) && magnitude < 1e15) return String(value);
  if (magnitude >= 1e-3 && magnitude < 1e15) {
    if (magnitude >= 10 ** digits) return value.toFixed(0);
    return stripZeros(value.toPrecision(digits));
  }
  const [mantissa, exponent] = value.toExponential(digits - 1).split("e");
  return `${stripZeros(mantissa)}e${exponent.replace("+", "")}`;
}

/**
 * Make a table from rows of records; Jupyter displays it as HTML (Markdown and plain text too).
 *
 * Numbers are formatted with {@linkcode formatNumber}; `null`/`undefined`/missing keys are empty;
 * columns holding only numbers are right-aligned. Used by the notebooks' result tables.
 *
 * @param rows The rows; each a plain object.
 * @param options Column order, digits, caption.
 * @returns A displayable table.
 * @throws {TypeError} When `rows` is not an array of objects or `columns` not an array of strings.
 * @throws {RangeError} When there are no rows and no columns.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { table } from "./table.ts";
 *
 * const t = table([{ method: "GRPO", reward: 0.51234 }, { method: "RLOO", reward: 0.5 }]);
 * assertEquals(t.toMarkdown(), "| method | reward |\n| --- | ---: |\n| GRPO | 0.5123 |\n| RLOO | 0.5 |");
 * assertThrows(() => table([]), RangeError, "Cannot make table: no rows and no columns");
 * ```
 */
export function table(rows: readonly TableRow[], options: TableOptions = {}): TableDisplay {
  const context = "Cannot make table";
  if (!Array.isArray(rows)) {
    throw new TypeError(`${context}: rows must be an array of objects, got ${describeValue(rows)}`);
  }
  rows.forEach((row: unknown, i: number) => {
    if (row === null || typeof row !== "object" || Array.isArray(row)) {
      throw new TypeError(`${context}: row ${i} must be an object, got ${describeValue(row)}`);
    }
  });
  const digits = options.digits ?? 4;
  if (!Number.isInteger(digits) || digits < 1 || digits > 17) {
    throw new RangeError(`${context}: digits must be an integer in [1, 17], got ${digits}`);
  }
  let columns: string[];
  if (options.columns !== undefined) {
    if (!Array.isArray(options.columns) || options.columns.some((c) => typeof c !== "string")) {
      throw new TypeError(`${context}: columns must be an array of strings`);
    }
    columns = [...options.columns];
  } else {
    const seen = new Set<string>();
    for (const row of rows) for (const key of Object.keys(row)) seen.add(key);
    columns = [...seen];
  }
  if (rows.length === 0 && columns.length === 0) {
    throw new RangeError(`${context}: no rows and no columns`);
  }
  const cells = rows.map((row) => columns.map((c) => formatCell(row[c], digits)));
  const numeric = columns.map((c) => {
    const values = rows.map((row) => row[c]).filter((v) => v !== undefined && v !== null);
    return values.length > 0 && values.every((v) => typeof v === "number" || typeof v === "bigint");
  });
  const caption = options.caption;

  const toHtml = (): string => {
    const align = (j: number) => (numeric[j] ? ' style="text-align:right"' : "");
    const head = columns.map((c, j) => `<th${align(j)}>${escapeHtml(c)}</th>`).join("");
    const body = cells.map((r) =>
      `<tr>${r.map((v, j) => `<td${align(j)}>${escapeHtml(v)}</td>`).join("")}</tr>`
    ).join("\n");
    const cap = caption === undefined ? "" : `<caption>${escapeHtml(caption)}</caption>`;
    return `<table class="trepo-table">${cap}\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
  };
  const toMarkdown = (): string => {
    const esc = (v: string) => v.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
    const lines = [
      `| ${columns.map(esc).join(" | ")} |`,
      `| ${numeric.map((n) => (n ? "---:" : "---")).join(" | ")} |`,
      ...cells.map((r) => `| ${r.map(esc).join(" | ")} |`),
    ];
    return (caption === undefined ? "" : `**${caption}**\n\n`) + lines.join("\n");
  };
  const toText = (): string => {
    const flat = (v: string) => v.replace(/\r?\n/g, " ");
    const widths = columns.map((c, j) =>
      Math.max(c.length, ...cells.map((r) => flat(r[j]).length))
    );
    const pad = (v: string, j: number) =>
      numeric[j] ? flat(v).padStart(widths[j]) : flat(v).padEnd(widths[j]);
    const lines = [
      columns.map(pad).join("  ").trimEnd(),
      widths.map((w) => "-".repeat(w)).join("  "),
      ...cells.map((r) => r.map(pad).join("  ").trimEnd()),
    ];
    return (caption === undefined ? "" : `${caption}\n`) + lines.join("\n");
  };
  return {
    columns,
    cells,
    numeric,
    toHtml,
    toMarkdown,
    toText,
    [jupyterDisplaySymbol](): MediaBundle {
      return { "text/html": toHtml(), "text/markdown": toMarkdown(), "text/plain": toText() };
    },
  };
}

function formatCell(value: unknown, digits: number): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "number") return formatNumber(value, digits);
  if (typeof value === "string") return value;
  if (typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (value instanceof Date) return value.toISOString();
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function stripZeros(text: string): string {
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}
