/**
 * Where a command writes when `--out` is not given: the committed path under `results/` for a
 * full run, the same path under the git-ignored `results/quick/` for a `--quick` one, so that a
 * quick smoke run never overwrites the committed results the README quotes.
 *
 * @module
 */

/** The git-ignored folder that `--quick` runs write under. */
export const QUICK_RESULTS = "results/quick";

/**
 * The default output path of a command: `path` itself for a full run; for `--quick`, the path
 * with its leading `results/` replaced by `results/quick/` (`results/compare` →
 * `results/quick/compare`; a path outside `results/` goes under `results/quick/` whole).
 *
 * @param path The committed default, e.g. `"results/compare"` or `"results/bench.json"`.
 * @param quick Whether `--quick` was given.
 * @returns Where to write.
 *
 * @example
 * ```ts
 * import { defaultResultsPath } from "./results_path.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(defaultResultsPath("results/theorem", false), "results/theorem");
 * assertEquals(defaultResultsPath("results/theorem", true), "results/quick/theorem");
 * assertEquals(defaultResultsPath("results/gpu/scale.json", true), "results/quick/gpu/scale.json");
 * ```
 */
export function defaultResultsPath(path: string, quick: boolean): string {
  if (!quick) return path;
  return `${QUICK_RESULTS}/${path.replace(/^(\.\/)?results\//, "")}`;
}
