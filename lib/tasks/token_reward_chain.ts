/**
 * A task whose response-level reward is, by construction, a sum of KNOWN hidden token rewards:
 * `RM(W) = Σ_t r(W[0..t-1], w_t)`. It lets the theorem work train on the same objective from
 * token-level and from response-level rewards and compare.
 *
 * @module
 */
import type { Random } from "../random.ts";
import { checkInteger, checkNumber } from "../validate.ts";
import { charTokenizer, type Example, type Task } from "./task.ts";

/** The separator between the prompt's letters and the response. */
const PROMPT_END = ">";
/** The character that stands for the EOS action inside the reward hash. */
const EOS_SYMBOL = "\u0000";
/** Largest number of prefixes one prompt's exhaustive optimum may visit. */
const MAX_TREE_NODES = 2_000_000;
/** Largest number of distinct prompts (the evaluation set holds all of them). */
const MAX_PROMPTS = 4096;

/** Options of {@linkcode createTokenRewardChain}. */
export interface TokenRewardChainOptions {
  /** Seed of the hidden token rewards (default 1). */
  seed?: number;
  /** The response alphabet: distinct single characters other than `">"` (default `"abcd"`). */
  alphabet?: string;
  /** Letters in a prompt (default 3); prompts are every such string followed by `">"`. */
  promptLength?: number;
  /** Tokens in a response, EOS included (default 6): at most this many letters. */
  maxResponseTokens?: number;
  /** The task's name (default `"tokenRewardChain"`). */
  name?: string;
}

/** A {@linkcode Task} whose reward is a known sum of token rewards. */
export interface TokenRewardChainTask extends Task {
  /** The seed of the hidden token rewards. */
  readonly seed: number;
  /** The response alphabet. */
  readonly alphabet: string;
  /**
   * The scaled token rewards of a completion, one per response token, EOS included:
   * `completion.length + 1` numbers when the completion is shorter than `maxResponseTokens`
   * (the last one is the reward of EOS), else `completion.length` numbers (no EOS was sampled).
   * Their sum is `reward(prompt, completion)` up to floating-point rounding. Never throws.
   */
  tokenRewards(prompt: string, completion: string): number[];
  /** The largest raw (integer) return `max_W Σ_t r_t` of a prompt; 0 for an invalid prompt. */
  optimum(prompt: string): number;
}

/** FNV-1a step over one UTF-16 code unit. */
function fnv(h: number, code: number): number {
  return Math.imul(h ^ code, 16777619) >>> 0;
}

/** murmur3's 32-bit finaliser. */
function fmix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

function hashString(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = fnv(h, s.charCodeAt(i));
  return h;
}

/** Raw integer reward in 0…9 of the action whose hash state (after the action) is `h`. */
function rawReward(h: number): number {
  const u = fmix(h) / 2 ** 32;
  return Math.floor(10 * u * u);
}

/**
 * Build a token-reward-chain task with known hidden token rewards.
 *
 * A response is a string of letters from `alphabet`, ended by EOS or cut at `maxResponseTokens`
 * tokens (a response of `maxResponseTokens` letters has no EOS). Every action — a letter or EOS —
 * taken after the prefix `p = prompt ⊕ W[0..t-1]` has a raw integer reward
 * `r(p, a) = ⌊10·u²⌋ ∈ {0, …, 9}`, `u = hash(seed, p, a) / 2³²` (FNV-1a then murmur3's
 * finaliser): fixed, pseudo-random and skewed towards 0. The response-level reward is
 * `RM(W) = Σ_t r(W[0..t-1], w_t) / M(prompt)` with `M(prompt) = max_W Σ_t r_t` found by exhaustive
 * search, so `RM ∈ [0, 1]`, `RM = 1` exactly for an optimal response (integer sums: no rounding; when
 * every reward of a prompt is 0, `M = 0` and `RM = 0`),
 * and the scaled token rewards `r_t / M` sum to `RM` — the setting of the paper's Theorem 1.
 * A character outside the alphabet breaks the chain: it and every later token earn 0. Invalid
 * prompts earn 0. Nothing throws on garbage.
 *
 * Prompts are all `|alphabet|^promptLength` letter strings followed by `">"`; the evaluation set is
 * all of them (so it is NOT disjoint from the training prompts), each with one optimal response
 * (ties broken towards EOS, then alphabet order) as its answer. `sftExamples` are random valid
 * responses of 1…`maxResponseTokens − 1` letters (a warm start towards well-formed output, not
 * towards the optimum).
 *
 * @see arXiv 2506.02553, Theorem 1 (Eq. 21): when `RM(W) = Σ_t r_t`, response-level policy
 * gradients are unbiased for the token-level objective.
 *
 * Preconditions: at most 4096 prompts and 2·10⁶ prefixes per prompt's search.
 *
 * @param options Seed, alphabet, prompt length, response length and name.
 * @returns The task, with `tokenRewards` and `optimum`.
 * @throws {TypeError} For a non-string alphabet or non-integer lengths.
 * @throws {RangeError} For a bad alphabet or sizes beyond the preconditions.
 *
 * @example The reward is the sum of the token rewards
 * ```ts
 * import { createTokenRewardChain } from "./token_reward_chain.ts";
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 *
 * const task = createTokenRewardChain({ seed: 3 });
 * const r = task.tokenRewards("abc>", "dab");
 * assertEquals(r.length, 4); // three letters and EOS
 * assertAlmostEquals(r.reduce((s, x) => s + x, 0), task.reward("abc>", "dab"), 1e-12);
 * const best = task.evalSet[0];
 * assertEquals(task.reward(best.prompt, best.answer), 1);
 * ```
 */
