/**
 * Adapter from the transformer language model (`lib/policy/transformer.ts`) to the theory lab's
 * {@linkcode SequencePolicy}, so the theorems can be checked on the real policy as well as the table.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Policy } from "../policy/transformer.ts";
import { policyHead, policyTrunk } from "../policy/architecture.ts";
import { checkInteger, describe } from "../validate.ts";
import type { SequenceContext, SequencePolicy } from "./sequence_policy.ts";

/**
 * Wrap a transformer policy: `log π(· | prompt ⊕ prefix)` is the log-softmax of the logits at the
 * last position of `prompt ⊕ prefix`. Contexts of different lengths are right-padded with
 * `padToken` (the model is causal, so padding after the last position does not change it) and
 * the last position is selected with a 0/1 mask product (differentiable on every backend).
 *
 * Gradients are taken w.r.t. every weight of the model, in `policy.weights` order.
 *
 * Token batches are cached (the model's embedding gradient reads its ids tensor during the backward
 * pass); `dispose()` frees them but not the wrapped model.
 *
 * @param policy A trainable transformer policy (`createPolicy`); not disposed by the adapter.
 * @param options `padToken`: any valid id (EOS is natural).
 * @returns The adapter.
 * @throws {TypeError} When `policy` is not a trainable Policy.
 * @throws {RangeError} When `padToken` is out of range; `logProbs` throws for an empty context or
 * one longer than `maxLength`.
 *
 * @example
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { createPolicy } from "../policy/transformer.ts";
 * import { transformerSequencePolicy } from "./transformer_policy.ts";
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const model = createPolicy({ vocabSize: 4, dModel: 8, layers: 1, heads: 2, maxLength: 5, seed: 1 });
 * const policy = transformerSequencePolicy(model, { padToken: 3 });
 * const logp = policy.logProbs([{ prompt: [0], prefix: [] }, { prompt: [0], prefix: [1, 2] }]);
 * assertEquals(logp.shape, [2, 4]);
 * const p = Array.from(logp.dataSync()).slice(0, 4).map(Math.exp);
 * assertAlmostEquals(p.reduce((a, b) => a + b, 0), 1, 1e-5);
 * logp.dispose();
 * policy.dispose();
 * model.dispose();
 * ```
 */
export function transformerSequencePolicy(
  policy: Policy,
  options: { padToken: number },
): SequencePolicy {
  const context = "Cannot adapt the transformer policy";
  if (typeof policy !== "object" || policy === null || !(policy.weights instanceof Map)) {
    throw new TypeError(`${context}: policy must be a Policy, got ${describe(policy)}`);
  }
  if (!policy.trainable) {
    throw new TypeError(`${context}: policy must be trainable, got a frozen copy`);
  }
  const { vocabSize, maxLength } = policy.config;
  const padToken = checkInteger(context, "padToken", options?.padToken, 0);
  if (padToken >= vocabSize) {
    throw new RangeError(
      `${context}: padToken must be below vocabSize ${vocabSize}, got ${padToken}`,
    );
  }
  const variables = [...policy.weights.values()];
  // Token batches are kept alive until dispose(): the model's embedding gradient reads the ids
  // tensor during the backward pass, after logProbs has returned.
  const batches = new Map<string, tf.Tensor2D>();
  return {
    vocabSize,
    variables,
    parameterCount: policy.parameterCount,
    logProbs(contexts: readonly SequenceContext[]): tf.Tensor2D {
      const sequences = contexts.map((c) => [...c.prompt, ...c.prefix]);
      sequences.forEach((s, i) => {
        if (s.length === 0 || s.length > maxLength) {
          throw new RangeError(
            `Cannot evaluate the transformer policy: context ${i} must have 1 to ${maxLength} tokens, got ${s.length}`,
          );
        }
      });
      const L = Math.max(...sequences.map((s) => s.length));
      const N = sequences.length;
      const ids = new Int32Array(N * L).fill(padToken);
      sequences.forEach((s, i) => ids.set(s, i * L));
      const key = `${N}x${L}:${ids.join(",")}`;
      let tokens = batches.get(key);
      if (tokens === undefined) {
        tokens = tf.keep(tf.tensor2d(ids, [N, L], "int32")); // outlives any enclosing tidy
        batches.set(key, tokens);
      }
      const batch = tokens;
      // Only each context's last position goes through the head: [N, d] → [N, V].
      // (a one-hot matmul selects them: wasm has no kernel for the gradient of gather).
      const selector = new Float32Array(N * N * L);
      sequences.forEach((s, i) => selector[i * N * L + i * L + s.length - 1] = 1);
      return tf.tidy(() => {
        const { hidden } = policyTrunk(policy, batch); // [N, L, d]
        const flat = tf.reshape(hidden, [N * L, policy.config.dModel]) as tf.Tensor2D;
        const select = tf.tensor2d(selector, [N, N * L]);
        return tf.logSoftmax(policyHead(policy, tf.matMul(select, flat))) as tf.Tensor2D;
      });
    },
    /** Frees the cached token batches (not the wrapped model). */
    dispose(): void {
      for (const t of batches.values()) t.dispose();
      batches.clear();
    },
  };
}
