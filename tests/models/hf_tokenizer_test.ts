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

Deno.test("applyChatTemplate: a Jinja syntax error names the template file, line and column", () => {
  const tokenizerJson = Deno.readTextFileSync(ROOT + "qwen3/tokenizer.json");
  const hi = [{ role: "user", content: "hi" }];
  const compile = (template: string, inConfig = false) =>
    createHfTokenizer(
      inConfig
        ? { tokenizerJson, tokenizerConfig: JSON.stringify({ chat_template: template }) }
        : { tokenizerJson, tokenizerConfig: "{}", chatTemplateJinja: template },
      undefined,
      "models/m",
    ).applyChatTemplate(hi);
  // Before the fix: "Cannot apply the chat template: Unexpected end of input", nothing more.
  assertThrows(
    () => compile("{% for m in messages %}\n  {{ m.content }}\n  {{ 'no end quote }}\n"),
    SyntaxError,
    "Cannot apply the chat template: models/m/chat_template.jinja, line 3, column 3: Unexpected end of input",
  );
  // A parser error: the tag holding the token the parser stopped at (the one on line 2).
  assertThrows(
    () => compile("a\n{{ m.content ) }}\nb", true),
    SyntaxError,
    "Cannot apply the chat template: models/m/tokenizer_config.json (chat_template), line 2, column 1: ",
  );
  assertThrows(
    () => compile("{% for m in messages %}{{ m.content }}{% endif %}"),
    SyntaxError,
    "chat_template.jinja, line 1, column 39: ",
  );
  // A runtime error names the file too.
  assertThrows(() => compile("{{ raise_exception('no') }}"), Error, "rendering models/m/");
});
