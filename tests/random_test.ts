import { Random } from "../lib/random.ts";
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";

// Reference outputs of xoshiro128** from the state words [1, 2, 3, 4], computed by hand from the
// algorithm's definition (result = rotl(s1 * 5, 7) * 9; then the xor/shift update):
// step 1: s1 = 2 → 2*5 = 10 → rotl(10, 7) = 1280 → *9 = 11520.
// state after: s2 ^= s0 → 2; s3 ^= s1 → 6; s1 ^= s2 → 0; s0 ^= s3 → 7; s2 ^= (2 << 9 = 1024) → 1026;
// s3 = rotl(6, 11) = 12288. Step 2: s1 = 0 → result 0.
// Step 2's update: t = 0; s2 ^= s0 → 1026 ^ 7 = 1029; s3 ^= s1 → 12288; s1 ^= s2 → 1029;
// s0 ^= s3 → 7 ^ 12288 = 12295; s3 = rotl(12288, 11) = 25165824. Step 3: s1 = 1029 → 5145 →
// rotl(5145, 7) = 658560 → *9 = 5927040.
Deno.test("xoshiro128** matches hand-computed outputs from state [1, 2, 3, 4]", () => {
  const r = Random.fromState({ algorithm: "xoshiro128**", words: [1, 2, 3, 4] });
  assertEquals([r.next(), r.next(), r.next()], [11520, 0, 5927040]);
});

Deno.test("same seed gives the same bits; different seeds differ", () => {
  const a = new Random(7);
  const b = new Random(7);
  const xs = Array.from({ length: 100 }, () => a.next());
  assertEquals(xs, Array.from({ length: 100 }, () => b.next()));
  assert(new Random(7).next() !== new Random(8).next());
});

Deno.test("state round trip through JSON resumes bit-exactly", () => {
  const r = new Random(123);
  for (let i = 0; i < 10; i++) r.next();
  const saved = JSON.parse(JSON.stringify(r.state()));
  const expected = [r.next(), r.float(), r.int(17), r.normal()];
  const s = Random.fromState(saved);
  assertEquals([s.next(), s.float(), s.int(17), s.normal()], expected);
});

Deno.test("fork copies the stream; split gives an independent one and advances the parent", () => {
  const r = new Random(5);
  const f = r.fork();
  assertEquals(f.next(), r.fork().next());
  const before = r.state();
  const child = r.split();
  assert(JSON.stringify(r.state()) !== JSON.stringify(before));
  const childDraws = Array.from({ length: 5 }, () => child.next());
  const parentDraws = Array.from({ length: 5 }, () => r.next());
  assert(childDraws.join() !== parentDraws.join());
});

Deno.test("float is in [0, 1) with mean 1/2; int(n) is uniform", () => {
  const r = new Random(1);
  const n = 20000;
  let sum = 0;
  const counts = new Array(5).fill(0);
  for (let i = 0; i < n; i++) {
    const u = r.float();
    assert(u >= 0 && u < 1);
    sum += u;
    counts[r.int(5)]++;
  }
  // Mean of n uniforms: sd = sqrt(1/12 / n) ≈ 0.002; allow 5 sd.
  assertAlmostEquals(sum / n, 0.5, 0.01);
  // Each count ~ Binomial(n, 1/5): mean 4000, sd ≈ 56.6; allow 5 sd.
  for (const c of counts) assertAlmostEquals(c, 4000, 283);
});

Deno.test("categorical follows the weights", () => {
  const r = new Random(3);
  const counts = [0, 0, 0];
  for (let i = 0; i < 30000; i++) counts[r.categorical([1, 0, 3])]++;
  assertEquals(counts[1], 0);
  // p = 0.25: mean 7500, sd = sqrt(30000·0.25·0.75) = 75; allow 5 sd.
  assertAlmostEquals(counts[0], 7500, 375);
});

Deno.test("bad input gives clear errors", () => {
  assertThrows(
    () => new Random(NaN),
    RangeError,
    "Cannot seed the generator: seed must be a finite number, got NaN",
  );
  assertThrows(() => new Random(1).int(0), RangeError, "n must be an integer in [1, 2^32], got 0");
  assertThrows(() => new Random(1).categorical([0, 0]), RangeError, "positive finite sum, got 0");
  assertThrows(
    () => Random.fromState({ algorithm: "xoshiro128**", words: [0, 0, 0, 0] }),
    TypeError,
    "Cannot restore the generator",
  );
});
