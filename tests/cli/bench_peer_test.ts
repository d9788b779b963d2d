/**
 * `bench:peer`'s check of the Python side: a missing interpreter and an interpreter without the
 * peer's modules each give a message that says what is missing and how to install it.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { checkPeerPython, missingPeerMessage } from "../../lib/cli/bench_peer.ts";
import { onPath, runsHere } from "../../tools/requirement.ts";

Deno.test("checkPeerPython: an interpreter that does not exist", async () => {
  const check = await checkPeerPython("/nonexistent/python3");
  assert(check.error !== undefined);
  const message = missingPeerMessage(check);
  assertStringIncludes(message, `"/nonexistent/python3" could not be run`);
  assertStringIncludes(message, "pip install torch transformers trl datasets tokenizers");
});

Deno.test("checkPeerPython: an interpreter without site-packages lacks torch and trl", async () => {
  const python = onPath("python3", "apt-get install python3, or run bash .ci/run");
  if (!runsHere("bench:peer's check of an interpreter without site-packages", python)) return;
  const dir = await Deno.makeTempDir();
  const wrapper = `${dir}/python-no-site`;
  // `-S` skips site-packages, as on a machine where the peer's packages were never installed.
  await Deno.writeTextFile(wrapper, '#!/bin/sh\nexec python3 -S "$@"\n');
  await Deno.chmod(wrapper, 0o755);
  try {
    const check = await checkPeerPython(wrapper);
    assertEquals(check.error, undefined);
    assert(check.missing.includes("torch") && check.missing.includes("trl"), check.missing.join());
    assertStringIncludes(missingPeerMessage(check), "lacks the modules torch");
    // The command itself refuses with that message and status 1, before any benchmark runs.
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "lib/cli/bench_peer.ts", "--python", wrapper, "--out", `${dir}/x.json`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(run.code, 1);
    assertStringIncludes(new TextDecoder().decode(run.stderr), "Cannot run the peer benchmark");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
