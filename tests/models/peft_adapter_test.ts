import { assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { loadPretrainedFolder } from "../../lib/models/pretrained.ts";
import { loraPolicy } from "../../lib/models/lora.ts";
import { loadAdapter, saveAdapter } from "../../lib/models/peft_adapter.ts";

const GPT2 = new URL("../fixtures/hf/gpt2", import.meta.url).pathname;

async function savedBase(dir: string): Promise<unknown> {
  return JSON.parse(await Deno.readTextFile(`${dir}/adapter_config.json`)).base_model_name_or_path;
}

Deno.test("saveAdapter writes the adapter's base model as base_model_name_or_path", async () => {
  await initBackend({ backend: "cpu" });
  const { policy: base } = await loadPretrainedFolder(GPT2);
  const root = await Deno.makeTempDir();
  const options = { rank: 1, alpha: 2, targetModules: ["c_attn"], seed: 0 };
  const lora = loraPolicy(base, { ...options, baseModel: "org/gpt2-tiny" });
  const bare = loraPolicy(base, options);
  try {
    // Before the fix this was null unless every caller of saveAdapter passed it.
    await saveAdapter(lora, `${root}/a`);
    assertEquals(await savedBase(`${root}/a`), "org/gpt2-tiny");
    await saveAdapter(lora, `${root}/b`, { baseModel: "served-name" });
    assertEquals(await savedBase(`${root}/b`), "served-name");
    await saveAdapter(bare, `${root}/c`);
    assertEquals(await savedBase(`${root}/c`), null);
    // A loaded adapter keeps the file's value, or the one given.
    const again = await loadAdapter(base, `${root}/a`);
    await saveAdapter(again, `${root}/d`);
    assertEquals(await savedBase(`${root}/d`), "org/gpt2-tiny");
    const moved = await loadAdapter(base, `${root}/c`, { baseModel: "./models/gpt2" });
    await saveAdapter(moved, `${root}/e`);
    assertEquals(await savedBase(`${root}/e`), "./models/gpt2");
    again.dispose();
    moved.dispose();
  } finally {
    lora.dispose();
    bare.dispose();
    base.dispose();
    await Deno.remove(root, { recursive: true });
  }
});
