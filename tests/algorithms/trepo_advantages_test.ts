/**
 * `trepoAdvantages`: TRePO's token advantages on given responses, checked against values worked
 * out by hand (rewards that depend only on the first token; no interior positions) and against
 * an independent re-computation of the Monte-Carlo prefix values.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { assertRejects } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { createPolicy, type Policy } from "../../lib/policy/transformer.ts";
import { sample } from "../../lib/sample/sample.ts";
import {
  type ContinuationSampler,
  continueFrom,
  type Prefix,
} from "../../lib/sample/continue_from.ts";
import { disposeRollout, type Rollout } from "../../lib/sample/rollout.ts";
import { samplePrefixPositions, trepoAdvantages } from "../../lib/algorithms/trepo.ts";

await initBackend({ backend: "cpu" });

const EOS = 0;
const MAX_TOKENS = 4;

function tinyPolicy(): Policy {
  return createPolicy({ vocabSize: 5, dModel: 8, layers: 1, heads: 2, maxLength: 7, seed: 4 });
}

/** 2 prompts × G = 4 responses of up to 4 tokens. */
function rollout(policy: Policy, seed = 9): Promise<Rollout> {
  return sample(policy, [[1, 2], [2, 1]], {
    groupSize: 4,
    maxTokens: MAX_TOKENS,
    eosToken: EOS,
    seed,
  });
}

