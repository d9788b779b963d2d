import { createVigenereCipher, vigenereCipher } from "../../lib/tasks/vigenere_cipher.ts";
import { Random } from "../../lib/random.ts";
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";

function sum(xs: number[]): number {
  return xs.reduce((s, x) => s + x, 0);
}

// Alphabet "abc" (a = 0, b = 1, c = 2), L = 4. Seed 3 draws the key [1, 2, 2, 0] (pinned below),
// so the target of "abca>" is a+1 = b, b+2 = 3 ≡ 0 → a, c+2 = 4 ≡ 1 → b, a+0 = a: "baba".
const small = createVigenereCipher({ alphabet: "abc", length: 4, evalSize: 3, seed: 3 });

Deno.test("vigenereCipher: key and targets, worked by hand", () => {
  assertEquals(small.key, [1, 2, 2, 0]);
  assertEquals(small.target("abca>"), "baba");
  assertEquals(small.target("cccc>"), "abbc"); // c+1 = 0, c+2 = 1, c+2 = 1, c+0 = 2
  assertEquals(small.target("abc>"), undefined); // too short
  assertEquals(small.target("abcz>"), undefined); // not a letter
  assertEquals(small.target("abca="), undefined); // no ">"
  assertEquals(small.maxResponseTokens, 5);
  assertEquals(small.tokenizer.vocab, ["<eos>", "a", "b", "c", ">"]);
});

Deno.test("vigenereCipher: one point per right letter, worked by hand", () => {
  const p = "abca>"; // target "baba"
  assertEquals(small.reward(p, "baba"), 1);
  assertEquals(small.reward(p, "bab"), 3 / 4); // the fourth position is not reached
  assertEquals(small.reward(p, "bbba"), 3 / 4); // position 1 should be "a"
  assertEquals(small.reward(p, "abab"), 0);
  assertEquals(small.reward(p, "babaab"), 1); // letters after the fourth are ignored
  assertEquals(small.reward(p, "\uFFFDaba"), 3 / 4); // garbage earns 0 at its own position only
  assertEquals(small.reward(p, ""), 0);
  assertEquals(small.tokenRewards(p, "bab"), [1 / 4, 1 / 4, 1 / 4, 0]); // the last one is EOS's
  assertEquals(small.tokenRewards(p, "bbba"), [1 / 4, 0, 1 / 4, 1 / 4, 0]);
  assertEquals(small.tokenRewards(p, "babac"), [1 / 4, 1 / 4, 1 / 4, 1 / 4, 0]); // 5 letters: no EOS
  assertEquals(small.tokenRewards(p, "babaab"), [1 / 4, 1 / 4, 1 / 4, 1 / 4, 0, 0]);
  assertEquals(small.tokenRewards(p, ""), [0]);
});

Deno.test("vigenereCipher: invalid prompts and garbage earn 0 and never throw", () => {
  for (const prompt of ["abc>", "abcz>", "abca=", "abca>x", "", ">"]) {
    assertEquals(small.reward(prompt, "baba"), 0, prompt);
    assertEquals(small.tokenRewards(prompt, "ba"), [0, 0, 0], prompt);
  }
  const bad = small as unknown as {
    reward(p: unknown, c: unknown): number;
    tokenRewards(p: unknown, c: unknown): number[];
  };
  assertEquals(bad.reward(null, "baba"), 0);
  assertEquals(bad.reward("abca>", 7), 0);
  assertEquals(bad.tokenRewards("abca>", undefined), []);
});

Deno.test("vigenereCipher: RM equals the sum of the token rewards, in [0, 1]", () => {
  const rng = new Random(5);
  const chars = "abcd>\uFFFD";
  for (let i = 0; i < 300; i++) {
    const prompt = vigenereCipher.prompts(rng, 1)[0];
    let c = "";
    for (let j = rng.int(20); j > 0; j--) c += chars[rng.int(i % 2 === 0 ? 4 : chars.length)];
    const r = vigenereCipher.tokenRewards(prompt, c);
    assertEquals(r.length, c.length < 17 ? c.length + 1 : c.length);
    const rm = vigenereCipher.reward(prompt, c);
    assertAlmostEquals(sum(r), rm, 1e-12);
    assert(rm >= 0 && rm <= 1, `${prompt} ${c} ${rm}`);
  }
});

