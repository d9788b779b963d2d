/**
 * Encrypting a letter string with a hidden Vigenère key, with one point per right position: a
 * response-level reward that is, by construction, a sum of independent per-token rewards, each of
 * which depends only on its own position and the prompt's letter there.
 *
 * @module
 */
import { Random } from "../random.ts";
import { checkInteger, checkNumber } from "../validate.ts";
import { charTokenizer, type Example, type Task } from "./task.ts";

/** The separator between the prompt's letters and the response. */
const PROMPT_END = ">";
/** Longest prompt (and target) the task accepts. */
const MAX_LENGTH = 64;

/** Options of {@linkcode createVigenereCipher}. */
export interface VigenereCipherOptions {
  /** Seed of the hidden key and of the evaluation prompts (default 1). */
  seed?: number;
  /** The letters: at least two distinct single characters other than `">"` (default `"abcd"`). */
  alphabet?: string;
  /** L, the letters in a prompt and in its target (default 16, at most 64). */
  length?: number;
  /** Prompts in the evaluation set (default 200, at most half of the `k^L` prompts). */
  evalSize?: number;
  /** The task's name (default `"vigenereCipher"`). */
  name?: string;
}

/** A {@linkcode Task} whose reward is a known sum of per-position rewards. */
export interface VigenereCipherTask extends Task {
  /** The seed of the hidden key and of the evaluation prompts. */
  readonly seed: number;
  /** The alphabet, of `k` letters. */
  readonly alphabet: string;
  /** L, the letters of a prompt and of its target. */
  readonly length: number;
  /** The hidden key: `L` shifts, each in `0…k−1`. */
  readonly key: readonly number[];
  /** The target completion of a prompt (its encryption), or `undefined` for an invalid prompt. */
  target(prompt: string): string | undefined;
  /**
   * The hidden token rewards of a completion, one per response token, EOS included:
   * `completion.length + 1` numbers when the completion is shorter than `maxResponseTokens`
   * (the last one is EOS's, always 0), else `completion.length` numbers. Entry `t` is `1/L` when
   * `t < L` and letter `t` is the target's, else 0. Their sum is `reward(prompt, completion)` up
   * to floating-point rounding. Never throws.
   */
  tokenRewards(prompt: string, completion: string): number[];
}

/**
 * Build a Vigenère-cipher task: encrypt a random letter string with a hidden key.
 *
 * Prompts are `L` letters of a `k`-letter alphabet followed by `">"` (`"cabd…>"`). A hidden key
 * `κ ∈ {0…k−1}^L`, drawn from `seed`, fixes the target letter of position `t`:
 * `y_t = alphabet[(index(x_t) + κ_t) mod k]`. The reward gives one point per right position,
 * `RM(W) = (1/L) Σ_{t<L} 𝟙[c_t = y_t]` ∈ [0, 1], where `c` is the completion: positions the
 * completion does not reach count 0, letters after the `L`-th are ignored, an invalid prompt
 * earns 0, and nothing throws on garbage. So `RM(W) = Σ_t r_t` with token rewards
 * `r_t = 𝟙[c_t = y_t]/L` that depend only on the position `t` and the prompt's letter `x_t` —
 * the setting of the paper's Theorem 1 with token rewards a small transformer with learned
 * positions can learn, and with no reward for length. `maxResponseTokens` is `L + 1` (the
 * target and EOS).
 *
 * The evaluation set holds `evalSize` distinct prompts drawn once from `seed` (with their targets
 * as answers); `prompts` and `sftExamples` never produce them. `sftExamples` pairs fresh training
 * prompts with their targets. Vocabulary: EOS (id 0), the alphabet, then `">"`.
 *
 * @see arXiv 2506.02553, Theorem 1 (Eq. 21): when `RM(W) = Σ_t r_t`, response-level policy
 * gradients are unbiased for the token-level objective; Theorem 2 (Eq. 28) and TRePO estimate each
 * token's own share of it.
 *
 * Used by the credit variant of `deno task compare`.
 *
 * Preconditions: `2 ≤ k`, `1 ≤ L ≤ 64`, `1 ≤ evalSize ≤ k^L / 2`.
 *
 * @param options Seed, alphabet, length, evaluation-set size and name.
 * @returns The task, with `key`, `target` and `tokenRewards`.
 * @throws {TypeError} For a non-string alphabet or name, or non-integer sizes.
 * @throws {RangeError} For a bad alphabet or sizes outside the preconditions.
 *
 * @example A two-letter cipher worked by hand
 * ```ts
 * import { createVigenereCipher } from "./vigenere_cipher.ts";
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 *
 * const task = createVigenereCipher({ alphabet: "ab", length: 3, evalSize: 2, seed: 3 });
 * const [k0, k1, k2] = task.key; // each shift is 0 or 1
 * const flip = (c: string, s: number) => (s === 0 ? c : c === "a" ? "b" : "a");
 * const target = flip("a", k0) + flip("a", k1) + flip("b", k2);
 * assertEquals(task.target("aab>"), target);
 * assertEquals(task.reward("aab>", target), 1);
 * assertEquals(task.reward("aab>", target.slice(0, 2)), 2 / 3); // the third position is missed
 * assertEquals(task.tokenRewards("aab>", target.slice(0, 2)), [1 / 3, 1 / 3, 0]); // EOS earns 0
 * assertEquals(task.reward("aab>", "\uFFFD"), 0);
 * const r = task.tokenRewards("aab>", "abab");
 * assertAlmostEquals(r.reduce((s, x) => s + x, 0), task.reward("aab>", "abab"), 1e-12);
 * ```
 */
