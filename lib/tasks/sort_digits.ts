/**
 * Sorting digits: prompt `"31415="`, target completion `"11345"`, with partial credit.
 *
 * @module
 */
import { Random } from "../random.ts";
import { checkInteger } from "../validate.ts";
import { charTokenizer, type Example, type Task } from "./task.ts";

const DIGITS = 5;
const PROMPT_PATTERN = /^(\d+)=$/;
const EVAL_SIZE = 200;
const EVAL_SEED = 0x5eed_5027;

function sorted(digits: string): string {
  return Array.from(digits).sort().join("");
}

function drawDigits(rng: Random): string {
  let s = "";
  for (let i = 0; i < DIGITS; i++) s += String(rng.int(10));
  return s;
}

function evalStrings(): string[] {
  const rng = new Random(EVAL_SEED);
  const seen = new Set<string>();
  while (seen.size < EVAL_SIZE) seen.add(drawDigits(rng));
  return [...seen];
}

const EVAL_STRINGS = evalStrings();
const EVAL_KEYS = new Set(EVAL_STRINGS);

function trainingDigits(rng: Random): string {
  for (;;) {
    const s = drawDigits(rng);
    if (!EVAL_KEYS.has(s)) return s;
  }
}

/**
 * The partial-credit reward of sorting: with target `y = sort(digits)`,
 * `RM = #{i : cᵢ = yᵢ} / max(|y|, |c|)` — the fraction of positions right, over the longer of the
 * target and the completion, so that missing and extra characters both cost credit.
 */
function sortReward(prompt: string, completion: string): number {
  if (typeof prompt !== "string" || typeof completion !== "string") return 0;
  const match = PROMPT_PATTERN.exec(prompt);
  if (match === null) return 0;
  const target = sorted(match[1]);
  let right = 0;
  const n = Math.min(target.length, completion.length);
  for (let i = 0; i < n; i++) if (completion[i] === target[i]) right++;
  return right / Math.max(target.length, completion.length);
}

/**
 * Sort a string of five digits ascending, with partial credit.
 *
 * Prompts are five decimal digits followed by `"="` (`"31415="`); the target completion is the
 * digits sorted ascending (`"11345"`). With target `y` and completion `c`,
 * `RM(W) = #{i : cᵢ = yᵢ} / max(|y|, |c|)` ∈ [0, 1]: the fraction of positions that are right,
 * divided by the longer length, so a wrong length is penalised (an extra character costs as much
 * as a missing one). Exact answers score 1; empty or garbage completions score 0 and the reward
 * never throws. (Any digit string before `"="` is accepted by the reward.)
 *
 * The evaluation set holds 200 distinct digit strings drawn once from a fixed seed; `prompts` and
 * `sftExamples` never produce them. Vocabulary: EOS (id 0) then `0123456789=` (12 tokens).
 * `maxResponseTokens` is 6 (five digits and EOS).
 *
 * @see arXiv 2506.02553 — a dense-looking but response-level reward `RM(W)`.
 *
 * @example Partial credit
 * ```ts
 * import { sortDigits } from "./sort_digits.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(sortDigits.reward("31415=", "11345"), 1);
 * assertEquals(sortDigits.reward("31415=", "11354"), 3 / 5);
 * assertEquals(sortDigits.reward("31415=", "113"), 3 / 5);
 * assertEquals(sortDigits.reward("31415=", "1134500"), 5 / 7);
 * ```
 */
export const sortDigits: Task = Object.freeze({
  name: "sortDigits",
  tokenizer: charTokenizer("0123456789="),
  maxResponseTokens: DIGITS + 1,
  prompts(rng: Random, n: number): string[] {
    checkInteger("Cannot draw sortDigits prompts", "n", n, 0);
    return Array.from({ length: n }, () => `${trainingDigits(rng)}=`);
  },
  reward: sortReward,
  evalSet: Object.freeze(
    EVAL_STRINGS.map((s): Example => Object.freeze({ prompt: `${s}=`, answer: sorted(s) })),
  ),
  sftExamples(rng: Random, n: number): Example[] {
    checkInteger("Cannot draw sortDigits examples", "n", n, 0);
    return Array.from({ length: n }, () => {
      const s = trainingDigits(rng);
      return { prompt: `${s}=`, answer: sorted(s) };
    });
  },
});
