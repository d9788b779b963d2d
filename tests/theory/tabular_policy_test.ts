import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { createTabularPolicy } from "../../lib/theory/tabular_policy.ts";
import { assertAlmostEquals, assertEquals, assertNotEquals, assertThrows } from "@std/assert";

await initBackend({ backend: "cpu" });

const contexts = [{ prompt: [0], prefix: [] }, { prompt: [0], prefix: [1] }];

Deno.test("createTabularPolicy: softmax of its own table, seeded, one row per context", () => {
  const a = createTabularPolicy({ vocabSize: 3, contexts, seed: 1 });
  const b = createTabularPolicy({ vocabSize: 3, contexts, seed: 1 });
  const c = createTabularPolicy({ vocabSize: 3, contexts, seed: 2 });
  const table = a.variables[0].arraySync() as number[][];
  assertEquals(b.variables[0].arraySync(), table);
  assertNotEquals(c.variables[0].arraySync(), table);
  assertEquals(a.parameterCount, 6);
  const before = tf.memory().numTensors;
  const logp = a.logProbs([contexts[1], contexts[0]]);
  const rows = logp.arraySync();
  logp.dispose();
  assertEquals(tf.memory().numTensors, before);
  [1, 0].forEach((s, i) => {
    const z = Math.log(table[s].reduce((acc, x) => acc + Math.exp(x), 0));
    table[s].forEach((x, k) => assertAlmostEquals(rows[i][k], x - z, 1e-5));
  });
  [a, b, c].forEach((p) => p.dispose());
});

Deno.test("createTabularPolicy rejects bad input and unknown contexts", () => {
  assertThrows(
    () => createTabularPolicy({ vocabSize: 3, contexts: [contexts[0], contexts[0]], seed: 1 }),
    TypeError,
    "Cannot create a tabular policy: context 1 repeats context 0",
  );
  assertThrows(
    () => createTabularPolicy({ vocabSize: 3, contexts: [], seed: 1 }),
    TypeError,
    "Cannot create a tabular policy: contexts must be a non-empty array, got an array of length 0",
  );
  assertThrows(
    () => createTabularPolicy({ vocabSize: 3, contexts, seed: 1, scale: -1 }),
    RangeError,
    "Cannot create a tabular policy: scale must be at least 0, got -1",
  );
  const policy = createTabularPolicy({ vocabSize: 3, contexts, seed: 1 });
  assertThrows(
    () => policy.logProbs([{ prompt: [0], prefix: [2] }]),
    RangeError,
    "Cannot evaluate the tabular policy: context 0 (prompt [0], prefix [2]) is not in the table",
  );
  policy.dispose();
});

Deno.test("createTabularPolicy: tokenBias offsets every context's initial logits", () => {
  // scale 0: logits are the bias itself, π(EOS) = e^−3 / (2 + e^−3) in every context.
  const contexts = [{ prompt: [0], prefix: [] }, { prompt: [0], prefix: [1] }];
  const policy = createTabularPolicy({
    vocabSize: 3,
    contexts,
    seed: 1,
    scale: 0,
    tokenBias: [0, 0, -3],
  });
  const p = tf.tidy(() => tf.exp(policy.logProbs(contexts)).arraySync() as number[][]);
  for (const row of p) assertAlmostEquals(row[2], Math.exp(-3) / (2 + Math.exp(-3)), 1e-6);
  policy.dispose();
  assertThrows(
    () => createTabularPolicy({ vocabSize: 3, contexts, seed: 1, tokenBias: [0, -3] }),
    TypeError,
    "tokenBias must hold one number per token (3)",
  );
});
