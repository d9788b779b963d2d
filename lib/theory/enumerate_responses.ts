/**
 * Exhaustive enumeration of every response a policy can produce on a tiny vocabulary, so that
 * expectations over responses become exact finite sums.
 *
 * @module
 */
import { checkInteger, describe } from "../validate.ts";
import type { SequenceContext } from "./sequence_policy.ts";

/** A non-terminal state of the enumeration: prompt index, prompt tokens and response prefix. */
export interface EnumeratedContext extends SequenceContext {
  /** Index of the prompt in {@linkcode ResponseSpace.prompts}. */
  readonly promptIndex: number;
}

/** One complete response: its tokens and, for each token, the index of the context it was drawn in. */
export interface EnumeratedResponse {
  /** Index of the prompt in {@linkcode ResponseSpace.prompts}. */
  readonly promptIndex: number;
  /** Response tokens `w1..wT` (ends with EOS, or has exactly `maxTokens` tokens). */
  readonly tokens: readonly number[];
  /** `contexts[t]` is the index of the context `W[0..t]` in which `tokens[t]` was drawn. */
  readonly contexts: readonly number[];
}

/** Everything enumerated for a vocabulary, a length limit and a set of prompts. */
export interface ResponseSpace {
  /** Vocabulary size `V` (EOS included). */
  readonly vocabSize: number;
  /** The end-of-sequence token. */
  readonly eosToken: number;
  /** The length limit: a response ends at EOS or after `maxTokens` tokens. */
  readonly maxTokens: number;
  /** The prompts, each a token array. */
  readonly prompts: readonly (readonly number[])[];
  /** All `S` non-terminal contexts (prompt ⊕ prefix with no EOS and fewer than `maxTokens` tokens). */
  readonly contexts: readonly EnumeratedContext[];
  /** Index of each prompt's root context (empty prefix). */
  readonly roots: readonly number[];
  /**
   * Transition table, `S × V` row-major: the context reached by appending a token, or −1 when the
   * token ends the response (EOS, or the length limit reached).
   */
  readonly children: Int32Array;
  /** All `R` complete responses, prompt-major, in depth-first order. */
  readonly responses: readonly EnumeratedResponse[];
}

/** Options of {@linkcode enumerateResponses}. */
export interface EnumerateOptions {
  /** Vocabulary size `V` ≥ 2 (EOS included). */
  vocabSize: number;
  /** The EOS token id, in `[0, V)`. */
  eosToken: number;
  /** The length limit, ≥ 1. */
  maxTokens: number;
  /** One or more prompts (token arrays; may be empty for a tabular policy). */
  prompts: readonly (readonly number[])[];
}

/**
 * Enumerate every response of length ≤ `maxTokens` for each prompt.
 *
 * A response ends at the first EOS or after `maxTokens` tokens, so with `n = V − 1` ordinary tokens
 * there are `Σ_{L=1}^{maxTokens} n^(L−1) + n^maxTokens` responses and `Σ_{L=0}^{maxTokens−1} n^L`
 * non-terminal contexts per prompt. Used by the theory lab to make `J = Σ_W π(W)·RM(W)` an exact sum.
 *
 * @see He et al., arXiv 2506.02553, §3 (the token-level MDP: state = prefix, action = token).
 * @param options Vocabulary, EOS id, length limit and prompts.
 * @returns The contexts, the transition table and the responses.
 * @throws {TypeError} When a size is not an integer or the prompts are not token arrays.
 * @throws {RangeError} When a size is out of range or the space would exceed 100 000 responses.
 *
 * @example Two tokens plus EOS, length 2: responses [E], [a,E], [a,a], [a,b], [b,E], [b,a], [b,b]
 * ```ts
 * import { enumerateResponses } from "./enumerate_responses.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const space = enumerateResponses({ vocabSize: 3, eosToken: 2, maxTokens: 2, prompts: [[0]] });
 * assertEquals(space.responses.length, 7);
 * assertEquals(space.contexts.length, 3);
 * ```
 */
export function enumerateResponses(options: EnumerateOptions): ResponseSpace {
  const context = "Cannot enumerate responses";
  const { vocabSize, eosToken, maxTokens, prompts } = options ?? {};
  checkInteger(context, "vocabSize", vocabSize, 2);
  checkInteger(context, "eosToken", eosToken, 0);
  if (eosToken >= vocabSize) {
    throw new RangeError(
      `${context}: eosToken must be below vocabSize ${vocabSize}, got ${eosToken}`,
    );
  }
  checkInteger(context, "maxTokens", maxTokens, 1);
  if (!Array.isArray(prompts) || prompts.length === 0) {
    throw new TypeError(`${context}: prompts must be a non-empty array, got ${describe(prompts)}`);
  }
  prompts.forEach((p, i) => {
    if (!Array.isArray(p) || !p.every((x) => Number.isInteger(x) && x >= 0 && x < vocabSize)) {
      throw new TypeError(
        `${context}: prompt ${i} must be an array of token ids in [0, ${vocabSize}), got ${
          describe(p)
        }`,
      );
    }
  });
  const n = vocabSize - 1;
  const perPrompt = Array.from({ length: maxTokens }, (_, l) => n ** l).reduce((a, b) => a + b, 0) +
    n ** maxTokens;
  if (perPrompt * prompts.length > 100_000) {
    throw new RangeError(
      `${context}: the space must hold at most 100000 responses, got ${perPrompt * prompts.length}`,
    );
  }

  const contexts: EnumeratedContext[] = [];
  const roots: number[] = [];
  const childList: number[] = [];
  const responses: EnumeratedResponse[] = [];
  const addContext = (promptIndex: number, prefix: number[]): number => {
    contexts.push({ promptIndex, prompt: prompts[promptIndex], prefix });
    for (let a = 0; a < vocabSize; a++) childList.push(-1);
    return contexts.length - 1;
  };
  const visit = (promptIndex: number, prefix: number[], path: number[]): void => {
    const s = addContext(promptIndex, prefix);
    const here = [...path, s];
    for (let a = 0; a < vocabSize; a++) {
      const tokens = [...prefix, a];
      if (a === eosToken || tokens.length === maxTokens) {
        responses.push({ promptIndex, tokens, contexts: here });
      } else {
        childList[s * vocabSize + a] = contexts.length;
        visit(promptIndex, tokens, here);
      }
    }
  };
  prompts.forEach((_, p) => {
    roots.push(contexts.length);
    visit(p, [], []);
  });
  return {
    vocabSize,
    eosToken,
    maxTokens,
    prompts,
    contexts,
    roots,
    children: Int32Array.from(childList),
    responses,
  };
}