export function createVigenereCipher(options: VigenereCipherOptions = {}): VigenereCipherTask {
  const context = "Cannot create the Vigenère cipher task";
  const seed = checkNumber(context, "seed", options.seed ?? 1);
  const alphabet = options.alphabet ?? "abcd";
  if (typeof alphabet !== "string") {
    throw new TypeError(`${context}: alphabet must be a string, got ${typeof alphabet}`);
  }
  const letters = Array.from(alphabet);
  if (
    letters.length < 2 || letters.includes(PROMPT_END) ||
    letters.some((c) => c.length !== 1) || new Set(letters).size !== letters.length
  ) {
    throw new RangeError(
      `${context}: alphabet must hold at least two distinct single characters other than ">", got ${
        JSON.stringify(alphabet)
      }`,
    );
  }
  const length = checkInteger(context, "length", options.length ?? 16, 1);
  if (length > MAX_LENGTH) {
    throw new RangeError(`${context}: length must be at most ${MAX_LENGTH}, got ${length}`);
  }
  const k = letters.length;
  const evalSize = checkInteger(context, "evalSize", options.evalSize ?? 200, 1);
  if (evalSize > k ** length / 2) {
    throw new RangeError(
      `${context}: evalSize must be at most half of the ${k ** length} prompts, got ${evalSize}`,
    );
  }
  const name = options.name ?? "vigenereCipher";
  if (typeof name !== "string") {
    throw new TypeError(`${context}: name must be a string, got ${typeof name}`);
  }
  const tokenizer = charTokenizer(alphabet + PROMPT_END);
  const index = new Map(letters.map((c, i) => [c, i]));
  const rng = new Random(seed);
  const key: readonly number[] = Object.freeze(Array.from({ length }, () => rng.int(k)));
  const maxTokens = length + 1;

  function draw(r: Random): string {
    let s = "";
    for (let t = 0; t < length; t++) s += letters[r.int(k)];
    return s + PROMPT_END;
  }
  function encrypt(prompt: string): string {
    let y = "";
    for (let t = 0; t < length; t++) y += letters[(index.get(prompt[t])! + key[t]) % k];
    return y;
  }
  function target(prompt: string): string | undefined {
    if (typeof prompt !== "string" || prompt.length !== length + 1) return undefined;
    if (prompt[length] !== PROMPT_END) return undefined;
    for (let t = 0; t < length; t++) if (!index.has(prompt[t])) return undefined;
    return encrypt(prompt);
  }

  const evalRng = rng.split();
  const evalPrompts = new Set<string>();
  while (evalPrompts.size < evalSize) evalPrompts.add(draw(evalRng));
  const evalSet: readonly Example[] = Object.freeze(
    [...evalPrompts].map((prompt): Example => Object.freeze({ prompt, answer: encrypt(prompt) })),
  );
  function trainingPrompt(r: Random): string {
    for (;;) {
      const prompt = draw(r);
      if (!evalPrompts.has(prompt)) return prompt;
    }
  }

  function tokenRewards(prompt: string, completion: string): number[] {
    if (typeof completion !== "string") return [];
    const n = completion.length;
    const out = new Array<number>(n < maxTokens ? n + 1 : n).fill(0);
    const y = target(prompt);
    if (y === undefined) return out;
    for (let t = 0; t < Math.min(n, length); t++) if (completion[t] === y[t]) out[t] = 1 / length;
    return out;
  }
  function reward(prompt: string, completion: string): number {
    if (typeof completion !== "string") return 0;
    const y = target(prompt);
    if (y === undefined) return 0;
    let right = 0;
    for (let t = 0; t < Math.min(completion.length, length); t++) {
      if (completion[t] === y[t]) right++;
    }
    return right / length;
  }

  return Object.freeze({
    name,
    seed,
    alphabet,
    length,
    key,
    tokenizer,
    maxResponseTokens: maxTokens,
    prompts(r: Random, n: number): string[] {
      checkInteger(`Cannot draw ${name} prompts`, "n", n, 0);
      return Array.from({ length: n }, () => trainingPrompt(r));
    },
    reward,
    tokenRewards,
    target,
    evalSet,
    sftExamples(r: Random, n: number): Example[] {
      checkInteger(`Cannot draw ${name} examples`, "n", n, 0);
      return Array.from({ length: n }, () => {
        const prompt = trainingPrompt(r);
        return { prompt, answer: encrypt(prompt) };
      });
    },
  });
}

/**
 * The default Vigenère-cipher task: seed 1, alphabet `"abcd"`, prompts of 16 letters then `">"`,
 * 200 held-out evaluation prompts, responses of at most 17 tokens (16 letters and EOS).
 * Vocabulary: EOS (id 0) then `abcd>` (6 tokens). See {@linkcode createVigenereCipher}.
 *
 * @see arXiv 2506.02553, Theorem 1: `RM(W) = Σ_t r_t` with `r_t = 𝟙[c_t = y_t]/16`.
 *
 * @example
 * ```ts
 * import { vigenereCipher } from "./vigenere_cipher.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals([vigenereCipher.evalSet.length, vigenereCipher.maxResponseTokens], [200, 17]);
 * const { prompt, answer } = vigenereCipher.evalSet[0];
 * assertEquals(vigenereCipher.reward(prompt, answer), 1);
 * assertEquals(vigenereCipher.reward(prompt, answer + "abc"), 1); // letters after the 16th are ignored
 * ```
 */
export const vigenereCipher: VigenereCipherTask = createVigenereCipher();
