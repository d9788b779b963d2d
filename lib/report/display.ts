/**
 * The Jupyter display protocol of Deno's kernel, feature-detected at call time.
 *
 * Deno's kernel shows any object with a synchronous `[Symbol.for("Jupyter.display")]()` method
 * returning a MIME bundle. `Deno.jupyter` exists only inside `deno jupyter` and *throws* when
 * touched elsewhere, so nothing here reads it at import time.
 *
 * @module
 */

/** The symbol Deno's Jupyter kernel looks for (`Symbol.for("Jupyter.display")`). */
export const jupyterDisplaySymbol: unique symbol = Symbol.for("Jupyter.display");

/** A MIME bundle: MIME type → text, or a JSON object for `application/*+json` types. */
export type MediaBundle = Record<string, string | Record<string, unknown>>;

/** An object Deno's kernel displays: a synchronous display method returning a MIME bundle. */
export interface Displayable {
  /** Returns the MIME bundle; synchronous (async methods land under the wrong cell). */
  [jupyterDisplaySymbol](): MediaBundle;
}

/** Options of `Deno.jupyter.display` (raw bundles, live updates by display id). */
export interface JupyterDisplayOptions {
  /** Treat the argument as a MIME bundle. */
  raw?: boolean;
  /** Replace the output that has `display_id` instead of adding one. */
  update?: boolean;
  /** Id of an output that can be updated later. */
  display_id?: string;
}

/** The part of `Deno.jupyter` the report helpers use. */
export interface JupyterApi {
  /** Send a displayable object or (with `raw: true`) a MIME bundle to the notebook. */
  display(obj: unknown, options?: JupyterDisplayOptions): Promise<void>;
}

/**
 * `Deno.jupyter` when running inside Deno's Jupyter kernel, else `undefined` (never throws).
 *
 * @returns The kernel's display API, or `undefined` outside `deno jupyter`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { jupyterApi } from "./display.ts";
 *
 * assertEquals(jupyterApi(), undefined); // tests do not run in the kernel
 * ```
 */
export function jupyterApi(): JupyterApi | undefined {
  try {
    const api = (Deno as unknown as { jupyter?: JupyterApi }).jupyter;
    return api && typeof api.display === "function" ? api : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether this code runs inside Deno's Jupyter kernel.
 *
 * @returns `true` in `deno jupyter`, `false` elsewhere.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { isJupyter } from "./display.ts";
 *
 * assertEquals(isJupyter(), false);
 * ```
 */
export function isJupyter(): boolean {
  return jupyterApi() !== undefined;
}

/**
 * Send a raw MIME bundle to the notebook (`Deno.jupyter.display(bundle, { raw: true, … })`).
 *
 * Outside the kernel it does nothing and resolves to `false`. Errors of the display call are
 * caught and reported through `onError` (default: `console.warn`), so a broken frontend never
 * ends the training loop that displays progress.
 *
 * @param bundle The MIME bundle.
 * @param options `display_id` and `update` for live outputs.
 * @param onError Called with the error if the display call fails.
 * @returns Whether a kernel display was sent.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { displayBundle } from "./display.ts";
 *
 * assertEquals(await displayBundle({ "text/plain": "hi" }), false);
 * ```
 */
export async function displayBundle(
  bundle: MediaBundle,
  options: Omit<JupyterDisplayOptions, "raw"> = {},
  onError: (error: unknown) => void = (error) => console.warn("Jupyter display failed:", error),
): Promise<boolean> {
  const api = jupyterApi();
  if (api === undefined) return false;
  try {
    await api.display(bundle, { ...options, raw: true });
    return true;
  } catch (error) {
    onError(error);
    return false;
  }
}
