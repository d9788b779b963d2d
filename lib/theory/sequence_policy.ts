/**
 * The abstract policy the theory lab works with: anything that gives `log π(token | prompt ⊕ prefix)`
 * for a batch of contexts as a differentiable tensor. The tabular policy and the transformer adapter
 * both implement it, so the same enumeration, exact gradient and estimator code serves both.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/** A state of the token-level MDP: a prompt and the response tokens generated so far. */
export interface SequenceContext {
  /** Prompt token ids `w0` (at least one token for a transformer; any key for a tabular policy). */
  readonly prompt: readonly number[];
  /** Response tokens generated so far, `W[1..t-1]` (possibly empty). */
  readonly prefix: readonly number[];
}

/**
 * A differentiable policy over next tokens.
 *
 * `logProbs(contexts)` returns `log π(· | prompt ⊕ prefix)` for each context, shape `[N, V]`; it
 * must be differentiable with respect to `variables` (the parameters θ every gradient in the theory
 * lab is taken with respect to, flattened in this order).
 */
export interface SequencePolicy {
  /** Vocabulary size `V` (EOS included). */
  readonly vocabSize: number;
  /** The parameters θ, in a stable order (gradients are flattened in this order). */
  readonly variables: readonly tf.Variable[];
  /** Total number of scalar parameters, `Σ size(variable)`. */
  readonly parameterCount: number;
  /**
   * Next-token log-probabilities.
   *
   * @param contexts N contexts.
   * @returns float32 `[N, V]`, each row a log-softmax; differentiable w.r.t. `variables`.
   */
  logProbs(contexts: readonly SequenceContext[]): tf.Tensor2D;
  /** Free the policy's own tensors (an adapter leaves the wrapped model alone). */
  dispose(): void;
}

/**
 * Flatten a gradient map (as returned by `tf.variableGrads`) into one float64 vector in the
 * order of `policy.variables`; variables missing from the map (not reached by the loss) give zeros.
 *
 * @param policy The policy whose variables define the order.
 * @param grads Gradients keyed by variable name.
 * @returns `[parameterCount]` gradient (read with `await data()`, so it works on every backend).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { flattenGradient, type SequencePolicy } from "./sequence_policy.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const v = tf.variable(tf.tensor1d([1, 2]));
 * const policy = { variables: [v], parameterCount: 2 } as unknown as SequencePolicy;
 * const grads = { [v.name]: tf.tensor1d([3, 4]) };
 * assertEquals(Array.from(await flattenGradient(policy, grads)), [3, 4]);
 * tf.dispose([v, grads[v.name]]);
 * ```
 */
export async function flattenGradient(
  policy: SequencePolicy,
  grads: Readonly<Record<string, tf.Tensor>>,
): Promise<Float64Array> {
  const out = new Float64Array(policy.parameterCount);
  let offset = 0;
  for (const v of policy.variables) {
    const g = grads[v.name];
    if (g !== undefined) out.set(await g.data(), offset);
    offset += v.size;
  }
  return out;
}
