/**
 * The one autoregressive decoding loop behind `sample`, `greedy` and `continueFrom`.
 *
 * Each call decodes a batch of rows, each with its own context (prompt, or prompt + response
 * prefix) and its own budget of new tokens:
 *
 * 1. **Prefill, shared.** Contexts that are prefixes of another context (identical prompts of a
 *    group, the K samples of one prefix, several prefixes of one response) are computed once: the
 *    distinct longest sequences ("sources") go through one left-padded forward pass that also
 *    returns every layer's keys and values. Causality makes the keys/values of a source's first
 *    `n` positions exactly those of its length-`n` prefix, so each row's cache is gathered from
 *    its source (one `gather` per layer for the whole batch).
 * 2. **Incremental steps.** One new position per step: attention of the new token to the cached
 *    keys/values (`decodeStep`), one `await data()` per step for the whole batch's log-probs, the
 *    token drawn in JS. Rows stop at EOS (kept, inside the mask) or at their budget; the loop
 *    stops when every row has stopped.
 *
 * `useCache: false` recomputes the whole left-padded sequence at every step instead (the naive
 * reference, for tests and benchmarks); it consumes the random stream identically.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Policy } from "../policy/transformer.ts";
import { disposeCache, type KeyValueCache, MASKED } from "../policy/layers.ts";
import { policyDecodeStep, policyHead, policyTrunk } from "../policy/architecture.ts";
import { checkInteger, checkNumber, describe } from "../validate.ts";
import { decodeTyped } from "./typed_decode.ts";
import { useTypedKernels } from "../policy/causal_attention.ts";
import { withTransposedWeights } from "../models/transposed_weights.ts";

/** Chooses the next token of one row from its log-probs (at the sampling temperature). */
export type TokenChooser = (logProbs: Float32Array, row: number) => number;

/** One decoding request. */
export interface DecodeRequest {
  /** Each row's context, at least one token. */
  contexts: readonly (readonly number[])[];
  /** Each row's maximum number of new tokens (0: nothing is generated). */
  budgets: readonly number[];
  /** The EOS token id. */
  eosToken: number;
  /** More ids that end a row as EOS does (kept as its last token); default none. */
  stopTokens?: readonly number[];
  /** Logits are divided by this before the softmax. */
  temperature: number;
  /** The token choice (sampling or argmax). */
  choose: TokenChooser;
  /** Use the key/value cache (default true). */
  useCache?: boolean;
  /**
   * How the cached path runs: `"typed"` (default where `useTypedKernels()`: wasm, cpu) keeps the cache
   * and every non-matmul op in typed arrays (`typed_decode.ts`); `"tfjs"` runs every op as a
   * tfjs op (`decodeStep`, the reference, and the default on other backends).
   */
  engine?: "typed" | "tfjs";
}

/** New tokens and their log-probs of every row. */
export interface DecodeResult {
  tokens: number[][];
  logProbs: number[][];
}

/**
 * Map each context to a source sequence it is a prefix of; returns the sources and, per row,
 * the source index.
 */
export function prefixSources(
  contexts: readonly (readonly number[])[],
): { sources: (readonly number[])[]; sourceOf: number[] } {
  const order = contexts.map((_, i) => i).sort((a, b) =>
    contexts[b].length - contexts[a].length || a - b
  );
  const sources: (readonly number[])[] = [];
  const sourceOf = new Array<number>(contexts.length);
  for (const i of order) {
    const c = contexts[i];
    let found = -1;
    for (let s = 0; s < sources.length && found < 0; s++) {
      const src = sources[s];
      let isPrefix = true;
      for (let j = 0; j < c.length; j++) {
        if (src[j] !== c[j]) {
          isPrefix = false;
          break;
        }
      }
      if (isPrefix) found = s;
    }
    if (found < 0) {
      found = sources.length;
      sources.push(c);
    }
    sourceOf[i] = found;
  }
  return { sources, sourceOf };
}

