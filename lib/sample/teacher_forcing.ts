/**
 * Teacher forcing over a rollout: one left-padded forward pass over `prompt ⊕ response` that
 * returns the hidden state predicting each response token. Shared by `tokenLogProbs` and
 * `tokenValues`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { trunk } from "../policy/layers.ts";
import type { Architecture } from "../policy/architecture.ts";
import type { PolicyConfig } from "../policy/transformer.ts";
import { leftPad } from "./decode.ts";
import { checkRollout, type Rollout } from "./rollout.ts";

/**
 * Hidden states `[B·T, d]` whose row `b·T + t` sits on the last token of
 * `prompt_b ⊕ response_b[0 … t−1]` (so it predicts response token t, or values that prefix).
 * Differentiable with respect to the weights; call inside `tf.tidy`.
 *
 * @param context The failed operation, for error messages.
 * @param weights The model weights.
 * @param config The model configuration.
 * @param rollout The rollout (prompts and response tokens).
 * @param architecture A pretrained family's forward pass (default: the built-in GPT).
 * @returns The hidden states and `[B, T]`.
 */
export function responseHidden(
  context: string,
  weights: ReadonlyMap<string, tf.Variable>,
  config: PolicyConfig,
  rollout: Rollout,
  architecture?: Architecture,
): { hidden: tf.Tensor2D; batch: number; length: number } {
  const [batch, length] = checkRollout(context, rollout);
  const prompts = rollout.promptTokens;
  for (let b = 0; b < batch; b++) {
    const p = prompts[b];
    if (!Array.isArray(p) || p.length === 0) {
      throw new RangeError(
        `${context}: rollout.promptTokens[${b}] must be a non-empty token array`,
      );
    }
    for (const id of p) {
      if (!Number.isInteger(id) || id < 0 || id >= config.vocabSize) {
        throw new RangeError(
          `${context}: rollout.promptTokens[${b}] has token ${id}, outside the vocabulary [0, ${config.vocabSize})`,
        );
      }
    }
  }
  const { ids, padCounts, length: promptWidth } = leftPad(prompts, 0);
  const total = promptWidth + length - 1;
  if (total > config.maxLength) {
    throw new RangeError(
      `${context}: longest prompt (${promptWidth}) plus response length (${length}) exceeds maxLength ${config.maxLength} + 1`,
    );
  }
  const d = config.dModel;
  const promptTensor = tf.tensor2d(ids, [batch, promptWidth], "int32");
  const input = length > 1
    ? tf.concat([promptTensor, tf.slice(rollout.tokens, [0, 0], [batch, length - 1])], 1)
    : promptTensor;
  const { hidden } = architecture !== undefined
    ? architecture.trunk(weights, input as tf.Tensor2D, { padCounts })
    : trunk(weights, config, input as tf.Tensor2D, { padCounts });
  const predicting = tf.slice(hidden, [0, promptWidth - 1, 0], [batch, length, d]);
  return { hidden: tf.reshape(predicting, [batch * length, d]), batch, length };
}
