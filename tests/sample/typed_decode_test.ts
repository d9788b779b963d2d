import * as tf from "@tensorflow/tfjs";
import { assertArrayAlmostEquals, assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { createPolicy, type PolicyConfig } from "../../lib/policy/transformer.ts";
import { argmax, decode, type DecodeRequest, filteredWeights } from "../../lib/sample/decode.ts";
import { setSimdKernels } from "../../lib/policy/attention_simd.ts";
import { randomiseWeights, TEST_BACKENDS } from "../policy/reference_forward.ts";

const CONFIG: PolicyConfig = {
  vocabSize: 7,
  dModel: 12,
  layers: 2,
  heads: 3,
  maxLength: 16,
  seed: 3,
};

// Shared prompts (rows 0–2), a context that is a prefix of another (3 of 4), a lone token,
// different budgets (one of 0, which takes no part), so prefill sharing and early stops are hit.
const CONTEXTS = [[1, 2, 3], [1, 2, 3], [1, 2, 3], [4, 5], [4, 5, 6, 2], [6], [2, 2, 2, 2, 2]];
const BUDGETS = [6, 6, 3, 8, 5, 9, 0];

async function both(
  temperature: number,
  choose: (rng: Random) => DecodeRequest["choose"],
  seed: number,
) {
  const policy = createPolicy(CONFIG);
  randomiseWeights(policy.weights, 77, 0.5);
  const request = { contexts: CONTEXTS, budgets: BUDGETS, eosToken: 0, temperature };
  const before = tf.memory().numTensors;
  const typed = await decode(policy, {
    ...request,
    engine: "typed",
    choose: choose(new Random(seed)),
  });
  assertEquals(tf.memory().numTensors, before);
  const reference = await decode(policy, {
    ...request,
    engine: "tfjs",
    choose: choose(new Random(seed)),
  });
  policy.dispose();
  return { typed, reference };
}

for (const [backend, simd] of TEST_BACKENDS.flatMap((b) => [[b, true], [b, false]] as const)) {
  Deno.test(
    `typed-array decoding gives the tfjs path's tokens and log-probs within 1e-5 (${backend}, ${
      simd ? "SIMD attention" : "plain loops"
    })`,
    async () => {
      await initBackend({ backend });
      const previous = setSimdKernels(simd);
      let stoppedEarly = false;
      let ranToBudget = false;
      for (const temperature of [1, 0.6]) {
        for (const seed of [1, 2, 3]) {
          const { typed, reference } = await both(
            temperature,
            (rng) => (lp) => rng.categorical(filteredWeights(lp)),
            seed,
          );
          assertEquals(typed.tokens, reference.tokens);
          assertEquals(typed.tokens[6], []);
          for (let b = 0; b < CONTEXTS.length; b++) {
            assertArrayAlmostEquals(typed.logProbs[b], reference.logProbs[b], 1e-5);
          }
          const lengths = typed.tokens.map((t) => t.length);
          stoppedEarly ||= lengths.some((n, b) => n < BUDGETS[b]);
          ranToBudget ||= lengths.some((n, b) => n === BUDGETS[b] && n > 1);
        }
      }
      // Both kinds of stop were exercised.
      assertEquals([stoppedEarly, ranToBudget], [true, true]);
      const greedy = await both(1, () => (lp) => argmax(lp), 0);
      assertEquals(greedy.typed.tokens, greedy.reference.tokens);
      setSimdKernels(previous);
    },
  );
}
