import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { evaluateAccuracy } from "../../lib/algorithms/evaluate.ts";
import { supervisedFineTune, supervisedLoss } from "../../lib/algorithms/supervised_fine_tune.ts";
import { createPolicy, freezePolicy } from "../../lib/policy/transformer.ts";
import { addition } from "../../lib/tasks/addition.ts";
import { defaultPolicyConfig } from "../../lib/tasks/default_policy_config.ts";
import { sortDigits } from "../../lib/tasks/sort_digits.ts";
import {
  assertAlmostEquals,
  assertEquals,
  assertGreater,
  assertLess,
  assertRejects,
  assertThrows,
} from "@std/assert";

await initBackend({ backend: "wasm" });

Deno.test("supervisedLoss: mean cross-entropy over answer tokens and EOS only (plain-JS reference)", () => {
  const before = tf.memory().numTensors;
  const policy = createPolicy(defaultPolicyConfig(addition, { seed: 2 }));
  const tok = addition.tokenizer;
  const examples = [{ prompt: "47+85=", answer: "132" }, { prompt: "10+12=", answer: "22" }];
  const loss = supervisedLoss(policy, tok, examples);
  // Reference: full sequences through policy.logits, log-softmax in JS, sum over the positions
  // that predict an answer token or EOS.
  let total = 0;
  let count = 0;
  for (const e of examples) {
    const seq = [...tok.encode(e.prompt + e.answer), tok.eos];
    const logits = tf.tidy(() =>
      policy.logits(tf.tensor2d([seq], [1, seq.length], "int32")).arraySync()[0]
    );
    for (let j = e.prompt.length; j < seq.length; j++) {
      const row = logits[j - 1];
      const max = Math.max(...row);
      const logZ = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      total += logZ - row[seq[j]];
      count++;
    }
  }
  assertEquals(count, 4 + 3);
  assertAlmostEquals(loss.dataSync()[0], total / count, 1e-5);
  loss.dispose();
  policy.dispose();
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("supervisedLoss: rejects empty batches and over-long examples", () => {
  const policy = createPolicy(defaultPolicyConfig(addition));
  assertThrows(
    () => supervisedLoss(policy, addition.tokenizer, []),
    RangeError,
    "examples must be a non-empty array",
  );
  assertThrows(
    () => supervisedLoss(policy, addition.tokenizer, [{ prompt: "47+85=", answer: "1320" }]),
    RangeError,
    "example 0 has 11 tokens (prompt + answer + EOS), more than the policy's maxLength 10",
  );
  assertThrows(
    () => supervisedLoss(policy, addition.tokenizer, [{ prompt: "", answer: "1" }]),
    RangeError,
    "example 0 has an empty prompt",
  );
  policy.dispose();
});

Deno.test("supervisedFineTune: lowers the loss and lifts greedy addition accuracy above chance", async () => {
  const before = tf.memory().numTensors;
  const policy = createPolicy(defaultPolicyConfig(addition));
  const untrained = await evaluateAccuracy(policy, addition);
  const steps: number[] = [];
  const { losses, seconds } = await supervisedFineTune(policy, addition, {
    steps: 250,
    batchSize: 64,
    learningRate: 6e-3,
    schedule: "cosine",
    stopAtAccuracy: null,
    seed: 1,
    onStep: ({ step }) => void steps.push(step),
  });
  assertEquals(steps, Array.from({ length: 250 }, (_, i) => i + 1));
  const first = losses.slice(0, 10).reduce((s, x) => s + x, 0) / 10;
  const last = losses.slice(-10).reduce((s, x) => s + x, 0) / 10;
  assertGreater(first, 2); // ≈ log 13 at initialisation
  assertLess(last, first / 2);
  const trained = await evaluateAccuracy(policy, addition);
  // Chance: guessing one of the 179 possible sums gives 1/179 ≈ 0.6 %.
  assertGreater(trained.accuracy, 0.02);
  assertGreater(trained.accuracy, untrained.accuracy);
  console.log(
    `SFT 250 steps: ${seconds.toFixed(1)} s, accuracy ${untrained.accuracy} → ${trained.accuracy}`,
  );
  policy.dispose();
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("supervisedFineTune: stops at the first check that reaches stopAtAccuracy", async () => {
  const policy = createPolicy(defaultPolicyConfig(addition, { dModel: 16, layers: 1 }));
  // Any accuracy is ≥ 0: the run stops at the first check, after checkEvery steps.
  const stopped = await supervisedFineTune(policy, addition, {
    steps: 50,
    batchSize: 4,
    stopAtAccuracy: 0,
    checkEvery: 5,
    checkExamples: 10,
  });
  assertEquals([stopped.steps, stopped.losses.length], [5, 5]);
  assertEquals(typeof stopped.heldOutAccuracy, "number");
  // An unreachable target: every check fails, all steps run, the last check is reported.
  const capped = await supervisedFineTune(policy, addition, {
    steps: 6,
    batchSize: 4,
    stopAtAccuracy: 1.0,
    checkEvery: 3,
    checkExamples: 10,
  });
  assertEquals(capped.steps, 6);
  assertLess(capped.heldOutAccuracy!, 1);
  // Without a target there are no checks.
  const plain = await supervisedFineTune(policy, addition, {
    steps: 2,
    batchSize: 4,
    stopAtAccuracy: null,
  });
  assertEquals([plain.steps, plain.heldOutAccuracy], [2, null]);
  await assertRejects(
    () => supervisedFineTune(policy, addition, { stopAtAccuracy: 1.5 }),
    RangeError,
    "Cannot run supervised fine-tuning: stopAtAccuracy must be at most 1, got 1.5",
  );
  await assertRejects(
    () => supervisedFineTune(policy, addition, { checkEvery: 0 }),
    RangeError,
    "Cannot run supervised fine-tuning: checkEvery must be at least 1, got 0",
  );
  policy.dispose();
});

Deno.test("supervisedFineTune: a given optimizer is used and kept; bad inputs are rejected", async () => {
  const policy = createPolicy(defaultPolicyConfig(sortDigits, { dModel: 16, layers: 1 }));
  const adam = tf.train.adam(1e-3);
  const { losses } = await supervisedFineTune(policy, sortDigits, {
    steps: 3,
    batchSize: 4,
    optimizer: adam,
  });
  assertEquals(losses.length, 3);
  assertEquals(adam.iterations, 3);
  assertEquals((await supervisedFineTune(policy, sortDigits, { steps: 0 })).losses, []);
  await assertRejects(
    () => supervisedFineTune(policy, addition),
    RangeError,
    `the policy has vocabSize 12 but task "addition" has 13 tokens`,
  );
  await assertRejects(
    () => supervisedFineTune(policy, sortDigits, { learningRate: 0 }),
    RangeError,
    "learningRate must be greater than 0, got 0",
  );
  await assertRejects(
    () => supervisedFineTune(policy, sortDigits, { batchSize: 0 }),
    RangeError,
    "batchSize must be at least 1, got 0",
  );
  await assertRejects(
    // deno-lint-ignore no-explicit-any
    () => supervisedFineTune(policy, sortDigits, { schedule: "linear" as any }),
    RangeError,
    `unknown schedule "linear"`,
  );
  const frozen = freezePolicy(policy);
  await assertRejects(
    () => supervisedFineTune(frozen, sortDigits),
    TypeError,
    "the policy is frozen",
  );
  adam.dispose();
  frozen.dispose();
  policy.dispose();
});