/** Left-pad rows with `padToken` to a common length; returns the flat ids and pad counts. */
export function leftPad(
  rows: readonly (readonly number[])[],
  padToken: number,
  length = Math.max(...rows.map((r) => r.length)),
): { ids: Int32Array; padCounts: number[]; length: number } {
  const ids = new Int32Array(rows.length * length).fill(padToken);
  const padCounts = rows.map((r, b) => {
    const pad = length - r.length;
    ids.set(r, b * length + pad);
    return pad;
  });
  return { ids, padCounts, length };
}

/** Decoding state of the cached path. */
type CachedState = {
  cache: KeyValueCache;
  keyBias: tf.Tensor2D;
  lastLogits: tf.Tensor2D;
};

function prefillShared(
  policy: Policy,
  contexts: readonly (readonly number[])[],
  eos: number,
): CachedState {
  const d = policy.config.dModel;
  const batch = contexts.length;
  const { sources, sourceOf } = prefixSources(contexts);
  const src = leftPad(sources, eos);
  const width = Math.max(...contexts.map((c) => c.length));
  const cacheIndex = new Int32Array(batch * width);
  const lastIndex = new Int32Array(batch);
  const bias = new Float32Array(batch * width);
  for (let b = 0; b < batch; b++) {
    const u = sourceOf[b];
    const n = contexts[b].length;
    const shift = src.padCounts[u] - (width - n); // source column = j + shift
    for (let j = 0; j < width; j++) {
      const valid = j >= width - n;
      cacheIndex[b * width + j] = u * src.length + (valid ? j + shift : 0);
      if (!valid) bias[b * width + j] = MASKED;
    }
    lastIndex[b] = u * src.length + src.padCounts[u] + n - 1;
  }
  return tf.tidy(() => {
    const tokens = tf.tensor2d(src.ids, [sources.length, src.length], "int32");
    const { hidden, cache } = policyTrunk(policy, tokens, {
      padCounts: src.padCounts,
      collectCache: true,
    });
    const rows = sources.length * src.length;
    const index = tf.tensor1d(cacheIndex, "int32");
    const gatherRows = (t: tf.Tensor3D) =>
      tf.reshape(tf.gather(tf.reshape(t, [rows, t.shape[2]]), index), [
        batch,
        width,
        t.shape[2],
      ]) as tf.Tensor3D;
    const keys = cache!.keys.map(gatherRows);
    const values = cache!.values.map(gatherRows);
    const last = tf.gather(tf.reshape(hidden, [rows, d]), tf.tensor1d(lastIndex, "int32"));
    return {
      cache: { keys, values },
      keyBias: tf.tensor2d(bias, [batch, width]),
      lastLogits: policyHead(policy, last as tf.Tensor2D),
    };
  });
}

function naiveLogits(
  policy: Policy,
  sequences: readonly (readonly number[])[],
  eos: number,
): tf.Tensor2D {
  const { config } = policy;
  return tf.tidy(() => {
    const { ids, padCounts, length } = leftPad(sequences, eos);
    const batch = sequences.length;
    const tokens = tf.tensor2d(ids, [batch, length], "int32");
    const { hidden } = policyTrunk(policy, tokens, { padCounts });
    const last = tf.reshape(
      tf.slice(hidden, [0, length - 1, 0], [batch, 1, config.dModel]),
      [batch, config.dModel],
    );
    return policyHead(policy, last as tf.Tensor2D);
  });
}

/**
 * Run the decoding loop.
 *
 * @param policy The policy.
 * @param request Contexts, budgets, EOS, temperature, token choice.
 * @returns The new tokens (EOS included when drawn) and their log-probs, per row.
 */
