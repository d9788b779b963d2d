import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { createValueModel, type ValueModel } from "../../lib/policy/value_model.ts";
import { disposeRollout } from "../../lib/sample/rollout.ts";
import { rewardModelFn } from "../../lib/score/reward_model.ts";
import { score } from "../../lib/score/score.ts";
import {
  assertAlmostEquals,
  assertArrayAlmostEquals,
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertThrows,
} from "@std/assert";
import { fakeRollout, fakeTokenizer } from "./_fakes.ts";

await initBackend({ backend: "cpu" });

/**
 * A fake value model: the value of the prefix ending at position l is
 * (Σ_{j ≤ l} token_j) / 10 − l / 100. It records the token rows it was called with.
 */
function fakeModel(
  maxLength = 16,
): ValueModel & { calls: { shape: number[]; dtype: string; ids: number[][] }[] } {
  const calls: { shape: number[]; dtype: string; ids: number[][] }[] = [];
  return {
    calls,
    config: { vocabSize: 7, dModel: 2, layers: 1, heads: 1, maxLength, seed: 0 },
    weights: new Map<string, tf.Variable>(),
    parameterCount: 0,
    values(tokens: tf.Tensor2D): tf.Tensor2D {
      calls.push({ shape: tokens.shape, dtype: tokens.dtype, ids: tokens.arraySync() });
      return tf.tidy(() => {
        const positions = tf.range(0, tokens.shape[1]).reshape([1, -1]);
        return tokens.toFloat().cumsum(1).div(10).sub(positions.div(100));
      }) as tf.Tensor2D;
    },
    dispose() {},
  };
}

// Vocabulary: 0 EOS, "a"→1, "b"→2, "c"→3, "="→4.
const tokenizer = fakeTokenizer("abc=");

Deno.test("reads the value at the last position of prompt + completion + EOS", async () => {
  const model = fakeModel();
  const reward = rewardModelFn(model, tokenizer);
  const before = tf.memory().numTensors;
  // "ab=" + "c" + EOS → [1, 2, 4, 3, 0]; last position l = 4: (1+2+4+3+0)/10 − 4/100 = 0.96.
  assertAlmostEquals(await reward("ab=", "c"), 0.96, 1e-6);
  assertEquals(tf.memory().numTensors, before);
  assertEquals(model.calls, [{ shape: [1, 5], dtype: "int32", ids: [[1, 2, 4, 3, 0]] }]);
  // Empty completion: [4, 0] → (4+0)/10 − 1/100 = 0.39.
  assertAlmostEquals(await reward("=", ""), 0.39, 1e-6);
});

Deno.test("works as a reward function of score", async () => {
  const model = fakeModel();
  const p = tokenizer.encode("a=");
  // Row 0 "b" EOS: [1, 4, 2, 0] → 7/10 − 3/100 = 0.67. Row 1 "cc" (no EOS): [1, 4, 3, 3, 0] →
  // 11/10 − 4/100 = 1.06.
  const rollout = fakeRollout([p, p], [[2, 0], [3, 3]], 2);
  const result = await score(rollout, tokenizer, { rm: rewardModelFn(model, tokenizer) });
  assertArrayAlmostEquals(result.values, [0.67, 1.06], 1e-6);
  result.rewards.dispose();
  disposeRollout(rollout);
});

Deno.test("reports sequences longer than maxLength and unknown characters", async () => {
  const reward = rewardModelFn(fakeModel(4), tokenizer);
  await assertRejects(
    () => Promise.resolve(reward("ab=", "cc")),
    RangeError,
    "Cannot compute the reward-model reward: prompt, completion and EOS are 6 tokens, more than the model's maxLength 4",
  );
  await assertRejects(
    () => Promise.resolve(reward("a=", "x")),
    RangeError,
    `fake tokenizer: unknown character "x"`,
  );
  // Through score, the failure names the function, prompt and completion.
  const p = tokenizer.encode("ab=");
  const rollout = fakeRollout([p], [[3, 3, 0]]);
  await assertRejects(
    () => score(rollout, tokenizer, { rm: reward }),
    Error,
    `reward function "rm" threw for row 0 (prompt "ab=", completion "cc"): Cannot compute the reward-model reward: prompt, completion and EOS are 6 tokens`,
  );
  disposeRollout(rollout);
});

Deno.test("rejects a model without values or a tokenizer without encode", () => {
  assertThrows(
    () => rewardModelFn({} as ValueModel, tokenizer),
    TypeError,
    "Cannot compute the reward-model reward: model must be a ValueModel, got an object",
  );
  assertThrows(
    () => rewardModelFn(fakeModel(), undefined as unknown as typeof tokenizer),
    TypeError,
    "tokenizer must be a Tokenizer, got undefined",
  );
});

Deno.test("agrees with a direct forward pass of the real ValueModel", async () => {
  const model = createValueModel({
    vocabSize: tokenizer.vocabSize,
    dModel: 8,
    layers: 1,
    heads: 2,
    maxLength: 8,
    seed: 3,
  });
  // The head starts at zero; give it non-zero weights so the value depends on the tokens.
  const head = model.weights.get("value.w")!;
  const bias = model.weights.get("value.b")!;
  tf.tidy(() => {
    head.assign(tf.linspace(-1, 1, head.size).reshape(head.shape));
    bias.assign(tf.fill(bias.shape, 0.25));
  });
  const reward = rewardModelFn(model, tokenizer);
  const ids = [...tokenizer.encode("ab="), ...tokenizer.encode("ca"), tokenizer.eos];
  const tokens = tf.tensor2d([ids], [1, ids.length], "int32");
  const direct = model.values(tokens);
  const expected = (await direct.data())[ids.length - 1];
  tf.dispose([tokens, direct]);
  assertNotEquals(expected, 0);
  const before = tf.memory().numTensors;
  assertAlmostEquals(await reward("ab=", "ca"), expected, 1e-6);
  assertEquals(tf.memory().numTensors, before);
  model.dispose();
});
