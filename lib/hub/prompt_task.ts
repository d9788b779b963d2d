/**
 * Turn loaded `{ prompt, answer }` examples (your own dataset) into a trainable `Task`.
 *
 * @module
 */

import { Random } from "../random.ts";
import { charTokenizer, type Example, type Task, type Tokenizer } from "../tasks/task.ts";
import { checkInteger } from "../validate.ts";
import type { HfTokenizer } from "../models/hf_tokenizer.ts";
import { textTokenizer } from "../tasks/text_tokenizer.ts";
import { correctnessReward, extractFinalNumber } from "../score/math_reward.ts";

/** Options of {@link promptTask}. */
export interface PromptTaskOptions {
  /** Task name (for logs and reports); default `"prompts"`. */
  name?: string;
  /**
   * Tokenizer; default a character tokenizer of every character in the prompts and answers
   * (sorted by code unit) plus EOS (id 0). A given tokenizer must encode every example.
   */
  tokenizer?: Tokenizer;
  /** `maxTokens` for sampling; default the longest answer in characters + 1 (EOS). */
  maxResponseTokens?: number;
  /**
   * Held-out evaluation set. Default: `evalSize` examples drawn (seeded) from `examples` and
   * kept out of training.
   */
  evalExamples?: readonly Example[];
  /**
   * Number of examples held out for evaluation when `evalExamples` is not given; default
   * `min(64, floor(N / 10))`. With 0, the evaluation set is the whole training set.
   */
  evalSize?: number;
  /** Seed of the train/eval split; default 0. */
  seed?: number;
}

/**
 * The final answer of a solution: the text after the last `####` (GSM8K style), up to the end of
 * that line; the whole text when there is no `####`.
 *
 * @param text A reference answer or a decoded completion.
 * @returns The final-answer part, untrimmed.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { extractFinalAnswer } from "./prompt_task.ts";
 *
 * assertEquals(extractFinalAnswer("4 * 3 = 12\n#### 12"), " 12");
 * assertEquals(extractFinalAnswer("12"), "12");
 * ```
 */
export function extractFinalAnswer(text: string): string {
  const at = text.lastIndexOf("####");
  return at < 0 ? text : text.slice(at + 4).split("\n")[0];
}

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/**
 * Normalises an answer for exact-match comparison: trims, collapses whitespace, drops thousands
 * separators (`1,000` → `1000`), a leading `$` and a trailing `.`, writes numbers canonically
 * (`42.0` → `42`, `+7` → `7`) and lower-cases the rest.
 *
 * @param answer A final answer (see {@link extractFinalAnswer}).
 * @returns The normalised text.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { normalizeAnswer } from "./prompt_task.ts";
 *
 * assertEquals(normalizeAnswer(" $1,250.00 "), "1250");
 * assertEquals(normalizeAnswer("Paris."), "paris");
 * ```
 */
export function normalizeAnswer(answer: string): string {
  let text = answer.trim().replace(/\s+/g, " ");
  text = text.replace(/(\d),(?=\d{3}(\D|$))/g, "$1");
  text = text.replace(/^\$\s*/, "").replace(/\.$/, "").trim();
  if (NUMBER.test(text)) {
    const value = Number(text);
    if (Number.isFinite(value)) return String(value);
  }
  return text.toLowerCase();
}

function checkExamples(context: string, name: string, examples: unknown): Example[] {
  if (!Array.isArray(examples)) {
    throw new TypeError(`${context}: ${name} must be an array of { prompt, answer }`);
  }
  examples.forEach((e, i) => {
    if (typeof e?.prompt !== "string" || typeof e?.answer !== "string") {
      throw new TypeError(
        `${context}: ${name}[${i}] must have string prompt and answer, got ${JSON.stringify(e)}`,
      );
    }
  });
  return examples.map((e) => ({ prompt: e.prompt, answer: e.answer }));
}

/**
 * Refuses one question with two different final answers (`finalAnswer` of each answer text):
 * the reward could then only accept one of them, or both. Identical duplicates (the same final
 * answer, whatever the reasoning) are kept, each drawn as often as it appears.
 */
