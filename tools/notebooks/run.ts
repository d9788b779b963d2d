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
  if (python === undefined) {
    console.error(
      "Cannot run notebooks: no Python with nbclient found (tried /usr/bin/python3, python3); " +
        "install it with 'apt-get install python3-nbclient' or 'pip install nbclient', " +
        "or run tools/ci_install.sh",
    );
    Deno.exit(2);
  }
  const { code } = await new Deno.Command(python, {
    args: [`${here}run.py`, ...Deno.args],
    env: { NO_COLOR: "1" },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  Deno.exit(code);
}
