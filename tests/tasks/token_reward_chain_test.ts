import {
  createTokenRewardChain,
  tokenRewardChain,
  tokenRewards,
} from "../../lib/tasks/token_reward_chain.ts";
import { Random } from "../../lib/random.ts";
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";

function sum(xs: number[]): number {
  return xs.reduce((s, x) => s + x, 0);
}

/** Every response of at most `maxLetters` letters over the alphabet (brute force). */
function allResponses(alphabet: string, maxLetters: number): string[] {
  let level = [""];
  const out = [""];
  for (let d = 1; d <= maxLetters; d++) {
    level = level.flatMap((p) => [...alphabet].map((c) => p + c));
    out.push(...level);
  }
  return out;
}

Deno.test("tokenRewardChain: RM equals the sum of the token rewards, on valid and garbage completions", () => {
  const rng = new Random(11);
  const chars = "abcd>\uFFFDz";
  for (let i = 0; i < 400; i++) {
    const prompt = tokenRewardChain.prompts(rng, 1)[0];
    let c = "";
    for (let j = rng.int(9); j > 0; j--) {
      c += i % 2 === 0 ? "abcd"[rng.int(4)] : chars[rng.int(chars.length)];
    }
    const r = tokenRewards(prompt, c);
    assertEquals(r.length, c.length < 6 ? c.length + 1 : c.length);
    assertAlmostEquals(sum(r), tokenRewardChain.reward(prompt, c), 1e-12);
    const rm = tokenRewardChain.reward(prompt, c);
    assert(rm >= 0 && rm <= 1, `${prompt} ${c} ${rm}`);
  }
});

Deno.test("tokenRewardChain: token rewards are integers 0..9 over the prompt's optimum", () => {
  const m = tokenRewardChain.optimum("abc>");
  assert(m > 0 && Number.isInteger(m));
  const r = tokenRewards("abc>", "dcba");
  for (const x of r) {
    const raw = x * m;
    assertAlmostEquals(raw, Math.round(raw), 1e-9);
    assert(Math.round(raw) >= 0 && Math.round(raw) <= 9);
  }
  // A full-length response has no EOS entry; a shorter one ends with the EOS reward.
  assertEquals(tokenRewards("abc>", "aaaaaa").length, 6);
  assertEquals(tokenRewards("abc>", "").length, 1);
});

Deno.test("tokenRewardChain: garbage breaks the chain and invalid prompts earn 0", () => {
  const good = tokenRewards("abc>", "a");
  const broken = tokenRewards("abc>", "a\uFFFDb");
  assertEquals(broken, [good[0], 0, 0, 0]);
  assertEquals(tokenRewards("zzz>", "ab"), [0, 0, 0]);
  assertEquals(tokenRewardChain.reward("zzz>", "ab"), 0);
  assertEquals(tokenRewardChain.reward("abc>", "\uFFFD"), 0);
  assertEquals(tokenRewardChain.reward("abc>", ">>>"), 0);
  // deno-lint-ignore no-explicit-any
  assertEquals(tokenRewardChain.reward(null as any, 3 as any), 0);
});

Deno.test("tokenRewardChain: evalSet answers are optimal by brute force, and the optimum scores exactly 1", () => {
  const set = tokenRewardChain.evalSet;
  assertEquals(set.length, 64);
  assertEquals(new Set(set.map((e) => e.prompt)).size, 64);
  const responses = allResponses("abcd", 6);
  assertEquals(responses.length, 1 + 4 + 16 + 64 + 256 + 1024 + 4096);
  for (const { prompt, answer } of set.slice(0, 6)) {
    let best = 0;
    for (const w of responses) best = Math.max(best, tokenRewardChain.reward(prompt, w));
    assertEquals(best, 1);
    assertEquals(tokenRewardChain.reward(prompt, answer), 1);
    assert(answer.length <= 6 && /^[abcd]*$/.test(answer));
  }
  assertEquals(tokenRewardChain.evalSet, createTokenRewardChain().evalSet);
});

Deno.test("tokenRewardChain: the hidden rewards depend on the seed and prefix, deterministically", () => {
  const a = createTokenRewardChain({ seed: 5 });
  const b = createTokenRewardChain({ seed: 5 });
  const c = createTokenRewardChain({ seed: 6 });
  const prompts = a.prompts(new Random(0), 20);
  const completions = ["abcd", "ddd", "a", "bcab"];
  let differs = 0;
  for (const p of prompts) {
    for (const w of completions) {
      assertEquals(a.tokenRewards(p, w), b.tokenRewards(p, w));
      if (a.reward(p, w) !== c.reward(p, w)) differs++;
    }
  }
  assert(differs > 40, `only ${differs} of 80 rewards changed with the seed`);
  // The reward of "a" depends on what came before it.
  const afterA = a.tokenRewards("abc>", "aa")[1] * a.optimum("abc>");
  const afterB = a.tokenRewards("abc>", "ba")[1] * a.optimum("abc>");
  const seen = new Set<number>([Math.round(afterA), Math.round(afterB)]);
  for (const first of "cd") {
    seen.add(Math.round(a.tokenRewards("abc>", first + "a")[1] * a.optimum("abc>")));
  }
  assert(seen.size > 1, "token reward of 'a' is the same after every first letter");
});

Deno.test("tokenRewardChain: sftExamples are valid responses; options are validated", () => {
  for (const e of tokenRewardChain.sftExamples(new Random(2), 100)) {
    assert(/^[abcd]{3}>$/.test(e.prompt));
    assert(/^[abcd]{1,5}$/.test(e.answer), e.answer);
  }
  assertEquals(tokenRewardChain.tokenizer.vocab, ["<eos>", "a", "b", "c", "d", ">"]);
  assertThrows(
    () => createTokenRewardChain({ alphabet: "ab>" }),
    RangeError,
    `must not contain ">"`,
  );
  assertThrows(() => createTokenRewardChain({ alphabet: "aa" }), RangeError, "distinct");
  assertThrows(
    () => createTokenRewardChain({ promptLength: 0 }),
    RangeError,
    "promptLength must be at least 1",
  );
  assertThrows(() => createTokenRewardChain({ promptLength: 7 }), RangeError, "16384 prompts");
  assertThrows(
    () => createTokenRewardChain({ maxResponseTokens: 12 }),
    RangeError,
    "prefixes per prompt",
  );
  assertThrows(
    () => createTokenRewardChain({ seed: NaN }),
    TypeError,
    "seed must be a finite number",
  );
});
