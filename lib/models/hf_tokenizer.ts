/**
 * A Hugging Face tokenizer (`tokenizer.json` through `@huggingface/tokenizers`) with its chat
 * template (`chat_template.jinja` or `tokenizer_config.json`, rendered by `@huggingface/jinja`).
 *
 * @module
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { parse, Template, tokenize } from "@huggingface/jinja";

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
   * @throws {SyntaxError} When the template does not compile, naming its file and the line and
   *   column of the tag at fault.
   * @throws {Error} When there is no template or it fails to render (with the file and reason).
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

/** The lexer options `Template` uses (so token counts match its own). */
const LEXER = { lstrip_blocks: true, trim_blocks: true };

/** 1-based line and column of a character offset. */
function lineColumn(source: string, offset: number): string {
  const before = source.slice(0, offset).split("\n");
  return `line ${before.length}, column ${before[before.length - 1].length + 1}`;
}

/**
 * Where a Jinja template that does not compile goes wrong, as "line L, column C" (of the tag
 * that starts there), or undefined when it compiles. `@huggingface/jinja` tokens carry no
 * positions, so: a lexer error is located at the first tag whose prefix of the template no longer
 * lexes; a parser error at the tag holding the furthest token the parser read (counted by
 * lexing the prefixes that end after each tag), or at the end of the template.
 */
function templateErrorPosition(source: string): string | undefined {
  const tags: { start: number; end: number }[] = [];
  for (const match of source.matchAll(/\{[%{#]/g)) {
    const close = { "%": "%}", "{": "}}", "#": "#}" }[match[0][1]]!;
    const at = source.indexOf(close, match.index + 2);
    tags.push({ start: match.index, end: at < 0 ? source.length : at + 2 });
  }
  const lexes = (text: string) => {
    try {
      return tokenize(text, LEXER);
    } catch {
      return undefined;
    }
  };
  const tokens = lexes(source);
  if (tokens === undefined) {
    const bad = tags.find((tag) => lexes(source.slice(0, tag.end)) === undefined);
    return bad === undefined ? undefined : lineColumn(source, bad.start);
  }
  let furthest = -1;
  const watched = new Proxy(tokens, {
    get(target, key, receiver) {
      if (typeof key === "string" && /^\d+$/.test(key)) furthest = Math.max(furthest, Number(key));
      return Reflect.get(target, key, receiver);
    },
  });
  try {
    parse(watched);
    return undefined;
  } catch {
    const tag = tags.find((tag) => (lexes(source.slice(0, tag.end))?.length ?? 0) > furthest);
    return lineColumn(source, tag?.start ?? source.length);
  }
}

/**
 * Build a tokenizer from the text of its files.
 *
 * @param files `tokenizer.json`, `tokenizer_config.json` and `chat_template.jinja` texts.
 * @param eosTokenIds EOS ids from `generation_config.json`, if known.
 * @param dir The folder the files come from, named in errors (e.g. of the chat template).
 * @returns The tokenizer.
 * @throws {Error} When `tokenizer.json` or `tokenizer_config.json` is not valid JSON.
 */
export function createHfTokenizer(
  files: TokenizerFiles,
  eosTokenIds?: readonly number[],
  dir?: string,
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
      const file = `${dir === undefined ? "" : dir.endsWith("/") ? dir : `${dir}/`}${
        files.chatTemplateJinja === undefined
          ? "tokenizer_config.json (chat_template)"
          : "chat_template.jinja"
      }`;
      if (template === undefined) {
        try {
          template = new Template(chatTemplate);
        } catch (error) {
          const at = templateErrorPosition(chatTemplate);
          throw new SyntaxError(
            `${context}: ${file}${at === undefined ? "" : `, ${at}`}: ${
              error instanceof Error ? error.message : String(error)
            }; fix the template's syntax`,
          );
        }
      }
      try {
        return template.render({
          ...specials,
          messages: messages.map((m) => ({ ...m })),
          add_generation_prompt: options.addGenerationPrompt ?? false,
        });
      } catch (error) {
        throw new Error(
          `${context}: rendering ${file} failed: ${
            error instanceof Error ? error.message : String(error)
          }`,
        );
      }
    },
  };
}