export function createTokenRewardChain(
  options: TokenRewardChainOptions = {},
): TokenRewardChainTask {
  const context = "Cannot create the token reward chain task";
  const seed = checkNumber(context, "seed", options.seed ?? 1);
  const alphabet = options.alphabet ?? "abcd";
  if (typeof alphabet !== "string") {
    throw new TypeError(`${context}: alphabet must be a string, got ${typeof alphabet}`);
  }
  if (alphabet.length === 0 || alphabet.includes(PROMPT_END) || alphabet.includes(EOS_SYMBOL)) {
    throw new RangeError(
      `${context}: alphabet must be non-empty and must not contain ">", got ${
        JSON.stringify(alphabet)
      }`,
    );
  }
  const promptLength = checkInteger(context, "promptLength", options.promptLength ?? 3, 1);
  const maxTokens = checkInteger(context, "maxResponseTokens", options.maxResponseTokens ?? 6, 1);
  const k = alphabet.length;
  const promptCount = k ** promptLength;
  if (promptCount > MAX_PROMPTS) {
    throw new RangeError(
      `${context}: alphabet size ${k} and promptLength ${promptLength} give ${promptCount} prompts, more than ${MAX_PROMPTS}`,
    );
  }
  let nodes = 0;
  for (let d = 0; d <= maxTokens; d++) nodes += k ** d;
  if (nodes > MAX_TREE_NODES) {
    throw new RangeError(
      `${context}: alphabet size ${k} and maxResponseTokens ${maxTokens} give ${nodes} prefixes per prompt, more than ${MAX_TREE_NODES}`,
    );
  }
  const tokenizer = charTokenizer(alphabet + PROMPT_END); // throws on repeated letters
  const name = options.name ?? "tokenRewardChain";
  const seedHash = fmix((Math.trunc(seed) >>> 0) ^ 0x2545f491);
  const letters = Array.from(alphabet);
  const letterSet = new Set(letters);
  const allPrompts: string[] = [];
  for (let i = 0; i < promptCount; i++) {
    let s = "";
    for (let j = promptLength - 1, x = i; j >= 0; j--, x = Math.floor(x / k)) {
      s = letters[x % k] + s;
    }
    allPrompts.push(s + PROMPT_END);
  }
  const validPrompts = new Set(allPrompts);

  /** Hash state after the prompt (the state of the empty response prefix). */
  function promptState(prompt: string): number {
    return fnv(hashString(fnv(seedHash, 0x7c), prompt), 0x7c);
  }

  const solved = new Map<string, { optimum: number; answer: string }>();
  function solve(prompt: string): { optimum: number; answer: string } {
    const cached = solved.get(prompt);
    if (cached !== undefined) return cached;
    // best(h, depth): the largest raw return from a prefix with hash state h and depth letters.
    const best = (h: number, depth: number): number => {
      if (depth === maxTokens) return 0;
      let value = rawReward(fnv(h, 0));
      for (const c of letters) {
        const hc = fnv(h, c.charCodeAt(0));
        value = Math.max(value, rawReward(hc) + best(hc, depth + 1));
      }
      return value;
    };
    const h0 = promptState(prompt);
    const optimum = best(h0, 0);
    // Recover one optimal response greedily along the optimal values.
    let answer = "";
    let h = h0;
    let remaining = optimum;
    for (let depth = 0; depth < maxTokens; depth++) {
      if (rawReward(fnv(h, 0)) === remaining) break;
      let moved = false;
      for (const c of letters) {
        const hc = fnv(h, c.charCodeAt(0));
        const r = rawReward(hc);
        if (r + best(hc, depth + 1) === remaining) {
          answer += c;
          remaining -= r;
          h = hc;
          moved = true;
          break;
        }
      }
      if (!moved) break;
    }
    const result = { optimum, answer };
    solved.set(prompt, result);
    return result;
  }

  function rawTokenRewards(prompt: string, completion: string): number[] {
    const n = completion.length;
    const out = new Array<number>(n < maxTokens ? n + 1 : n).fill(0);
    let h = promptState(prompt);
    for (let i = 0; i < Math.min(n, maxTokens); i++) {
      if (!letterSet.has(completion[i])) return out;
      h = fnv(h, completion.charCodeAt(i));
      out[i] = rawReward(h);
    }
    if (n < maxTokens) out[n] = rawReward(fnv(h, 0));
    return out;
  }

  function tokenRewards(prompt: string, completion: string): number[] {
    if (typeof completion !== "string") return [];
    if (typeof prompt !== "string" || !validPrompts.has(prompt)) {
      return new Array<number>(
        completion.length < maxTokens ? completion.length + 1 : completion.length,
      )
        .fill(0);
    }
    const m = solve(prompt).optimum;
    return rawTokenRewards(prompt, completion).map((r) => (m > 0 ? r / m : 0));
  }

  function reward(prompt: string, completion: string): number {
    if (typeof prompt !== "string" || typeof completion !== "string") return 0;
    if (!validPrompts.has(prompt)) return 0;
    const m = solve(prompt).optimum;
    if (m === 0) return 0;
    return rawTokenRewards(prompt, completion).reduce((s, r) => s + r, 0) / m;
  }

  let evalSet: readonly Example[] | undefined;
  return Object.freeze({
    name,
    seed,
    alphabet,
    tokenizer,
    maxResponseTokens: maxTokens,
    prompts(rng: Random, n: number): string[] {
      checkInteger(`Cannot draw ${name} prompts`, "n", n, 0);
      return Array.from({ length: n }, () => allPrompts[rng.int(promptCount)]);
    },
    reward,
    tokenRewards,
    optimum(prompt: string): number {
      return typeof prompt === "string" && validPrompts.has(prompt) ? solve(prompt).optimum : 0;
    },
    get evalSet(): readonly Example[] {
      evalSet ??= Object.freeze(
        allPrompts.map((prompt): Example =>
          Object.freeze({ prompt, answer: solve(prompt).answer })
        ),
      );
      return evalSet;
    },
    sftExamples(rng: Random, n: number): Example[] {
      checkInteger(`Cannot draw ${name} examples`, "n", n, 0);
      return Array.from({ length: n }, () => {
        const prompt = allPrompts[rng.int(promptCount)];
        const length = maxTokens > 1 ? 1 + rng.int(maxTokens - 1) : 0;
        let answer = "";
        for (let i = 0; i < length; i++) answer += letters[rng.int(k)];
        return { prompt, answer };
      });
    },
  });
}

