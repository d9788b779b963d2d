/**
 * The policy: a small GPT-style decoder-only transformer language model in tfjs.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Random } from "../random.ts";
import {
  checkInteger,
  checkNumber,
  checkRank,
  describe,
  formatShape,
  isDeviceBackend,
} from "../validate.ts";
import { trunk, vocabularyLogits } from "./layers.ts";
import type { Architecture } from "./architecture.ts";

/** The shape of a transformer (policy or value model) and the seed of its initial weights. */
export interface PolicyConfig {
  /** Number of token ids `V`. */
  vocabSize: number;
  /** Width `d` of the residual stream; divisible by `heads`. */
  dModel: number;
  /** Number of transformer blocks. */
  layers: number;
  /** Attention heads per block. */
  heads: number;
  /** Longest sequence (prompt + response) the model accepts: rows of the position table. */
  maxLength: number;
  /** Seed of the deterministic initialisation. */
  seed: number;
}

/** A causal language-model policy π(w_t | w_0 … w_{t−1}). */
export interface Policy {
  /** The model shape. */
  readonly config: PolicyConfig;
  /** Every trainable weight, stable names and order (e.g. "wte", "wpe", "h0.attn.wqkv", ..., "lnf.g"). */
  readonly weights: ReadonlyMap<string, tf.Variable>;
  /** Total number of weights (scalars). */
  readonly parameterCount: number;
  /** false for a frozen copy (reference model): its variables are not trainable. */
  readonly trainable: boolean;
  /**
   * The forward pass of a pretrained family (`lib/models/`); absent for the built-in GPT, whose
   * forward pass is `layers.ts`. Copies made by `clonePolicy` / `freezePolicy` keep it.
   */
  readonly architecture?: Architecture;
  /** tokens int32 [B, L] → logits float32 [B, L, V]; differentiable w.r.t. weights. */
  logits(tokens: tf.Tensor2D): tf.Tensor3D;
  /** Free the weights. */
  dispose(): void;
}

/** How one weight is initialised. */
export type WeightInit = "normal" | "residual" | "zeros" | "ones";

/** Name, shape and initialisation of one weight. */
export interface WeightSpec {
  /** Stable name, e.g. "h0.attn.wqkv". */
  name: string;
  /** Shape of the weight. */
  shape: number[];
  /** How it is initialised. */
  init: WeightInit;
}

/** Standard deviation of the normal initialisation (GPT-2). */
const INIT_STD = 0.02;

/**
 * Check a configuration and return it (a fresh plain object).
 *
 * @param config The configuration to check.
 * @param context The failed operation, for error messages.
 * @returns A copy of the configuration.
 * @throws {TypeError} When a field is missing or not a number / integer.
 * @throws {RangeError} When a size is below 1 or `dModel` is not divisible by `heads`.
 *
 * @example
 * ```ts
 * import { validatePolicyConfig } from "./transformer.ts";
 * import { assertThrows } from "@std/assert";
 *
 * const config = { vocabSize: 8, dModel: 10, layers: 1, heads: 4, maxLength: 8, seed: 0 };
 * assertThrows(() => validatePolicyConfig(config), RangeError, "divisible");
 * ```
 */
export function validatePolicyConfig(
  config: PolicyConfig,
  context = "Cannot create the policy",
): PolicyConfig {
  if (typeof config !== "object" || config === null) {
    throw new TypeError(`${context}: config must be an object, got ${describe(config)}`);
  }
  const vocabSize = checkInteger(context, "vocabSize", config.vocabSize, 1);
  const dModel = checkInteger(context, "dModel", config.dModel, 1);
  const layers = checkInteger(context, "layers", config.layers, 1);
  const heads = checkInteger(context, "heads", config.heads, 1);
  const maxLength = checkInteger(context, "maxLength", config.maxLength, 1);
  const seed = checkNumber(context, "seed", config.seed);
  if (dModel % heads !== 0) {
    throw new RangeError(
      `${context}: dModel must be divisible by heads, got dModel ${dModel} and heads ${heads}`,
    );
  }
  return { vocabSize, dModel, layers, heads, maxLength, seed };
}

