// Python transformers loads what savePretrained writes, with equal logits. Runs when
// `python3 -c "import transformers"` works; otherwise the test says it is skipped.
import { initBackend } from "../../lib/backend.ts";
import { savePretrained } from "../../lib/models/pretrained.ts";
import { loadPretrained } from "../../lib/hub/load_pretrained.ts";
import { assertEquals } from "@std/assert";

const ROOT = new URL("../fixtures/hf/", import.meta.url).pathname;
const TOOL = new URL("../../tools/check_hf_logits.py", import.meta.url).pathname;
const FAMILIES = ["gpt2", "llama", "llama_untied", "qwen2", "qwen3"];

async function hasTransformers(): Promise<boolean> {
  try {
    const out = await new Deno.Command("python3", {
      args: ["-c", "import transformers, torch"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

const available = await hasTransformers();
if (!available) {
  console.log(
    'transformers_load_test: skipped (python3 -c "import transformers, torch" failed)',
  );
}

Deno.test({
  name: "savePretrained output loads in Python transformers with equal logits (all families)",
  ignore: !available,
  async fn() {
    await initBackend({ backend: "cpu" });
    const dir = await Deno.makeTempDir();
    try {
      const args: string[] = [];
      for (const family of FAMILIES) {
        const { policy, tokenizer } = await loadPretrained(ROOT + family);
        await savePretrained(policy, tokenizer, `${dir}/${family}`);
        policy.dispose();
        args.push(`${ROOT}${family}/expected.json`, `${dir}/${family}`);
      }
      const out = await new Deno.Command("python3", { args: [TOOL, ...args] }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      console.log(text.split("\n").filter((l) => /^(ok|FAIL) /.test(l)).join("\n"));
      assertEquals(out.code, 0, text.slice(-2000));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
