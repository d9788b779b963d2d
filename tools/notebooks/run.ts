/**
 * `deno task notebooks`: run `tools/notebooks/run.py` with a Python that has nbclient.
 *
 * Every argument is passed through (`--write`, `--output-dir DIR`, notebook paths, …). The
 * Python is `$TREPO_PYTHON` when set, else the first of `/usr/bin/python3` (Debian's, where
 * `python3-nbclient` installs; it starts in ~0.4 s) and `python3` (a pip environment with
 * jupyterlab may take seconds to import nbformat's validators) that can import nbclient.
 *
 * @module
 */

import { notebookPython, runsHere } from "../requirement.ts";

const here = new URL(".", import.meta.url).pathname;

/**
 * The first Python interpreter that can import nbclient, or `undefined`.
 *
 * @param candidates Interpreters to try, in order.
 * @returns Its command, or `undefined` when none has nbclient.
 */
export async function findNotebookPython(
  candidates: readonly string[] = pythonCandidates(),
): Promise<string | undefined> {
  for (const python of candidates) {
    try {
      const { success } = await new Deno.Command(python, {
        args: ["-c", "import nbclient, nbformat"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (success) return python;
    } catch {
      // not installed
    }
  }
  return undefined;
}

function pythonCandidates(): string[] {
  const chosen = Deno.env.get("TREPO_PYTHON");
  return chosen ? [chosen] : ["/usr/bin/python3", "python3"];
}

if (import.meta.main) {
  const python = await findNotebookPython();
  // Without one: a message and exit 0 (`deno task test` on a fresh machine), an error under CI.
  if (!runsHere("deno task notebooks", notebookPython(python !== undefined))) Deno.exit(0);
  const { code } = await new Deno.Command(python!, {
    args: [`${here}run.py`, ...Deno.args],
    env: { NO_COLOR: "1" },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  Deno.exit(code);
}
