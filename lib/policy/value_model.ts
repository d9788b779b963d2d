/**
 * The value model (critic, or reward model): the policy's transformer trunk with a scalar head.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Random } from "../random.ts";
import { trunk, weight } from "./layers.ts";
import type { Architecture } from "./architecture.ts";
import type { Policy } from "./transformer.ts";
import {
  checkTokens,
  countParameters,
  initWeights,
  type PolicyConfig,
  trunkWeightSpecs,
  validatePolicyConfig,
  type WeightSpec,
} from "./transformer.ts";

/** A transformer that maps every prefix to a scalar value. */
export interface ValueModel {
  /** The model shape. */
  readonly config: PolicyConfig;
  /** Every trainable weight: the trunk's names, then "value.w" [d, 1] and "value.b" [1]. */
  readonly weights: ReadonlyMap<string, tf.Variable>;
  /** Total number of weights (scalars). */
  readonly parameterCount: number;
  /** A pretrained family's forward pass, when the trunk is one (see `Policy.architecture`). */
  readonly architecture?: Architecture;
  /** tokens int32 [B, L] → values [B, L]: value of the prefix ending at each position. */
  values(tokens: tf.Tensor2D): tf.Tensor2D;
  /** Free the weights. */
  dispose(): void;
}

/**
 * Every weight of a value model: the trunk of `transformer.ts` then `value.w [d, 1]` and
 * `value.b [1]`, both initialised to zero (the model starts out predicting 0 everywhere).
 *
 * @param config A valid configuration.
 * @returns The weight specifications, in the order of `ValueModel.weights`.
 *
 * @example
 * ```ts
 * import { valueModelWeightSpecs } from "./value_model.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const specs = valueModelWeightSpecs({ vocabSize: 8, dModel: 4, layers: 1, heads: 2, maxLength: 6, seed: 0 });
 * assertEquals(specs.map((s) => s.name).slice(-2), ["value.w", "value.b"]);
 * ```
 */
export function valueModelWeightSpecs(config: PolicyConfig): WeightSpec[] {
  return [
    ...trunkWeightSpecs(config),
    { name: "value.w", shape: [config.dModel, 1], init: "zeros" },
    { name: "value.b", shape: [1], init: "zeros" },
  ];
}

/**
 * Create a value model `V(w_0 … w_t)`: the same GPT trunk as {@linkcode createPolicy} with its own
 * weights and a scalar head, `V = LN_f(x_L) · w_v + b_v`.
 *
 * The trunk is initialised exactly as a policy with the same config (same seed, same draws), so a
 * critic created with the policy's config starts from the same trunk; the head starts at zero.
 *
 * @see He et al., arXiv 2506.02553, Theorem 2 — PPO's critic estimates the baseline E[RM | prefix].
 * Used by PPO (critic) and as a reward model (`rewardModelFn`).
 *
 * @param config The model shape and seed.
 * @returns A trainable value model; call `dispose()` when done.
 * @throws {TypeError|RangeError} For an invalid configuration.
 *
 * @example
 * ```ts
 * import { createValueModel } from "./value_model.ts";
 * import { initBackend } from "../backend.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const critic = createValueModel({ vocabSize: 8, dModel: 8, layers: 1, heads: 2, maxLength: 6, seed: 1 });
 * const tokens = tf.tensor2d([[1, 2, 3]], [1, 3], "int32");
 * const values = critic.values(tokens);
 * assertEquals(values.shape, [1, 3]);
 * assertEquals(Array.from(values.dataSync()), [0, 0, 0]); // zero-initialised head
 * tf.dispose([tokens, values]);
 * critic.dispose();
 * ```
 */
