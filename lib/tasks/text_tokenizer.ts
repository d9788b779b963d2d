/**
 * A pretrained model's Hugging Face tokenizer as a task `Tokenizer`, so text tasks run on
 * pretrained policies with every recipe.
 *
 * @module
 */
import type { HfTokenizer } from "../models/hf_tokenizer.ts";
import type { Tokenizer } from "./task.ts";
import { checkInteger } from "../validate.ts";

/** A task tokenizer that wraps a Hugging Face tokenizer (kept for saving checkpoints). */
export interface TextTokenizer extends Tokenizer {
  /** Every id that ends a response, `eos` first. */
  readonly eosIds: readonly number[];
  /** The padding id. */
  readonly padId: number;
  /** The wrapped tokenizer (its files are written back by `savePretrained`). */
  readonly hfTokenizer: HfTokenizer;
}

/** Options of {@linkcode textTokenizer}. */
export interface TextTokenizerOptions {
  /** The model's vocabulary size (≥ the tokenizer's); default the tokenizer's. */
  vocabSize?: number;
}

/**
 * Wrap a Hugging Face tokenizer as a task `Tokenizer`: `encode` is the tokenizer's; `decode`
 * stops at the first of any EOS id and skips special tokens; `eos` is the first EOS id (the one
 * the samplers stop at; the others still end the decoded text); `vocab` holds each id's decoded
 * text, built on first use.
 *
 * Preconditions: the tokenizer has at least one EOS id.
 *
 * @param hf The tokenizer (from `loadPretrained`).
 * @param options The model's vocabulary size.
 * @returns A frozen tokenizer.
 * @throws {RangeError} When the tokenizer has no EOS id or `vocabSize` is smaller than its ids.
 *
 * @example The Qwen2 test fixture (run from the repository root)
 * ```ts
 * import { loadPretrainedFolder } from "../models/pretrained.ts";
 * import { textTokenizer } from "./text_tokenizer.ts";
 * import { initBackend } from "../backend.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const { policy, tokenizer } = await loadPretrainedFolder("tests/fixtures/hf/qwen2");
 * const tok = textTokenizer(tokenizer, { vocabSize: policy.config.vocabSize });
 * assertEquals(tok.eos, tokenizer.eosTokenIds[0]);
 * assertEquals(tok.decode([...tok.encode("12 apples"), tok.eos, ...tok.encode("x")]), "12 apples");
 * policy.dispose();
 * ```
 */
export function textTokenizer(hf: HfTokenizer, options: TextTokenizerOptions = {}): TextTokenizer {
  const context = "Cannot wrap the tokenizer";
  if (hf.eosTokenIds.length === 0) {
    throw new RangeError(
      `${context}: it has no EOS id (no eos_token_id in generation_config.json, no eos_token in tokenizer_config.json)`,
    );
  }
  const vocabSize = options.vocabSize === undefined
    ? hf.vocabSize
    : checkInteger(context, "vocabSize", options.vocabSize, 1);
  if (vocabSize < hf.vocabSize) {
    throw new RangeError(
      `${context}: vocabSize ${vocabSize} is smaller than the tokenizer's ${hf.vocabSize} ids`,
    );
  }
  const eosIds = Object.freeze([...hf.eosTokenIds]);
  const stops = new Set(eosIds);
  let vocab: readonly string[] | undefined;
  const tokenizer: TextTokenizer = {
    get vocab(): readonly string[] {
      vocab ??= Object.freeze(
        Array.from({ length: vocabSize }, (_, i) => i < hf.vocabSize ? hf.decode([i]) : "\uFFFD"),
      );
      return vocab;
    },
    vocabSize,
    eos: eosIds[0],
    eosIds,
    padId: hf.padTokenId,
    hfTokenizer: hf,
    encode(text: string): number[] {
      if (typeof text !== "string") {
        throw new TypeError(`Cannot encode text: text must be a string, got ${typeof text}`);
      }
      return hf.encode(text);
    },
    decode(tokens: readonly number[]): string {
      if (tokens === null || typeof tokens !== "object" || typeof tokens.length !== "number") {
        return "";
      }
      let out = "";
      let run: number[] = [];
      const flush = () => {
        if (run.length > 0) {
          try {
            out += hf.decode(run, { skipSpecialTokens: true });
          } catch {
            out += "\uFFFD";
          }
          run = [];
        }
      };
      for (let i = 0; i < tokens.length; i++) {
        const id = tokens[i];
        if (stops.has(id)) break;
        if (Number.isInteger(id) && id >= 0 && id < hf.vocabSize) {
          run.push(id);
        } else {
          flush();
          out += "\uFFFD";
        }
      }
      flush();
      return out;
    },
  };
  return Object.freeze(tokenizer);
}
