import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { enumerateResponses } from "../../lib/theory/enumerate_responses.ts";
import { createTabularPolicy } from "../../lib/theory/tabular_policy.ts";
import { responseProbabilities, tokenProbabilities } from "../../lib/theory/token_probabilities.ts";
import {
  assertAlmostEquals,
  assertArrayAlmostEquals,
  assertEquals,
  assertThrows,
} from "@std/assert";

await initBackend({ backend: "cpu" });

Deno.test("enumerateResponses lists every response of 2 tokens + EOS, length 2", () => {
  const space = enumerateResponses({ vocabSize: 3, eosToken: 2, maxTokens: 2, prompts: [[0]] });
  assertEquals(
    space.responses.map((w) => w.tokens.join("")).sort(),
    ["00", "01", "02", "10", "11", "12", "2"],
  );
  assertEquals(space.contexts.map((c) => c.prefix), [[], [0], [1]]);
  assertEquals(space.roots, [0]);
  // Root: tokens 0 and 1 lead to contexts 1 and 2, EOS ends; depth 1: everything ends.
  assertEquals(Array.from(space.children), [1, 2, -1, -1, -1, -1, -1, -1, -1]);
  const w01 = space.responses.find((w) => w.tokens.join("") === "01")!;
  assertEquals(w01.contexts, [0, 1]);
});

Deno.test("responseProbabilities match products worked out by hand and sum to 1", () => {
  const space = enumerateResponses({ vocabSize: 3, eosToken: 2, maxTokens: 2, prompts: [[0]] });
  // π(·|root) = (.5, .3, .2); π(·|[0]) = (.1, .6, .3); π(·|[1]) = (.25, .25, .5)
  const probs = Float64Array.from([0.5, 0.3, 0.2, 0.1, 0.6, 0.3, 0.25, 0.25, 0.5]);
  const p = responseProbabilities(space, probs);
  const byTokens = Object.fromEntries(space.responses.map((w, i) => [w.tokens.join(""), p[i]]));
  const expected: Record<string, number> = {
    "00": 0.05,
    "01": 0.3,
    "02": 0.15,
    "10": 0.075,
    "11": 0.075,
    "12": 0.15,
    "2": 0.2,
  };
  for (const [k, v] of Object.entries(expected)) assertAlmostEquals(byTokens[k], v, 1e-15, k);
  assertAlmostEquals(p.reduce((a, b) => a + b, 0), 1, 1e-15);
});

Deno.test("enumerateResponses counts: 3 tokens + EOS, length 4, two prompts", () => {
  const space = enumerateResponses({
    vocabSize: 4,
    eosToken: 3,
    maxTokens: 4,
    prompts: [[0], [1]],
  });
  // per prompt: 1 + 3 + 9 + 27 EOS-ended + 81 truncated = 121; contexts 1 + 3 + 9 + 27 = 40
  assertEquals(space.responses.length, 242);
  assertEquals(space.contexts.length, 80);
  assertEquals(space.roots, [0, 40]);
  assertEquals(space.responses.filter((w) => w.promptIndex === 1).length, 121);
  for (const w of space.responses) {
    const eosAt = w.tokens.indexOf(3);
    assertEquals(eosAt === -1 ? w.tokens.length : eosAt + 1, w.tokens.length);
    assertEquals(w.contexts[0], space.roots[w.promptIndex]);
  }
  const keys = new Set(space.responses.map((w) => `${w.promptIndex}:${w.tokens}`));
  assertEquals(keys.size, 242);
});

Deno.test("a tabular policy's response probabilities sum to 1 per prompt", async () => {
  const space = enumerateResponses({
    vocabSize: 4,
    eosToken: 3,
    maxTokens: 4,
    prompts: [[0], [1]],
  });
  const policy = createTabularPolicy({ vocabSize: 4, contexts: space.contexts, seed: 3 });
  const before = tf.memory().numTensors;
  const probs = await tokenProbabilities(policy, space);
  assertEquals(tf.memory().numTensors, before);
  const p = responseProbabilities(space, probs);
  const totals = [0, 0];
  space.responses.forEach((w, i) => totals[w.promptIndex] += p[i]);
  assertArrayAlmostEquals(totals, [1, 1], 1e-12);
  policy.dispose();
});

Deno.test("enumerateResponses rejects bad input", () => {
  const ok = { vocabSize: 3, eosToken: 2, maxTokens: 2, prompts: [[0]] };
  assertThrows(
    () => enumerateResponses({ ...ok, vocabSize: 1 }),
    RangeError,
    "Cannot enumerate responses: vocabSize must be at least 2, got 1",
  );
  assertThrows(
    () => enumerateResponses({ ...ok, eosToken: 3 }),
    RangeError,
    "Cannot enumerate responses: eosToken must be below vocabSize 3, got 3",
  );
  assertThrows(
    () => enumerateResponses({ ...ok, maxTokens: 1.5 }),
    TypeError,
    "Cannot enumerate responses: maxTokens must be an integer, got 1.5",
  );
  assertThrows(
    () => enumerateResponses({ ...ok, prompts: [] }),
    TypeError,
    "Cannot enumerate responses: prompts must be a non-empty array, got an array of length 0",
  );
  assertThrows(
    () => enumerateResponses({ ...ok, prompts: [[5]] }),
    TypeError,
    "Cannot enumerate responses: prompt 0 must be an array of token ids in [0, 3)",
  );
  assertThrows(
    () => enumerateResponses({ ...ok, vocabSize: 11, eosToken: 0, maxTokens: 5 }),
    RangeError,
    "Cannot enumerate responses: the space must hold at most 100000 responses, got 111111",
  );
});
