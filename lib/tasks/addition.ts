/**
 * Two-digit addition: prompt `"47+85="`, target completion `"132"`.
 *
 * @module
 */
import { Random } from "../random.ts";
import { checkInteger } from "../validate.ts";
import { charTokenizer, type Example, type Task } from "./task.ts";

const PROMPT_PATTERN = /^(\d{2})\+(\d{2})=$/;
const EVAL_SIZE = 200;
const EVAL_SEED = 0x5eed_add;

function key(a: number, b: number): number {
  return a * 100 + b;
}

/** The 200 held-out operand pairs, drawn once without replacement from a fixed seed. */
function evalPairs(): [number, number][] {
  const rng = new Random(EVAL_SEED);
  const seen = new Set<number>();
  const pairs: [number, number][] = [];
  while (pairs.length < EVAL_SIZE) {
    const a = 10 + rng.int(90);
    const b = 10 + rng.int(90);
    if (seen.has(key(a, b))) continue;
    seen.add(key(a, b));
    pairs.push([a, b]);
  }
  return pairs;
}

const EVAL_PAIRS = evalPairs();
const EVAL_KEYS = new Set(EVAL_PAIRS.map(([a, b]) => key(a, b)));

function trainingPair(rng: Random): [number, number] {
  for (;;) {
    const a = 10 + rng.int(90);
    const b = 10 + rng.int(90);
    if (!EVAL_KEYS.has(key(a, b))) return [a, b];
  }
}

function additionReward(prompt: string, completion: string): number {
  if (typeof prompt !== "string" || typeof completion !== "string") return 0;
  const match = PROMPT_PATTERN.exec(prompt);
  if (match === null) return 0;
  return completion === String(Number(match[1]) + Number(match[2])) ? 1 : 0;
}

/**
 * Two-digit addition with an exact-match reward.
 *
 * Prompts are `"a+b="` with both operands in 10…99 (so every prompt has exactly 6 characters, no
 * zero padding); the target completion is the decimal sum without leading zeros (`"20"`…`"198"`,
 * 2 or 3 characters). `RM(W) = 1` when the completion equals the sum exactly, else 0 (an
 * unparsable prompt, an empty or garbage completion all score 0; the reward never throws).
 *
 * The evaluation set holds 200 distinct operand pairs drawn once from a fixed seed; `prompts` and
 * `sftExamples` never produce those pairs (the other 7,900 of the 8,100 pairs), so evaluation is
 * held out. Vocabulary: EOS (id 0) then `0123456789+=` (13 tokens). `maxResponseTokens` is 4
 * (three digits and EOS).
 *
 * @see arXiv 2506.02553 — a response-level reward `RM(W)`: one score for the whole response.
 *
 * @example Reward of a correct and a wrong answer
 * ```ts
 * import { addition } from "./addition.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(addition.reward("47+85=", "132"), 1);
 * assertEquals(addition.reward("47+85=", "131"), 0);
 * assertEquals(addition.evalSet.length, 200);
 * ```
 */
export const addition: Task = Object.freeze({
  name: "addition",
  tokenizer: charTokenizer("0123456789+="),
  maxResponseTokens: 4,
  prompts(rng: Random, n: number): string[] {
    checkInteger("Cannot draw addition prompts", "n", n, 0);
    return Array.from({ length: n }, () => {
      const [a, b] = trainingPair(rng);
      return `${a}+${b}=`;
    });
  },
  reward: additionReward,
  evalSet: Object.freeze(
    EVAL_PAIRS.map(([a, b]): Example =>
      Object.freeze({ prompt: `${a}+${b}=`, answer: `${a + b}` })
    ),
  ),
  sftExamples(rng: Random, n: number): Example[] {
    checkInteger("Cannot draw addition examples", "n", n, 0);
    return Array.from({ length: n }, () => {
      const [a, b] = trainingPair(rng);
      return { prompt: `${a}+${b}=`, answer: `${a + b}` };
    });
  },
});