Deno.test("vigenereCipher: the default task", () => {
  assertEquals(vigenereCipher.name, "vigenereCipher");
  assertEquals([vigenereCipher.length, vigenereCipher.key.length], [16, 16]);
  assertEquals([vigenereCipher.maxResponseTokens, vigenereCipher.tokenizer.vocabSize], [17, 6]);
  assertEquals(vigenereCipher.evalSet.length, 200);
  assertEquals(new Set(vigenereCipher.evalSet.map((e) => e.prompt)).size, 200);
  for (const { prompt, answer } of vigenereCipher.evalSet) {
    assertEquals(vigenereCipher.target(prompt), answer);
    assertEquals(vigenereCipher.reward(prompt, answer), 1);
  }
});

Deno.test("vigenereCipher: training prompts and SFT examples avoid the eval set", () => {
  // "ab", L = 3: 8 prompts, 4 of them held out.
  const task = createVigenereCipher({ alphabet: "ab", length: 3, evalSize: 4 });
  const held = new Set(task.evalSet.map((e) => e.prompt));
  assertEquals(held.size, 4);
  const rng = new Random(0);
  const drawn = new Set(task.prompts(rng, 200));
  assertEquals(drawn.size, 4); // exactly the other four
  for (const p of drawn) assert(!held.has(p) && /^[ab]{3}>$/.test(p), p);
  for (const { prompt, answer } of task.sftExamples(rng, 50)) {
    assert(!held.has(prompt), prompt);
    assertEquals(answer, task.target(prompt));
  }
  assertEquals(task.prompts(rng, 0), []);
});

Deno.test("vigenereCipher: the same seed gives the same task, another seed another key", () => {
  const a = createVigenereCipher({ seed: 7 });
  const b = createVigenereCipher({ seed: 7 });
  assertEquals(a.key, b.key);
  assertEquals(a.evalSet, b.evalSet);
  assertEquals(a.prompts(new Random(1), 5), b.prompts(new Random(1), 5));
  assertEquals(a.sftExamples(new Random(2), 5), b.sftExamples(new Random(2), 5));
  const c = createVigenereCipher({ seed: 8 });
  assert(a.key.join("") !== c.key.join(""));
  assert(vigenereCipher.key.every((s) => Number.isInteger(s) && s >= 0 && s < 4));
});

Deno.test("vigenereCipher: bad options", () => {
  const context = "Cannot create the Vigenère cipher task";
  for (const alphabet of ["a", "aab", "ab>", ""]) {
    assertThrows(
      () => createVigenereCipher({ alphabet }),
      RangeError,
      `${context}: alphabet must hold at least two distinct single characters other than ">", got ${
        JSON.stringify(alphabet)
      }`,
    );
  }
  assertThrows(
    () => createVigenereCipher({ alphabet: 3 as unknown as string }),
    TypeError,
    `${context}: alphabet must be a string, got number`,
  );
  assertThrows(() => createVigenereCipher({ length: 0 }), RangeError, `${context}: length`);
  assertThrows(() => createVigenereCipher({ length: 1.5 }), TypeError, `${context}: length`);
  assertThrows(
    () => createVigenereCipher({ length: 65 }),
    RangeError,
    `${context}: length must be at most 64, got 65`,
  );
  assertThrows(
    () => createVigenereCipher({ alphabet: "ab", length: 3, evalSize: 5 }),
    RangeError,
    `${context}: evalSize must be at most half of the 8 prompts, got 5`,
  );
  assertThrows(() => createVigenereCipher({ seed: NaN }), TypeError, `${context}: seed`);
  assertThrows(() => small.prompts(new Random(0), -1), RangeError, "Cannot draw vigenereCipher");
});
