import * as tf from "@tensorflow/tfjs";
import {
  assert,
  assertArrayAlmostEquals,
  assertEquals,
  assertLess,
  assertRejects,
} from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { createPolicy, type PolicyConfig } from "../../lib/policy/transformer.ts";
import { sample } from "../../lib/sample/sample.ts";
import { greedy } from "../../lib/sample/greedy.ts";
import { continueFrom } from "../../lib/sample/continue_from.ts";
import { disposeRollout } from "../../lib/sample/rollout.ts";
import { fixLogits, randomiseWeights, TEST_BACKENDS } from "../policy/reference_forward.ts";

const CONFIG: PolicyConfig = {
  vocabSize: 6,
  dModel: 8,
  layers: 2,
  heads: 2,
  maxLength: 16,
  seed: 1,
};
const PROMPTS = [[1, 2, 3, 4], [5], [2, 2]];

for (const backend of TEST_BACKENDS) {
  Deno.test(`cached sampling gives the same tokens and log-probs as naive recomputation (${backend})`, async () => {
    await initBackend({ backend });
    const policy = createPolicy(CONFIG);
    randomiseWeights(policy.weights, 21, 0.3);
    const options = { groupSize: 2, maxTokens: 7, eosToken: 0, seed: 13 };
    const cached = await sample(policy, PROMPTS, options);
    const naive = await sample(policy, PROMPTS, { ...options, kvCache: false });
    assertEquals(await cached.tokens.array(), await naive.tokens.array());
    assertEquals(cached.lengths, naive.lengths);
    assertArrayAlmostEquals(cached.logProbs.dataSync(), naive.logProbs.dataSync(), 1e-5);
    assertEquals(cached.tokens.shape[0], 6);
    assertEquals(cached.groupSize, 2);
    assertEquals(cached.promptTokens, [
      PROMPTS[0],
      PROMPTS[0],
      PROMPTS[1],
      PROMPTS[1],
      PROMPTS[2],
      PROMPTS[2],
    ]);
    disposeRollout(cached);
    disposeRollout(naive);
    policy.dispose();
  });

  Deno.test(`EOS is inside the mask, then padding with mask 0; early stop (${backend})`, async () => {
    await initBackend({ backend });
    const policy = createPolicy({ ...CONFIG, vocabSize: 4 });
    // p(EOS = 0) = e^a / (e^a + 3) = 0.25 at every position.
    fixLogits(policy.weights, [0, 0, 0, 0]);
    const r = await sample(policy, [[1], [2, 3]], {
      groupSize: 8,
      maxTokens: 6,
      eosToken: 0,
      seed: 5,
    });
    const tokens = await r.tokens.array();
    const mask = await r.mask.array();
    const lp = await r.logProbs.array();
    let ended = 0;
    let cut = 0;
    tokens.forEach((row, b) => {
      const eosAt = row.indexOf(0);
      const length = r.lengths[b];
      if (eosAt >= 0 && eosAt < length) {
        ended++;
        assertEquals(length, eosAt + 1);
      } else {
        cut++;
        assertEquals(length, 6);
      }
      for (let t = 0; t < row.length; t++) {
        assertEquals(mask[b][t], t < length ? 1 : 0);
        if (t >= length) {
          assertEquals(row[t], 0);
          assertEquals(lp[b][t], 0);
        } else {
          assert(Math.abs(lp[b][t] - Math.log(0.25)) < 1e-5);
        }
      }
    });
    assert(ended > 0 && cut > 0, `ended ${ended}, cut ${cut}`);
    disposeRollout(r);
    // Early stop: EOS almost sure at the first step → T = 1 although maxTokens = 6.
    fixLogits(policy.weights, [30, 0, 0, 0]);
    const short = await sample(policy, [[1], [2, 3]], {
      groupSize: 4,
      maxTokens: 6,
      eosToken: 0,
      seed: 5,
    });
    assertEquals(short.tokens.shape, [8, 1]);
    assertEquals(short.lengths, new Array(8).fill(1));
    disposeRollout(short);
    policy.dispose();
  });
}

Deno.test("temperature, topK and topP shape the sampling distribution", async () => {
  await initBackend({ backend: "wasm" });
  const policy = createPolicy({ ...CONFIG, vocabSize: 4 });
  const logits = [0, 1, 2, 3]; // softmax: [0.032, 0.087, 0.237, 0.644]
  fixLogits(policy.weights, logits);
  const prompts = Array.from({ length: 16 }, () => [1]);
  const counts = async (options: Record<string, number>) => {
    const r = await sample(policy, prompts, {
      groupSize: 8,
      maxTokens: 1,
      eosToken: 0,
      seed: 3,
      ...options,
    });
    const c = [0, 0, 0, 0];
    for (const t of r.tokens.dataSync()) c[t]++;
    const lp = r.logProbs.dataSync();
    disposeRollout(r);
    return { c, lp };
  };
  const z = logits.reduce((a, v) => a + Math.exp(v), 0);
  const p3 = Math.exp(3) / z;
  const plain = await counts({});
  assertLess(Math.abs(plain.c[3] / 128 - p3), 0.1);
  assert(plain.c[0] + plain.c[1] > 0);
  const topK = await counts({ topK: 2 });
  assertEquals(topK.c[0] + topK.c[1], 0);
  // topK does not change the recorded log-probs: those of the untruncated distribution.
  for (const v of topK.lp) {
    assert(Math.abs(v - (3 - Math.log(z))) < 1e-5 || Math.abs(v - (2 - Math.log(z))) < 1e-5);
  }
  assertEquals((await counts({ topP: 0.6 })).c, [0, 0, 0, 128]);
  const nucleus = await counts({ topP: 0.7 });
  assertEquals(nucleus.c[0] + nucleus.c[1], 0);
  assert(nucleus.c[2] > 0);
  // Temperature 0.25: p3 = e^12 / Σ e^{4v}.
  const cold = await counts({ temperature: 0.25 });
  const z4 = logits.reduce((a, v) => a + Math.exp(4 * v), 0);
  assertLess(Math.abs(cold.c[3] / 128 - Math.exp(12) / z4), 0.06);
  for (const v of cold.lp) assert(v <= 0);
  policy.dispose();
});

