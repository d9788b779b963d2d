import { sortDigits } from "../../lib/tasks/sort_digits.ts";
import { Random } from "../../lib/random.ts";
import { assert, assertEquals, assertThrows } from "@std/assert";

Deno.test("sortDigits: partial credit on hand-made cases", () => {
  // target of "31415" is "11345"
  assertEquals(sortDigits.reward("31415=", "11345"), 1);
  assertEquals(sortDigits.reward("31415=", "11354"), 3 / 5); // last two swapped
  assertEquals(sortDigits.reward("31415=", "54311"), 1 / 5); // only the middle 3
  assertEquals(sortDigits.reward("31415=", "113"), 3 / 5); // too short: over the target length
  assertEquals(sortDigits.reward("31415=", "113459"), 5 / 6); // too long: over the completion length
  assertEquals(sortDigits.reward("31415=", "1134500"), 5 / 7);
  assertEquals(sortDigits.reward("31415=", ""), 0);
  assertEquals(sortDigits.reward("31415=", "\uFFFD\uFFFD\uFFFD"), 0);
  assertEquals(sortDigits.reward("31415=", "1\uFFFD345"), 4 / 5);
  assertEquals(sortDigits.reward("314a5=", "11345"), 0);
  assertEquals(sortDigits.reward("", ""), 0);
});

Deno.test("sortDigits: reward stays in [0, 1] on random completions", () => {
  const rng = new Random(4);
  const chars = "0123456789=\uFFFD";
  for (let i = 0; i < 500; i++) {
    const prompt = sortDigits.prompts(rng, 1)[0];
    let c = "";
    for (let j = rng.int(10); j > 0; j--) c += chars[rng.int(chars.length)];
    const r = sortDigits.reward(prompt, c);
    assert(r >= 0 && r <= 1, `${prompt} ${c} ${r}`);
  }
});

Deno.test("sortDigits: evalSet is 200 distinct sorted examples, held out of training", () => {
  const set = sortDigits.evalSet;
  assertEquals(set.length, 200);
  assertEquals(new Set(set.map((e) => e.prompt)).size, 200);
  for (const { prompt, answer } of set) {
    assert(/^\d{5}=$/.test(prompt));
    const digits = prompt.slice(0, 5).split("").map(Number);
    // independent check: non-decreasing and a permutation (same digit counts)
    for (let i = 1; i < answer.length; i++) assert(answer[i - 1] <= answer[i]);
    assertEquals([...answer].map(Number).sort(), digits.sort());
  }
  const held = new Set(set.map((e) => e.prompt));
  for (const p of sortDigits.prompts(new Random(2), 3000)) assert(!held.has(p));
  assertEquals(sortDigits.prompts(new Random(2), 10), sortDigits.prompts(new Random(2), 10));
  assertEquals(sortDigits.maxResponseTokens, 6);
  assertThrows(() => sortDigits.prompts(new Random(1), -2), RangeError, "n must be at least 0");
});
