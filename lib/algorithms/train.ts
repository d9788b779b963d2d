/**
 * The training loop: one RL algorithm, one task, a number of steps. Evaluates greedy accuracy,
 * writes one JSON line of metrics per step, saves resumable checkpoints (policy, value model, Adam
 * states, PRNG streams, step) and continues from them bit for bit.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Random, type RandomState } from "../random.ts";
import { freezePolicy, type Policy } from "../policy/transformer.ts";
import { createValueModel, type ValueModel } from "../policy/value_model.ts";
import { loadCheckpoint, saveCheckpoint } from "../policy/checkpoint.ts";
import type { Task } from "../tasks/task.ts";
import { taskByName } from "../tasks/task_by_name.ts";
import type { RewardFn } from "../score/score.ts";
import { checkInteger, describe } from "../validate.ts";
import { evaluateAccuracy } from "./evaluate.ts";
import {
  type Algorithm,
  type AlgorithmName,
  resolveConfig,
  type RlConfig,
  type StepBatch,
  type StepMetrics,
} from "./step.ts";
import { ppo } from "./ppo.ts";
import { drGrpo, grpo } from "./grpo.ts";
import { remax } from "./remax.ts";
import { rloo } from "./rloo.ts";
import { reinforce } from "./reinforce.ts";
import { trepo } from "./trepo.ts";

/** Every algorithm `train` runs, by name. */
export const ALGORITHMS: Readonly<Record<AlgorithmName, Algorithm>> = Object.freeze({
  ppo: ppo,
  grpo: grpo,
  dr_grpo: drGrpo,
  remax: remax,
  rloo: rloo,
  reinforce: reinforce,
  trepo: trepo,
});

/** The names of {@linkcode ALGORITHMS}. */
export const ALGORITHM_NAMES: readonly AlgorithmName[] = Object.freeze(
  Object.keys(ALGORITHMS) as AlgorithmName[],
);

/**
 * Look an algorithm up by name (`"dr-grpo"` is accepted for `"dr_grpo"`).
 *
 * @param name One of {@linkcode ALGORITHM_NAMES}.
 * @returns The algorithm.
 * @throws {RangeError} For an unknown name; the message lists the valid ones.
 *
 * @example
 * ```ts
 * import { algorithmByName } from "./train.ts";
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * assertEquals(algorithmByName("rloo").name, "rloo");
 * assertThrows(() => algorithmByName("dpo"), RangeError, '"ppo", "grpo"');
 * ```
 */
export function algorithmByName(name: string): Algorithm {
  const key = typeof name === "string" ? name.replace(/-/g, "_") : name;
  if (typeof key === "string" && Object.hasOwn(ALGORITHMS, key)) {
    return ALGORITHMS[key as AlgorithmName];
  }
  throw new RangeError(
    `Cannot find the algorithm: unknown algorithm ${describe(name)}, expected one of ${
      ALGORITHM_NAMES.map((n) => `"${n}"`).join(", ")
    }`,
  );
}

/** One line of `metrics.jsonl`: the step number and the step's metrics. */
export type StepRecord = { step: number } & StepMetrics;

/** A model a run holds, for the compute accounting in `run.json`. */
export interface ModelAccount {
  /** `"policy"`, `"reference"`, `"value"` or `"reward"`. */
  role: string;
  /** Parameters (0 for a reward given as a program). */
  parameters: number;
  /** Whether it is trained. */
  trainable: boolean;
  /** What it is. */
  kind: "transformer" | "value-transformer" | "function";
}

