/**
 * Render plotly figures to PNG or SVG with a headless Chromium (driven by playwright-core).
 *
 * plotly.js draws only in a browser, so static images come from the system's Chromium
 * (Debian: `apt-get install chromium`), launched headless with an empty temporary profile and
 * no background network activity. playwright-core is loaded on first use only.
 *
 * @module
 */

import { describeValue, type Figure, toPlainFigure, validateFigure } from "./figure.ts";
import { plotlyScriptTag } from "./plotly_html.ts";

/** Names searched on `PATH` for a Chromium executable, in order. */
export const CHROMIUM_NAMES: readonly string[] = [
  "chromium",
  "chromium-browser",
  "google-chrome",
  "google-chrome-stable",
];

/** Command-line flags Chromium is launched with (besides playwright's own `--headless`). */
export const CHROMIUM_FLAGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Options of {@linkcode figureToImage}. */
export interface FigureImageOptions {
  /** `"png"` (default) or `"svg"`. */
  format?: "png" | "svg";
  /** Width in CSS pixels (default: the layout width, else 800). */
  width?: number;
  /** Height in CSS pixels (default: the layout height, else 500). */
  height?: number;
  /** Pixel ratio of a PNG (default 1). */
  scale?: number;
}

/** Options of {@linkcode openFigureRenderer}. */
export interface FigureRendererOptions {
  /** Chromium executable; default: the first of {@linkcode CHROMIUM_NAMES} found on `PATH`. */
  executablePath?: string;
  /** Milliseconds allowed for launching and for each render (default 60 000). */
  timeoutMs?: number;
}

/** A running headless Chromium that renders figures; close it when done. */
export interface FigureRenderer {
  /** Render one figure; PNG bytes or SVG text encoded as UTF-8 bytes. */
  render(figure: Figure, options?: FigureImageOptions): Promise<Uint8Array>;
  /** Close the browser and remove its temporary profile. */
  close(): Promise<void>;
}

/**
 * Find a Chromium executable on `PATH`.
 *
 * @param names Executable names to try, in order (default {@linkcode CHROMIUM_NAMES}).
 * @returns The absolute path of the first one found, or `undefined`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { findChromium } from "./figure_to_image.ts";
 *
 * assertEquals(findChromium(["no-such-browser-xyz"]), undefined);
 * ```
 */