export function createValueModel(config: PolicyConfig): ValueModel {
  const context = "Cannot create the value model";
  const valid = validatePolicyConfig(config, context);
  const weights = initWeights(valueModelWeightSpecs(valid), valid, new Random(valid.seed), true);
  const parameterCount = countParameters(weights);
  return {
    config: valid,
    weights,
    parameterCount,
    values(tokens: tf.Tensor2D): tf.Tensor2D {
      checkTokens("Cannot compute the values", tokens, valid);
      return tf.tidy(() => {
        const [batch, length] = tokens.shape;
        const { hidden } = trunk(weights, valid, tokens);
        return prefixValues(weights, hidden, batch, length);
      });
    },
    dispose(): void {
      for (const w of weights.values()) w.dispose();
    },
  };
}

/** Apply the scalar head to hidden states `[B, L, d]` → `[B, L]`. */
export function prefixValues(
  weights: ReadonlyMap<string, tf.Variable>,
  hidden: tf.Tensor3D,
  batch: number,
  length: number,
): tf.Tensor2D {
  const d = hidden.shape[2];
  const flat = tf.reshape(hidden, [batch * length, d]) as tf.Tensor2D;
  const v = tf.add(
    tf.matMul(flat, weight(weights, "value.w") as tf.Tensor2D),
    weight(weights, "value.b"),
  );
  return tf.reshape(v, [batch, length]);
}

/**
 * A value model from a pretrained policy: a copy of its trunk (every weight of the policy, under
 * the same names) and a fresh scalar head `value.w [d, 1]`, `value.b [1]` at zero, so
 * `V = h_L · w_v + b_v` on the family's final-norm hidden states `h_L`, and it starts out
 * predicting 0 everywhere.
 *
 * @see He et al., arXiv 2506.02553, Theorem 2 — PPO's critic estimates the baseline E[RM | prefix].
 * Used by PPO on pretrained policies.
 *
 * @param policy A policy with an `architecture` (from `loadPretrained`).
 * @returns A trainable value model with the policy's `architecture`; call `dispose()` when done.
 * @throws {TypeError} When the policy has no architecture.
 *
 * @example The GPT-2 test fixture (run from the repository root)
 * ```ts
 * import { pretrainedValueModel } from "./value_model.ts";
 * import { loadPretrainedFolder } from "../models/pretrained.ts";
 * import { initBackend } from "../backend.ts";
 * import * as tf from "@tensorflow/tfjs";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const { policy } = await loadPretrainedFolder("tests/fixtures/hf/gpt2");
 * const critic = pretrainedValueModel(policy);
 * const tokens = tf.tensor2d([[1, 2, 3]], [1, 3], "int32");
 * const values = critic.values(tokens);
 * assertEquals(Array.from(await values.data()), [0, 0, 0]);
 * tf.dispose([tokens, values]);
 * critic.dispose();
 * policy.dispose();
 * ```
 */
export function pretrainedValueModel(
  policy: Pick<Policy, "config" | "weights" | "architecture">,
): ValueModel {
  const architecture = policy?.architecture;
  if (architecture === undefined) {
    throw new TypeError(
      "Cannot create the value model: the policy has no pretrained architecture (use createValueModel)",
    );
  }
  const config = policy.config;
  const weights = new Map<string, tf.Variable>();
  for (const [name, w] of policy.weights) weights.set(name, tf.variable(w, true));
  for (const [name, shape] of [["value.w", [config.dModel, 1]], ["value.b", [1]]] as const) {
    const zeros = tf.zeros([...shape]);
    weights.set(name, tf.variable(zeros, true));
    zeros.dispose();
  }
  const parameterCount = countParameters(weights);
  return {
    config,
    weights,
    parameterCount,
    architecture,
    values(tokens: tf.Tensor2D): tf.Tensor2D {
      checkTokens("Cannot compute the values", tokens, config);
      return tf.tidy(() => {
        const [batch, length] = tokens.shape;
        const { hidden } = architecture.trunk(weights, tokens);
        return prefixValues(weights, hidden, batch, length);
      });
    },
    dispose(): void {
      for (const w of weights.values()) w.dispose();
    },
  };
}
