/**
 * A Hugging Face tokenizer (`tokenizer.json` through `@huggingface/tokenizers`) with its chat
 * template (`chat_template.jinja` or `tokenizer_config.json`, rendered by `@huggingface/jinja`).
 *
 * @module
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { Template } from "@huggingface/jinja";

/** One chat message. */
export interface ChatMessage {
  /** `"system"`, `"user"`, `"assistant"`, … */
  role: string;
  /** The text. */
  content: string;
}

/** Options of {@linkcode HfTokenizer.applyChatTemplate}. */
export interface ChatTemplateOptions {
  /** Append the assistant turn's opening (default false), as transformers' `add_generation_prompt`. */
  addGenerationPrompt?: boolean;
}

/** The files a tokenizer was read from, kept verbatim so that saving writes them back. */
export interface TokenizerFiles {
  /** `tokenizer.json`. */
  tokenizerJson: string;
  /** `tokenizer_config.json` (`"{}"` when absent). */
  tokenizerConfig: string;
  /** `chat_template.jinja`, when the folder has one. */
  chatTemplateJinja?: string;
}

/** A text tokenizer of a pretrained model. */
export interface HfTokenizer {
  /** Number of ids, added tokens included (the largest id + 1). */
  readonly vocabSize: number;
  /** End-of-sequence ids (`generation_config.json`, else the tokenizer's `eos_token`). */
  readonly eosTokenIds: readonly number[];
  /** The padding id (`pad_token`, else the first EOS id). */
  readonly padTokenId: number;
  /** The chat template source, if any. */
  readonly chatTemplate: string | undefined;
  /** The source files. */
  readonly files: TokenizerFiles;
  /** Text → ids (no special tokens are added unless the tokenizer's post-processor adds them). */
  encode(text: string): number[];
  /** Ids → text; `skipSpecialTokens` drops special tokens (default false). */
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /**
   * Render the chat template like transformers' `apply_chat_template(…, tokenize=False)`.
   *
   * @throws {Error} When there is no template or it fails to render (with the reason).
   */
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string;
}

function tokenContent(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (
    typeof value === "object" && value !== null &&
    typeof (value as { content?: unknown }).content === "string"
  ) {
    return (value as { content: string }).content;
  }
  return undefined;
}

/**
 * Build a tokenizer from the text of its files.
 *
 * @param files `tokenizer.json`, `tokenizer_config.json` and `chat_template.jinja` texts.
 * @param eosTokenIds EOS ids from `generation_config.json`, if known.
 * @returns The tokenizer.
 * @throws {Error} When `tokenizer.json` or `tokenizer_config.json` is not valid JSON.
 */
export function createHfTokenizer(
  files: TokenizerFiles,
  eosTokenIds?: readonly number[],
): HfTokenizer {
  let json: Record<string, unknown>;
  let config: Record<string, unknown>;
  try {
    json = JSON.parse(files.tokenizerJson);
  } catch (error) {
    throw new Error(`Cannot read tokenizer.json: ${(error as Error).message}`);
  }
  try {
    config = JSON.parse(files.tokenizerConfig);
  } catch (error) {
    throw new Error(`Cannot read tokenizer_config.json: ${(error as Error).message}`);
  }
  const tokenizer = new Tokenizer(json, config);
  let vocabSize = 0;
  for (const id of tokenizer.get_vocab(true).values()) vocabSize = Math.max(vocabSize, id + 1);
  const idOf = (key: string): number | undefined => {
    const content = tokenContent(config[key]);
    return content === undefined ? undefined : tokenizer.token_to_id(content);
  };
  const eosFromConfig = idOf("eos_token");
  const eos = eosTokenIds !== undefined && eosTokenIds.length > 0
    ? [...eosTokenIds]
    : eosFromConfig !== undefined
    ? [eosFromConfig]
    : [];
  const padTokenId = idOf("pad_token") ?? eos[0] ?? 0;
  const chatTemplate = files.chatTemplateJinja ??
    (typeof config.chat_template === "string" ? config.chat_template : undefined);
  let template: Template | undefined;
  const specials: Record<string, string> = {};
  for (const key of ["bos_token", "eos_token", "pad_token", "unk_token"]) {
    const content = tokenContent(config[key]);
    if (content !== undefined) specials[key] = content;
  }
  return {
    vocabSize,
    eosTokenIds: eos,
    padTokenId,
    chatTemplate,
    files,
    encode: (text) => tokenizer.encode(text).ids,
    decode: (ids, options = {}) =>
      ids.length === 0
        ? ""
        : tokenizer.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? false }),
    applyChatTemplate(messages, options = {}) {
      const context = "Cannot apply the chat template";
      if (chatTemplate === undefined) {
        throw new Error(
          `${context}: the tokenizer has none (no chat_template.jinja, no chat_template in tokenizer_config.json)`,
        );
      }
      try {
        template ??= new Template(chatTemplate);
        return template.render({
          ...specials,
          messages: messages.map((m) => ({ ...m })),
          add_generation_prompt: options.addGenerationPrompt ?? false,
        });
      } catch (error) {
        throw new Error(`${context}: ${error instanceof Error ? error.message : String(error)}`);
      }
    },
  };
}
