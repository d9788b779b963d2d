/**
 * What every RL step shares: its signature ({@linkcode StepFn}), the state it works on
 * ({@linkcode StepState}), the batch it is given ({@linkcode StepBatch}), the description of an
 * algorithm that `train` runs ({@linkcode Algorithm}), and configuration checking
 * ({@linkcode resolveConfig}). The phases of a step live next to it: rollout.ts (sample, score,
 * reference log-probs), objective.ts and policy_update.ts (the loss and the update), and
 * step_metrics.ts; response_level_step.ts is the one step of GRPO, Dr. GRPO, RLOO, REINFORCE and
 * ReMax.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { Random } from "../random.ts";
import type { Policy } from "../policy/transformer.ts";
import type { ValueModel } from "../policy/value_model.ts";
import type { Sampler } from "../sample/sampler.ts";
import type { Tokenizer } from "../tasks/task.ts";
import type { RewardFn } from "../score/score.ts";
import { AGGREGATION_MODES, type AggregationMode } from "../loss/aggregate.ts";
import { checkInteger, checkNumber, checkOneOf, describe } from "../validate.ts";
import type { PolicyLossFn } from "./objective.ts";
import { checkMicroBatchSize, minibatchSizes } from "./update.ts";

/** The names of the algorithms `train` knows. */
export type AlgorithmName = "ppo" | "grpo" | "dr_grpo" | "remax" | "rloo" | "reinforce" | "trepo";

/** Settings every recipe has. Each algorithm's config extends this. */
export interface RlConfig {
  /** Distinct prompts per step. */
  promptsPerStep: number;
  /** Responses sampled per prompt (G). */
  groupSize: number;
  /** Adam learning rate of the policy. */
  learningRate: number;
  /** Global gradient-norm clip. */
  maxGradNorm: number;
  /** Coefficient β of the KL to the reference policy; 0 holds no reference model. */
  beta: number;
  /** Sampling temperature. */
  temperature: number;
  /** Passes over each rollout batch. */
  epochs: number;
  /** Minibatches per pass. */
  minibatches: number;
  /** PPO clip range ε of the ratio (used by the clipped surrogate and the clip metric). */
  clipEpsilon: number;
  /** How per-token losses are reduced (see `aggregateLoss`). */
  aggregation: AggregationMode;
  /** Most response tokens per sample; 0 uses the task's `maxResponseTokens`. */
  maxTokens: number;
  /**
   * Rows per forward/backward pass inside each minibatch (what TRL and verl call gradient
   * accumulation; TRL's `per_device_train_batch_size`, verl's `ppo_micro_batch_size_per_gpu`).
   * Each minibatch still makes one Adam step, on the sum of its micro-batches' gradients, each
   * micro-batch's loss normalised by the whole minibatch's count, so the loss, the gradient and
   * the metrics are those of the whole minibatch: it trades nothing but time for memory
   * (activations of `microBatchSize` rows instead of a whole minibatch). It must divide the rows
   * of each minibatch (`promptsPerStep × groupSize / minibatches`); 0 runs each minibatch in one
   * pass.
   */
  microBatchSize: number;
}

/** How one config key is checked. */
export interface FieldSpec {
  /** The type and kind of value. */
  kind: "number" | "integer" | "choice";
  /** Smallest allowed value (numbers). */
  min?: number;
  /** Largest allowed value (numbers). */
  max?: number;
  /** `min` itself is not allowed. */
  exclusiveMin?: boolean;
  /** The allowed strings (choice). */
  choices?: readonly string[];
}

/** How every key of a config is checked. */
export type ConfigSpec<C> = { readonly [K in keyof C]-?: FieldSpec };

/** The checks of the {@linkcode RlConfig} keys. */
export const RL_CONFIG_SPEC: ConfigSpec<RlConfig> = {
  promptsPerStep: { kind: "integer", min: 1 },
  groupSize: { kind: "integer", min: 1 },
  learningRate: { kind: "number", min: 0, exclusiveMin: true },
  maxGradNorm: { kind: "number", min: 0, exclusiveMin: true },
  beta: { kind: "number", min: 0 },
  temperature: { kind: "number", min: 0, exclusiveMin: true },
  epochs: { kind: "integer", min: 1 },
  minibatches: { kind: "integer", min: 1 },
  clipEpsilon: { kind: "number", min: 0, max: 1, exclusiveMin: true },
  aggregation: { kind: "choice", choices: AGGREGATION_MODES },
  maxTokens: { kind: "integer", min: 0 },
  microBatchSize: { kind: "integer", min: 0 },
};

/** The models and optimizers one step works on, plus its random stream. */
export interface StepState<C extends RlConfig = RlConfig> {
  /** The algorithm's configuration (checked). */
  readonly config: C;
  /** The policy being trained (its weights change). */
  readonly policy: Policy;
  /** The frozen reference policy for the KL term; present when `config.beta > 0`. */
  readonly reference?: Policy;
  /** The value model (PPO only). */
  readonly valueModel?: ValueModel;
  /** Adam of the policy, and of the value model when there is one. */
  readonly optimizers: { readonly policy: tf.Optimizer; readonly value?: tf.Optimizer };
  /** The stream of every random draw of the step (sampling, positions, minibatch order). */
  readonly rng: Random;
  /** The 1-based number of this step (error messages name it). */
  readonly step: number;
  /**
   * Measure `clip_ratio/after_update` and `policy/approx_kl_after_update` with one extra forward
   * pass over the batch after the update (default off).
   */
  readonly measureAfterUpdate?: boolean;
  /**
   * Where responses, ReMax's greedy baseline and TRePO's continuations come from (default
   * `localSampler`): a remote sampler runs them on an inference server (see `sampleResponses`).
   */
  readonly sampler?: Sampler;
  /**
   * Truncated importance sampling against a remote sampler's log-probs, with this cap `C`
   * (`truncatedImportanceWeights`); off when absent, and unused with a local sampler.
   */
  readonly importanceSamplingCap?: number;
}

