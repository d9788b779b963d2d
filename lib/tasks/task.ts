/**
 * What a verifiable task is: a character-level tokenizer, a prompt distribution, a response-level
 * reward `RM(W) ∈ [0, 1]`, a fixed evaluation set and supervised warm-start examples.
 *
 * @module
 */
import type { Random } from "../random.ts";

/**
 * A task's tokenizer: a character-level one (`charTokenizer`), or a pretrained model's
 * (`textTokenizer` over a Hugging Face tokenizer). Token id `i` displays as `vocab[i]`.
 *
 * The EOS token `eos` ends a sampled response (the samplers take one `eosToken`: `eos`, the first
 * of `eosIds`). `decode` stops at the first of any EOS id, leaves special tokens out and never
 * throws, so that reward functions can be applied to anything a policy samples.
 */
export interface Tokenizer {
  /** The vocabulary's display strings; the index is the token id. */
  readonly vocab: readonly string[];
  /** The number of token ids (the model's vocabulary size), `vocab.length`. */
  readonly vocabSize: number;
  /** The EOS id that ends sampling (the first of `eosIds`). */
  readonly eos: number;
  /** Every id that ends a response, `eos` first; absent means `[eos]`. */
  readonly eosIds?: readonly number[];
  /** The padding id; absent means `eos`. */
  readonly padId?: number;
  /**
   * Encode a string (no special tokens are added).
   *
   * @throws {RangeError} When a character is not in the vocabulary (character tokenizers).
   */
  encode(text: string): number[];
  /**
   * Decode token ids, stopping at the first EOS (which is not included), special tokens
   * skipped. Ids outside the vocabulary (or not integers) become `"\uFFFD"`. Never throws.
   */
  decode(tokens: readonly number[]): string;
}

/** A prompt with its target completion (the text after the prompt, without EOS). */
export interface Example {
  /** The prompt text. */
  prompt: string;
  /** The target completion text, without the EOS token. */
  answer: string;
}

/**
 * A verifiable synthetic task for online RL from response-level rewards.
 *
 * @see He, Xia, Zhou, Wei, "Response-Level Rewards Are All You Need for Online Reinforcement
 * Learning in LLMs: A Mathematical Perspective", arXiv 2506.02553 — `reward` plays the role of
 * `RM(W)`.
 */
export interface Task {
  /** The task's name, as accepted by `taskByName`. */
  readonly name: string;
  /** The task's character-level tokenizer. */
  readonly tokenizer: Tokenizer;
  /** A sensible `maxTokens` for sampling a response (EOS included). */
  readonly maxResponseTokens: number;
  /** Draw `n` training prompts. */
  prompts(rng: Random, n: number): string[];
  /** Response-level reward in [0, 1] of a decoded completion (EOS stripped); never throws. */
  reward(prompt: string, completion: string): number;
  /** A fixed, deterministic evaluation set. */
  readonly evalSet: readonly Example[];
  /** Draw `n` supervised examples; `answer` is the target completion text (without EOS). */
  sftExamples(rng: Random, n: number): Example[];
}

/** Options of {@linkcode charTokenizer}. */
export interface CharTokenizerOptions {
  /** The display string of the EOS token (id 0); default `"<eos>"`. */
  eosToken?: string;
}

/**
 * Build a character-level tokenizer whose token 0 is EOS and tokens 1… are the given characters.
 *
 * Used by every task in `lib/tasks/`.
 *
 * Preconditions: the characters are distinct single UTF-16 code units.
 *
 * @param chars The characters, as a string or an array of one-character strings.
 * @param options The EOS token's display string.
 * @returns A tokenizer with `vocab = [eosToken, ...chars]` and `eos = 0`.
 * @throws {TypeError} When an entry is not a single character.
 * @throws {RangeError} When a character repeats or there are no characters.
 *
 * @example Round trip
 * ```ts
 * import { charTokenizer } from "./task.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const tok = charTokenizer("0123456789+=");
 * assertEquals(tok.vocabSize, 13);
 * assertEquals(tok.encode("12+3="), [2, 3, 11, 4, 12]);
 * assertEquals(tok.decode([2, 3, tok.eos, 4]), "12");
 * assertEquals(tok.decode([99]), "\uFFFD");
 * ```
 */
export function charTokenizer(
  chars: string | readonly string[],
  options: CharTokenizerOptions = {},
): Tokenizer {
  const context = "Cannot build the character tokenizer";
  const list = typeof chars === "string" ? Array.from(chars) : [...chars];
  if (list.length === 0) {
    throw new RangeError(`${context}: chars must contain at least one character, got none`);
  }
  const eosToken = options.eosToken ?? "<eos>";
  const ids = new Map<string, number>();
  list.forEach((c, i) => {
    if (typeof c !== "string" || c.length !== 1) {
      throw new TypeError(
        `${context}: every entry must be a single character, got ${
          JSON.stringify(c)
        } at index ${i}`,
      );
    }
    if (ids.has(c)) {
      throw new RangeError(
        `${context}: characters must be distinct, got ${JSON.stringify(c)} twice`,
      );
    }
    ids.set(c, i + 1);
  });
  const vocab: readonly string[] = Object.freeze([eosToken, ...list]);
  const eos = 0;
  return Object.freeze({
    vocab,
    vocabSize: vocab.length,
    eos,
    eosIds: Object.freeze([eos]),
    padId: eos,
    encode(text: string): number[] {
      if (typeof text !== "string") {
        throw new TypeError(`Cannot encode text: text must be a string, got ${typeof text}`);
      }
      const out: number[] = [];
      for (let i = 0; i < text.length; i++) {
        const id = ids.get(text[i]);
        if (id === undefined) {
          throw new RangeError(
            `Cannot encode text: character ${
              JSON.stringify(text[i])
            } at index ${i} is not in the vocabulary ${JSON.stringify(list.join(""))}`,
          );
        }
        out.push(id);
      }
      return out;
    },
    decode(tokens: readonly number[]): string {
      let out = "";
      if (tokens === null || typeof tokens !== "object" || typeof tokens.length !== "number") {
        return out;
      }
      for (let i = 0; i < tokens.length; i++) {
        const id = tokens[i];
        if (id === eos) break;
        out += Number.isInteger(id) && id > 0 && id < vocab.length ? vocab[id] : "\uFFFD";
      }
      return out;
    },
  });
}