/** Options of {@linkcode train}. */
export interface TrainOptions {
  /** The algorithm, or its name (see {@linkcode ALGORITHM_NAMES}). */
  algorithm: AlgorithmName | Algorithm | string;
  /** Settings over the algorithm's defaults (checked key by key). Ignored keys are refused. */
  config?: Record<string, unknown>;
  /** The task, or its name. */
  task: Task | string;
  /**
   * The policy to train (changed in place). Required unless `resume` is set; when resuming, the
   * checkpoint's weights are copied into it if it is given.
   */
  policy?: Policy;
  /** Total steps of the run (a resumed run continues up to this number). */
  steps: number;
  /** Seed of every random stream of the run (default 0). */
  seed?: number;
  /** Evaluate greedy accuracy before training and every this many steps (and after the last); 0 = never (default 0). */
  evalEvery?: number;
  /** Evaluate on at most this many examples of the task's eval set (default all). */
  evalLimit?: number;
  /** Save a checkpoint every this many steps (and after the last) when `outDir` is given; 0 = only after the last (default 0). */
  checkpointEvery?: number;
  /** Where `run.json`, `metrics.jsonl`, `checkpoint/` and `reference/` go; nothing is written without it. */
  outDir?: string;
  /** Called after every step (and after the step-0 evaluation) with its record. */
  onStep?: (record: StepRecord) => void | Promise<void>;
  /**
   * Continue from `outDir/checkpoint`: the checkpoint's config and seed are used, and its
   * `evalEvery`, `evalLimit` and `checkpointEvery` unless given here. Reward functions are not
   * saved: pass the same `rewardFns` again.
   */
  resume?: boolean;
  /** Reward functions (default: the task's reward under the task's name). */
  rewardFns?: Record<string, RewardFn>;
  /** Weights of the reward functions (default 1 each). */
  rewardWeights?: Record<string, number>;
}

/** What {@linkcode train} returns. The caller owns `policy` and `valueModel`. */
export interface TrainResult {
  /** The trained policy (the one passed in, when one was). */
  policy: Policy;
  /** The trained value model (PPO). */
  valueModel?: ValueModel;
  /** The checked config that was used. */
  config: RlConfig;
  /** The records of the steps run by this call (and the step-0 evaluation, when there was one). */
  records: StepRecord[];
  /** The last greedy evaluation, when there was one. */
  finalAccuracy?: number;
  /** The models the run held. */
  models: ModelAccount[];
}

interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

/** File names inside `outDir`. */
const METRICS = "metrics.jsonl";
const RUN = "run.json";
const CHECKPOINT = "checkpoint";
const REFERENCE = "reference";

