import { loadPretrained } from "../../lib/hub/load_pretrained.ts";
import { createHfTokenizer } from "../../lib/models/hf_tokenizer.ts";
import { initBackend } from "../../lib/backend.ts";
import { assertEquals, assertThrows } from "@std/assert";

const ROOT = new URL("../fixtures/hf/", import.meta.url).pathname;
const expected = JSON.parse(Deno.readTextFileSync(ROOT + "tokenizer_expected.json"));

// gpt2 keeps the template in tokenizer_config.json, qwen3 in chat_template.jinja.
for (const family of ["gpt2", "qwen3"]) {
  Deno.test(`${family} tokenizer: encode/decode and chat template equal Python`, async () => {
    await initBackend({ backend: "cpu" });
    const { policy, tokenizer } = await loadPretrained(ROOT + family);
    policy.dispose();
    assertEquals(tokenizer.vocabSize, expected.vocab_size);
    for (const s of expected.strings) {
      const ids = tokenizer.encode(s.text);
      assertEquals(ids, s.ids, JSON.stringify(s.text));
      assertEquals(tokenizer.decode(ids), s.decoded);
      assertEquals(tokenizer.decode(ids, { skipSpecialTokens: true }), s.decoded_skip);
    }
    for (const c of expected.chat) {
      assertEquals(
        tokenizer.applyChatTemplate(c.messages, { addGenerationPrompt: true }),
        c.prompt,
      );
      assertEquals(tokenizer.applyChatTemplate(c.messages), c.plain);
    }
  });
}

Deno.test("applyChatTemplate: clear errors without a template or when rendering fails", () => {
  const tokenizerJson = Deno.readTextFileSync(ROOT + "qwen3/tokenizer.json");
  const none = createHfTokenizer({ tokenizerJson, tokenizerConfig: "{}" });
  assertThrows(
    () => none.applyChatTemplate([{ role: "user", content: "hi" }]),
    Error,
    "Cannot apply the chat template: the tokenizer has none",
  );
  const bad = createHfTokenizer({
    tokenizerJson,
    tokenizerConfig: "{}",
    chatTemplateJinja: "{{ messages[0].content + 1 }",
  });
  assertThrows(
    () => bad.applyChatTemplate([{ role: "user", content: "hi" }]),
    Error,
    "Cannot apply the chat template: ",
  );
});
