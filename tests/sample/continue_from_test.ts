import * as tf from "@tensorflow/tfjs";
import { assertEquals, assertRejects } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { createPolicy, type PolicyConfig } from "../../lib/policy/transformer.ts";
import { continueFrom } from "../../lib/sample/continue_from.ts";
import { decode, filteredWeights } from "../../lib/sample/decode.ts";
import type { Rollout } from "../../lib/sample/rollout.ts";
import { disposeRollout } from "../../lib/sample/rollout.ts";
import { randomiseWeights, TEST_BACKENDS } from "../policy/reference_forward.ts";

const CONFIG: PolicyConfig = {
  vocabSize: 5,
  dModel: 8,
  layers: 2,
  heads: 2,
  maxLength: 14,
  seed: 6,
};

/** A hand-made rollout: row 0 ends with EOS (0) at length 3, row 1 is cut at maxTokens 5. */
function handRollout(): Rollout {
  return {
    promptTokens: [[1, 2], [3]],
    tokens: tf.tensor2d([[4, 3, 0, 0, 0], [2, 2, 1, 4, 3]], [2, 5], "int32"),
    mask: tf.tensor2d([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]),
    logProbs: tf.zeros([2, 5]) as tf.Tensor2D,
    lengths: [3, 5],
    groupSize: 1,
  };
}

for (const backend of TEST_BACKENDS) {
  Deno.test(`continueFrom: completions start with the prefix; one shared-prefill batch equals naive decoding (${backend})`, async () => {
    await initBackend({ backend });
    const policy = createPolicy(CONFIG);
    randomiseWeights(policy.weights, 51, 0.4);
    const r = handRollout();
    const prefixes = [
      { row: 0, position: 0 },
      { row: 0, position: 2 },
      { row: 1, position: 3 },
      { row: 0, position: 3 }, // ends with EOS: returned as is
      { row: 1, position: 5 }, // already maxTokens long: returned as is
      { row: 1, position: 1 },
    ];
    const c = await continueFrom(policy, r, prefixes, {
      samples: 3,
      maxTokens: 5,
      eosToken: 0,
      seed: 4,
    });
    assertEquals(c.completions.length, 18);
    assertEquals(c.samples, 3);
    assertEquals(c.prefixes, prefixes);
    const rows = await r.tokens.array();
    let generated = 0;
    prefixes.forEach(({ row, position }, i) => {
      for (let k = 0; k < 3; k++) {
        const completion = c.completions[i * 3 + k];
        assertEquals(completion.slice(0, position), rows[row].slice(0, position));
        const tail = completion.slice(position);
        generated += tail.length;
        const eosAt = tail.indexOf(0);
        assertEquals(eosAt === -1 || eosAt === tail.length - 1, true);
        assertEquals(completion.length <= 5, true);
        if (eosAt === -1 && i !== 3) assertEquals(completion.length, 5);
      }
    });
    assertEquals(c.completions.slice(9, 12), [[4, 3, 0], [4, 3, 0], [4, 3, 0]]);
    assertEquals(c.completions.slice(12, 15), new Array(3).fill(rows[1]));
    assertEquals(c.generatedTokens, generated);
    // Reference: the naive decoder (no cache, no shared prefill) with the same random stream.
    const rng = new Random(4);
    const contexts: number[][] = [];
    const budgets: number[] = [];
    for (const { row, position } of prefixes) {
      for (let k = 0; k < 3; k++) {
        const head = rows[row].slice(0, position);
        contexts.push([...r.promptTokens[row], ...head]);
        budgets.push(head.at(-1) === 0 && position > 0 ? 0 : 5 - position);
      }
    }
    const naive = await decode(policy, {
      contexts,
      budgets,
      eosToken: 0,
      temperature: 1,
      useCache: false,
      choose: (lp) => rng.categorical(filteredWeights(lp)),
    });
    assertEquals(
      c.completions.map((comp, i) =>
        comp.slice(contexts[i].length - r.promptTokens[prefixes[Math.floor(i / 3)].row].length)
      ),
      naive.tokens,
    );
    disposeRollout(r);
    policy.dispose();
  });
}

Deno.test("continueFrom rejects bad input with clear messages", async () => {
  await initBackend({ backend: "cpu" });
  const policy = createPolicy(CONFIG);
  const r = handRollout();
  const ok = { samples: 2, maxTokens: 5, eosToken: 0, seed: 1 };
  const c = "Cannot continue from prefixes: ";
  await assertRejects(
    () => continueFrom(policy, r, [], ok),
    RangeError,
    c + "prefixes must not be empty, got an empty prefix list",
  );
  await assertRejects(
    () => continueFrom(policy, r, [{ row: 2, position: 0 }], ok),
    RangeError,
    c + "prefixes[0].row must be less than 2, got 2",
  );
  await assertRejects(
    () => continueFrom(policy, r, [{ row: 0, position: 4 }], ok),
    RangeError,
    c + "prefixes[0].position must be at most the row's length 3, got 4",
  );
  await assertRejects(
    () => continueFrom(policy, r, [{ row: 0, position: 0 }], { ...ok, samples: 0 }),
    RangeError,
    c + "samples must be at least 1, got 0",
  );
  await assertRejects(
    () => continueFrom(policy, r, [{ row: 0, position: 0 }], { ...ok, maxTokens: 13 }),
    RangeError,
    c + "prompt of row 0 has 2 tokens, more than maxLength − maxTokens = 14 − 13 = 1",
  );
  disposeRollout(r);
  policy.dispose();
});
