/**
 * Reward functions of math word problems (GSM8K-style), as TRL's GRPO examples use them: the
 * correctness of the final number and a format reward.
 *
 * @module
 */
import type { RewardFn } from "./score.ts";

const NUMBER = /[-+]?\$?\s*(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+/g;

/**
 * The value of a number as written: thousands separators, a `$`, a trailing `%` or `.` and
 * spaces are ignored (`"1,000"`, `"1000"`, `"1000.0"` and `"$1,000."` are all 1000).
 *
 * @param text The number's text.
 * @returns Its value, or `undefined` when the text is not one number.
 *
 * @example
 * ```ts
 * import { parseNumber } from "./math_reward.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(parseNumber(" $1,000.0 "), 1000);
 * assertEquals(parseNumber("-3.5%"), -3.5);
 * assertEquals(parseNumber("twelve"), undefined);
 * ```
 */
export function parseNumber(text: string): number | undefined {
  if (typeof text !== "string") return undefined;
  let t = text.trim().replace(/\s+/g, "").replace(/[.%]$/, "");
  t = t.replace(/^([-+]?)\$/, "$1").replace(/(\d),(?=\d{3}(?:\D|$))/g, "$1");
  if (!/^[-+]?(\d+\.?\d*|\.\d+)$/.test(t)) return undefined;
  const value = Number(t);
  return Number.isFinite(value) ? value : undefined;
}

/**
 * The final number of a solution, looked for in this order: after the last `####` (GSM8K), inside
 * the last `\boxed{…}` (MATH), else the last number in the text.
 *
 * @param text A decoded completion or a reference answer.
 * @returns The number's value, or `undefined` when there is none.
 *
 * @example
 * ```ts
 * import { extractFinalNumber } from "./math_reward.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(extractFinalNumber("2 + 3 = 5 so 5 * 2 = 10\n#### 10"), 10);
 * assertEquals(extractFinalNumber("the answer is \\boxed{1,250}."), 1250);
 * assertEquals(extractFinalNumber("3 apples and 4 pears: 7."), 7);
 * assertEquals(extractFinalNumber("no idea"), undefined);
 * ```
 */
export function extractFinalNumber(text: string): number | undefined {
  if (typeof text !== "string") return undefined;
  const hashes = text.lastIndexOf("####");
  if (hashes >= 0) {
    const first = text.slice(hashes + 4).match(NUMBER)?.[0];
    return first === undefined ? undefined : parseNumber(first);
  }
  const boxed = text.lastIndexOf("\\boxed{");
  if (boxed >= 0) {
    const end = text.indexOf("}", boxed);
    if (end >= 0) {
      const inside = parseNumber(text.slice(boxed + 7, end));
      if (inside !== undefined) return inside;
    }
  }
  const all = text.match(NUMBER);
  return all === null ? undefined : parseNumber(all[all.length - 1]);
}

/**
 * Whether two numbers are the same answer: `|a − b| ≤ 1e-6 · max(1, |b|)`.
 *
 * @param a A number.
 * @param b A number.
 * @returns True when equal up to rounding.
 *
 * @example
 * ```ts
 * import { sameNumber } from "./math_reward.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(sameNumber(0.1 + 0.2, 0.3), true);
 * assertEquals(sameNumber(1000, 1001), false);
 * ```
 */
export function sameNumber(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
}

/**
 * The correctness reward of math problems, a named reward function for `score`:
 * `RM(W) = 1` iff the final number of the completion (see {@linkcode extractFinalNumber})
 * equals that of the prompt's reference answer (see {@linkcode sameNumber}), else 0. An unknown
 * prompt, or a reference without a number, scores 0. Never throws.
 *
 * @see arXiv 2506.02553 — a response-level reward `RM(W)`. Used by every recipe on text tasks.
 *
 * @param answers Reference answer of each prompt (GSM8K's `…\n#### 42`, or just `42`).
 * @returns The reward function `(prompt, completion) → {0, 1}`.
 *
 * @example
 * ```ts
 * import { correctnessReward } from "./math_reward.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const reward = correctnessReward(new Map([["6*7?", "6*7=42\n#### 42"]]));
 * assertEquals(reward("6*7?", "It is \\boxed{42.0}"), 1);
 * assertEquals(reward("6*7?", "#### 41"), 0);
 * assertEquals(reward("other?", "42"), 0);
 * ```
 */
export function correctnessReward(answers: ReadonlyMap<string, string>): RewardFn {
  const expected = new Map<string, number>();
  for (const [prompt, answer] of answers) {
    const value = extractFinalNumber(answer);
    if (value !== undefined) expected.set(prompt, value);
  }
  return function correctness(prompt: string, completion: string): number {
    const want = expected.get(prompt);
    if (want === undefined) return 0;
    const got = extractFinalNumber(completion);
    return got !== undefined && sameNumber(got, want) ? 1 : 0;
  };
}

/**
 * The format reward of math problems, a named reward function for `score`: 1 when the
 * completion states its final answer as `#### <number>` or `\boxed{<number>}`, else 0 (the
 * answer need not be right). Never throws.
 *
 * Used with {@linkcode correctnessReward}, as TRL's GRPO examples pair an accuracy and a format
 * reward.
 *
 * @param _prompt The prompt (unused).
 * @param completion The decoded completion.
 * @returns 0 or 1.
 *
 * @example
 * ```ts
 * import { formatReward } from "./math_reward.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(formatReward("q", "5 + 5 = 10\n#### 10"), 1);
 * assertEquals(formatReward("q", "\\boxed{-2.5}"), 1);
 * assertEquals(formatReward("q", "10"), 0);
 * ```
 */
export function formatReward(_prompt: string, completion: string): number {
  if (typeof completion !== "string") return 0;
  const hashes = /####\s*([^\n]*)/.exec(completion);
  if (hashes !== null && parseNumber(hashes[1]) !== undefined) return 1;
  const boxed = /\\boxed\{([^{}]*)\}/.exec(completion);
  return boxed !== null && parseNumber(boxed[1]) !== undefined ? 1 : 0;
}