/**
 * The weights of the shared trunk (embeddings, blocks, final LayerNorm), in their stable order.
 *
 * Names: `wte [V, d]`, `wpe [maxLength, d]`, then for each block `l`: `h{l}.ln1.g`, `h{l}.ln1.b`
 * `[d]`, `h{l}.attn.wqkv [d, 3d]` (columns: Q, K, V; heads contiguous inside each),
 * `h{l}.attn.bqkv [3d]`, `h{l}.attn.wo [d, d]`, `h{l}.attn.bo [d]`, `h{l}.ln2.g`, `h{l}.ln2.b`,
 * `h{l}.mlp.wfc [d, 4d]`, `h{l}.mlp.bfc [4d]`, `h{l}.mlp.wproj [4d, d]`, `h{l}.mlp.bproj [d]`;
 * then `lnf.g`, `lnf.b` `[d]`.
 *
 * @param config A valid configuration.
 * @returns The weight specifications.
 */
export function trunkWeightSpecs(config: PolicyConfig): WeightSpec[] {
  const { vocabSize: v, dModel: d, layers, maxLength } = config;
  const specs: WeightSpec[] = [
    { name: "wte", shape: [v, d], init: "normal" },
    { name: "wpe", shape: [maxLength, d], init: "normal" },
  ];
  for (let l = 0; l < layers; l++) {
    const p = `h${l}.`;
    specs.push(
      { name: p + "ln1.g", shape: [d], init: "ones" },
      { name: p + "ln1.b", shape: [d], init: "zeros" },
      { name: p + "attn.wqkv", shape: [d, 3 * d], init: "normal" },
      { name: p + "attn.bqkv", shape: [3 * d], init: "zeros" },
      { name: p + "attn.wo", shape: [d, d], init: "residual" },
      { name: p + "attn.bo", shape: [d], init: "zeros" },
      { name: p + "ln2.g", shape: [d], init: "ones" },
      { name: p + "ln2.b", shape: [d], init: "zeros" },
      { name: p + "mlp.wfc", shape: [d, 4 * d], init: "normal" },
      { name: p + "mlp.bfc", shape: [4 * d], init: "zeros" },
      { name: p + "mlp.wproj", shape: [4 * d, d], init: "residual" },
      { name: p + "mlp.bproj", shape: [d], init: "zeros" },
    );
  }
  specs.push(
    { name: "lnf.g", shape: [d], init: "ones" },
    { name: "lnf.b", shape: [d], init: "zeros" },
  );
  return specs;
}

/**
 * Every weight of a policy: the trunk ({@linkcode trunkWeightSpecs}) then the untied output head
 * `head [d, V]`.
 *
 * @param config A valid configuration.
 * @returns The weight specifications, in the order of `Policy.weights`.
 *
 * @example
 * ```ts
 * import { policyWeightSpecs } from "./transformer.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const specs = policyWeightSpecs({ vocabSize: 8, dModel: 4, layers: 1, heads: 2, maxLength: 6, seed: 0 });
 * assertEquals(specs.at(-1), { name: "head", shape: [4, 8], init: "normal" });
 * assertEquals(specs.length, 2 + 12 + 2 + 1);
 * ```
 */
export function policyWeightSpecs(config: PolicyConfig): WeightSpec[] {
  return [
    ...trunkWeightSpecs(config),
    { name: "head", shape: [config.dModel, config.vocabSize], init: "normal" },
  ];
}

/**
 * Create variables for weight specs, drawing normal values from `rng` in spec order.
 * `residual` weights (the projections back into the residual stream) use std 0.02/√(2·layers).
 */
export function initWeights(
  specs: readonly WeightSpec[],
  config: PolicyConfig,
  rng: Random,
  trainable: boolean,
): Map<string, tf.Variable> {
  const weights = new Map<string, tf.Variable>();
  const residualStd = INIT_STD / Math.sqrt(2 * config.layers);
  for (const spec of specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (spec.init === "ones") data.fill(1);
    if (spec.init === "normal" || spec.init === "residual") {
      const std = spec.init === "normal" ? INIT_STD : residualStd;
      for (let i = 0; i < size; i++) data[i] = std * rng.normal();
    }
    const initial = tf.tensor(data, spec.shape, "float32");
    weights.set(spec.name, tf.variable(initial, trainable));
    initial.dispose();
  }
  return weights;
}

