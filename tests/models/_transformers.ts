/**
 * The Python side of the exactness checks: whether `python3` has transformers and torch, and
 * `tools/check_hf_logits.py` run over (expected.json, folder) pairs.
 */
import { assertEquals } from "@std/assert";

const TOOL = new URL("../../tools/check_hf_logits.py", import.meta.url).pathname;

/** True when `python3 -c "import transformers, torch"` works; logs that `what` is skipped otherwise. */
export async function hasTransformers(what: string): Promise<boolean> {
  let ok = false;
  try {
    const out = await new Deno.Command("python3", {
      args: ["-c", "import transformers, torch"],
      stdout: "null",
      stderr: "null",
    }).output();
    ok = out.success;
  } catch {
    ok = false;
  }
  if (!ok) console.log(`${what}: skipped (python3 -c "import transformers, torch" failed)`);
  return ok;
}

/**
 * Python transformers loads each folder and compares its logits with the expected ones.
 *
 * @param pairs Alternating `expected.json` paths and checkpoint folders.
 */
export async function assertTransformersLogits(pairs: readonly string[]): Promise<void> {
  const out = await new Deno.Command("python3", { args: [TOOL, ...pairs] }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  console.log(text.split("\n").filter((l) => /^(ok|FAIL) /.test(l)).join("\n"));
  assertEquals(out.code, 0, text.slice(-2000));
}
