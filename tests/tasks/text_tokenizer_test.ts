import { assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { loadPretrained } from "../../lib/hub/load_pretrained.ts";
import { textTokenizer } from "../../lib/tasks/text_tokenizer.ts";
import { charTokenizer } from "../../lib/tasks/task.ts";

const ROOT = new URL("../fixtures/hf/", import.meta.url).pathname;

Deno.test("textTokenizer: encode, decode to the first EOS with special tokens skipped", async () => {
  await initBackend({ backend: "cpu" });
  const { policy, tokenizer: hf } = await loadPretrained(ROOT + "qwen2");
  try {
    const tok = textTokenizer(hf, { vocabSize: policy.config.vocabSize });
    assertEquals(tok.eosIds, hf.eosTokenIds);
    assertEquals(tok.eos, hf.eosTokenIds[0]);
    assertEquals(tok.padId, hf.padTokenId);
    assertEquals(tok.vocabSize, policy.config.vocabSize);
    assertEquals(tok.vocab.length, policy.config.vocabSize);
    const ids = tok.encode("Tom has 12 apples");
    assertEquals(tok.decode(ids), "Tom has 12 apples");
    // Every EOS id ends the text, not only the first.
    for (const eos of hf.eosTokenIds) {
      assertEquals(tok.decode([...ids, eos, ...ids]), "Tom has 12 apples");
    }
    // Special tokens of the chat template are skipped.
    const chat = hf.applyChatTemplate([{ role: "user", content: "hi" }], {
      addGenerationPrompt: true,
    });
    assertEquals(tok.decode(tok.encode(chat)).includes("<|im_start|>"), false);
    // Out-of-range ids become U+FFFD; decode never throws.
    assertEquals(tok.decode([...tok.encode("a"), -1, 1e9]), "a\uFFFD\uFFFD");
    assertThrows(
      () => textTokenizer(hf, { vocabSize: 2 }),
      RangeError,
      "smaller than the tokenizer's",
    );
    assertThrows(
      () => textTokenizer({ ...hf, eosTokenIds: [] }),
      RangeError,
      "has no EOS id",
    );
  } finally {
    policy.dispose();
  }
});

Deno.test("charTokenizer: EOS ids and pad id", () => {
  const tok = charTokenizer("ab");
  assertEquals(tok.eosIds, [0]);
  assertEquals(tok.padId, 0);
});
