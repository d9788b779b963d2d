import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { evaluateAccuracy } from "../../lib/algorithms/evaluate.ts";
import { createPolicy, type Policy } from "../../lib/policy/transformer.ts";
import { addition } from "../../lib/tasks/addition.ts";
import { defaultPolicyConfig } from "../../lib/tasks/default_policy_config.ts";
import { charTokenizer, type Task } from "../../lib/tasks/task.ts";
import { assertAlmostEquals, assertEquals, assertGreater, assertRejects } from "@std/assert";

await initBackend({ backend: "cpu" });

/** Greedy decoding by full recomputation with policy.logits: an independent reference. */
function naiveGreedy(policy: Policy, prompt: number[], maxTokens: number, eos: number): number[] {
  const seq = [...prompt];
  const out: number[] = [];
  for (let t = 0; t < maxTokens; t++) {
    const logits = tf.tidy(() => {
      const x = tf.tensor2d([seq], [1, seq.length], "int32");
      return policy.logits(x).arraySync()[0][seq.length - 1];
    });
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
    out.push(best);
    seq.push(best);
    if (best === eos) break;
  }
  return out;
}

function constantTask(reward: number): Task {
  const tokenizer = charTokenizer("ab=");
  return {
    name: "constant",
    tokenizer,
    maxResponseTokens: 3,
    prompts: () => ["ab="],
    reward: () => reward,
    evalSet: [{ prompt: "ab=", answer: "a" }, { prompt: "ba=", answer: "b" }, {
      prompt: "a=",
      answer: "",
    }],
    sftExamples: () => [],
  };
}

Deno.test("evaluateAccuracy: completions equal naive greedy decoding; accuracy and mean from the rewards", async () => {
  const before = tf.memory().numTensors;
  const policy = createPolicy(defaultPolicyConfig(addition, { seed: 5 }));
  const result = await evaluateAccuracy(policy, addition, { limit: 12, batchSize: 5 });
  assertEquals(result.n, 12);
  const tok = addition.tokenizer;
  const expected = addition.evalSet.slice(0, 12).map((e) =>
    tok.decode(naiveGreedy(policy, tok.encode(e.prompt), addition.maxResponseTokens, tok.eos))
  );
  assertEquals(result.completions, expected);
  assertGreater(new Set(expected).size, 2); // varied outputs, EOS at different steps
  const rewards = expected.map((c, i) => addition.reward(addition.evalSet[i].prompt, c));
  assertEquals(result.rewards, rewards);
  assertAlmostEquals(result.accuracy, rewards.filter((r) => r === 1).length / 12, 1e-12);
  // Batching does not change anything.
  const one = await evaluateAccuracy(policy, addition, { limit: 12, batchSize: 1 });
  assertEquals(one.completions, result.completions);
  policy.dispose();
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("evaluateAccuracy: accuracy counts reward exactly 1, meanReward averages", async () => {
  const policy = createPolicy({
    vocabSize: 4,
    dModel: 8,
    layers: 1,
    heads: 2,
    maxLength: 8,
    seed: 1,
  });
  const ones = await evaluateAccuracy(policy, constantTask(1));
  assertEquals([ones.accuracy, ones.meanReward, ones.n], [1, 1, 3]);
  const halves = await evaluateAccuracy(policy, constantTask(0.5), { limit: 2 });
  assertEquals([halves.accuracy, halves.meanReward, halves.n], [0, 0.5, 2]);
  policy.dispose();
});

Deno.test("evaluateAccuracy: rejects bad options and a mismatched vocabulary", async () => {
  const policy = createPolicy({
    vocabSize: 4,
    dModel: 8,
    layers: 1,
    heads: 2,
    maxLength: 8,
    seed: 1,
  });
  await assertRejects(
    () => evaluateAccuracy(policy, addition),
    RangeError,
    `the policy has vocabSize 4 but task "addition" has 13 tokens`,
  );
  await assertRejects(
    () => evaluateAccuracy(policy, constantTask(1), { limit: 0 }),
    RangeError,
    "Cannot evaluate the policy: limit must be at least 1, got 0",
  );
  await assertRejects(
    () => evaluateAccuracy(policy, constantTask(1), { maxTokens: 1.5 }),
    TypeError,
    "maxTokens must be an integer",
  );
  await assertRejects(
    () => evaluateAccuracy(policy, constantTask(1), { maxTokens: 7 }),
    RangeError,
    "more than maxLength",
  );
  // deno-lint-ignore no-explicit-any
  await assertRejects(() => evaluateAccuracy(policy, {} as any), TypeError, "task must be a Task");
  policy.dispose();
});