/** Number of scalars in a weight map. */
export function countParameters(weights: ReadonlyMap<string, tf.Variable>): number {
  let n = 0;
  for (const w of weights.values()) n += w.size;
  return n;
}

/**
 * Check a token batch for a model: int32 `[B, L]`, `1 ≤ L ≤ maxLength`, ids in `[0, V)`.
 * Reads the ids synchronously (small int32 tensors) on the host backends; on a GPU backend
 * ({@linkcode isDeviceBackend}) the id range is not checked (shape and dtype still are): callers
 * build token batches on the host, where `decode` and the tasks check them.
 */
export function checkTokens(context: string, tokens: tf.Tensor2D, config: PolicyConfig): void {
  checkRank(context, "tokens", tokens, 2, "[B, L]", "int32");
  const [batch, length] = tokens.shape;
  if (batch < 1 || length < 1) {
    throw new RangeError(
      `${context}: tokens must not be empty, got shape ${formatShape(tokens.shape)}`,
    );
  }
  if (length > config.maxLength) {
    throw new RangeError(
      `${context}: tokens has length ${length}, more than maxLength ${config.maxLength}`,
    );
  }
  if (isDeviceBackend()) return;
  const ids = tokens.dataSync();
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] < 0 || ids[i] >= config.vocabSize) {
      throw new RangeError(
        `${context}: token ids must be in [0, ${config.vocabSize}), got ${
          ids[i]
        } at flat index ${i}`,
      );
    }
  }
}

/**
 * A policy over a weight map: the built-in GPT, or the family of `architecture` when given.
 *
 * @param config The model shape (`dModel` is the width of the final hidden states).
 * @param weights The weights (owned by the returned policy).
 * @param trainable Whether the weights are trainable variables.
 * @param architecture A pretrained family's forward pass (`lib/models/`).
 * @returns The policy.
 */
export function makePolicy(
  config: PolicyConfig,
  weights: Map<string, tf.Variable>,
  trainable: boolean,
  architecture?: Architecture,
): Policy {
  const parameterCount = countParameters(weights);
  return {
    config,
    weights,
    parameterCount,
    trainable,
    ...(architecture !== undefined ? { architecture } : {}),
    logits(tokens: tf.Tensor2D): tf.Tensor3D {
      checkTokens("Cannot compute the policy logits", tokens, config);
      return tf.tidy(() => {
        const [batch, length] = tokens.shape;
        const { hidden } = architecture !== undefined
          ? architecture.trunk(weights, tokens)
          : trunk(weights, config, tokens);
        const flat = tf.reshape(hidden, [batch * length, config.dModel]) as tf.Tensor2D;
        const logits = architecture !== undefined
          ? architecture.head(weights, flat)
          : vocabularyLogits(weights, flat);
        return tf.reshape(logits, [batch, length, config.vocabSize]);
      });
    },
    dispose(): void {
      for (const w of weights.values()) w.dispose();
    },
  };
}

