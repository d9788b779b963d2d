/**
 * The forward pass of a policy as three functions, so that the samplers and teacher forcing run
 * any model family: the built-in GPT (`layers.ts`) or a pretrained family of `lib/models/`
 * (GPT-2, Llama, Qwen2, Qwen3), which sets `Policy.architecture`.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import {
  decodeStep,
  type KeyValueCache,
  trunk,
  type TrunkOptions,
  type TrunkOutput,
  vocabularyLogits,
  weight,
} from "./layers.ts";
import type { Policy, PolicyConfig } from "./transformer.ts";

/**
 * How a linear projection stores its weight: `"linear"` is PyTorch `nn.Linear`, `W` `[out, in]`,
 * `y = x·Wᵀ + b`; `"conv1d"` is GPT-2's `Conv1D`, `W` `[in, out]`, `y = x·W + b`.
 */
export type ProjectionLayout = "linear" | "conv1d";

/**
 * A bias-free linear vocabulary head: `"linear"` weight `[V, d]` (`lm_head`, or the tied token
 * embedding), logits `h·Wᵀ`; `"conv1d"` weight `[d, V]`, logits `h·W`.
 */
export interface LinearHead {
  /** The weight, `[V, d]` or `[d, V]` by `layout`. */
  readonly weight: tf.Tensor;
  /** How the weight is stored. */
  readonly layout: ProjectionLayout;
}

/**
 * A model family's forward pass over a weight map. Caches hold, per layer, keys and values
 * `[B, S, w]` (w = key/value heads × head size, after any position encoding of the keys).
 *
 * The weight map is read-only and may hold plain tensors besides variables (a LoRA policy passes
 * its base's variables with the adapters, `lib/models/lora.ts`).
 */
export interface Architecture {
  /** The family, as Hugging Face's `config.json` names it (`"gpt2"`, `"llama"`, …). */
  readonly modelType: string;
  /** The Hugging Face `config.json` the model was built from (saved back unchanged). */
  readonly hfConfig: Readonly<Record<string, unknown>>;
  /**
   * The linear projections (Hugging Face module paths, e.g. `model.layers.0.self_attn.q_proj`)
   * that run through `lib/models/projection.ts`, so that LoRA adapters can target them, with
   * their weight layouts.
   */
  readonly projections?: ReadonlyMap<string, ProjectionLayout>;
  /** Whole sequences: tokens int32 `[B, L]` → final-norm hidden states `[B, L, d]` (+ cache). */
  trunk(
    weights: ReadonlyMap<string, tf.Tensor>,
    tokens: tf.Tensor2D,
    options?: TrunkOptions,
  ): TrunkOutput;
  /**
   * One new token per row: tokens int32 `[B]`, positions int32 `[B]`, the cache (not disposed)
   * and the additive key bias `[B, S + 1]` → hidden `[B, d]` and the extended cache.
   */
  decodeStep(
    weights: ReadonlyMap<string, tf.Tensor>,
    tokens: tf.Tensor1D,
    positions: tf.Tensor1D,
    cache: KeyValueCache,
    keyBias: tf.Tensor2D,
  ): { hidden: tf.Tensor2D; cache: KeyValueCache };
  /** Vocabulary logits: hidden `[N, d]` → `[N, V]` (the map of {@linkcode headWeight}). */
  head(weights: ReadonlyMap<string, tf.Tensor>, hidden: tf.Tensor2D): tf.Tensor2D;
  /** The head's weight (tied or not), for the chunked log-probs of `lib/models/lm_head.ts`. */
  headWeight(weights: ReadonlyMap<string, tf.Tensor>): LinearHead;
}

/** The policy's trunk: its architecture's, or the built-in GPT's. Call inside `tf.tidy`. */
export function policyTrunk(
  policy: Pick<Policy, "weights" | "config" | "architecture">,
  tokens: tf.Tensor2D,
  options: TrunkOptions = {},
): TrunkOutput {
  return policy.architecture !== undefined
    ? policy.architecture.trunk(policy.weights, tokens, options)
    : trunk(policy.weights, policy.config, tokens, options);
}

/** The policy's vocabulary head: hidden `[N, d]` → logits `[N, V]`. */
export function policyHead(
  policy: Pick<Policy, "weights" | "architecture">,
  hidden: tf.Tensor2D,
): tf.Tensor2D {
  return policy.architecture !== undefined
    ? policy.architecture.head(policy.weights, hidden)
    : vocabularyLogits(policy.weights, hidden);
}

/** The policy's head weight: its architecture's, or the built-in GPT's untied `head` `[d, V]`. */
export function policyHeadWeight(policy: Pick<Policy, "weights" | "architecture">): LinearHead {
  return policy.architecture !== undefined
    ? policy.architecture.headWeight(policy.weights)
    : { weight: weight(policy.weights, "head"), layout: "conv1d" };
}

/** One cached decoding step of the policy (see {@linkcode Architecture.decodeStep}). */
export function policyDecodeStep(
  policy: Pick<Policy, "weights" | "config" | "architecture">,
  tokens: tf.Tensor1D,
  positions: tf.Tensor1D,
  cache: KeyValueCache,
  keyBias: tf.Tensor2D,
): { hidden: tf.Tensor2D; cache: KeyValueCache } {
  return policy.architecture !== undefined
    ? policy.architecture.decodeStep(policy.weights, tokens, positions, cache, keyBias)
    : decodeStep(policy.weights, policy.config as PolicyConfig, tokens, positions, cache, keyBias);
}
