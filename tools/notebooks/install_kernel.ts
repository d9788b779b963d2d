/**
 * `deno task kernel`: install Deno's Jupyter kernelspec for the current user, then say how to
 * start JupyterLab on the notebooks.
 *
 * It runs `deno jupyter --install --force` with the running Deno (so the kernelspec points at
 * this Deno's absolute path), then lists the installed kernelspec. Options: `--name NAME`
 * (default `deno`), `--display NAME` (default `Deno`).
 *
 * Headless runs (`deno task notebooks`) do not need this: they use the project-local kernelspec
 * in `tools/notebooks/kernels/deno` through `JUPYTER_PATH`.
 *
 * @module
 */

function option(name: string, fallback: string): string {
  const index = Deno.args.indexOf(name);
  return index >= 0 && index + 1 < Deno.args.length ? Deno.args[index + 1] : fallback;
}

if (import.meta.main) {
  const name = option("--name", "deno");
  const display = option("--display", "Deno");
  const deno = Deno.execPath();
  console.log(`Installing the Deno Jupyter kernelspec "${name}" (${deno}) ...`);
  const install = await new Deno.Command(deno, {
    args: ["jupyter", "--install", "--force", "--name", name, "--display", display],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!install.success) {
    console.error(
      `Cannot install the Deno kernel: "deno jupyter --install" exited with ${install.code}. ` +
        "Jupyter must be installed first: pip install jupyterlab (or run tools/ci_install.sh)",
    );
    Deno.exit(1);
  }
  try {
    const list = await new Deno.Command("jupyter", { args: ["kernelspec", "list"] }).output();
    const text = new TextDecoder().decode(list.stdout);
    const line = text.split("\n").find((l) => l.trim().startsWith(`${name} `));
    if (line) console.log(`Kernelspec installed: ${line.trim().replace(/\s+/, " → ")}`);
  } catch {
    // jupyter not on PATH: the install above still wrote the kernelspec
  }
  const root = new URL("../../", import.meta.url).pathname;
  console.log(`
Start JupyterLab on the notebooks:

  cd ${root}
  deno install                 # fetch npm packages first (the kernel only says "Execution failed")
  jupyter lab notebooks/       # pick the "${display}" kernel

Run every notebook headless instead:  deno task notebooks`);
}