/** The mean of the other rewards of row b's group of G (V̂(0) of row b). */
function othersMean(rewards: readonly number[], b: number, G: number): number {
  const group = Math.floor(b / G) * G;
  const others = rewards.slice(group, group + G).filter((_, j) => group + j !== b);
  return mean(others);
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

Deno.test("a reward fixed by the first token puts all of a response's credit on token 1", async () => {
  const policy = tinyPolicy();
  const r = await rollout(policy);
  const tokens = await r.tokens.array();
  const f = (completion: readonly number[]) => (completion[0] === 3 || completion[0] === 4 ? 1 : 0);
  const rewards = tokens.map((row, b) => f(row.slice(0, r.lengths[b])));
  assert(rewards.some((x) => x === 1) && rewards.some((x) => x === 0), "need mixed rewards");
  const before = tf.memory().numTensors;
  const result = await trepoAdvantages(policy, r, rewards, {
    groupSize: 4,
    positions: MAX_TOKENS, // every interior position
    continuations: 2,
    maxTokens: MAX_TOKENS,
    eosToken: EOS,
    rng: new Random(1),
    scoreCompletions: (_prompts, completions) => Promise.resolve(completions.map(f)),
  });
  assertEquals(tf.memory().numTensors, before + 2);
  const advantages = await result.advantages.array();
  const values = await result.prefixValues.array();
  tokens.forEach((_, b) => {
    const v0 = othersMean(rewards, b, 4);
    const length = r.lengths[b];
    // every interior position is evaluated
    assertEquals(result.positions[b], Array.from({ length: length + 1 }, (_, t) => t));
    assertAlmostEquals(values[b][0], v0, 1e-6);
    for (let t = 1; t < values[b].length; t++) assertAlmostEquals(values[b][t], rewards[b], 1e-6);
    assertAlmostEquals(advantages[b][0], rewards[b] - v0, 1e-6);
    for (let t = 1; t < advantages[b].length; t++) assertEquals(advantages[b][t], 0);
  });
  assertEquals(result.prefixes, r.lengths.reduce((a, n) => a + n - 1, 0));
  tf.dispose([result.advantages, result.prefixValues]);
  disposeRollout(r);
  policy.dispose();
});

Deno.test("with no interior position the value moves linearly: A_t = (RM − V̂(0)) / L", async () => {
  const policy = tinyPolicy();
  const r = await rollout(policy, 3);
  const rewards = [0.2, 1, -0.5, 0.3, 0, 0, 0.8, 0.4];
  const result = await trepoAdvantages(policy, r, rewards, {
    groupSize: 4,
    positions: 0,
    continuations: 3,
    maxTokens: MAX_TOKENS,
    eosToken: EOS,
    rng: new Random(2),
    scoreCompletions: () => Promise.reject(new Error("no continuation should be scored")),
  });
  assertEquals(result.prefixes, 0);
  assertEquals(result.continuationTokens, 0);
  const advantages = await result.advantages.array();
  // Leave-one-out means of the other three of each group, by hand: (1 − 0.5 + 0.3)/3 = 0.8/3, …
  const v0 = [0.8 / 3, 0 / 3, 1.5 / 3, 0.7 / 3, 1.2 / 3, 1.2 / 3, 0.4 / 3, 0.8 / 3];
  r.lengths.forEach((length, b) => {
    assertEquals(result.positions[b], [0, length]);
    advantages[b].forEach((a, t) => {
      assertAlmostEquals(a, t < length ? (rewards[b] - v0[b]) / length : 0, 1e-6);
    });
  });
  tf.dispose([result.advantages, result.prefixValues]);
  disposeRollout(r);
  policy.dispose();
});

Deno.test("the Monte-Carlo values match an independent re-computation, and advantages telescope", async () => {
  const policy = tinyPolicy();
  const r = await rollout(policy, 5);
  const tokens = await r.tokens.array();
  const count3 = (c: readonly number[]) => c.filter((id) => id === 3).length / 4;
  const rewards = tokens.map((row, b) => count3(row.slice(0, r.lengths[b])));
  const options = {
    groupSize: 4,
    positions: 1,
    continuations: 3,
    maxTokens: MAX_TOKENS,
    eosToken: EOS,
    scoreCompletions: (_p: number[][], c: number[][]) => Promise.resolve(c.map(count3)),
  };
  const result = await trepoAdvantages(policy, r, rewards, { ...options, rng: new Random(8) });

  // Reference: the same stream draws the positions first, then the continuations.
  const rng = new Random(8);
  const positions = r.lengths.map((n) => samplePrefixPositions(n, 1, rng));
  assertEquals(result.positions, positions);
  const prefixes = positions.flatMap((p, row) =>
    p.slice(1, -1).map((position) => ({ row, position }))
  );
  assert(prefixes.length > 0, "need evaluated interior positions");
  const continued = await continueFrom(policy, r, prefixes, {
    samples: 3,
    maxTokens: MAX_TOKENS,
    eosToken: EOS,
    rng,
  });
  const values = await result.prefixValues.array();
  prefixes.forEach(({ row, position }, i) => {
    const estimate = mean(continued.completions.slice(3 * i, 3 * i + 3).map(count3));
    assertAlmostEquals(values[row][position], estimate, 1e-6);
  });
  assertEquals(result.continuationTokens, continued.generatedTokens);

  const advantages = await result.advantages.array();
  advantages.forEach((row, b) => {
    const sum = row.reduce((a, x) => a + x, 0);
    assertAlmostEquals(sum, rewards[b] - othersMean(rewards, b, 4), 1e-5);
  });
  tf.dispose([result.advantages, result.prefixValues]);
  disposeRollout(r);
  policy.dispose();
});

Deno.test("trepoAdvantages refuses bad inputs with clear messages", async () => {
  const policy = tinyPolicy();
  const r = await rollout(policy);
  const base = {
    groupSize: 4,
    positions: 1,
    continuations: 1,
    maxTokens: MAX_TOKENS,
    eosToken: EOS,
    rng: new Random(0),
    scoreCompletions: (_p: number[][], c: number[][]) => Promise.resolve(c.map(() => 0)),
  };
  const context = "Cannot compute TRePO advantages";
  const zeros = new Array(8).fill(0);
  const before = tf.memory().numTensors;
  await assertRejects(
    () => trepoAdvantages(policy, r, [0, 1, 0], base),
    TypeError,
    `${context}: rewards must hold one number per rollout row (8), got an array of length 3`,
  );
  await assertRejects(
    () => trepoAdvantages(policy, r, [...zeros.slice(1), NaN], base),
    RangeError,
    context,
  );
  await assertRejects(
    () => trepoAdvantages(policy, r, zeros, { ...base, groupSize: 3 }),
    RangeError,
    `${context}: the rollout's 8 rows are not a multiple of groupSize 3`,
  );
  await assertRejects(
    () => trepoAdvantages(policy, r, zeros, { ...base, positions: -1 }),
    RangeError,
    `${context}: positions must be`,
  );
  await assertRejects(
    () => trepoAdvantages(policy, r, zeros, { ...base, continuations: 0 }),
    RangeError,
    `${context}: continuations must be`,
  );
  await assertRejects(
    () => trepoAdvantages(policy, r, zeros, { ...base, groupSize: 1, continuations: 0 }),
    RangeError,
    `${context}: with groupSize 1 the prompt value V̂(0) comes from continuations of the prompt, so continuations must be at least 1, got 0`,
  );
  assertEquals(tf.memory().numTensors, before);
  assertThrows(() => samplePrefixPositions(0, 1, new Random(0)), RangeError, "length");
  disposeRollout(r);
  policy.dispose();
});

Deno.test("with one response per prompt V̂(0) is the mean of K continuations of the bare prompt", async () => {
  const policy = tinyPolicy();
  const r = await rollout(policy, 6);
  const tokens = await r.tokens.array();
  const count3 = (c: readonly number[]) => c.filter((id) => id === 3).length;
  const rewards = tokens.map((row, b) => count3(row.slice(0, r.lengths[b])));
  const seen: Prefix[][] = [];
  // A sampler that records its prefixes and returns known completions: [3] × (row + 1) per prefix.
  const sampler: ContinuationSampler = (_rollout, prefixes, options) => {
    seen.push(prefixes);
    const completions = prefixes.flatMap(({ row }) =>
      Array.from({ length: options.samples }, (_, k) => new Array(k === 0 ? row + 1 : 0).fill(3))
    );
    return Promise.resolve({ prefixes, samples: options.samples, completions, generatedTokens: 7 });
  };
  const result = await trepoAdvantages(sampler, r, rewards, {
    groupSize: 1,
    positions: 0,
    continuations: 2,
    maxTokens: MAX_TOKENS,
    eosToken: EOS,
    rng: new Random(4),
    scoreCompletions: (_p, c) => Promise.resolve(c.map(count3)),
  });
  // Only bare prompts are continued (m = 0): one prefix per row, at position 0.
  assertEquals(seen, [r.lengths.map((_, row) => ({ row, position: 0 }))]);
  assertEquals(result.prefixes, 8);
  assertEquals(result.continuationTokens, 7);
  const values = await result.prefixValues.array();
  // V̂(0) of row b = mean(count3 of [3]×(b+1), count3 of []) = (b + 1)/2.
  values.forEach((row, b) => assertAlmostEquals(row[0], (b + 1) / 2, 1e-6));
  tf.dispose([result.advantages, result.prefixValues]);
  disposeRollout(r);
  policy.dispose();
});