/**
 * Train a policy with an RL algorithm on a task.
 *
 * Each step draws `promptsPerStep` prompts from the task (prompt stream), then runs the
 * algorithm's step (sample → score → advantage → loss and update) on the step stream. Both
 * streams, both Adam states (moments, iteration counts and bias-correction powers), the policy,
 * the value model and the step are saved in `outDir/checkpoint`; the reference policy once in
 * `outDir/reference`. `resume: true` restores all of it: a run of 2k steps and a run of k steps
 * resumed for k more produce identical weights and identical metrics lines apart from timings.
 *
 * Preconditions: a tfjs backend is initialised; the policy's vocabulary is the task's.
 *
 * @param options What to train, for how long, and where to write.
 * @returns The trained models, the records and the accounting.
 * @throws {RangeError} For an unknown algorithm or task, a bad config value, `steps < 1`, or
 *   `resume` without a checkpoint.
 * @throws {Error} When a reward function fails or a loss or gradient is not finite (the step is
 *   named; no checkpoint is written for it).
 *
 * @example Two GRPO steps on a tiny policy
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { createPolicy } from "../policy/transformer.ts";
 * import { defaultPolicyConfig } from "../tasks/default_policy_config.ts";
 * import { addition } from "../tasks/addition.ts";
 * import { train } from "./train.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const policy = createPolicy(defaultPolicyConfig(addition, { dModel: 16, layers: 1, heads: 2 }));
 * const result = await train({
 *   algorithm: "grpo", task: "addition", policy, steps: 2,
 *   config: { promptsPerStep: 1, groupSize: 2, maxTokens: 4 },
 * });
 * assertEquals(result.records.map((r) => r.step), [1, 2]);
 * policy.dispose();
 * ```
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const context = "Cannot train";
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${context}: options must be an object, got ${describe(options)}`);
  }
  const algorithm = typeof options.algorithm === "string"
    ? algorithmByName(options.algorithm)
    : options.algorithm;
  const task = typeof options.task === "string" ? taskByName(options.task) : options.task;
  const steps = checkInteger(context, "steps", options.steps, 1);
  let evalEvery = checkInteger(context, "evalEvery", options.evalEvery ?? 0, 0);
  let checkpointEvery = checkInteger(context, "checkpointEvery", options.checkpointEvery ?? 0, 0);
  let evalLimit = options.evalLimit === undefined
    ? undefined
    : checkInteger(context, "evalLimit", options.evalLimit, 1);
  const outDir = options.outDir;
  if (outDir !== undefined && (typeof outDir !== "string" || outDir === "")) {
    throw new TypeError(`${context}: outDir must be a non-empty string, got ${describe(outDir)}`);
  }
  const rewardFns = options.rewardFns ??
    { [task.name]: (p: string, c: string) => task.reward(p, c) };

  let policy: Policy;
  let reference: Policy | undefined;
  let valueModel: ValueModel | undefined;
  let config: RlConfig;
  let seed: number;
  let startStep = 0;
  let streams: { prompts: Random; step: Random };
  const optimizers: { policy?: tf.Optimizer; value?: tf.Optimizer } = {};
  const keep: { dispose(): void }[] = [];
  try {
    if (options.resume === true) {
      // ---- Resume: everything comes from the checkpoint.
      if (outDir === undefined) {
        throw new TypeError(`Cannot resume training: outDir is required to find the checkpoint`);
      }
      const dir = `${outDir}/${CHECKPOINT}`;
      if (!(await exists(`${dir}/config.json`))) {
        throw new Error(`Cannot resume training: no checkpoint in ${dir}`);
      }
      const loaded = await loadCheckpoint(dir);
      const saved = loaded.state as SavedState;
      if (saved.algorithm !== algorithm.name) {
        loaded.policy.dispose();
        loaded.valueModel?.dispose();
        Object.values(loaded.optimizers ?? {}).forEach((o) => o.dispose());
        tf.dispose(Object.values(loaded.optimizerWeights ?? {}).flat().map((w) => w.tensor));
        throw new RangeError(
          `Cannot resume training: the checkpoint in ${dir} was trained with ${saved.algorithm}, not ${algorithm.name}`,
        );
      }
      tf.dispose(Object.values(loaded.optimizerWeights ?? {}).flat().map((w) => w.tensor));
      config = resolveConfig(algorithm, saved.config);
      checkSameOverrides(config, options.config, dir);
      seed = saved.seed;
      startStep = saved.step;
      // The schedule of the run continues unless the caller gives another one.
      evalEvery = options.evalEvery === undefined ? saved.evalEvery ?? 0 : evalEvery;
      evalLimit = options.evalLimit === undefined ? saved.evalLimit ?? undefined : evalLimit;
      checkpointEvery = options.checkpointEvery === undefined
        ? saved.checkpointEvery ?? 0
        : checkpointEvery;
      if (options.policy !== undefined) {
        policy = options.policy;
        copyWeights(loaded.policy.weights, policy.weights);
        loaded.policy.dispose();
      } else {
        policy = loaded.policy;
      }
      valueModel = loaded.valueModel;
      optimizers.policy = loaded.optimizers?.policy;
      optimizers.value = loaded.optimizers?.value;
      if (optimizers.policy === undefined) {
        throw new Error(`Cannot resume training: the checkpoint in ${dir} has no policy optimizer`);
      }
      restoreBiasCorrection(optimizers.policy, saved.adam?.policy);
      if (optimizers.value !== undefined) {
        restoreBiasCorrection(optimizers.value, saved.adam?.value);
      }
      const rng = loaded.rng as Record<string, RandomState>;
      streams = { prompts: Random.fromState(rng.prompts), step: Random.fromState(rng.step) };
      if (config.beta > 0) {
        const ref = await loadCheckpoint(`${outDir}/${REFERENCE}`);
        reference = freezePolicy(ref.policy);
        ref.policy.dispose();
      }
    } else {
      // ---- Fresh start.
      if (options.policy === undefined) {
        throw new TypeError(`${context}: a policy is required unless resuming`);
      }
      policy = options.policy;
      config = resolveConfig(algorithm, options.config ?? {});
      seed = options.seed ?? 0;
      if (typeof seed !== "number" || !Number.isFinite(seed)) {
        throw new TypeError(`${context}: seed must be a finite number, got ${describe(seed)}`);
      }
      const root = new Random(seed);
      streams = { prompts: root.split(), step: root.split() };
      if (config.beta > 0) reference = freezePolicy(policy);
      if (algorithm.usesValueModel) {
        valueModel = createValueModel({ ...policy.config, seed: seed + 1 });
        copyMatchingWeights(policy.weights, valueModel.weights);
      }
      optimizers.policy = adam(config.learningRate);
      if (valueModel !== undefined) {
        optimizers.value = adam(
          (config as RlConfig & { valueLearningRate: number }).valueLearningRate,
        );
      }
    }
    if (reference !== undefined) keep.push(reference);
    if (policy.config.vocabSize !== task.tokenizer.vocabSize) {
      throw new RangeError(
        `${context}: the policy's vocabSize ${policy.config.vocabSize} differs from the task's ${task.tokenizer.vocabSize}`,
      );
    }

    const models: ModelAccount[] = [
      { role: "policy", parameters: policy.parameterCount, trainable: true, kind: "transformer" },
      ...(reference === undefined ? [] : [{
        role: "reference",
        parameters: reference.parameterCount,
        trainable: false,
        kind: "transformer" as const,
      }]),
      ...(valueModel === undefined ? [] : [{
        role: "value",
        parameters: valueModel.parameterCount,
        trainable: true,
        kind: "value-transformer" as const,
      }]),
      { role: "reward", parameters: 0, trainable: false, kind: "function" },
    ];
    const maxTokens = config.maxTokens > 0 ? config.maxTokens : task.maxResponseTokens;
    const records: StepRecord[] = [];
    let finalAccuracy: number | undefined;

    // ---- Files.
    if (outDir !== undefined) {
      await Deno.mkdir(outDir, { recursive: true });
      await Deno.writeTextFile(
        `${outDir}/${RUN}`,
        JSON.stringify(
          {
            algorithm: algorithm.name,
            task: task.name,
            seed,
            steps,
            config,
            maxTokens,
            policy: policy.config,
            models,
            rewardFunctions: Object.keys(rewardFns),
            backend: tf.getBackend(),
            resumedFrom: options.resume === true ? startStep : undefined,
          },
          null,
          2,
        ) + "\n",
      );
      if (options.resume === true) {
        await truncateMetrics(`${outDir}/${METRICS}`, startStep);
      } else {
        await Deno.writeTextFile(`${outDir}/${METRICS}`, "");
        if (reference !== undefined) {
          await saveCheckpoint(`${outDir}/${REFERENCE}`, {
            policy: reference,
            tokenizer: task.tokenizer,
          });
        }
      }
    }
    const emit = async (record: StepRecord) => {
      records.push(record);
      if (outDir !== undefined) {
        await Deno.writeTextFile(`${outDir}/${METRICS}`, JSON.stringify(record) + "\n", {
          append: true,
        });
      }
      await options.onStep?.(record);
    };
    const evaluate = async (): Promise<StepMetrics> => {
      const result = await evaluateAccuracy(policy, task, {
        maxTokens,
        ...(evalLimit === undefined ? {} : { limit: evalLimit }),
      });
      finalAccuracy = result.accuracy;
      return { "eval/accuracy": result.accuracy, "eval/reward": result.meanReward };
    };

    if (evalEvery > 0 && startStep === 0) await emit({ step: 0, ...(await evaluate()) });

    // ---- The loop.
    for (let step = startStep + 1; step <= steps; step++) {
      const started = performance.now();
      const batch: StepBatch = {
        prompts: task.prompts(streams.prompts, config.promptsPerStep),
        tokenizer: task.tokenizer,
        rewardFns,
        rewardWeights: options.rewardWeights,
        maxTokens,
      };
      const metrics = await algorithm.step({
        config,
        policy,
        reference,
        valueModel,
        optimizers: { policy: optimizers.policy!, value: optimizers.value },
        rng: streams.step,
        step,
      }, batch);
      const evaluation = evalEvery > 0 && (step % evalEvery === 0 || step === steps)
        ? await evaluate()
        : {};
      const record: StepRecord = {
        step,
        ...metrics,
        ...evaluation,
        "time/step_s": (performance.now() - started) / 1000,
      };
      if (
        outDir !== undefined &&
        ((checkpointEvery > 0 && step % checkpointEvery === 0) || step === steps)
      ) {
        await saveCheckpoint(`${outDir}/${CHECKPOINT}`, {
          policy,
          valueModel,
          optimizers: optimizers.value === undefined
            ? { policy: optimizers.policy! }
            : { policy: optimizers.policy!, value: optimizers.value },
          rng: { prompts: streams.prompts.state(), step: streams.step.state() },
          state: {
            step,
            algorithm: algorithm.name,
            task: task.name,
            seed,
            config,
            evalEvery,
            evalLimit: evalLimit ?? null,
            checkpointEvery,
            adam: {
              policy: biasCorrection(optimizers.policy!),
              ...(optimizers.value === undefined
                ? {}
                : { value: biasCorrection(optimizers.value) }),
            },
          } satisfies SavedState,
          tokenizer: task.tokenizer,
        });
      }
      await emit(record);
    }
    return {
      policy,
      ...(valueModel === undefined ? {} : { valueModel }),
      config,
      records,
      finalAccuracy,
      models,
    };
  } catch (error) {
    if (options.policy === undefined && policy! !== undefined) policy.dispose();
    valueModel?.dispose();
    throw error;
  } finally {
    optimizers.policy?.dispose();
    optimizers.value?.dispose();
    for (const k of keep) k.dispose();
  }
}

/** What `train` keeps in `trainer_state.json`. */
interface SavedState {
  step: number;
  algorithm: string;
  task: string;
  seed: number;
  config: RlConfig;
  evalEvery?: number;
  evalLimit?: number | null;
  checkpointEvery?: number;
  adam?: { policy?: [number, number]; value?: [number, number] };
  [key: string]: unknown;
}

