import { addition } from "../../lib/tasks/addition.ts";
import { Random } from "../../lib/random.ts";
import { assert, assertEquals, assertThrows } from "@std/assert";

Deno.test("addition: reward on hand-made cases", () => {
  assertEquals(addition.reward("47+85=", "132"), 1);
  assertEquals(addition.reward("10+10=", "20"), 1);
  assertEquals(addition.reward("99+99=", "198"), 1);
  assertEquals(addition.reward("47+85=", "133"), 0);
  assertEquals(addition.reward("47+85=", "0132"), 0);
  assertEquals(addition.reward("47+85=", "132 "), 0);
  assertEquals(addition.reward("47+85=", ""), 0);
  assertEquals(addition.reward("47+85=", "\uFFFD\uFFFD"), 0);
  assertEquals(addition.reward("47+85=", "13\uFFFD"), 0);
  assertEquals(addition.reward("garbage", "132"), 0);
  // deno-lint-ignore no-explicit-any
  assertEquals(addition.reward(undefined as any, undefined as any), 0);
});

Deno.test("addition: evalSet is 200 distinct, correct, held-out examples", () => {
  const set = addition.evalSet;
  assertEquals(set.length, 200);
  assertEquals(new Set(set.map((e) => e.prompt)).size, 200);
  for (const { prompt, answer } of set) {
    const m = /^(\d\d)\+(\d\d)=$/.exec(prompt);
    assert(m !== null, prompt);
    const [a, b] = [Number(m[1]), Number(m[2])];
    assert(a >= 10 && a <= 99 && b >= 10 && b <= 99);
    assertEquals(answer, String(a + b));
    assertEquals(addition.reward(prompt, answer), 1);
  }
  const held = new Set(set.map((e) => e.prompt));
  const rng = new Random(1);
  for (const p of addition.prompts(rng, 3000)) assert(!held.has(p), `eval prompt ${p} drawn`);
  for (const e of addition.sftExamples(rng, 3000)) assert(!held.has(e.prompt));
});

Deno.test("addition: prompts and examples are deterministic in the seed and encodable", () => {
  assertEquals(addition.prompts(new Random(9), 20), addition.prompts(new Random(9), 20));
  assertEquals(addition.sftExamples(new Random(9), 5), addition.sftExamples(new Random(9), 5));
  for (const e of addition.sftExamples(new Random(3), 50)) {
    assertEquals(addition.reward(e.prompt, e.answer), 1);
    assertEquals(
      addition.tokenizer.decode(addition.tokenizer.encode(e.prompt + e.answer)),
      e.prompt + e.answer,
    );
    assert(e.answer.length + 1 <= addition.maxResponseTokens);
  }
  assertThrows(
    () => addition.prompts(new Random(1), -1),
    RangeError,
    "n must be at least 0, got -1",
  );
  assertThrows(() => addition.sftExamples(new Random(1), 1.5), TypeError, "n must be an integer");
});
