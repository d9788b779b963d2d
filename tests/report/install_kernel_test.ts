/** `deno task kernel` (tools/notebooks/install_kernel.ts) and the project-local kernelspec. */
import { assertEquals, assertStringIncludes } from "@std/assert";

const root = new URL("../../", import.meta.url).pathname;

Deno.test("the project-local kernelspec starts `deno jupyter --kernel` from PATH", async () => {
  const spec = JSON.parse(
    await Deno.readTextFile(`${root}tools/notebooks/kernels/deno/kernel.json`),
  );
  assertEquals(spec.argv, ["deno", "jupyter", "--kernel", "--conn", "{connection_file}"]);
  assertEquals(spec.language, "typescript");
  assertEquals(spec.env, { NO_COLOR: "1" });
});

Deno.test("install_kernel writes the user kernelspec and explains how to start JupyterLab", async () => {
  const home = await Deno.makeTempDir();
  try {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${root}tools/notebooks/install_kernel.ts`, "--name", "deno-test"],
      env: { HOME: home, NO_COLOR: "1" },
    }).output();
    const out = new TextDecoder().decode(stdout);
    assertEquals(code, 0, new TextDecoder().decode(stderr));
    const spec = JSON.parse(
      await Deno.readTextFile(`${home}/.local/share/jupyter/kernels/deno-test/kernel.json`),
    );
    assertEquals(spec.argv.slice(1), ["jupyter", "--kernel", "--conn", "{connection_file}"]);
    assertEquals(spec.display_name, "Deno");
    assertStringIncludes(out, "jupyter lab notebooks/");
    assertStringIncludes(out, "deno task notebooks");
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