/** Adam as every recipe uses it (β₁ 0.9, β₂ 0.999, ε 1e-8: Kingma & Ba, PyTorch defaults). */
function adam(learningRate: number): tf.Optimizer {
  return tf.train.adam(learningRate, 0.9, 0.999, 1e-8);
}

/** Adam's running bias-correction powers β₁ᵗ⁺¹, β₂ᵗ⁺¹ (float32, as the optimizer holds them). */
function biasCorrection(optimizer: tf.Optimizer): [number, number] {
  const internals = optimizer as unknown as Partial<AdamInternals>;
  if (internals.accBeta1 === undefined || internals.accBeta2 === undefined) return [1, 1];
  return [internals.accBeta1.dataSync()[0], internals.accBeta2.dataSync()[0]];
}

/**
 * tfjs's `Adam.setWeights` recomputes β^(t+1) with `pow`, which can differ in the last bit from
 * the running product the uninterrupted optimizer holds; put the saved values back.
 */
function restoreBiasCorrection(optimizer: tf.Optimizer, saved: [number, number] | undefined): void {
  const internals = optimizer as unknown as Partial<AdamInternals>;
  if (saved === undefined || internals.accBeta1 === undefined || internals.accBeta2 === undefined) {
    return;
  }
  tf.tidy(() => {
    internals.accBeta1!.assign(tf.scalar(saved[0]));
    internals.accBeta2!.assign(tf.scalar(saved[1]));
  });
}