function checkDuplicates(
  context: string,
  sets: readonly { label: string; examples: readonly Example[] }[],
  finalAnswer: (answer: string) => string,
): void {
  const first = new Map<string, { where: string; answer: string; final: string }>();
  for (const { label, examples } of sets) {
    examples.forEach((e, i) => {
      const where = `${label} ${i + 1}`;
      const final = finalAnswer(e.answer);
      const seen = first.get(e.prompt);
      if (seen === undefined) {
        first.set(e.prompt, { where, answer: e.answer, final });
      } else if (seen.final !== final) {
        throw new RangeError(
          `${context}: question ${
            JSON.stringify(e.prompt)
          } appears in ${seen.where} and ${where} ` +
            `(counting from 1) ` +
            `with different answers (${JSON.stringify(seen.answer)} and ${
              JSON.stringify(e.answer)
            }); keep one answer per question (identical duplicates are allowed)`,
        );
      }
    });
  }
}

/** What `promptTask`'s reward compares: the normalised text after the last `####`. */
function promptFinalAnswer(answer: string): string {
  return normalizeAnswer(extractFinalAnswer(answer));
}

/**
 * Wraps `{ prompt, answer }` examples (e.g. from `loadPrompts`) into a `Task` so a policy can be
 * trained on your own dataset with any algorithm.
 *
 * Reward (response-level, in {0, 1}): `RM(W) = 1` iff
 * `normalizeAnswer(extractFinalAnswer(completion)) = normalizeAnswer(extractFinalAnswer(answer))`
 * for an answer of that prompt; an unknown prompt scores 0; it never throws. With GSM8K-style
 * answers ("…reasoning…\n#### 42") only the number after `####` is compared, while
 * `sftExamples` targets the whole answer text (the reasoning too).
 *
 * Duplicates: a prompt given twice with different final answers (as the reward reads them) is
 * refused, naming both rows (1-based, file order: row n is the n-th non-empty line of a JSONL
 * file); identical duplicates are kept, so such a prompt is drawn as often as it appears.
 *
 * Tokenizer: characters of all prompts and answers (sorted by UTF-16 code unit) after EOS (id 0).
 * `prompts` and `sftExamples` draw training examples uniformly with replacement;
 * `evalSet` is held out (see options) and fixed.
 *
 * @see arXiv 2506.02553 — `reward` is the response-level reward `RM(W)`.
 *
 * @param examples At least one example; prompts and answers are strings.
 * @param options Name, tokenizer, maxResponseTokens, evaluation split.
 * @returns A frozen `Task`.
 * @throws {TypeError} When an example lacks a string prompt or answer.
 * @throws {RangeError} When there are no examples, a prompt has two different final answers,
 *   the held-out set leaves no training example, or a given tokenizer cannot encode an example.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { promptTask } from "./prompt_task.ts";
 *
 * const task = promptTask([
 *   { prompt: "Q: 2+3? A: ", answer: "2+3=5 #### 5" },
 *   { prompt: "Q: 6*7? A: ", answer: "6*7=42 #### 42" },
 * ], { name: "tiny-math" });
 * assertEquals(task.reward("Q: 6*7? A: ", "6*7=42 #### 42"), 1);
 * assertEquals(task.reward("Q: 6*7? A: ", "#### 42.0"), 1);
 * assertEquals(task.reward("Q: 6*7? A: ", "#### 41"), 0);
 * assertEquals(task.tokenizer.decode(task.tokenizer.encode("6*7=42")), "6*7=42");
 * assertEquals(task.maxResponseTokens, 15);
 * ```
 */
export function promptTask(examples: readonly Example[], options: PromptTaskOptions = {}): Task {
  return buildPromptTask("Cannot build prompt task", examples, options, promptFinalAnswer);
}