export function findChromium(names: readonly string[] = CHROMIUM_NAMES): string | undefined {
  const path = Deno.env.get("PATH") ?? "";
  for (const name of names) {
    for (const dir of path.split(":")) {
      if (dir === "") continue;
      const candidate = `${dir}/${name}`;
      try {
        const info = Deno.statSync(candidate);
        if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/**
 * Start a headless Chromium that renders many figures (one launch, ~1.5 s, for all of them).
 *
 * @param options Executable path and timeout.
 * @returns A renderer; call `close()` when done.
 * @throws {Deno.errors.NotFound} When no Chromium is installed (message names `apt-get install chromium`).
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { findChromium, openFigureRenderer } from "./figure_to_image.ts";
 *
 * if (findChromium() !== undefined) { // tests/report/figure_to_image_test.ts says when it is not
 *   const renderer = await openFigureRenderer();
 *   try {
 *     const svg = await renderer.render({ data: [{ y: [1, 3, 2] }] }, { format: "svg" });
 *     assertStringIncludes(new TextDecoder().decode(svg), "<svg");
 *   } finally {
 *     await renderer.close();
 *   }
 * }
 * ```
 */
export async function openFigureRenderer(
  options: FigureRendererOptions = {},
): Promise<FigureRenderer> {
  const context = "Cannot render figure to image";
  const executablePath = options.executablePath ?? findChromium();
  if (executablePath === undefined) {
    throw new Deno.errors.NotFound(
      `${context}: no Chromium found on PATH (looked for ${CHROMIUM_NAMES.join(", ")}); ` +
        `install it with "apt-get install chromium" (Debian/Ubuntu) or pass executablePath`,
    );
  }
  const timeout = options.timeoutMs ?? 60_000;
  const { chromium } = await import("playwright-core");
  const profile = await Deno.makeTempDir({ prefix: "trepo-chromium-" });
  let browserContext;
  try {
    browserContext = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: CHROMIUM_FLAGS.filter((flag) => flag !== "--headless"),
      timeout,
    });
  } catch (error) {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
    throw new Error(`${context}: Chromium (${executablePath}) failed to start: ${message(error)}`, {
      cause: error,
    });
  }
  const launched = browserContext;
  const page = launched.pages()[0] ?? await launched.newPage();
  page.setDefaultTimeout(timeout);
  let loaded = false;
  let closed = false;

  async function render(
    figure: Figure,
    imageOptions: FigureImageOptions = {},
  ): Promise<Uint8Array> {
    if (closed) throw new Error(`${context}: the renderer is closed`);
    validateFigure(figure, context);
    const format = imageOptions.format ?? "png";
    if (format !== "png" && format !== "svg") {
      throw new RangeError(
        `${context}: format must be "png" or "svg", got ${describeValue(format)}`,
      );
    }
    const width = checkSize(
      context,
      "width",
      imageOptions.width ?? layoutNumber(figure, "width") ?? 800,
    );
    const height = checkSize(
      context,
      "height",
      imageOptions.height ?? layoutNumber(figure, "height") ?? 500,
    );
    const scale = imageOptions.scale ?? 1;
    if (typeof scale !== "number" || !(scale > 0 && scale <= 10)) {
      throw new RangeError(
        `${context}: scale must be a number in (0, 10], got ${describeValue(scale)}`,
      );
    }
    if (!loaded) {
      await page.setContent(
        `<!DOCTYPE html><html><head><meta charset="utf-8">${plotlyScriptTag()}</head>` +
          `<body style="margin:0"><div id="figure"></div></body></html>`,
      );
      loaded = true;
    }
    const request = { figure: toPlainFigure(figure), format, width, height, scale };
    const dataUrl = await withTimeout(
      page.evaluate(async (r: typeof request) => {
        const page = globalThis as unknown as BrowserGlobals;
        const plotly = page.Plotly;
        const el = page.document.getElementById("figure");
        plotly.purge(el);
        await plotly.newPlot(el, r.figure.data, r.figure.layout ?? {}, { staticPlot: true });
        return await plotly.toImage(el, {
          format: r.format,
          width: r.width,
          height: r.height,
          scale: r.scale,
        });
      }, request),
      timeout,
      `${context}: plotly did not finish within ${timeout} ms`,
    );
    return decodeDataUrl(context, dataUrl);
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    try {
      await launched.close();
    } finally {
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  }

  return { render, close };
}

/**
 * Render a plotly figure to a PNG or SVG image with headless Chromium.
 *
 * Launches Chromium (found on `PATH`; ~1.5 s), draws the figure with the inlined plotly.js and
 * calls `Plotly.toImage`. To render many figures, {@linkcode openFigureRenderer} launches once.
 * Used to add static fallbacks to `plot` outputs and images to HTML reports.
 *
 * Preconditions: a valid figure (see `plot`); Chromium installed (`apt-get install chromium`).
 *
 * @param figure The plotly figure.
 * @param options Format (`"png"` | `"svg"`), width, height, scale; executable path and timeout.
 * @returns PNG bytes, or the SVG document as UTF-8 bytes.
 * @throws {Deno.errors.NotFound} When no Chromium is installed.
 * @throws {TypeError} / {RangeError} For an invalid figure or options.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { figureToImage, findChromium } from "./figure_to_image.ts";
 *
 * if (findChromium() !== undefined) { // tests/report/figure_to_image_test.ts says when it is not
 *   const png = await figureToImage({ data: [{ y: [1, 3, 2] }] }, { width: 400, height: 300 });
 *   assertEquals([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
 * }
 * ```
 */
export async function figureToImage(
  figure: Figure,
  options: FigureImageOptions & FigureRendererOptions = {},
): Promise<Uint8Array> {
  validateFigure(figure, "Cannot render figure to image");
  const renderer = await openFigureRenderer(options);
  try {
    return await renderer.render(figure, options);
  } finally {
    await renderer.close();
  }
}

/** The browser page's globals used by `render` (the page has no DOM types in Deno). */
interface BrowserGlobals {
  Plotly: {
    newPlot(el: unknown, data: unknown, layout: unknown, config: unknown): Promise<unknown>;
    toImage(el: unknown, options: Record<string, unknown>): Promise<string>;
    purge(el: unknown): void;
  };
  document: { getElementById(id: string): unknown };
}

function layoutNumber(figure: Figure, key: "width" | "height"): number | undefined {
  const value = figure.layout?.[key];
  return typeof value === "number" ? value : undefined;
}

function checkSize(context: string, name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 10 || value > 8000) {
    throw new RangeError(
      `${context}: ${name} must be an integer in [10, 8000], got ${describeValue(value)}`,
    );
  }
  return value;
}

function decodeDataUrl(context: string, url: string): Uint8Array {
  const comma = url.indexOf(",");
  if (!url.startsWith("data:") || comma < 0) {
    throw new Error(`${context}: plotly returned no data URL`);
  }
  const header = url.slice(5, comma);
  const payload = url.slice(comma + 1);
  if (header.endsWith(";base64")) {
    const binary = atob(payload);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }
  return new TextEncoder().encode(decodeURIComponent(payload));
}

async function withTimeout<T>(promise: Promise<T>, ms: number, text: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(text)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0] : String(error);
}
