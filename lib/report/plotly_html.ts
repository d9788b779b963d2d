/**
 * HTML for plotly figures: plotly.js inlined as a `<script>` (once per process), and one
 * `<div>` + `<script>` per figure.
 *
 * plotly.js cannot be imported as a module in Deno (it touches `window` at load), so its
 * minified bundle is imported as text and inlined into HTML outputs. It is ~4.8 MB, so Jupyter
 * outputs carry it only once per kernel process; later figures wait for `window.Plotly`.
 *
 * @module
 */

import plotlySource from "plotly.js-dist-min/plotly.min.js" with { type: "text" };
import type { Figure } from "./figure.ts";

let plotlyInlined = false;
let figureCounter = 0;
const idPrefix = `trepo-plot-${crypto.randomUUID().slice(0, 8)}`;

/**
 * The full `<script>` tag that defines `window.Plotly` (plotly.js inlined, ~4.8 MB).
 *
 * @returns A `<script>` element as a string, safe to place in any HTML document.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { plotlyScriptTag } from "./plotly_html.ts";
 *
 * const tag = plotlyScriptTag();
 * assert(tag.startsWith("<script") && tag.includes("window.Plotly"));
 * ```
 */
export function plotlyScriptTag(): string {
  return `<script type="text/javascript">/* plotly.js (plotly.js-dist-min), inlined by trepo */\n${
    escapeScript(plotlySource)
  }\n</script>`;
}

/**
 * The plotly.js `<script>` tag the first time it is asked for in this process, `""` after.
 *
 * Jupyter outputs use it so that a notebook carries plotly.js once, in the first figure.
 *
 * @returns The script tag or an empty string.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { resetPlotlyInlining, takePlotlyScriptOnce } from "./plotly_html.ts";
 *
 * resetPlotlyInlining();
 * takePlotlyScriptOnce();
 * assertEquals(takePlotlyScriptOnce(), "");
 * ```
 */
export function takePlotlyScriptOnce(): string {
  if (plotlyInlined) return "";
  plotlyInlined = true;
  return plotlyScriptTag();
}

/**
 * Forget that plotly.js was already inlined, so the next Jupyter figure carries it again.
 *
 * Use it in a notebook after clearing the output that held plotly.js (figures then show
 * "plotly.js is not loaded in this page").
 *
 * @returns Nothing.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { resetPlotlyInlining, takePlotlyScriptOnce } from "./plotly_html.ts";
 *
 * resetPlotlyInlining();
 * assert(takePlotlyScriptOnce().length > 1_000_000);
 * ```
 */
export function resetPlotlyInlining(): void {
  plotlyInlined = false;
}

/** Options of {@linkcode figureHtml}. */
export interface FigureHtmlOptions {
  /** Static PNG (bytes or base64) shown inside the div until plotly.js draws (or forever where
   * scripts do not run, as in untrusted notebooks). */
  png?: Uint8Array | string;
  /** Alternative text for the PNG. */
  alt?: string;
  /** Minimum height of the div in CSS pixels; defaults to the layout height or 420. */
  height?: number;
}

/**
 * A `<div>` and a `<script>` that draws `figure` into it with `Plotly.newPlot`.
 *
 * The script uses `window.Plotly` when it exists and otherwise polls for it for 10 s (a figure
 * may render before the output that carries plotly.js). Figure JSON is escaped so it cannot
 * close the script element.
 *
 * @param figure A valid figure (not re-validated here).
 * @param options Optional PNG fallback and height.
 * @returns HTML text (no plotly.js included).
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { figureHtml } from "./plotly_html.ts";
 *
 * const html = figureHtml({ data: [{ y: [1, 2], name: "</script>" }] });
 * assertStringIncludes(html, "Plotly.newPlot");
 * assertStringIncludes(html, "\\u003c/script>");
 * ```
 */
export function figureHtml(figure: Figure, options: FigureHtmlOptions = {}): string {
  figureCounter += 1;
  const id = `${idPrefix}-${figureCounter}`;
  const layoutHeight = typeof figure.layout?.height === "number" ? figure.layout.height : 420;
  const height = options.height ?? layoutHeight;
  let fallback = "";
  if (options.png !== undefined) {
    const b64 = typeof options.png === "string" ? options.png : encodeBase64(options.png);
    fallback = `<img class="trepo-plot-fallback" alt="${escapeHtml(options.alt ?? "figure")}" ` +
      `style="max-width:100%" src="data:image/png;base64,${b64}">`;
  }
  const json = scriptJson(figure);
  return `<div id="${id}" class="trepo-plot" style="width:100%;min-height:${height}px">${fallback}</div>
<script type="text/javascript">
(function () {
  var fig = ${json};
  var me = document.currentScript;
  var el = (me && me.previousElementSibling && me.previousElementSibling.id === "${id}")
    ? me.previousElementSibling : document.getElementById("${id}");
  if (!el) return;
  var config = Object.assign({ responsive: true, displaylogo: false }, fig.config || {});
  function draw() {
    var img = el.querySelector("img.trepo-plot-fallback");
    if (img) img.remove();
    window.Plotly.newPlot(el, fig.data, fig.layout || {}, config);
  }
  if (window.Plotly) { draw(); return; }
  var tries = 0;
  var timer = setInterval(function () {
    if (window.Plotly) { clearInterval(timer); draw(); }
    else if (++tries > 100) {
      clearInterval(timer);
      if (!el.querySelector("img")) el.textContent = "plotly.js is not loaded in this page: run the notebook again";
    }
  }, 100);
})();
</script>`;
}

/**
 * Escape text for HTML element content and attribute values.
 *
 * @param text Any text.
 * @returns The text with `& < > " '` replaced by entities.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { escapeHtml } from "./plotly_html.ts";
 *
 * assertEquals(escapeHtml(`<a href="x">&</a>`), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]);
}

const HTML_ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** JSON for inclusion inside a `<script>` element (no `</script>`, no `<!--`). */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** Make JavaScript source safe inside a `<script>` element. */
function escapeScript(source: string): string {
  return source.replace(/<\/script/gi, "<\\/script");
}

function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}
