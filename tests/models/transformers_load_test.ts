// Python transformers loads what savePretrained writes, with equal logits. Runs when
// `python3 -c "import transformers"` works; otherwise the test says it is skipped.
import { initBackend } from "../../lib/backend.ts";
import { savePretrained } from "../../lib/models/pretrained.ts";
import { loadPretrained } from "../../lib/hub/load_pretrained.ts";
import { assertTransformersLogits, hasTransformers } from "./_transformers.ts";

const ROOT = new URL("../fixtures/hf/", import.meta.url).pathname;
const FAMILIES = ["gpt2", "llama", "llama_untied", "qwen2", "qwen3"];

const available = await hasTransformers("transformers_load_test");

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
      await assertTransformersLogits(args);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