/** The prompts of one step and how to score their responses. */
export interface StepBatch {
  /** Distinct prompts; each gets `groupSize` responses. */
  readonly prompts: readonly string[];
  /** Encodes prompts and decodes responses. */
  readonly tokenizer: Tokenizer;
  /** Reward functions of (prompt, completion); their weighted sum is the response reward. */
  readonly rewardFns: Readonly<Record<string, RewardFn>>;
  /** Weights of the reward functions (default 1 each). */
  readonly rewardWeights?: Readonly<Record<string, number>>;
  /** Most response tokens per sample (`config.maxTokens`, or the task's budget when that is 0). */
  readonly maxTokens: number;
}

/** Metrics of one step, by the anchor names (`reward/mean`, `kl`, `loss/policy`, …). */
export type StepMetrics = Record<string, number>;

/** The signature every recipe's step has, so that `train` treats them alike. */
export type StepFn<C extends RlConfig> = (
  state: StepState<C>,
  batch: StepBatch,
) => Promise<StepMetrics>;

/** Everything `train` needs to know about an algorithm. */
export interface Algorithm<C extends RlConfig = RlConfig> {
  /** The name used on the command line. */
  readonly name: AlgorithmName;
  /** The documented defaults. */
  readonly defaultConfig: Readonly<C>;
  /** How each config key is checked. */
  readonly configSpec: ConfigSpec<C>;
  /** One RL step (a {@linkcode StepFn}). */
  step(state: StepState<C>, batch: StepBatch): Promise<StepMetrics>;
  /** The per-token loss its step minimises for a config (the theory lab differentiates it). */
  policyLoss(config: C): PolicyLossFn;
  /** Whether it trains a value model next to the policy (PPO). */
  readonly usesValueModel: boolean;
  /** The smallest group size it works with (RLOO and TRePO need 2). */
  readonly minGroupSize: number;
}

/**
 * Merge user settings over an algorithm's defaults and check every key: an unknown key, a value
 * of the wrong type or one out of range throws an error that names the key.
 *
 * @param algorithm The algorithm whose config this is.
 * @param overrides Settings to change (a plain object; may be `undefined`).
 * @returns The complete, checked config.
 * @throws {TypeError} For a value of the wrong type, or overrides that are not an object.
 * @throws {RangeError} For an unknown key, a value out of range, a group size the algorithm cannot
 *   use, or a `microBatchSize` that does not divide every minibatch's rows (the message lists the
 *   sizes that do).
 *
 * @example Unknown keys are refused
 * ```ts
 * import { resolveConfig } from "./step.ts";
 * import { grpo } from "./grpo.ts";
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * assertEquals(resolveConfig(grpo, { beta: 0 }).beta, 0);
 * assertThrows(() => resolveConfig(grpo, { lr: 1 }), RangeError, 'unknown key "lr"');
 * ```
 */
export function resolveConfig<C extends RlConfig>(
  algorithm: Algorithm<C>,
  overrides: unknown = {},
): C {
  const context = `Cannot configure ${algorithm.name}`;
  if (overrides === null || typeof overrides !== "object" || Array.isArray(overrides)) {
    throw new TypeError(`${context}: config must be a plain object, got ${describe(overrides)}`);
  }
  const keys = Object.keys(algorithm.defaultConfig);
  const config = { ...algorithm.defaultConfig } as Record<string, unknown>;
  for (const [key, value] of Object.entries(overrides)) {
    if (!keys.includes(key)) {
      throw new RangeError(
        `${context}: unknown key "${key}", expected one of ${keys.join(", ")}`,
      );
    }
    if (value === undefined) continue;
    const spec = (algorithm.configSpec as Record<string, FieldSpec>)[key];
    const name = `config.${key}`;
    if (spec.kind === "choice") {
      checkOneOf(context, name, value, spec.choices ?? []);
    } else {
      if (spec.kind === "integer") checkInteger(context, name, value, -Infinity);
      checkNumber(context, name, value, spec);
    }
    config[key] = value;
  }
  const checked = config as unknown as C;
  if (checked.groupSize < algorithm.minGroupSize) {
    throw new RangeError(
      `${context}: config.groupSize must be at least ${algorithm.minGroupSize} for ${algorithm.name}, got ${checked.groupSize}`,
    );
  }
  const rows = checked.promptsPerStep * checked.groupSize;
  if (checked.minibatches > rows) {
    throw new RangeError(
      `${context}: config.minibatches must be at most promptsPerStep × groupSize = ${rows}, got ${checked.minibatches}`,
    );
  }
  checkMicroBatchSize(context, minibatchSizes(rows, checked.minibatches), checked.microBatchSize);
  return checked;
}
