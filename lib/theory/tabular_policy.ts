/**
 * A tabular softmax policy: one free logit vector per context, `π(a | s) = softmax(θ_s)_a`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Random } from "../random.ts";
import { checkInteger, checkNumber, describe } from "../validate.ts";
import type { SequenceContext, SequencePolicy } from "./sequence_policy.ts";

/** Options of {@linkcode createTabularPolicy}. */
export interface TabularPolicyOptions {
  /** Vocabulary size `V` (EOS included). */
  vocabSize: number;
  /** The contexts the policy is defined on (usually `enumerateResponses(...).contexts`); `S` of them. */
  contexts: readonly SequenceContext[];
  /** Seed of the initial logits. */
  seed: number;
  /** Standard deviation of the initial logits (default 1; 0 gives the uniform policy). */
  scale?: number;
  /**
   * A per-token offset added to every context's initial logits, `[V]` (default none). A negative
   * offset on EOS makes long responses likely, as in the lab's long-response setting.
   */
  tokenBias?: readonly number[];
}

/** The key of a context in the table. */
function contextKey(c: SequenceContext): string {
  return `${c.prompt.join(",")}|${c.prefix.join(",")}`;
}

/**
 * Create a tabular softmax policy with logits `θ ∈ ℝ^(S×V)` drawn `θ_{s,a} ~ N(0, scale²)` from a
 * seed (plus `tokenBias[a]`, when given), stored as one trainable `tf.Variable` of shape `[S, V]`.
 *
 * `π(a | s) = exp θ_{s,a} / Σ_b exp θ_{s,b}`, so `∇_θ log π(a | s) = (e_a − π(· | s))` in row `s`
 * and zero elsewhere. The theory lab's reference policy: every expectation over responses is an
 * exact finite sum, and gradients are taken w.r.t. the table.
 *
 * @see He et al., arXiv 2506.02553 (Theorem 1 and 2 hold for any differentiable policy).
 * @param options Vocabulary, contexts, seed, initial scale and per-token offset.
 * @returns A {@linkcode SequencePolicy}; `logProbs` throws for a context it was not built with.
 * @throws {TypeError} When a context is malformed or repeated.
 * @throws {RangeError} When a size or the scale is out of range.
 *
 * @example The uniform policy
 * ```ts
 * import { createTabularPolicy } from "./tabular_policy.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const contexts = [{ prompt: [0], prefix: [] }];
 * const policy = createTabularPolicy({ vocabSize: 4, contexts, seed: 1, scale: 0 });
 * const logp = policy.logProbs(contexts);
 * assertAlmostEquals(logp.dataSync()[0], Math.log(0.25), 1e-6);
 * logp.dispose();
 * policy.dispose();
 * ```
 */
export function createTabularPolicy(options: TabularPolicyOptions): SequencePolicy {
  const ctx = "Cannot create a tabular policy";
  const { vocabSize, contexts, seed, scale = 1, tokenBias } = options ?? {};
  checkInteger(ctx, "vocabSize", vocabSize, 2);
  checkNumber(ctx, "seed", seed);
  checkNumber(ctx, "scale", scale, { min: 0 });
  if (tokenBias !== undefined) {
    if (!Array.isArray(tokenBias) || tokenBias.length !== vocabSize) {
      throw new TypeError(
        `${ctx}: tokenBias must hold one number per token (${vocabSize}), got ${
          describe(tokenBias)
        }`,
      );
    }
    tokenBias.forEach((b, a) => checkNumber(ctx, `tokenBias[${a}]`, b));
  }
  if (!Array.isArray(contexts) || contexts.length === 0) {
    throw new TypeError(`${ctx}: contexts must be a non-empty array, got ${describe(contexts)}`);
  }
  const index = new Map<string, number>();
  contexts.forEach((c, i) => {
    if (!Array.isArray(c?.prompt) || !Array.isArray(c?.prefix)) {
      throw new TypeError(
        `${ctx}: context ${i} must have prompt and prefix arrays, got ${describe(c)}`,
      );
    }
    const key = contextKey(c);
    if (index.has(key)) {
      throw new TypeError(`${ctx}: context ${i} repeats context ${index.get(key)}`);
    }
    index.set(key, i);
  });
  const rng = new Random(seed);
  const init = new Float32Array(contexts.length * vocabSize);
  for (let i = 0; i < init.length; i++) {
    init[i] = scale * rng.normal() + (tokenBias?.[i % vocabSize] ?? 0);
  }
  const table = tf.variable(tf.tensor2d(init, [contexts.length, vocabSize]), true, undefined);
  const S = contexts.length;
  return {
    vocabSize,
    variables: [table],
    parameterCount: S * vocabSize,
    logProbs(query: readonly SequenceContext[]): tf.Tensor2D {
      const rows = query.map((c, i) => {
        const row = index.get(contextKey(c));
        if (row === undefined) {
          throw new RangeError(
            `Cannot evaluate the tabular policy: context ${i} (prompt [${c.prompt}], prefix [${c.prefix}]) is not in the table`,
          );
        }
        return row;
      });
      // Row selection as a 0/1 matmul: differentiable on every backend (wasm lacks a gather
      // gradient) and valid for a single-row table (tf.oneHot needs depth ≥ 2).
      const selector = new Float32Array(rows.length * S);
      rows.forEach((row, i) => selector[i * S + row] = 1);
      return tf.tidy(() => {
        const select = tf.tensor2d(selector, [rows.length, S]);
        return tf.logSoftmax(tf.matMul(select, table)) as tf.Tensor2D;
      });
    },
    dispose(): void {
      table.dispose();
    },
  };
}