function copyWeights(
  from: ReadonlyMap<string, tf.Variable>,
  to: ReadonlyMap<string, tf.Variable>,
): void {
  for (const [name, target] of to) {
    const source = from.get(name);
    if (source === undefined || source.shape.join() !== target.shape.join()) {
      throw new Error(
        `Cannot resume training: the checkpoint's weight ${name} does not fit the policy`,
      );
    }
    target.assign(source);
  }
}

/** Start the critic's trunk from the policy's (same names and shapes); the head stays fresh. */
function copyMatchingWeights(
  from: ReadonlyMap<string, tf.Variable>,
  to: ReadonlyMap<string, tf.Variable>,
): void {
  for (const [name, target] of to) {
    const source = from.get(name);
    if (source !== undefined && source.shape.join() === target.shape.join()) target.assign(source);
  }
}

/** On resume, the config keys the caller gives must agree with the checkpoint's. */
function checkSameOverrides(
  config: RlConfig,
  overrides: Record<string, unknown> | undefined,
  dir: string,
): void {
  for (const [key, value] of Object.entries(overrides ?? {})) {
    const saved = (config as unknown as Record<string, unknown>)[key];
    if (value !== undefined && value !== saved) {
      throw new RangeError(
        `Cannot resume training: config.${key} is ${
          describe(value)
        } but the checkpoint in ${dir} was trained with ${describe(saved)}`,
      );
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Keep the lines of steps ≤ `step` (a run may have gone past its last checkpoint). */
async function truncateMetrics(path: string, step: number): Promise<void> {
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const kept = text.split("\n").filter((line) => {
    if (line.trim() === "") return false;
    try {
      return (JSON.parse(line) as { step: number }).step <= step;
    } catch {
      return false;
    }
  });
  await Deno.writeTextFile(path, kept.map((l) => l + "\n").join(""));
}