/** `promptTask`, with the final answer that duplicates are compared by (the reward's). */
function buildPromptTask(
  context: string,
  examples: readonly Example[],
  options: PromptTaskOptions,
  finalAnswer: (answer: string) => string,
): Task {
  const all = checkExamples(context, "examples", examples);
  if (all.length === 0) {
    throw new RangeError(`${context}: examples must contain at least one example, got none`);
  }
  const seed = options.seed ?? 0;
  let train: Example[];
  let evalSet: Example[];
  if (options.evalExamples !== undefined) {
    train = all;
    evalSet = checkExamples(context, "evalExamples", options.evalExamples);
    checkDuplicates(context, [{ label: "row", examples: all }, {
      label: "evalExamples row",
      examples: evalSet,
    }], finalAnswer);
  } else {
    checkDuplicates(context, [{ label: "row", examples: all }], finalAnswer);
    const evalSize = options.evalSize === undefined
      ? Math.min(64, Math.floor(all.length / 10))
      : checkInteger(context, "evalSize", options.evalSize, 0);
    if (evalSize >= all.length) {
      throw new RangeError(
        `${context}: evalSize must leave at least one training example, got ${evalSize} of ${all.length}`,
      );
    }
    if (evalSize === 0) {
      train = all;
      evalSet = all;
    } else {
      const order = new Random(seed).shuffle(all.map((_, i) => i));
      const held = new Set(order.slice(0, evalSize));
      evalSet = [...held].sort((a, b) => a - b).map((i) => all[i]);
      train = all.filter((_, i) => !held.has(i));
    }
  }

  let tokenizer: Tokenizer;
  if (options.tokenizer === undefined) {
    const chars = new Set<string>();
    for (const e of [...all, ...evalSet]) {
      for (const text of [e.prompt, e.answer]) {
        for (let i = 0; i < text.length; i++) chars.add(text[i]);
      }
    }
    tokenizer = charTokenizer([...chars].sort());
  } else {
    tokenizer = options.tokenizer;
    for (const e of [...all, ...evalSet]) {
      try {
        tokenizer.encode(e.prompt);
        tokenizer.encode(e.answer);
      } catch (error) {
        throw new RangeError(
          `${context}: the tokenizer cannot encode example ${JSON.stringify(e.prompt)} (${
            (error as Error).message
          })`,
        );
      }
    }
  }
  const maxResponseTokens = options.maxResponseTokens === undefined
    ? Math.max(...[...all, ...evalSet].map((e) => e.answer.length)) + 1
    : checkInteger(context, "maxResponseTokens", options.maxResponseTokens, 1);

  const expected = new Map<string, Set<string>>();
  for (const e of [...all, ...evalSet]) {
    const answers = expected.get(e.prompt) ?? new Set<string>();
    answers.add(normalizeAnswer(extractFinalAnswer(e.answer)));
    expected.set(e.prompt, answers);
  }
  const frozenEval = Object.freeze(evalSet.map((e) => Object.freeze({ ...e })));

  return Object.freeze({
    name: options.name ?? "prompts",
    tokenizer,
    maxResponseTokens,
    prompts(rng: Random, n: number): string[] {
      checkInteger(`Cannot draw ${options.name ?? "prompts"} prompts`, "n", n, 0);
      return Array.from({ length: n }, () => train[rng.int(train.length)].prompt);
    },
    reward(prompt: string, completion: string): number {
      if (typeof prompt !== "string" || typeof completion !== "string") return 0;
      const answers = expected.get(prompt);
      if (answers === undefined) return 0;
      return answers.has(normalizeAnswer(extractFinalAnswer(completion))) ? 1 : 0;
    },
    evalSet: frozenEval,
    sftExamples(rng: Random, n: number): Example[] {
      checkInteger(`Cannot draw ${options.name ?? "prompts"} examples`, "n", n, 0);
      return Array.from({ length: n }, () => {
        const e = train[rng.int(train.length)];
        return { prompt: e.prompt, answer: e.answer };
      });
    },
  });
}

/** Options of {@link textTask}. */
export interface TextTaskOptions {
  /** The pretrained model's tokenizer, with a chat template. */
  tokenizer: HfTokenizer;
  /** The model's vocabulary size (`policy.config.vocabSize`); default the tokenizer's. */
  vocabSize?: number;
  /** Task name; default `"math"`. */
  name?: string;
  /** `maxTokens` for sampling a response; default 256. */
  maxResponseTokens?: number;
  /** Held-out evaluation examples (see {@link PromptTaskOptions.evalSize}). */
  evalSize?: number;
  /** Seed of the train/eval split; default 0. */
  seed?: number;
  /**
   * Where a warning about the data goes (answers without a number to extract); default
   * `console.warn`.
   */
  warn?: (message: string) => void;
}

/** What `textTask`'s reward compares: the final number, else (no number) the final text. */
function textFinalAnswer(answer: string): string {
  const value = extractFinalNumber(answer);
  return value === undefined ? `text ${promptFinalAnswer(answer)}` : `number ${value}`;
}

