import { assert, assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { loadPretrained } from "../../lib/hub/load_pretrained.ts";
import { textTask } from "../../lib/hub/prompt_task.ts";
import { train } from "../../lib/algorithms/train.ts";
import { Random } from "../../lib/random.ts";

const MODEL = new URL("../fixtures/hf/llama", import.meta.url).pathname;
const ROWS = [
  { prompt: "What is 2 + 3?", answer: "2 + 3 = 5\n#### 5" },
  { prompt: "What is 4 * 250?", answer: "#### 1,000" },
];

Deno.test("textTask: chat-templated prompts, correctness reward, row errors", async () => {
  await initBackend({ backend: "cpu" });
  const { policy, tokenizer } = await loadPretrained(MODEL);
  try {
    const task = textTask(ROWS, { tokenizer, vocabSize: policy.config.vocabSize, evalSize: 0 });
    const chat = tokenizer.applyChatTemplate([{ role: "user", content: ROWS[1].prompt }], {
      addGenerationPrompt: true,
    });
    assert(task.prompts(new Random(0), 8).every((p) => p.includes("What is")));
    assertEquals(task.reward(chat, "\\boxed{1000.0}"), 1);
    assertEquals(task.reward(chat, "#### 1001"), 0);
    assertEquals(task.reward(ROWS[1].prompt, "#### 1000"), 0); // not the templated prompt
    assertThrows(
      () => textTask([ROWS[0], { prompt: "Q?", answer: " " }], { tokenizer }),
      TypeError,
      "row 1 has an empty answer",
    );
    assertThrows(
      () => textTask([{ prompt: "", answer: "1" }], { tokenizer }),
      TypeError,
      "row 0 has an empty question",
    );
    // One rule with promptTask, answers compared by their final number (before: the last won).
    assertThrows(
      () =>
        textTask([ROWS[0], ROWS[1], { prompt: ROWS[0].prompt, answer: "It is 6." }], {
          tokenizer,
        }),
      RangeError,
      'Cannot build the text task: question "What is 2 + 3?" appears in row 1 and row 3 (counting from 1)',
    );
    const same = textTask([ROWS[0], { prompt: ROWS[0].prompt, answer: "It is \\boxed{5}" }], {
      tokenizer,
      evalSize: 0,
      warn: () => {
        throw new Error("no warning expected");
      },
    });
    assertEquals(same.reward(chat.replace(ROWS[1].prompt, ROWS[0].prompt), "#### 5"), 1);
    // Answers without a number: a warning with the count (before: silence, reward always 0).
    const warnings: string[] = [];
    textTask([ROWS[0], { prompt: "Capital of France?", answer: "Paris" }, ROWS[1]], {
      tokenizer,
      evalSize: 0,
      warn: (message) => warnings.push(message),
    });
    assertEquals(warnings, [
      "Warning: 1 of 3 answers have no number to extract (row 2, counting from 1); the correctness reward of their questions is always 0",
    ]);
  } finally {
    policy.dispose();
  }
});

Deno.test("textTask: one GRPO step on a pretrained policy changes its weights", async () => {
  await initBackend({ backend: "cpu" });
  const { policy, tokenizer } = await loadPretrained(MODEL);
  try {
    const task = textTask(ROWS, { tokenizer, vocabSize: policy.config.vocabSize, evalSize: 0 });
    const before = new Map<string, Float32Array>();
    for (const [name, w] of policy.weights) before.set(name, (await w.data()) as Float32Array);
    // A reward that varies within a group, so the group-relative advantage is not zero.
    await train({
      algorithm: "grpo",
      task,
      policy,
      steps: 1,
      rewardFns: { length: (_p: string, c: string) => c.length / 10 },
      config: { promptsPerStep: 1, groupSize: 4, maxTokens: 6 },
    });
    let changed = 0;
    for (const [name, w] of policy.weights) {
      const after = await w.data();
      if (before.get(name)!.some((x, i) => x !== after[i])) changed++;
    }
    assert(changed > 0, "no weight changed");
  } finally {
    policy.dispose();
  }
});
