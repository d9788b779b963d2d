import { assert, assertEquals, assertThrows } from "@std/assert";
import { Random } from "../../lib/random.ts";
import { parsePrompts } from "../../lib/hub/load_prompts.ts";
import { extractFinalAnswer, normalizeAnswer, promptTask } from "../../lib/hub/prompt_task.ts";
import { charTokenizer } from "../../lib/tasks/task.ts";

const GSM = [
  { prompt: "Q: 2+3?\nA:", answer: " 2+3=5\n#### 5" },
  { prompt: "Q: 10*100?\nA:", answer: " 10*100=1000\n#### 1,000" },
  { prompt: "Q: 7-9?\nA:", answer: " 7-9=-2\n#### -2" },
];

Deno.test("extractFinalAnswer and normalizeAnswer follow the GSM8K convention", () => {
  assertEquals(extractFinalAnswer("a\n#### 5"), " 5");
  assertEquals(extractFinalAnswer("#### 1\n#### 2\nextra"), " 2");
  assertEquals(extractFinalAnswer("no marker"), "no marker");
  assertEquals(normalizeAnswer(" 1,000 "), "1000");
  assertEquals(normalizeAnswer("12,345,678"), "12345678");
  assertEquals(normalizeAnswer("$5.50"), "5.5");
  assertEquals(normalizeAnswer("-2.0"), "-2");
  assertEquals(normalizeAnswer("+3"), "3");
  assertEquals(normalizeAnswer("007"), "7");
  assertEquals(normalizeAnswer("  New   York. "), "new york");
  assertEquals(normalizeAnswer("1,2"), "1,2"); // not a thousands separator
});

Deno.test("promptTask rewards exact final answers after normalisation", () => {
  const task = promptTask(GSM, { name: "gsm-mini" });
  assertEquals(task.name, "gsm-mini");
  assertEquals(task.reward(GSM[0].prompt, GSM[0].answer), 1);
  assertEquals(task.reward(GSM[0].prompt, "I think... #### 5"), 1);
  assertEquals(task.reward(GSM[0].prompt, "#### 5.0"), 1);
  assertEquals(task.reward(GSM[1].prompt, "#### 1000"), 1);
  assertEquals(task.reward(GSM[2].prompt, "#### -2"), 1);
  assertEquals(task.reward(GSM[2].prompt, "#### 2"), 0);
  assertEquals(task.reward(GSM[0].prompt, "2+3=5"), 0); // no final answer marker: whole text ≠ 5
  assertEquals(task.reward(GSM[0].prompt, "5"), 1); // a bare answer is its own final answer
  assertEquals(task.reward("unknown prompt", "#### 5"), 0);
  assertEquals(task.reward(GSM[0].prompt, "\uFFFD#### 5\uFFFD"), 0);
  // never throws
  assertEquals(task.reward(null as unknown as string, "x"), 0);
  assertEquals(task.reward(GSM[0].prompt, undefined as unknown as string), 0);
});

Deno.test("promptTask builds a char tokenizer from the data plus EOS", () => {
  const task = promptTask([{ prompt: "ba", answer: "ca" }]);
  assertEquals(task.tokenizer.vocab, ["<eos>", "a", "b", "c"]);
  assertEquals(task.tokenizer.eos, 0);
  assertEquals(task.tokenizer.encode("abc"), [1, 2, 3]);
  assertEquals(task.tokenizer.decode([3, 1, 0, 2]), "ca");
  assertEquals(task.maxResponseTokens, 3);
  const gsm = promptTask(GSM);
  for (const e of GSM) {
    assertEquals(
      gsm.tokenizer.decode(gsm.tokenizer.encode(e.prompt + e.answer)),
      e.prompt + e.answer,
    );
  }
  assertEquals(gsm.maxResponseTokens, " 10*100=1000\n#### 1,000".length + 1);
  assertThrows(() => gsm.tokenizer.encode("Z"), RangeError, "not in the vocabulary");
});

