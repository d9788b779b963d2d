/**
 * A learned reward model as a reward function: the scalar head's value after the whole response.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ValueModel } from "../policy/value_model.ts";
import type { Tokenizer } from "../tasks/task.ts";
import { describe } from "../validate.ts";
import type { RewardFn } from "./score.ts";

/**
 * Turn a model with a scalar head into a response-level reward function.
 *
 * `RM(prompt, completion) = model.values([prompt ⊕ completion ⊕ EOS])[L − 1]`
 *
 * The prompt and the completion are encoded with the tokenizer, EOS is appended, and the value at
 * the last position (the prefix that is the whole sequence) is the reward. One forward pass of
 * batch 1 per call; the tensors it creates are disposed before the promise resolves.
 *
 * The paper's `RM(W)`: one score for the whole response.
 *
 * @see {@link https://arxiv.org/abs/2506.02553} He et al., Section 2 (arXiv 2506.02553).
 *
 * Used with `score` by any algorithm trained against a learned reward instead of a verifier.
 *
 * Preconditions: every character of prompt and completion is in the tokenizer's vocabulary; the
 * encoded sequence (with EOS) fits `model.config.maxLength`.
 *
 * @param model A model mapping tokens int32 `[1, L]` to values `[1, L]` (e.g. a `ValueModel`).
 * @param tokenizer The tokenizer the model was trained with.
 * @returns An asynchronous reward function; it rejects with a `RangeError` when the sequence is
 * longer than `maxLength`, and with the tokenizer's error for unknown characters.
 * @throws {TypeError} When `model` has no `values` method or `tokenizer` no `encode` method.
 *
 * @example A fake model whose value is the running sum of token ids / 10
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { rewardModelFn } from "./reward_model.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const vocab = ["<eos>", "a", "b"];
 * const tokenizer = {
 *   vocab, vocabSize: 3, eos: 0,
 *   encode: (text: string) => Array.from(text, (c) => vocab.indexOf(c)),
 *   decode: (ids: readonly number[]) => ids.map((i) => vocab[i]).join(""),
 * };
 * const model = {
 *   config: { vocabSize: 3, dModel: 1, layers: 0, heads: 1, maxLength: 8, seed: 0 },
 *   weights: new Map<string, tf.Variable>(), parameterCount: 0,
 *   values: (tokens: tf.Tensor2D) => tf.tidy(() => tokens.toFloat().cumsum(1).div(10)) as tf.Tensor2D,
 *   dispose: () => {},
 * };
 * const reward = rewardModelFn(model, tokenizer);
 * // [a, b, b, EOS] = [1, 2, 2, 0] → (1 + 2 + 2 + 0) / 10
 * assertAlmostEquals(await reward("a", "bb"), 0.5, 1e-6);
 * ```
 */
export function rewardModelFn(model: ValueModel, tokenizer: Tokenizer): RewardFn {
  const context = "Cannot compute the reward-model reward";
  if (typeof model?.values !== "function") {
    throw new TypeError(`${context}: model must be a ValueModel, got ${describe(model)}`);
  }
  if (typeof tokenizer?.encode !== "function") {
    throw new TypeError(`${context}: tokenizer must be a Tokenizer, got ${describe(tokenizer)}`);
  }
  return async (prompt: string, completion: string): Promise<number> => {
    const ids = [...tokenizer.encode(prompt), ...tokenizer.encode(completion), tokenizer.eos];
    const maxLength = model.config.maxLength;
    if (ids.length > maxLength) {
      throw new RangeError(
        `${context}: prompt, completion and EOS are ${ids.length} tokens, more than the model's maxLength ${maxLength}`,
      );
    }
    const last = tf.tidy(() => {
      const values = model.values(tf.tensor2d([ids], [1, ids.length], "int32"));
      return values.slice([0, ids.length - 1], [1, 1]);
    });
    try {
      return (await last.data())[0];
    } finally {
      last.dispose();
    }
  };
}