/**
 * A text task for a pretrained model over `{ question, answer }` rows (GSM8K's format; e.g. from
 * `parsePrompts` or `loadPrompts`): each question becomes the prompt
 * `applyChatTemplate([{ role: "user", content: question }], { addGenerationPrompt: true })`, the
 * tokenizer is the model's (see `textTokenizer`), and the reward is `correctnessReward`: 1 iff the
 * completion's final number (after `####`, in `\boxed{}`, else the last number) equals the
 * answer's. Split, prompt draws, `sftExamples` and the rule on duplicates are
 * {@link promptTask}'s, with answers compared by their final number: a question given twice with
 * different final numbers is refused, naming both rows. Answers with no number to extract score
 * 0 whatever the completion: their count (and first rows) goes to `options.warn`.
 *
 * @see arXiv 2506.02553 — `reward` is the response-level reward `RM(W)`.
 *
 * @param examples At least one example; `prompt` is the question, `answer` the reference.
 * @param options The tokenizer (required), vocabulary size, name, response length, split.
 * @returns A frozen `Task` whose tokenizer is a `TextTokenizer`.
 * @throws {TypeError} When an example has no question or answer (empty or not text), naming it.
 * @throws {RangeError} When a question has two different final answers, naming both rows.
 * @throws {Error} When the chat template fails to render.
 *
 * @example The Qwen2 test fixture (run from the repository root)
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { initBackend } from "../backend.ts";
 * import { loadPretrained } from "./load_pretrained.ts";
 * import { textTask } from "./prompt_task.ts";
 *
 * await initBackend({ backend: "cpu" });
 * const { policy, tokenizer } = await loadPretrained("tests/fixtures/hf/qwen2");
 * const task = textTask([{ prompt: "What is 6*7?", answer: "6*7=42\n#### 42" }], {
 *   tokenizer, vocabSize: policy.config.vocabSize, maxResponseTokens: 8,
 * });
 * const [prompt] = task.prompts(new (await import("../random.ts")).Random(0), 1);
 * assertEquals(prompt.endsWith("<|im_start|>assistant\n"), true);
 * assertEquals(task.reward(prompt, "so \\boxed{42}"), 1);
 * policy.dispose();
 * ```
 */
export function textTask(examples: readonly Example[], options: TextTaskOptions): Task {
  const context = "Cannot build the text task";
  if (options === null || typeof options !== "object" || options.tokenizer === undefined) {
    throw new TypeError(`${context}: options.tokenizer (the model's HfTokenizer) is required`);
  }
  const all = checkExamples(context, "examples", examples);
  all.forEach((e, i) => {
    if (e.prompt.trim() === "" || e.answer.trim() === "") {
      throw new TypeError(
        `${context}: row ${i} has an empty ${e.prompt.trim() === "" ? "question" : "answer"}: ${
          JSON.stringify(e)
        }`,
      );
    }
  });
  checkDuplicates(context, [{ label: "row", examples: all }], textFinalAnswer);
  const unanswerable = all.flatMap((e, i) => extractFinalNumber(e.answer) === undefined ? [i] : []);
  if (unanswerable.length > 0) {
    const rows = unanswerable.slice(0, 5).map((i) => i + 1).join(", ");
    (options.warn ?? console.warn)(
      `Warning: ${unanswerable.length} of ${all.length} answers have no number to extract (row${
        unanswerable.length === 1 ? "" : "s"
      } ${rows}${
        unanswerable.length > 5 ? ", …" : ""
      }, counting from 1); the correctness reward of their questions is always 0`,
    );
  }
  const hf = options.tokenizer;
  const templated = all.map((e) => ({
    prompt: hf.applyChatTemplate([{ role: "user", content: e.prompt }], {
      addGenerationPrompt: true,
    }),
    answer: e.answer,
  }));
  const tokenizer = textTokenizer(hf, {
    ...(options.vocabSize === undefined ? {} : { vocabSize: options.vocabSize }),
  });
  const base = buildPromptTask(context, templated, {
    name: options.name ?? "math",
    tokenizer,
    maxResponseTokens: options.maxResponseTokens ?? 256,
    ...(options.evalSize === undefined ? {} : { evalSize: options.evalSize }),
    ...(options.seed === undefined ? {} : { seed: options.seed }),
  }, textFinalAnswer);
  const correctness = correctnessReward(
    new Map(templated.map((e) => [e.prompt, e.answer] as [string, string])),
  );
  return Object.freeze({
    ...base,
    reward: (prompt: string, completion: string) => correctness(prompt, completion) as number,
  });
}