export async function decode(policy: Policy, request: DecodeRequest): Promise<DecodeResult> {
  const { contexts, budgets, choose } = request;
  const batch = contexts.length;
  const tokens: number[][] = contexts.map(() => []);
  const logProbs: number[][] = contexts.map(() => []);
  const active = budgets.map((n) => n > 0);
  const maxBudget = Math.max(0, ...budgets);
  if (batch === 0 || maxBudget === 0) return { tokens, logProbs };
  if (!active.every((a) => a)) {
    // Rows with nothing to generate take no part in the forward passes.
    const live = active.flatMap((a, b) => a ? [b] : []);
    const sub = await decode(policy, {
      ...request,
      contexts: live.map((b) => contexts[b]),
      budgets: live.map((b) => budgets[b]),
      choose: (row, i) => choose(row, live[i]),
    });
    live.forEach((b, i) => {
      tokens[b] = sub.tokens[i];
      logProbs[b] = sub.logProbs[i];
    });
    return { tokens, logProbs };
  }
  const useCache = request.useCache ?? true;
  // The typed engine implements the built-in GPT only; pretrained families run the tfjs ops.
  const engine = policy.architecture !== undefined
    ? "tfjs"
    : request.engine ?? (useTypedKernels() ? "typed" : "tfjs");
  if (useCache && engine === "typed") return decodeTyped(policy, request);
  // Pretrained weights are transposed once per call here, not once per token (`dense`).
  return withTransposedWeights(() => decodeTfjs(policy, request, useCache));
}

/** The tfjs-op loop of {@linkcode decode} (every row active, budgets ≥ 1). */
async function decodeTfjs(
  policy: Policy,
  request: DecodeRequest,
  useCache: boolean,
): Promise<DecodeResult> {
  const { contexts, budgets, eosToken: eos, temperature, choose } = request;
  const batch = contexts.length;
  const vocab = policy.config.vocabSize;
  const tokens: number[][] = contexts.map(() => []);
  const logProbs: number[][] = contexts.map(() => []);
  const active = budgets.map((n) => n > 0);
  const maxBudget = Math.max(0, ...budgets);
  const stops = stopSet(eos, request.stopTokens);
  const sequences = contexts.map((c) => [...c]);
  let state: CachedState | undefined = useCache ? prefillShared(policy, contexts, eos) : undefined;
  let logits = state?.lastLogits ?? naiveLogits(policy, sequences, eos);
  try {
    for (let t = 0; t < maxBudget; t++) {
      const scaled = tf.tidy(() => tf.logSoftmax(tf.div(logits, temperature)));
      const data = await scaled.data() as Float32Array;
      scaled.dispose();
      const next = new Int32Array(batch).fill(eos);
      for (let b = 0; b < batch; b++) {
        if (!active[b]) continue;
        const row = data.subarray(b * vocab, (b + 1) * vocab);
        const token = choose(row, b);
        next[b] = token;
        tokens[b].push(token);
        logProbs[b].push(row[token]);
        sequences[b].push(token);
        if (stops.has(token) || tokens[b].length >= budgets[b]) active[b] = false;
      }
      if (!active.some((a) => a)) break;
      if (state === undefined) {
        logits.dispose();
        logits = naiveLogits(policy, sequences, eos);
        continue;
      }
      const previous: CachedState = state;
      const updated: CachedState = tf.tidy(() => {
        const positions = tf.tensor1d(
          sequences.map((s) => s.length - 1),
          "int32",
        );
        const keyBias = tf.concat([previous.keyBias, tf.zeros([batch, 1])], 1) as tf.Tensor2D;
        const step = policyDecodeStep(
          policy,
          tf.tensor1d(next, "int32"),
          positions,
          previous.cache,
          keyBias,
        );
        return {
          cache: step.cache,
          keyBias,
          lastLogits: policyHead(policy, step.hidden),
        };
      });
      disposeCache(previous.cache);
      previous.keyBias.dispose();
      previous.lastLogits.dispose();
      state = updated;
      logits = updated.lastLogits;
    }
  } finally {
    if (state !== undefined) {
      disposeCache(state.cache);
      state.keyBias.dispose();
    }
    logits.dispose();
  }
  return { tokens, logProbs };
}

