/**
 * Reading a `/v1/completions` response into token ids and log-probs, row by row, refusing
 * anything malformed or truncated.
 *
 * @module
 */
import { describe } from "../validate.ts";

/** What a completions request asked for, to check the response against. */
export interface CompletionExpectation {
  /** Prompts in the request `N`. */
  prompts: number;
  /** `n`: choices per prompt. */
  n: number;
  /** `max_tokens` of the request. */
  maxTokens: number;
  /** The EOS token id: a response ends with it (or a stop id) or has exactly `maxTokens` tokens. */
  eosToken: number;
  /** Further ids that end a response like EOS (several EOS ids of `generation_config.json`). */
  stopTokens?: readonly number[];
  /** Token ids must be below this (when known). */
  vocabSize?: number;
}

/** The decoded choices, row `i·n + g` = choice `g` of prompt `i`. */
export interface CompletionRows {
  /** New token ids of each row (EOS included when generated). */
  tokens: number[][];
  /** The server's log-prob of each new token. */
  logProbs: number[][];
}

/**
 * Read the choices of a vLLM-style completions response (`logprobs` requested,
 * `return_tokens_as_token_ids: true`) into rows.
 *
 * Token ids come from `logprobs.tokens`, whose entries are `"token_id:<id>"`; log-probs from
 * `logprobs.token_logprobs`. When a choice also carries `token_ids` (vLLM's `return_token_ids`)
 * they must agree. Row order: vLLM numbers choices prompt by prompt, `index = i·n + g`, so
 * `choices[k].index` is the row.
 *
 * Refused (an error naming the row): a missing or wrong number of choices, duplicate or
 * out-of-range indices, missing log-probs, entries that are not `token_id:<id>`, ids outside
 * `[0, vocabSize)`, non-finite or positive log-probs, an empty response, EOS before the end, a
 * response longer than `maxTokens`, or one that ends without EOS before `maxTokens` (a
 * `finish_reason` of `"length"` must mean exactly `maxTokens` tokens).
 *
 * @param context The failed operation, for error messages.
 * @param body The parsed JSON response.
 * @param expect What the request asked for.
 * @returns `N·n` rows.
 * @throws {TypeError} For a response that is malformed or truncated.
 *
 * @example
 * ```ts
 * import { completionRows } from "./completion_choices.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const body = {
 *   choices: [{
 *     index: 0,
 *     finish_reason: "stop",
 *     logprobs: { tokens: ["token_id:4", "token_id:0"], token_logprobs: [-0.5, -1] },
 *   }],
 * };
 * const rows = completionRows("Cannot sample", body, { prompts: 1, n: 1, maxTokens: 3, eosToken: 0 });
 * assertEquals(rows, { tokens: [[4, 0]], logProbs: [[-0.5, -1]] });
 * ```
 */
export function completionRows(
  context: string,
  body: unknown,
  expect: CompletionExpectation,
): CompletionRows {
  const count = expect.prompts * expect.n;
  const choices = (body as { choices?: unknown } | null)?.choices;
  if (!Array.isArray(choices)) {
    throw new TypeError(`${context}: the response has no choices array, got ${describe(choices)}`);
  }
  if (choices.length !== count) {
    throw new TypeError(
      `${context}: the response must hold ${expect.prompts} prompts × n=${expect.n} = ${count} choices, got ${choices.length}`,
    );
  }
  const tokens = new Array<number[]>(count);
  const logProbs = new Array<number[]>(count);
  choices.forEach((choice: unknown, k: number) => {
    const index = (choice as { index?: unknown } | null)?.index ?? k;
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= count) {
      throw new TypeError(
        `${context}: choices[${k}].index must be an integer in [0, ${count}), got ${
          describe(index)
        }`,
      );
    }
    if (tokens[index] !== undefined) {
      throw new TypeError(`${context}: choices[${k}].index ${index} appears twice`);
    }
    const row = readChoice(
      `${context}: choice ${index}`,
      choice as Record<string, unknown>,
      expect,
    );
    tokens[index] = row.tokens;
    logProbs[index] = row.logProbs;
  });
  return { tokens, logProbs };
}

function readChoice(
  where: string,
  choice: Record<string, unknown>,
  expect: CompletionExpectation,
): { tokens: number[]; logProbs: number[] } {
  const logprobs = choice.logprobs as Record<string, unknown> | null | undefined;
  const names = logprobs?.tokens;
  const values = logprobs?.token_logprobs;
  if (!Array.isArray(names) || !Array.isArray(values)) {
    throw new TypeError(
      `${where} has no logprobs.tokens / logprobs.token_logprobs (was logprobs requested?), got ${
        describe(logprobs)
      }`,
    );
  }
  if (names.length !== values.length) {
    throw new TypeError(
      `${where}: logprobs.tokens has ${names.length} entries but token_logprobs ${values.length}`,
    );
  }
  const tokens = names.map((name, t) => tokenId(`${where}, token ${t}`, name, expect.vocabSize));
  const logProbs = values.map((value, t) => {
    if (typeof value !== "number" || !Number.isFinite(value) || value > 1e-3) {
      throw new TypeError(
        `${where}, token ${t}: the log-prob must be a finite number ≤ 0, got ${describe(value)}`,
      );
    }
    return value;
  });
  if (Array.isArray(choice.token_ids)) {
    const ids = choice.token_ids;
    if (ids.length !== tokens.length || ids.some((id, t) => id !== tokens[t])) {
      throw new TypeError(`${where}: token_ids disagree with logprobs.tokens`);
    }
  }
  checkLength(where, tokens, choice.finish_reason, expect);
  return { tokens, logProbs };
}

function tokenId(where: string, name: unknown, vocabSize: number | undefined): number {
  const match = typeof name === "string" ? /^token_id:(-?\d+)$/.exec(name) : null;
  if (match === null) {
    throw new TypeError(
      `${where}: expected "token_id:<id>" (return_tokens_as_token_ids), got ${describe(name)}`,
    );
  }
  const id = Number(match[1]);
  if (id < 0 || (vocabSize !== undefined && id >= vocabSize)) {
    throw new TypeError(
      `${where}: token id ${id} is outside the vocabulary [0, ${vocabSize ?? "∞"})`,
    );
  }
  return id;
}

function checkLength(
  where: string,
  tokens: number[],
  finishReason: unknown,
  expect: CompletionExpectation,
): void {
  const { maxTokens, eosToken } = expect;
  const stops = new Set([eosToken, ...(expect.stopTokens ?? [])]);
  const length = tokens.length;
  if (length === 0) throw new TypeError(`${where}: the response is empty`);
  if (length > maxTokens) {
    throw new TypeError(`${where}: ${length} tokens, more than max_tokens ${maxTokens}`);
  }
  const eosAt = tokens.findIndex((id) => stops.has(id));
  if (eosAt >= 0 && eosAt < length - 1) {
    throw new TypeError(
      `${where}: EOS ${tokens[eosAt]} at token ${eosAt}, before the end (${length})`,
    );
  }
  const endsWithEos = eosAt === length - 1;
  if (!endsWithEos && length !== maxTokens) {
    throw new TypeError(
      `${where}: truncated: ${length} tokens without EOS ${eosToken}, fewer than max_tokens ${maxTokens} (finish_reason ${
        describe(finishReason)
      })`,
    );
  }
  if (finishReason === "length" && length !== maxTokens) {
    throw new TypeError(
      `${where}: finish_reason "length" after ${length} tokens, but max_tokens is ${maxTokens}`,
    );
  }
}
