import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { Random } from "../../lib/random.ts";
import { disposeRollout } from "../../lib/sample/rollout.ts";
import { type RewardFn, score } from "../../lib/score/score.ts";
import {
  assert,
  assertAlmostEquals,
  assertArrayAlmostEquals,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { fakeRollout, fakeTokenizer } from "./_fakes.ts";

await initBackend({ backend: "cpu" });

// Vocabulary: 0 EOS, "0"→1, "1"→2, "2"→3, "3"→4, "+"→5, "="→6.
const tokenizer = fakeTokenizer("0123+=");
const p11 = tokenizer.encode("1+1=");
const p21 = tokenizer.encode("2+1=");

/** Rows: "2" EOS | "11" EOS | "3" EOS | "333" (no EOS, cut at T = 3). */
function additionRollout() {
  return fakeRollout([p11, p11, p21, p21], [[3, 0], [2, 2, 0], [4, 0], [4, 4, 4]], 2);
}

const correct: RewardFn = (prompt, completion) => {
  const [a, b] = prompt.slice(0, -1).split("+").map(Number);
  return completion === String(a + b) ? 1 : 0;
};
const brevity: RewardFn = async (_prompt, completion) => {
  await new Promise((resolve) => setTimeout(resolve, 1));
  return -0.1 * completion.length;
};

Deno.test("matches hand-computed rewards and metrics", async () => {
  const rollout = additionRollout();
  const seen: string[] = [];
  const spy: RewardFn = (prompt, completion) => {
    seen.push(`${prompt}|${completion}`);
    return 0;
  };
  const before = tf.memory().numTensors;
  // correct = [1, 0, 1, 0]; brevity = −0.1·len = [−0.1, −0.2, −0.1, −0.3] (lengths 1, 2, 1, 3).
  // With weight 2 on brevity: [0.8, −0.4, 0.8, −0.6]; mean 0.6/4 = 0.15;
  // deviations [0.65, −0.55, 0.65, −0.75], squares sum 0.4225+0.3025+0.4225+0.5625 = 1.71,
  // population std √(1.71/4) = √0.4275 = 0.6538348.
  const result = await score(rollout, tokenizer, { correct, brevity, spy }, {
    weights: { brevity: 2 },
  });
  assertEquals(tf.memory().numTensors, before + 1);
  assertEquals(seen, ["1+1=|2", "1+1=|11", "2+1=|3", "2+1=|333"]);
  assertEquals(result.prompts, ["1+1=", "1+1=", "2+1=", "2+1="]);
  assertEquals(result.completions, ["2", "11", "3", "333"]);
  assertArrayAlmostEquals(result.values, [0.8, -0.4, 0.8, -0.6], 1e-12);
  assertArrayAlmostEquals(await result.rewards.data(), [0.8, -0.4, 0.8, -0.6], 1e-7);
  assertEquals(result.rewards.shape, [4]);
  assertEquals(result.rewards.dtype, "float32");
  assertEquals(Object.keys(result.metrics).sort(), [
    "reward/mean",
    "reward/std",
    "rewards/brevity/mean",
    "rewards/correct/mean",
    "rewards/spy/mean",
  ]);
  assertAlmostEquals(result.metrics["rewards/correct/mean"], 0.5, 1e-12);
  assertAlmostEquals(result.metrics["rewards/brevity/mean"], -0.175, 1e-12);
  assertAlmostEquals(result.metrics["reward/mean"], 0.15, 1e-12);
  assertAlmostEquals(result.metrics["reward/std"], 0.6538348, 1e-7);
  result.rewards.dispose();
  // Default weights 1: [1 − 0.1, 0 − 0.2, 1 − 0.1, 0 − 0.3].
  const plain = await score(rollout, tokenizer, { correct, brevity });
  assertArrayAlmostEquals(plain.values, [0.9, -0.2, 0.9, -0.3], 1e-12);
  plain.rewards.dispose();
  disposeRollout(rollout);
});

Deno.test("matches a plain reference on random rollouts", async () => {
  const rng = new Random(12);
  const tok = fakeTokenizer("abcdef");
  for (const [rows, columns] of [[1, 1], [3, 4], [8, 9]]) {
    const prompts = Array.from(
      { length: rows },
      () => Array.from({ length: 1 + rng.int(4) }, () => 1 + rng.int(6)),
    );
    const responses = Array.from(
      { length: rows },
      () => Array.from({ length: columns }, () => rng.int(7)),
    );
    const rollout = fakeRollout(prompts, responses);
    const charCount: RewardFn = (_p, c) => c.split("").filter((x) => x === "a").length;
    const promptLength: RewardFn = (p) => Promise.resolve(p.length);
    const weights = { charCount: rng.normal(), promptLength: rng.normal() };
    const result = await score(rollout, tok, { charCount, promptLength }, { weights });
    const expected = responses.map((row, b) => {
      let text = "";
      for (const id of row) {
        if (id === 0) break;
        text += "abcdef"[id - 1];
      }
      let count = 0;
      for (const ch of text) if (ch === "a") count++;
      return weights.charCount * count + weights.promptLength * prompts[b].length;
    });
    assertArrayAlmostEquals(result.values, expected, 1e-12);
    assertArrayAlmostEquals(await result.rewards.data(), expected, 1e-5);
    result.rewards.dispose();
    disposeRollout(rollout);
  }
});

Deno.test("a reward function that throws is reported with its name, prompt and completion", async () => {
  const rollout = additionRollout();
  const before = tf.memory().numTensors;
  const boom: RewardFn = (_p, completion) => {
    if (completion === "11") throw new Error("parse failure");
    return 0;
  };
  const error = await assertRejects(
    () => score(rollout, tokenizer, { correct, boom }),
    Error,
    `Cannot score rollout: reward function "boom" threw for row 1 (prompt "1+1=", completion "11"): parse failure`,
  );
  assert(error.cause instanceof Error && error.cause.message === "parse failure");
  // An asynchronous rejection is reported the same way.
  const asyncBoom: RewardFn = (_p, completion) =>
    completion === "333" ? Promise.reject(new Error("timeout")) : Promise.resolve(1);
  await assertRejects(
    () => score(rollout, tokenizer, { asyncBoom }),
    Error,
    `reward function "asyncBoom" threw for row 3 (prompt "2+1=", completion "333"): timeout`,
  );
  assertEquals(tf.memory().numTensors, before);
  disposeRollout(rollout);
});

Deno.test("a non-finite or non-number reward is reported with its name, prompt and completion", async () => {
  const rollout = additionRollout();
  const before = tf.memory().numTensors;
  for (
    const [bad, text] of [[NaN, "NaN"], [Infinity, "Infinity"], [-Infinity, "-Infinity"]] as const
  ) {
    const fn: RewardFn = (_p, c) => (c === "3" ? bad : 0);
    await assertRejects(
      () => score(rollout, tokenizer, { correct, fn }),
      RangeError,
      `Cannot score rollout: reward function "fn" must return a finite number, got ${text} for row 2 (prompt "2+1=", completion "3")`,
    );
  }
  const stringy = (() => "1") as unknown as RewardFn;
  await assertRejects(
    () => score(rollout, tokenizer, { stringy }),
    TypeError,
    `reward function "stringy" must return a finite number, got "1" for row 0 (prompt "1+1=", completion "2")`,
  );
  assertEquals(tf.memory().numTensors, before);
  disposeRollout(rollout);
});

Deno.test("rejects bad arguments with the exact class and message", async () => {
  const context = "Cannot score rollout";
  const rollout = additionRollout();
  const before = tf.memory().numTensors;
  await assertRejects(
    () => score(rollout, tokenizer, { correct }, { weights: { typo: 1 } }),
    RangeError,
    `${context}: unknown reward weight "typo", expected one of "correct"`,
  );
  await assertRejects(
    () => score(rollout, tokenizer, { correct }, { weights: { correct: NaN } }),
    TypeError,
    "weights.correct must be a finite number, got NaN",
  );
  await assertRejects(
    () => score(rollout, tokenizer, {}),
    RangeError,
    "rewardFns must name at least one reward function, got none",
  );
  await assertRejects(
    () => score(rollout, tokenizer, { correct: 1 as unknown as RewardFn }),
    TypeError,
    "rewardFns.correct must be a function, got 1",
  );
  await assertRejects(
    () => score({ ...rollout, promptTokens: [p11] }, tokenizer, { correct }),
    TypeError,
    "rollout.promptTokens must hold one prompt per row (4), got an array of length 1",
  );
  await assertRejects(
    () => score({ ...rollout, lengths: [1, 2] }, tokenizer, { correct }),
    TypeError,
    "rollout.lengths must hold one length per row (4), got an array of length 2",
  );
  await assertRejects(
    () => score({ ...rollout, lengths: [1, 2, 4, 1] }, tokenizer, { correct }),
    RangeError,
    "rollout.lengths must be integers in [0, 3], got 4 at index 2",
  );
  assertEquals(tf.memory().numTensors, before);
  disposeRollout(rollout);
});

Deno.test("long prompts and completions are shortened in error messages", async () => {
  const long = fakeRollout([tokenizer.encode("1".repeat(500))], [[2]]);
  const error = await assertRejects(
    () => score(long, tokenizer, { nan: () => NaN }),
    RangeError,
  );
  assertStringIncludes(error.message, `prompt "${"1".repeat(198)}…`);
  disposeRollout(long);
});
