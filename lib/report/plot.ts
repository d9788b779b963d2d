/**
 * `plot(figure)`: a plotly figure that Deno's Jupyter kernel displays.
 *
 * @module
 */

import { jupyterDisplaySymbol, type MediaBundle } from "./display.ts";
import { type Figure, summarizeFigure, toPlainFigure, validateFigure } from "./figure.ts";
import { figureHtml, takePlotlyScriptOnce } from "./plotly_html.ts";

/** Options of {@linkcode plot}. */
export interface PlotOptions {
  /** A static PNG of the figure (bytes or base64, e.g. from `figureToImage`), shown inside the
   * HTML output where scripts do not run (untrusted notebooks, some viewers). */
  png?: Uint8Array | string;
}

/** A displayable plotly figure returned by {@linkcode plot}. */
export interface PlotDisplay {
  /** The validated figure as plain JSON (typed arrays converted). */
  readonly figure: Figure;
  /**
   * The MIME bundle: `application/vnd.plotly.v1+json` (the figure), `text/html` (a div + script;
   * plotly.js inlined in the first figure shown by this process) and `text/plain` (a summary).
   */
  [jupyterDisplaySymbol](): MediaBundle;
}

/**
 * Validate a plotly figure and return an object Deno's Jupyter kernel displays as a chart.
 *
 * Make it the last expression of a cell (or pass it to `Deno.jupyter.display`). JupyterLab with
 * the plotly extension renders the `application/vnd.plotly.v1+json` output; other frontends run
 * the `text/html` output, which carries plotly.js itself (once per kernel process, ~4.8 MB) and
 * an optional static PNG for untrusted notebooks. Used by every research notebook.
 *
 * Preconditions: at least one trace; every trace's `x` and `y` (when both given) of equal length.
 *
 * @param figure The plotly figure `{ data, layout?, config? }`.
 * @param options Optional static PNG fallback.
 * @returns A displayable; its bundle is built synchronously when the kernel asks for it.
 * @throws {RangeError} When the figure has no traces.
 * @throws {TypeError} When a trace is malformed or its x/y lengths differ.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { jupyterDisplaySymbol } from "./display.ts";
 * import { plot } from "./plot.ts";
 *
 * const chart = plot({ data: [{ x: [1, 2, 3], y: [0.1, 0.4, 0.9], name: "reward" }] });
 * const bundle = chart[jupyterDisplaySymbol](); // what the kernel calls
 * assertEquals(bundle["text/plain"], "Plotly figure: 1 trace (scatter), 3 points");
 * assertThrows(() => plot({ data: [] }), RangeError, "Cannot plot figure: figure has no traces");
 * ```
 */
export function plot(figure: Figure, options: PlotOptions = {}): PlotDisplay {
  validateFigure(figure, "Cannot plot figure");
  if (
    options.png !== undefined && typeof options.png !== "string" &&
    !(options.png instanceof Uint8Array)
  ) {
    throw new TypeError("Cannot plot figure: png must be a Uint8Array or a base64 string");
  }
  const plain = toPlainFigure(figure);
  const png = options.png;
  return {
    figure: plain,
    [jupyterDisplaySymbol](): MediaBundle {
      const html = takePlotlyScriptOnce() + figureHtml(plain, png === undefined ? {} : { png });
      return {
        "application/vnd.plotly.v1+json": plain as unknown as Record<string, unknown>,
        "text/html": html,
        "text/plain": summarizeFigure(plain),
      };
    },
  };
}