/**
 * The default token-reward-chain task: seed 1, alphabet `"abcd"`, prompts of three letters then
 * `">"` (64 prompts, all in the evaluation set), responses of at most 6 tokens (EOS included).
 * Vocabulary: EOS (id 0) then `abcd>` (6 tokens). See {@linkcode createTokenRewardChain}.
 *
 * @see arXiv 2506.02553, Theorem 1.
 *
 * @example
 * ```ts
 * import { tokenRewardChain } from "./token_reward_chain.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(tokenRewardChain.evalSet.length, 64);
 * assertEquals(tokenRewardChain.reward("abc>", "\uFFFD"), 0); // garbage breaks the chain
 * ```
 */
export const tokenRewardChain: TokenRewardChainTask = createTokenRewardChain();

/**
 * The scaled hidden token rewards of {@linkcode tokenRewardChain}: one per response token, EOS
 * included when the completion is shorter than 6 letters; they sum to
 * `tokenRewardChain.reward(prompt, completion)`. Never throws.
 *
 * @see arXiv 2506.02553, Theorem 1: `RM(W) = Σ_t r(W[0..t-1], w_t)`.
 *
 * @param prompt A prompt such as `"abc>"`.
 * @param completion The decoded completion, EOS stripped.
 * @returns The token rewards, each in [0, 1].
 *
 * @example
 * ```ts
 * import { tokenRewardChain, tokenRewards } from "./token_reward_chain.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const sum = tokenRewards("dcb>", "ab").reduce((s, r) => s + r, 0);
 * assertAlmostEquals(sum, tokenRewardChain.reward("dcb>", "ab"), 1e-12);
 * ```
 */
export function tokenRewards(prompt: string, completion: string): number[] {
  return tokenRewardChain.tokenRewards(prompt, completion);
}
