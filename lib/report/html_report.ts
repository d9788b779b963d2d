/**
 * `writeHtmlReport(path, sections)`: one self-contained HTML file with text, charts and tables.
 *
 * @module
 */

import { describeValue, type Figure, toPlainFigure, validateFigure } from "./figure.ts";
import { escapeHtml, figureHtml, plotlyScriptTag } from "./plotly_html.ts";
import { table, type TableOptions, type TableRow } from "./table.ts";

/** One section of an HTML report; every part but the title is optional. */
export interface ReportSection {
  /** Section heading. */
  title: string;
  /** Plain text; blank lines separate paragraphs (HTML is escaped, not interpreted). */
  text?: string;
  /** A plotly figure drawn with the inlined plotly.js. */
  figure?: Figure;
  /** A static PNG (bytes) shown under the figure or on its own, e.g. from `figureToImage`. */
  image?: Uint8Array;
  /** Rows of a table (see `table`). */
  table?: readonly TableRow[];
  /** Options of that table. */
  tableOptions?: TableOptions;
}

/** Options of {@linkcode writeHtmlReport}. */
export interface HtmlReportOptions {
  /** Document title (default: the first section's title). */
  title?: string;
}

/**
 * Render report sections into a self-contained HTML document (plotly.js inlined once, in the
 * head; no network access needed to view it).
 *
 * @param sections The sections, in order.
 * @param options Document title.
 * @returns The HTML document.
 * @throws {TypeError} When a section is malformed (see {@linkcode writeHtmlReport}).
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { renderHtmlReport } from "./html_report.ts";
 *
 * const html = renderHtmlReport([{ title: "Reward", text: "GRPO < RLOO here", table: [{ a: 1 }] }]);
 * assertStringIncludes(html, "<h2>Reward</h2>");
 * assertStringIncludes(html, "GRPO &lt; RLOO here");
 * ```
 */
export function renderHtmlReport(
  sections: readonly ReportSection[],
  options: HtmlReportOptions = {},
): string {
  const context = "Cannot write HTML report";
  if (!Array.isArray(sections)) {
    throw new TypeError(`${context}: sections must be an array, got ${describeValue(sections)}`);
  }
  const parts: string[] = [];
  let hasFigure = false;
  sections.forEach((section: unknown, i: number) => {
    if (section === null || typeof section !== "object" || Array.isArray(section)) {
      throw new TypeError(
        `${context}: section ${i} must be an object, got ${describeValue(section)}`,
      );
    }
    const s = section as ReportSection;
    if (typeof s.title !== "string") {
      throw new TypeError(
        `${context}: section ${i} title must be a string, got ${describeValue(s.title)}`,
      );
    }
    if (s.text !== undefined && typeof s.text !== "string") {
      throw new TypeError(
        `${context}: section ${i} text must be a string, got ${describeValue(s.text)}`,
      );
    }
    if (s.image !== undefined && !(s.image instanceof Uint8Array)) {
      throw new TypeError(`${context}: section ${i} image must be a Uint8Array of PNG bytes`);
    }
    const body: string[] = [`<section>`, `<h2>${escapeHtml(s.title)}</h2>`];
    if (s.text !== undefined) {
      for (const paragraph of s.text.split(/\n\s*\n/)) {
        if (paragraph.trim() !== "") body.push(`<p>${escapeHtml(paragraph.trim())}</p>`);
      }
    }
    if (s.figure !== undefined) {
      validateFigure(s.figure, `${context}: section ${i}`);
      body.push(figureHtml(toPlainFigure(s.figure)));
      hasFigure = true;
    }
    if (s.image !== undefined) {
      body.push(
        `<img alt="${escapeHtml(s.title)}" style="max-width:100%" src="data:image/png;base64,${
          base64(s.image)
        }">`,
      );
    }
    if (s.table !== undefined) {
      body.push(table(s.table, s.tableOptions).toHtml());
    }
    body.push(`</section>`);
    parts.push(body.join("\n"));
  });
  const title = options.title ?? sections[0]?.title ?? "Report";
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table.trepo-table { border-collapse: collapse; margin: 1em 0; }
table.trepo-table th, table.trepo-table td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
table.trepo-table th { background: #f3f3f3; }
section { margin-bottom: 2.5em; }
</style>
${hasFigure ? plotlyScriptTag() : ""}
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${parts.join("\n")}
</body>
</html>
`;
}

/**
 * Write a self-contained HTML report: a heading, then for each section its text, plotly chart,
 * image and table. plotly.js is inlined once (only when a section has a figure). The write is
 * atomic (a temporary file in the same folder, then a rename); missing folders are created.
 *
 * Preconditions: every section is an object with a string `title`; `text` a string; `figure` a
 * valid figure (see `plot`); `image` PNG bytes; `table` rows accepted by `table`.
 *
 * @param path Where to write the `.html` file.
 * @param sections The report sections, in order.
 * @param options Document title.
 * @returns Resolves when the file is in place.
 * @throws {TypeError} When a section is malformed.
 * @throws {RangeError} When a figure has no traces.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { writeHtmlReport } from "./html_report.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await writeHtmlReport(`${dir}/report.html`, [
 *   { title: "Reward curve", figure: { data: [{ y: [0.1, 0.5, 0.7] }] } },
 * ]);
 * assertStringIncludes(await Deno.readTextFile(`${dir}/report.html`), "Plotly.newPlot");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeHtmlReport(
  path: string,
  sections: readonly ReportSection[],
  options: HtmlReportOptions = {},
): Promise<void> {
  if (typeof path !== "string" || path === "") {
    throw new TypeError(
      `Cannot write HTML report: path must be a non-empty string, got ${describeValue(path)}`,
    );
  }
  const html = renderHtmlReport(sections, options);
  const slash = path.lastIndexOf("/");
  const folder = slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".";
  await Deno.mkdir(folder, { recursive: true });
  const name = path.slice(slash + 1);
  const temporary = `${folder}/.${name}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.writeTextFile(temporary, html);
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