/**
 * Create a policy: a GPT-style decoder with learned positional embeddings, pre-LayerNorm blocks
 * (causal multi-head attention, GELU MLP of width 4d), a final LayerNorm and an **untied** output
 * head (`head [d, V]`, separate from the token embedding `wte`).
 *
 * `logits = LN_f(x_L) · W_head`, `x_{l+1} = x'_l + MLP(LN₂(x'_l))`, `x'_l = x_l + Attn(LN₁(x_l))`,
 * `x_0 = wte[w_t] + wpe[t]`.
 *
 * Initialisation is deterministic in `config.seed` (drawn with {@linkcode Random}, never
 * `tf.random*`): normal(0, 0.02) for embeddings and matrices, normal(0, 0.02/√(2·layers)) for
 * the two projections into the residual stream, zero biases, unit LayerNorm gains.
 *
 * @see He et al., arXiv 2506.02553 — the policy π whose gradient every algorithm estimates.
 * Used by every algorithm (PPO, GRPO, ReMax, RLOO, TRePO) as the policy and, frozen, the reference.
 *
 * @param config The model shape and seed.
 * @returns A trainable policy; call `dispose()` when done.
 * @throws {TypeError|RangeError} For an invalid configuration.
 *
 * @example
 * ```ts
 * import { createPolicy } from "./transformer.ts";
 * import { initBackend } from "../backend.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const policy = createPolicy({ vocabSize: 8, dModel: 8, layers: 1, heads: 2, maxLength: 6, seed: 1 });
 * const tokens = tf.tensor2d([[1, 2, 3]], [1, 3], "int32");
 * const logits = policy.logits(tokens);
 * assertEquals(logits.shape, [1, 3, 8]);
 * tf.dispose([tokens, logits]);
 * policy.dispose();
 * ```
 */
export function createPolicy(config: PolicyConfig): Policy {
  const valid = validatePolicyConfig(config);
  const weights = initWeights(policyWeightSpecs(valid), valid, new Random(valid.seed), true);
  return makePolicy(valid, weights, true);
}

function copyWeights(
  policy: Policy,
  trainable: boolean,
  context: string,
): Map<string, tf.Variable> {
  if (typeof policy !== "object" || policy === null || !(policy.weights instanceof Map)) {
    throw new TypeError(`${context}: policy must be a Policy, got ${describe(policy)}`);
  }
  const weights = new Map<string, tf.Variable>();
  for (const [name, w] of policy.weights) {
    if (w.isDisposed) throw new TypeError(`${context}: weight "${name}" has been disposed`);
    weights.set(name, tf.variable(w, trainable));
  }
  return weights;
}

/**
 * A trainable copy of a policy with the same weight values (independent variables).
 *
 * @param policy The policy to copy.
 * @returns A new trainable policy; dispose it separately.
 *
 * @example
 * ```ts
 * import { clonePolicy, createPolicy } from "./transformer.ts";
 * import { initBackend } from "../backend.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const policy = createPolicy({ vocabSize: 8, dModel: 8, layers: 1, heads: 2, maxLength: 6, seed: 1 });
 * const copy = clonePolicy(policy);
 * assertEquals(copy.weights.get("wte")!.dataSync(), policy.weights.get("wte")!.dataSync());
 * assertEquals(copy.trainable, true);
 * policy.dispose();
 * copy.dispose();
 * ```
 */
export function clonePolicy(policy: Policy): Policy {
  const context = "Cannot clone the policy";
  const weights = copyWeights(policy, true, context);
  if (policy.architecture !== undefined) {
    return makePolicy({ ...policy.config }, weights, true, policy.architecture);
  }
  return makePolicy(validatePolicyConfig(policy.config, context), weights, true);
}

/**
 * A frozen copy of a policy (the reference model π_ref): same values, variables created with
 * `trainable = false`, so optimisers and `tf.variableGrads` leave them alone.
 *
 * Used by PPO, GRPO, ReMax, RLOO and TRePO for the KL penalty to the reference.
 *
 * @param policy The policy to copy.
 * @returns A frozen policy (`trainable: false`); dispose it separately.
 *
 * @example
 * ```ts
 * import { createPolicy, freezePolicy } from "./transformer.ts";
 * import { initBackend } from "../backend.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const policy = createPolicy({ vocabSize: 8, dModel: 8, layers: 1, heads: 2, maxLength: 6, seed: 1 });
 * const reference = freezePolicy(policy);
 * assertEquals(reference.trainable, false);
 * assertEquals(reference.weights.get("head")!.trainable, false);
 * policy.dispose();
 * reference.dispose();
 * ```
 */
export function freezePolicy(policy: Policy): Policy {
  const context = "Cannot freeze the policy";
  const weights = copyWeights(policy, false, context);
  if (policy.architecture !== undefined) {
    return makePolicy({ ...policy.config }, weights, false, policy.architecture);
  }
  return makePolicy(validatePolicyConfig(policy.config, context), weights, false);
}
