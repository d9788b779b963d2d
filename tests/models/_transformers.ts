/**
 * The Python side of the exactness checks: whether `python3` has transformers and torch, and
 * `tools/check_hf_logits.py` run over (expected.json, folder) pairs.
 */
import { assertEquals } from "@std/assert";
import { pythonModules, runsHere } from "../../tools/requirement.ts";

const TOOL = new URL("../../tools/check_hf_logits.py", import.meta.url).pathname;

/**
 * True when `python3 -c "import transformers, torch, …more"` works; otherwise `what` is skipped
 * with a message, or fails under CI (`tools/requirement.ts`).
 *
 * @param what The check, as it should read in the log.
 * @param more Further modules the check needs (`["peft"]`).
 */
export async function hasTransformers(
  what: string,
  more: readonly string[] = [],
): Promise<boolean> {
  return runsHere(what, await pythonModules(["transformers", "torch", ...more]));
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
