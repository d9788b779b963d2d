/**
 * HTML for plotly figures: one `<div>` + `<script>` per figure, and plotly.js either inlined (a
 * standalone HTML file) or loaded from a file next to the notebook (Jupyter outputs).
 *
 * plotly.js cannot be imported as a module in Deno (it touches `window` at load), so its
 * minified bundle is imported as text. It is ~4.8 MB: standalone pages inline it
 * ({@linkcode plotlyScriptTag}); a notebook's outputs never carry it. Instead the kernel writes
 * it once to `plotly.min.js` in its working folder (the notebook's folder; git-ignored), and a
 * figure's script loads that file through the Jupyter server's `/files/` route when
 * `window.Plotly` is missing. JupyterLab with plotly's renderer (`pip install plotly`) draws the
 * `application/vnd.plotly.v1+json` part of the bundle itself and needs neither.
 *
 * @module
 */

import plotlySource from "plotly.js-dist-min/plotly.min.js" with { type: "text" };
import type { Figure } from "./figure.ts";
import { isJupyter } from "./display.ts";

/** The file a Jupyter kernel writes plotly.js to, in its working folder (the notebook's). */
export const PLOTLY_FILE = "plotly.min.js";

/**
 * Browser-side loader of {@linkcode PLOTLY_FILE}, run by every figure while `window.Plotly` is
 * missing (once per page): the file next to the notebook, reached through the Jupyter server's
 * `/files/` route (the page is `…/lab/tree/<dir>/<notebook>`, `…/notebooks/<dir>/<notebook>` or
 * `…/doc/tree/…`), else relative to the page. RequireJS's `define` is hidden while it loads, so
 * plotly.js sets `window.Plotly`.
 */
const LOADER_JS = `function trepoLoadPlotly() {
    if (window.Plotly || window.trepoPlotlyLoading) return;
    window.trepoPlotlyLoading = true;
    var m = /^(.*?)[/](?:lab(?:[/]workspaces[/][^/]+)?[/]tree|doc(?:[/]workspaces[/][^/]+)?[/]tree|notebooks|tree)[/](.*?)[^/]*$/
      .exec(window.location.pathname);
    var s = document.createElement("script");
    s.src = m ? m[1] + "/files/" + m[2] + "${PLOTLY_FILE}" : "${PLOTLY_FILE}";
    var amd = window.define;
    if (amd && amd.amd) window.define = undefined;
    s.onload = s.onerror = function () { if (amd && amd.amd) window.define = amd; };
    document.head.appendChild(s);
  }`;

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
 * Write plotly.js to `dir/plotly.min.js` unless a file of the same size is there already.
 *
 * @param dir The folder (a notebook's).
 * @returns Whether the file is there afterwards (false when it cannot be written).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { PLOTLY_FILE, writePlotlyFile } from "./plotly_html.ts";
 *
 * const dir = await Deno.makeTempDir();
 * assert(writePlotlyFile(dir));
 * assert(Deno.statSync(`${dir}/${PLOTLY_FILE}`).size > 1_000_000);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function writePlotlyFile(dir: string): boolean {
  const path = `${dir.replace(/\/+$/, "")}/${PLOTLY_FILE}`;
  const bytes = new TextEncoder().encode(plotlySource);
  try {
    if (Deno.statSync(path).size === bytes.length) return true;
  } catch {
    // Not there yet.
  }
  try {
    Deno.writeFileSync(path, bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * The first time it is asked for in this process, a small `<script>` that loads plotly.js
 * (see {@linkcode PLOTLY_FILE}); `""` after. Inside a Jupyter kernel it also writes the file to
 * the kernel's working folder (the notebook's), so a notebook's outputs stay small; where that
 * write fails, the tag inlines plotly.js instead (once).
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
  if (isJupyter() && !writePlotlyFile(Deno.cwd())) return plotlyScriptTag();
  return `<script type="text/javascript">(${LOADER_JS})(); /* loads window.Plotly */</script>`;
}

/**
 * Forget that the plotly.js loader was already sent, so the next Jupyter figure carries it again.
 *
 * @returns Nothing.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { resetPlotlyInlining, takePlotlyScriptOnce } from "./plotly_html.ts";
 *
 * resetPlotlyInlining();
 * assert(takePlotlyScriptOnce().includes("window.Plotly"));
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
 * The script uses `window.Plotly` when it exists; otherwise it starts loading
 * {@linkcode PLOTLY_FILE} (once per page) and polls for `window.Plotly` for 20 s. Figure JSON is
 * escaped so it cannot close the script element.
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
  (${LOADER_JS})();
  var tries = 0;
  var timer = setInterval(function () {
    if (window.Plotly) { clearInterval(timer); draw(); }
    else if (++tries > 200) {
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