Deno.test("promptTask holds out a seeded evaluation set and trains on the rest", () => {
  const examples = Array.from({ length: 50 }, (_, i) => ({ prompt: `p${i}=`, answer: `${i}` }));
  const task = promptTask(examples, { seed: 3 });
  assertEquals(task.evalSet.length, 5); // min(64, floor(50 / 10))
  const again = promptTask(examples, { seed: 3 });
  assertEquals(again.evalSet, task.evalSet);
  const held = new Set(task.evalSet.map((e) => e.prompt));
  const rng = new Random(1);
  const prompts = task.prompts(rng, 400);
  assertEquals(prompts.length, 400);
  assert(prompts.every((p) => !held.has(p)), "an evaluation prompt was drawn for training");
  assertEquals(new Set(prompts).size, 45); // 400 uniform draws over 45 prompts hit them all
  const sft = task.sftExamples(new Random(2), 10);
  for (const e of sft) assertEquals(e.answer, examples.find((x) => x.prompt === e.prompt)!.answer);
  assert(sft.every((e) => !held.has(e.prompt)));
  // same seed, same draws
  assertEquals(task.prompts(new Random(9), 20), task.prompts(new Random(9), 20));
  // evaluation prompts are still rewarded
  const e = task.evalSet[0];
  assertEquals(task.reward(e.prompt, e.answer), 1);
});

Deno.test("promptTask evalSize 0 evaluates on the training set; evalExamples are used as given", () => {
  const small = promptTask(GSM);
  assertEquals(small.evalSet, GSM); // floor(3 / 10) = 0
  const given = promptTask(GSM.slice(0, 2), { evalExamples: GSM.slice(2) });
  assertEquals(given.evalSet, GSM.slice(2));
  assertEquals(given.reward(GSM[2].prompt, "#### -2"), 1);
  assert(given.tokenizer.encode(GSM[2].answer).length > 0);
});

Deno.test("promptTask trains on a loaded GSM8K-style Parquet file", async () => {
  const data = await Deno.readFile(new URL("./fixtures/mini_gsm8k.parquet", import.meta.url));
  const task = promptTask(await parsePrompts(data, "train.parquet"), { name: "mini-gsm8k" });
  assertEquals(task.reward("What is 6 * 7?", "6 * 7 = 42\n#### 42"), 1);
  assertEquals(task.reward("What is 6 * 7?", "#### 43"), 0);
  assertEquals(task.evalSet.length, 3);
});

Deno.test("promptTask rejects bad inputs with exact messages", () => {
  assertThrows(
    () => promptTask([]),
    RangeError,
    "Cannot build prompt task: examples must contain at least one example, got none",
  );
  assertThrows(
    () => promptTask([{ prompt: "a", answer: 1 as unknown as string }]),
    TypeError,
    'Cannot build prompt task: examples[0] must have string prompt and answer, got {"prompt":"a","answer":1}',
  );
  assertThrows(
    () => promptTask("nope" as unknown as []),
    TypeError,
    "Cannot build prompt task: examples must be an array of { prompt, answer }",
  );
  assertThrows(
    () => promptTask(GSM, { evalSize: 3 }),
    RangeError,
    "Cannot build prompt task: evalSize must leave at least one training example, got 3 of 3",
  );
  assertThrows(
    () => promptTask(GSM, { tokenizer: charTokenizer("0123456789") }),
    RangeError,
    'Cannot build prompt task: the tokenizer cannot encode example "Q: 2+3?\\nA:"',
  );
  assertThrows(() => promptTask(GSM, { maxResponseTokens: 0 }), RangeError, "maxResponseTokens");
  const task = promptTask(GSM);
  assertThrows(() => task.prompts(new Random(0), -1), RangeError, "n");
});

Deno.test("promptTask refuses a question with two different final answers, keeps identical ones", () => {
  // Before the fix both answers were accepted as correct.
  assertThrows(
    () =>
      promptTask([GSM[0], GSM[1], { prompt: GSM[0].prompt, answer: "#### 6" }, GSM[2]], {
        evalSize: 0,
      }),
    RangeError,
    'Cannot build prompt task: question "Q: 2+3?\\nA:" appears in row 1 and row 3 (counting from 1) ' +
      'with different answers (" 2+3=5\\n#### 5" and "#### 6"); keep one answer per question',
  );
  assertThrows(
    () => promptTask(GSM, { evalExamples: [{ prompt: GSM[2].prompt, answer: "#### 2" }] }),
    RangeError,
    "appears in row 3 and evalExamples row 1 (counting from 1)",
  );
  // The same final answer (other reasoning, other writing of the number) is one answer.
  const task = promptTask([GSM[0], { prompt: GSM[0].prompt, answer: "so #### 5.0" }], {
    evalSize: 0,
  });
  assertEquals(task.reward(GSM[0].prompt, "#### 5"), 1);
  assertEquals(task.prompts(new Random(0), 4), Array(4).fill(GSM[0].prompt));
});
