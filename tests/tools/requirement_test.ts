/**
 * tools/requirement.ts: run, skip with a message, or (under CI) fail. The environment is set in
 * a child process, never in this one (test files share it under --parallel).
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { onPath, pythonModules } from "../../tools/requirement.ts";

const MODULE = new URL("../../tools/requirement.ts", import.meta.url).href;

/** Run `runsHere` on a missing requirement in a child with `env`; its exit code and output. */
async function missingIn(env: Record<string, string>, id = "python:torch") {
  const code = `import { runsHere } from "${MODULE}";
console.log("runs=" + runsHere("my check", {
  id: "${id}", present: false, missing: "no torch", install: "pip install torch",
}));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    env: { NO_COLOR: "1", CI: "", TREPO_CI_ALLOW_SKIP: "", ...env },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

Deno.test("a missing tool is skipped with one line that says what and how", async () => {
  const { code, text } = await missingIn({});
  assertEquals(code, 0);
  assertStringIncludes(text, "my check: skipped (no torch; pip install torch)\nruns=false");
});

Deno.test("under CI a missing tool fails, unless TREPO_CI_ALLOW_SKIP names it", async () => {
  for (const ci of ["true", "1", "TRUE"]) {
    const { code, text } = await missingIn({ CI: ci });
    assertEquals(code, 1, text);
    assertStringIncludes(
      text,
      "my check: no torch, and CI=true allows no skipped checks; pip install torch",
    );
  }
  const allowed = await missingIn({ CI: "true", TREPO_CI_ALLOW_SKIP: "nbclient, python:" });
  assertEquals(allowed.code, 0, allowed.text);
  assertStringIncludes(allowed.text, "my check: skipped (no torch; pip install torch)");
  const other = await missingIn({ CI: "true", TREPO_CI_ALLOW_SKIP: "python:" }, "chromium");
  assertEquals(other.code, 1, other.text);
  // CI=false is not CI.
  assertEquals((await missingIn({ CI: "false" })).code, 0);
});

Deno.test("probes: a Python module that does not exist, an interpreter that does not exist, PATH", async () => {
  const none = await pythonModules(["trepo_no_such_module_x"], "/nonexistent/python3");
  assertEquals(none.present, false);
  assertEquals(none.id, "python:trepo_no_such_module_x");
  assertStringIncludes(
    none.missing,
    '/nonexistent/python3 -c "import trepo_no_such_module_x" failed',
  );
  // A folder with an executable and a plain file, as the child's whole PATH.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/tool`, "#!/bin/sh\n");
    await Deno.chmod(`${dir}/tool`, 0o755);
    await Deno.writeTextFile(`${dir}/plain`, "");
    await Deno.chmod(`${dir}/plain`, 0o644);
    const code = `import { onPath } from "${MODULE}";
console.log(["tool", "plain", "absent"].map((n) => onPath(n, "").present).join());`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      env: { PATH: dir },
    }).output();
    assertEquals(new TextDecoder().decode(out.stdout).trim(), "true,false,false");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assertEquals(onPath("trepo-no-such-program", "x").present, false);
  assertEquals(onPath("trepo-no-such-program", "x").missing, "no trepo-no-such-program on PATH");
});