Deno.test("the same seed gives the same samples; an rng is advanced", async () => {
  await initBackend({ backend: "wasm" });
  const policy = createPolicy(CONFIG);
  randomiseWeights(policy.weights, 2, 0.3);
  const a = await sample(policy, PROMPTS, { maxTokens: 5, eosToken: 0, seed: 8 });
  const b = await sample(policy, PROMPTS, { maxTokens: 5, eosToken: 0, rng: new Random(8) });
  assertEquals(await a.tokens.array(), await b.tokens.array());
  const rng = new Random(8);
  const c1 = await sample(policy, PROMPTS, { maxTokens: 5, eosToken: 0, rng });
  const c2 = await sample(policy, PROMPTS, { maxTokens: 5, eosToken: 0, rng });
  assert(JSON.stringify(await c1.tokens.array()) !== JSON.stringify(await c2.tokens.array()));
  [a, b, c1, c2].forEach(disposeRollout);
  policy.dispose();
});

Deno.test("sample rejects bad input with clear messages", async () => {
  await initBackend({ backend: "cpu" });
  const policy = createPolicy(CONFIG);
  const ok = { maxTokens: 4, eosToken: 0, seed: 1 };
  const c = "Cannot sample from the policy: ";
  await assertRejects(
    () => sample(policy, [[1, 2], [6]], ok),
    RangeError,
    c + "prompt 1 has token 6 at index 0, outside the vocabulary [0, 6)",
  );
  await assertRejects(
    () => sample(policy, [[1, -1]], ok),
    RangeError,
    c + "prompt 0 has token -1 at index 1, outside the vocabulary [0, 6)",
  );
  await assertRejects(
    () => sample(policy, [new Array(13).fill(1)], ok),
    RangeError,
    c + "prompt 0 has 13 tokens, more than maxLength − maxTokens = 16 − 4 = 12",
  );
  await assertRejects(
    () => sample(policy, [[1]], { ...ok, maxTokens: 0 }),
    RangeError,
    c + "maxTokens must be at least 1, got 0",
  );
  await assertRejects(
    () => sample(policy, [[1]], { ...ok, temperature: 0 }),
    RangeError,
    c + "temperature must be greater than 0, got 0; use greedy() for deterministic decoding",
  );
  await assertRejects(
    () => sample(policy, [[1]], { ...ok, temperature: -1 }),
    RangeError,
    "use greedy()",
  );
  for (const topP of [0, 1.5]) {
    await assertRejects(
      () => sample(policy, [[1]], { ...ok, topP }),
      RangeError,
      c + `topP must be in (0, 1], got ${topP}`,
    );
  }
  await assertRejects(
    () => sample(policy, [[1]], { ...ok, topK: 0 }),
    RangeError,
    c + "topK must be at least 1, got 0",
  );
  await assertRejects(
    () => sample(policy, [[1]], { ...ok, groupSize: 0 }),
    RangeError,
    c + "groupSize must be at least 1, got 0",
  );
  await assertRejects(
    () => sample(policy, [], ok),
    RangeError,
    c + "prompts must not be empty, got an empty prompt list",
  );
  await assertRejects(() => sample(policy, [[]], ok), RangeError, c + "prompt 0 is empty");
  await assertRejects(
    () => sample(policy, [[1]], { ...ok, eosToken: 6 }),
    RangeError,
    c + "eosToken must be in [0, 6), got 6",
  );
  await assertRejects(
    () => sample(policy, [[1]], { maxTokens: 4, eosToken: 0 }),
    TypeError,
    c + "a seed or an rng is required",
  );
  policy.dispose();
});

Deno.test("100 sampling calls leave the tensor count unchanged", async () => {
  for (const backend of TEST_BACKENDS) {
    await initBackend({ backend });
    const policy = createPolicy({ ...CONFIG, layers: 1 });
    const before = tf.memory().numTensors;
    const rng = new Random(1);
    for (let i = 0; i < 100; i++) {
      const r = i % 10 === 0
        ? await greedy(policy, PROMPTS, { maxTokens: 3, eosToken: 0 })
        : await sample(policy, PROMPTS, {
          groupSize: 2,
          maxTokens: 3,
          eosToken: 0,
          rng,
          kvCache: i % 3 !== 0,
        });
      if (i % 10 === 5) {
        await continueFrom(policy, r, [{ row: 0, position: 1 }, { row: 1, position: 0 }], {
          samples: 2,
          maxTokens: 3,
          eosToken: 0,
          rng,
        });
      }
      disposeRollout(r);
    }
    assertEquals(tf.memory().numTensors, before, backend);
    policy.dispose();
  }
});