/** Apply top-k then top-p (nucleus) filtering to log-probs; returns unnormalised weights. */
export function filteredWeights(
  logProbs: Float32Array,
  topK?: number,
  topP?: number,
): Float64Array {
  const v = logProbs.length;
  const weights = new Float64Array(v);
  for (let i = 0; i < v; i++) weights[i] = Math.exp(logProbs[i]);
  if (topK === undefined && topP === undefined) return weights;
  const order = Array.from({ length: v }, (_, i) => i).sort((a, b) =>
    weights[b] - weights[a] || a - b
  );
  let keep = topK === undefined ? v : Math.min(topK, v);
  if (topP !== undefined) {
    let total = 0;
    for (let i = 0; i < v; i++) total += weights[i];
    let cumulative = 0;
    for (let r = 0; r < keep; r++) {
      cumulative += weights[order[r]];
      if (cumulative >= topP * total) {
        keep = r + 1;
        break;
      }
    }
  }
  for (let r = keep; r < v; r++) weights[order[r]] = 0;
  return weights;
}

/** Index of the largest value (the first one on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * Check a prompt list: a non-empty array of non-empty integer arrays with ids in `[0, V)` and
 * at most `maxLength − maxTokens` tokens each.
 */
export function checkPrompts(
  context: string,
  prompts: unknown,
  policy: Policy,
  maxTokens: number,
): number[][] {
  if (!Array.isArray(prompts)) {
    throw new TypeError(
      `${context}: prompts must be an array of token arrays, got ${describe(prompts)}`,
    );
  }
  if (prompts.length === 0) {
    throw new RangeError(`${context}: prompts must not be empty, got an empty prompt list`);
  }
  const { vocabSize, maxLength } = policy.config;
  const limit = maxLength - maxTokens;
  prompts.forEach((p, i) => {
    if (!Array.isArray(p)) {
      throw new TypeError(
        `${context}: prompt ${i} must be an array of token ids, got ${describe(p)}`,
      );
    }
    if (p.length === 0) throw new RangeError(`${context}: prompt ${i} is empty`);
    p.forEach((id, j) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new RangeError(
          `${context}: prompt ${i} has token ${id} at index ${j}, outside the vocabulary [0, ${vocabSize})`,
        );
      }
    });
    if (p.length > limit) {
      throw new RangeError(
        `${context}: prompt ${i} has ${p.length} tokens, more than maxLength − maxTokens = ${maxLength} − ${maxTokens} = ${limit}`,
      );
    }
  });
  return prompts as number[][];
}

/** Check `eosToken` is an id of the vocabulary. */
export function checkEos(context: string, eosToken: unknown, policy: Policy): number {
  const eos = checkInteger(context, "eosToken", eosToken, 0);
  if (eos >= policy.config.vocabSize) {
    throw new RangeError(
      `${context}: eosToken must be in [0, ${policy.config.vocabSize}), got ${eos}`,
    );
  }
  return eos;
}

/**
 * Check optional stop ids (each an id of the vocabulary): the ids besides `eosToken` that end a
 * response (a `generation_config.json` may list several EOS ids).
 *
 * @returns The ids, or `[]` when `stopTokens` is undefined.
 * @throws {TypeError} When `stopTokens` is not an array of integers.
 * @throws {RangeError} For an id outside `[0, V)`.
 */
export function checkStopTokens(
  context: string,
  stopTokens: unknown,
  vocabSize = Infinity,
): number[] {
  if (stopTokens === undefined) return [];
  if (!Array.isArray(stopTokens)) {
    throw new TypeError(
      `${context}: stopTokens must be an array of ids, got ${describe(stopTokens)}`,
    );
  }
  return stopTokens.map((id, i) => {
    const n = checkInteger(context, `stopTokens[${i}]`, id, 0);
    if (n >= vocabSize) {
      throw new RangeError(
        `${context}: stopTokens[${i}] must be in [0, ${vocabSize}), got ${n}`,
      );
    }
    return n;
  });
}

/** The ids that end a response: EOS and the stop ids. */
export function stopSet(eosToken: number, stopTokens: readonly number[] = []): Set<number> {
  return new Set([eosToken, ...stopTokens]);
}

/** Check the temperature (> 0); the message points to `greedy` for deterministic decoding. */
export function checkTemperature(context: string, temperature: unknown): number {
  checkNumber(context, "temperature", temperature);
  if ((temperature as number) <= 0) {
    throw new RangeError(
      `${context}: temperature must be greater than 0, got ${temperature}; use greedy() for deterministic decoding`,
    );
  }
  return temperature as number;
}
