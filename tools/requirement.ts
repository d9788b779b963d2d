/**
 * Optional tools of the test command (Chromium, Jupyter's nbclient, Python's torch, transformers
 * and peft, OpenBLAS, Mesa's WebGPU adapter): one place that decides whether a check that needs
 * one runs, is skipped with a message, or fails.
 *
 * `deno task test` installs nothing. On a machine without a tool, each check that needs it prints
 * one line, `<what>: skipped (<what is missing>; <how to get it>)`, and passes. Under CI
 * (`CI=true`, as `.ci/run` sets it, after `tools/ci_install.sh` installed everything) nothing may
 * be skipped: a missing tool throws instead, with the same words. The one exception is what
 * `.ci/run` could not install because pip reached no index: it names those requirements in
 * `TREPO_CI_ALLOW_SKIP` (comma-separated ids or id prefixes, e.g. `python:`), and they are skipped
 * with a message even under CI.
 *
 * @example A test that needs a program on PATH
 * ```ts
 * import { onPath, runsHere } from "./requirement.ts";
 *
 * const sh = onPath("sh", "apt-get install dash");
 * Deno.test({ name: "my check", ignore: !runsHere("my check", sh), fn() {} });
 * ```
 *
 * @module
 */
import { findChromium } from "../lib/report/figure_to_image.ts";

/** Whether an optional tool is here, and what to say when it is not. */
export interface Requirement {
  /** A short id (`chromium`, `nbclient`, `python:transformers,torch`), for `TREPO_CI_ALLOW_SKIP`. */
  id: string;
  /** True when the tool can be used. */
  present: boolean;
  /** What is missing, e.g. `python3 -c "import torch" failed`. */
  missing: string;
  /** How to get it, e.g. `pip install torch, or run bash .ci/run`. */
  install: string;
}

/** True under CI: the `CI` environment variable is `true` or `1` (case-insensitive). */
export function underCi(): boolean {
  const value = (Deno.env.get("CI") ?? "").toLowerCase();
  return value === "true" || value === "1";
}

/** True when `TREPO_CI_ALLOW_SKIP` names `id` or a prefix of it. */
function allowedToSkip(id: string): boolean {
  const allowed = (Deno.env.get("TREPO_CI_ALLOW_SKIP") ?? "").split(",").map((a) => a.trim());
  return allowed.some((a) => a !== "" && id.startsWith(a));
}

/**
 * Whether a check that needs `requirement` runs here: true when the tool is present; otherwise
 * false after printing `<what>: skipped (<missing>; <install>)`, or, under CI, an error.
 *
 * @param what The check, as it should read in the log.
 * @param requirement The tool's presence and the words for its absence.
 * @returns True when the check should run.
 * @throws {Error} Under CI, when the tool is missing: `<what>: <missing>, and CI=true allows no
 *   skipped checks; <install>`.
 *
 * @example
 * ```ts
 * import { runsHere } from "./requirement.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(runsHere("a check", { id: "x", present: true, missing: "", install: "" }), true);
 * ```
 */
export function runsHere(what: string, requirement: Requirement): boolean {
  if (requirement.present) return true;
  if (underCi() && !allowedToSkip(requirement.id)) {
    throw new Error(
      `${what}: ${requirement.missing}, and CI=true allows no skipped checks; ${requirement.install}`,
    );
  }
  console.log(`${what}: skipped (${requirement.missing}; ${requirement.install})`);
  return false;
}

/**
 * Whether `python` can import every one of `modules` (the Python cross-checks: torch,
 * transformers, peft; the notebook runner: nbclient).
 *
 * @param modules Module names, e.g. `["transformers", "torch"]`.
 * @param python The interpreter (default `python3` on PATH).
 * @returns The requirement, present when `python -c "import …"` exits 0.
 */
export async function pythonModules(
  modules: readonly string[],
  python: string = "python3",
): Promise<Requirement> {
  const code = `import ${modules.join(", ")}`;
  let present = false;
  try {
    const out = await new Deno.Command(python, {
      args: ["-c", code],
      stdout: "null",
      stderr: "null",
    }).output();
    present = out.success;
  } catch {
    present = false; // no such interpreter
  }
  return {
    id: `python:${modules.join(",")}`,
    present,
    missing: `${python} -c "${code}" failed`,
    install: `pip install ${
      modules.join(" ")
    } (CPU torch: --extra-index-url https://download.pytorch.org/whl/cpu), or run bash .ci/run`,
  };
}

/** Chromium for figure images, HTML reports in a browser and the JupyterLab browser check. */
export function chromium(): Requirement {
  return {
    id: "chromium",
    present: findChromium() !== undefined,
    missing:
      "no Chromium on PATH (chromium, chromium-browser, google-chrome, google-chrome-stable)",
    install: "apt-get install chromium, or run bash .ci/run",
  };
}

/**
 * Whether a program is on PATH (an executable file in one of its folders).
 *
 * @param name The program, e.g. `jupyter`.
 * @param install How to get it.
 * @returns The requirement.
 */
export function onPath(name: string, install: string): Requirement {
  // findChromium is the generic PATH walk (the first executable of the given names).
  const present = findChromium([name]) !== undefined;
  return { id: name, present, missing: `no ${name} on PATH`, install };
}

/** The words for a missing Python with nbclient (headless notebook runs). */
export function notebookPython(present: boolean): Requirement {
  return {
    id: "nbclient",
    present,
    missing: "no Python with nbclient (tried $TREPO_PYTHON, else /usr/bin/python3 and python3)",
    install:
      "apt-get install python3-nbclient or pip install nbclient nbformat, or run bash .ci/run",
  };
}

/** The words for a missing WebGPU adapter (Mesa's llvmpipe software adapter on a CPU machine). */
export function mesa(missing: string): Requirement {
  return {
    id: "mesa",
    present: false,
    missing,
    install: "apt-get install libegl-mesa0 libgl1-mesa-dri, or run bash .ci/run",
  };
}
