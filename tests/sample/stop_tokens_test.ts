// Several EOS ids: `stopTokens` end a response as `eosToken` does (inside the mask), in `sample`,
// `greedy`, `continueFrom` and both decoding engines; padding stays `eosToken`.
import { assert, assertEquals, assertRejects } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { createPolicy, type PolicyConfig } from "../../lib/policy/transformer.ts";
import { sample } from "../../lib/sample/sample.ts";
import { greedy } from "../../lib/sample/greedy.ts";
import { continueFrom } from "../../lib/sample/continue_from.ts";
import { decode } from "../../lib/sample/decode.ts";
import { disposeRollout } from "../../lib/sample/rollout.ts";
import { Random } from "../../lib/random.ts";
import { fixLogits, TEST_BACKENDS } from "../policy/reference_forward.ts";

const CONFIG: PolicyConfig = {
  vocabSize: 6,
  dModel: 8,
  layers: 1,
  heads: 2,
  maxLength: 16,
  seed: 3,
};

for (const backend of TEST_BACKENDS) {
  Deno.test(`sample and greedy stop at the second stop id, padded with eosToken (${backend})`, async () => {
    await initBackend({ backend });
    const policy = createPolicy(CONFIG);
    // Tokens 1 and 2 equally likely, the rest never: rows run 1, 1, …, until 2 (a stop id).
    fixLogits(policy.weights, [-30, 10, 10, -30, -30, -30]);
    const r = await sample(policy, [[1], [2, 3]], {
      groupSize: 8,
      maxTokens: 6,
      eosToken: 0,
      stopTokens: [5, 2],
      seed: 4,
    });
    const tokens = await r.tokens.array();
    const mask = await r.mask.array();
    let stopped = 0;
    tokens.forEach((row, b) => {
      const length = r.lengths[b];
      const stop = row.indexOf(2);
      if (stop >= 0 && stop < 6) {
        stopped++;
        assertEquals(length, stop + 1, `row ${b} ends at its stop id`);
      } else {
        assertEquals(length, 6);
      }
      row.forEach((id, t) => {
        assertEquals(mask[b][t], t < length ? 1 : 0);
        if (t >= length) assertEquals(id, 0, "padding is eosToken");
      });
    });
    assert(stopped > 0, `stopped ${stopped}`);
    const width = Math.max(...r.lengths);
    assert(r.lengths.some((n) => n < width), `some rows are padded: ${r.lengths}`);
    disposeRollout(r);
    // Greedy: the argmax is the stop id 2, so every response is that one token; without
    // stopTokens (the default) it runs to maxTokens as before.
    fixLogits(policy.weights, [-30, 0, 10, 0, 0, 0]);
    const stopping = await greedy(policy, [[1], [4, 4]], {
      maxTokens: 5,
      eosToken: 0,
      stopTokens: [2],
    });
    assertEquals(await stopping.tokens.array(), [[2], [2]]);
    assertEquals(stopping.lengths, [1, 1]);
    disposeRollout(stopping);
    const plain = await greedy(policy, [[1]], { maxTokens: 5, eosToken: 0 });
    assertEquals(await plain.tokens.array(), [[2, 2, 2, 2, 2]]);
    disposeRollout(plain);
    policy.dispose();
  });

  Deno.test(`decode: the typed and tfjs engines stop at the same stop ids (${backend})`, async () => {
    await initBackend({ backend });
    const policy = createPolicy(CONFIG);
    fixLogits(policy.weights, [0, 1, 1, 1, 1, 1]);
    const run = async (engine: "typed" | "tfjs") => {
      const rng = new Random(9);
      return await decode(policy, {
        contexts: [[1], [2, 3], [4]],
        budgets: [8, 8, 8],
        eosToken: 0,
        stopTokens: [3, 4],
        temperature: 1,
        choose: (lp) => rng.categorical(Array.from(lp, Math.exp)),
        engine,
      });
    };
    const typed = await run("typed");
    const reference = await run("tfjs");
    assertEquals(typed.tokens, reference.tokens);
    for (const row of typed.tokens) {
      const end = row.findIndex((id) => [0, 3, 4].includes(id));
      assertEquals(end < 0 ? row.length : end + 1, row.length);
    }
    policy.dispose();
  });
}

Deno.test("continueFrom: a prefix ending with a stop id is complete; continuations stop at one", async () => {
  await initBackend({ backend: "cpu" });
  const policy = createPolicy(CONFIG);
  fixLogits(policy.weights, [-30, 10, 10, -30, -30, -30]);
  const options = { maxTokens: 6, eosToken: 0, stopTokens: [2] };
  const r = await sample(policy, [[1]], { ...options, groupSize: 8, seed: 1 });
  const tokens = await r.tokens.array();
  const row = tokens.findIndex((t, b) => r.lengths[b] < 6 && t[r.lengths[b] - 1] === 2);
  assert(row >= 0, "some response ends with the stop id");
  const whole = await continueFrom(policy, r, [{ row, position: r.lengths[row] }], {
    ...options,
    samples: 2,
    seed: 2,
  });
  assertEquals(whole.generatedTokens, 0);
  assertEquals(whole.completions[0], tokens[row].slice(0, r.lengths[row]));
  const fresh = await continueFrom(policy, r, [{ row, position: 0 }], {
    ...options,
    samples: 6,
    seed: 3,
  });
  for (const c of fresh.completions) {
    assert(c.length === 6 || (c.at(-1) === 2 && c.indexOf(2) === c.length - 1), `${c}`);
  }
  disposeRollout(r);
  policy.dispose();
});

Deno.test("stopTokens outside the vocabulary or not integers are refused", async () => {
  await initBackend({ backend: "cpu" });
  const policy = createPolicy(CONFIG);
  await assertRejects(
    () => sample(policy, [[1]], { maxTokens: 2, eosToken: 0, stopTokens: [2, 6], seed: 1 }),
    RangeError,
    "stopTokens[1] must be in [0, 6), got 6",
  );
  await assertRejects(
    () => greedy(policy, [[1]], { maxTokens: 2, eosToken: 0, stopTokens: 3 as never }),
    TypeError,
    "stopTokens must be an array of ids",
  );
  policy.dispose();
});
