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
import { createValueModel, pretrainedValueModel, type ValueModel } from "../policy/value_model.ts";
import { adapterOffReference, loraAdapterOf } from "../models/lora.ts";
// ---- Memory plan (lib/policy/memory_plan.ts): refuse a run that does not fit, check each step.
import type { MemoryPlan } from "../policy/memory_plan.ts";
import { setTransposedWeightBudget } from "../models/transposed_weights.ts";
import {
  allocationError,
  checkStepMemory,
  heldMemoryLimit,
  isAllocationFailure,
  planRun,
} from "./run_memory.ts";
import { minibatchSizes } from "./update.ts";
import type { TextTokenizer } from "../tasks/text_tokenizer.ts";
import { loadCheckpoint, saveCheckpoint } from "../policy/checkpoint.ts";
import { fusedAdam } from "../policy/fused_adam.ts";
import type { Task } from "../tasks/task.ts";
import { taskByName } from "../tasks/task_by_name.ts";
import type { RewardFn } from "../score/score.ts";
import { checkInteger, checkNumber, describe } from "../validate.ts";
import type { Sampler } from "../sample/sampler.ts";
import { evaluateAccuracy } from "./evaluate.ts";
import { claimRunFolder, type RunFolder } from "./run_folder.ts";
import {
  baseFingerprint,
  checkpointLayout,
  restorePretrainedRunCheckpoint,
  savePretrainedRunCheckpoint,
} from "./pretrained_run_checkpoint.ts";
import { exists } from "../io/atomic_directory.ts";
import { readOptimizers } from "../policy/training_state.ts";
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
  /**
   * Total steps of the run. A resumed run continues up to this number (default: the run's own);
   * it may extend the run, never end it at or before its checkpoint.
   */
  steps?: number;
  /** Seed of every random stream of the run (default 0; a resumed run's must be its own). */
  seed?: number;
  /** Evaluate greedy accuracy before training and every this many steps (and after the last); 0 = never (default 0). */
  evalEvery?: number;
  /** Evaluate on at most this many examples of the task's eval set (default all). */
  evalLimit?: number;
  /** Save a checkpoint every this many steps (and after the last) when `outDir` is given; 0 = only after the last (default 0). */
  checkpointEvery?: number;
  /**
   * Where `run.json`, `metrics.jsonl`, `checkpoint/` and `reference/` go; nothing is written
   * without it. A path is claimed for the run (`claimRunFolder`: a lock file, released on every
   * exit; a folder that holds a run already is refused unless `resume` or `overwrite`); a
   * `RunFolder` claimed by the caller (for example to write a warm start into it first) is used
   * as is and stays the caller's to release.
   */
  outDir?: string | RunFolder;
  /**
   * Start afresh in an `outDir` that holds a run: the earlier run is moved to
   * `<outDir>.old-<time>` (nothing is deleted). Not with `resume`.
   */
  overwrite?: boolean;
  /**
   * The most bytes the run may hold (default `$TREPO_MEMORY_LIMIT`, else the backend's: the
   * 4 GiB wasm heap, 80 % of the available memory on cpu). The memory plan is checked against it
   * before anything is allocated for the run, and again before every step against what is held.
   */
  memoryLimitBytes?: number;
  /** Called after every step (and after the step-0 evaluation) with its record. */
  onStep?: (record: StepRecord) => void | Promise<void>;
  /** Called after each checkpoint is committed to `outDir/checkpoint`, with its step. */
  onCheckpoint?: (step: number) => void;
  /**
   * Continue from `outDir/checkpoint`: the checkpoint's config, seed and total steps are used, and
   * its `evalEvery`, `evalLimit` and `checkpointEvery` unless given here. Whatever else changes
   * the run must agree with the checkpoint or is refused: the algorithm, the task, `seed`, the
   * `config` keys given, the policy's config, the reward functions' names and weights and
   * `importanceSamplingCap`. Reward functions are not saved: pass the same `rewardFns` again.
   */
  resume?: boolean;
  /** Reward functions (default: the task's reward under the task's name). */
  rewardFns?: Record<string, RewardFn>;
  /** Weights of the reward functions (default 1 each). */
  rewardWeights?: Record<string, number>;
  /**
   * After each update, one extra forward pass over the step's batch logs
   * `clip_ratio/after_update` and `policy/approx_kl_after_update` (default false).
   */
  measureAfterUpdate?: boolean;
  /**
   * Where responses and TRePO's continuations are sampled (default `localSampler`): e.g. a
   * `remoteSampler` on an inference server. Before the first step `train` calls its `check`
   * (a server whose model does not match the policy is refused) and its `syncWeights`; after every
   * update it calls `syncWeights` again, so that every step samples from the current policy.
   */
  sampler?: Sampler;
  /**
   * Truncated importance sampling against a remote sampler's log-probs with this cap `C > 0`
   * (TRL's `vllm_importance_sampling_correction`, mode `token_truncate`; TRL's cap is 3). Off by
   * default; ignored with a local sampler.
   */
  importanceSamplingCap?: number;
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
 * @throws {RangeError} For an unknown algorithm or task, a bad config value, `steps < 1`, a
 *   prompt plus `maxTokens` longer than the policy's `maxLength`, or a resume whose settings
 *   differ from the checkpoint's (or whose `steps` would not go past it).
 * @throws {Error} When `outDir` is in use by another run, already holds a run (without `resume`
 *   or `overwrite`), cannot be created, or has no checkpoint to resume.
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
  const settings = checkTrainOptions(options); // phase 1
  const { task, outDir } = settings;
  const held: Held = { optimizers: {} };
  let previousBudget: number | undefined;
  let backendFailed = false;
  // A path is claimed here (lock, one run per folder) and released on every exit.
  const claimed = typeof options.outDir === "string"
    ? await claimRunFolder(options.outDir, {
      resume: options.resume === true,
      overwrite: options.overwrite === true,
    })
    : undefined;
  try {
    // Phase 2: models, optimizers, random streams and schedule.
    const run = options.resume === true
      ? await restoreRun(options, settings, held)
      : await startRun(options, settings, held);
    const { steps } = run;
    if (run.policy.config.vocabSize !== task.tokenizer.vocabSize) {
      throw new RangeError(
        `Cannot train: the policy's vocabSize ${run.policy.config.vocabSize} differs from the task's ${task.tokenizer.vocabSize}`,
      );
    }
    const models = accountModels(run);
    const maxTokens = responseBudget(run.config, task);
    checkResponseBudget(task, run.policy.config.maxLength, maxTokens);
    const memory = run.memory ??= planRunMemory(options, settings, run.policy, run.config);
    const stepLimit = heldMemoryLimit(options.memoryLimitBytes);
    if (Number.isFinite(memory.limit.bytes)) {
      // The transposed-weights cache (sampling only) gets what sampling leaves of the limit.
      const left = Math.max(0, memory.limit.bytes - memory.phases.sampling);
      previousBudget = setTransposedWeightBudget(Math.min(left, memory.items.weights));
    }
    if (outDir !== undefined) { // phase 3
      await writeRunFiles(outDir, settings, run, { maxTokens, models, resumed: options.resume });
    }
    const log: RunLog = { records: [], outDir, onStep: options.onStep };
    await settings.sampler?.check?.(run.policy, task.tokenizer.eos);
    await settings.sampler?.syncWeights?.(run.policy, run.startStep);

    // Phase 4: the steps, each with its evaluation when due; phase 5: checkpoints when due.
    if (run.schedule.evalEvery > 0 && run.startStep === 0) {
      await emit(log, { step: 0, ...(await evaluate(run, task, maxTokens, log)) });
    }
    for (let step = run.startStep + 1; step <= steps; step++) {
      const started = performance.now();
      checkStepMemory(memory, stepLimit, step);
      const heldBefore = tf.memory().numBytes;
      let metrics: StepMetrics;
      try {
        metrics = await trainStep(run, settings, step, maxTokens, options.rewardWeights);
      } catch (error) {
        if (!isAllocationFailure(error)) throw error;
        backendFailed = true;
        throw allocationError(error, `step ${step}`, memory, heldBefore);
      }
      await settings.sampler?.syncWeights?.(run.policy, step);
      const { evalEvery, checkpointEvery } = run.schedule;
      const evaluation = evalEvery > 0 && (step % evalEvery === 0 || step === steps)
        ? await evaluate(run, task, maxTokens, log)
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
        await saveRunCheckpoint(outDir, settings, run, step);
        options.onCheckpoint?.(step);
      }
      await emit(log, record);
    }
    return {
      policy: run.policy,
      ...(run.valueModel === undefined ? {} : { valueModel: run.valueModel }),
      config: run.config,
      records: log.records,
      finalAccuracy: log.finalAccuracy,
      models,
    };
  } catch (error) {
    // Nothing is returned: release the models made here (a policy passed in stays the caller's).
    // Optimizers and the reference are released on every exit.
    // After an allocation failure the backend may abort on every call: release nothing there.
    if (!backendFailed) {
      if (options.policy === undefined) held.policy?.dispose();
      held.valueModel?.dispose();
    }
    throw error;
  } finally {
    if (!backendFailed) {
      held.optimizers.policy?.dispose();
      held.optimizers.value?.dispose();
      held.reference?.dispose();
    }
    if (previousBudget !== undefined) setTransposedWeightBudget(previousBudget);
    claimed?.release();
  }
}

/**
 * The response budget of a run: `config.maxTokens` when it is positive, else the task's
 * `maxResponseTokens`.
 *
 * @param config A checked config (`resolveConfig`).
 * @param task The task.
 * @returns The most tokens a sampled response may have (EOS included).
 *
 * @example
 * ```ts
 * import { responseBudget } from "./train.ts";
 * import { resolveConfig } from "./step.ts";
 * import { grpo } from "./grpo.ts";
 * import { addition } from "../tasks/addition.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(responseBudget(resolveConfig(grpo, {}), addition), addition.maxResponseTokens);
 * assertEquals(responseBudget(resolveConfig(grpo, { maxTokens: 3 }), addition), 3);
 * ```
 */
export function responseBudget(config: RlConfig, task: Task): number {
  return config.maxTokens > 0 ? config.maxTokens : task.maxResponseTokens;
}

/**
 * Check that every prompt plus the response budget fits the policy's positions:
 * `tokens(prompt) + maxTokens ≤ maxLength`, the prompts measured over the task's eval set and 256
 * training prompts drawn with seed 0 (the run's random streams are not touched). `train` checks
 * this before any sampling; the `train` command also before its warm start.
 *
 * @param task The task (its tokenizer encodes the prompts).
 * @param maxLength The policy's positions (`policy.config.maxLength`).
 * @param maxTokens The response budget (see {@linkcode responseBudget}).
 * @returns The longest prompt measured, in tokens.
 * @throws {RangeError} When a prompt does not fit; the message gives the numbers and the largest
 *   `maxTokens` that fits.
 *
 * @example
 * ```ts
 * import { checkResponseBudget } from "./train.ts";
 * import { addition } from "../tasks/addition.ts";
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * assertEquals(checkResponseBudget(addition, 10, 4), 6); // "47+85=" has 6 tokens
 * assertThrows(() => checkResponseBudget(addition, 10, 5), RangeError, "6 + 5 = 11 > 10");
 * ```
 */
export function checkResponseBudget(task: Task, maxLength: number, maxTokens: number): number {
  let longest = 0;
  let which = "";
  for (
    const prompt of [...task.evalSet.map((e) => e.prompt), ...task.prompts(new Random(0), 256)]
  ) {
    const length = task.tokenizer.encode(prompt).length;
    if (length > longest) [longest, which] = [length, prompt];
  }
  if (longest + maxTokens > maxLength) {
    const shown = which.length > 60
      ? `${JSON.stringify(which.slice(0, 60))}…`
      : JSON.stringify(which);
    throw new RangeError(
      `Cannot train: the prompt ${shown} has ${longest} tokens and the response budget (maxTokens, --max-tokens) is ${maxTokens}, more than the policy's ${maxLength} positions (${longest} + ${maxTokens} = ${
        longest + maxTokens
      } > ${maxLength}); ${
        maxLength - longest >= 1
          ? `give maxTokens at most ${maxLength - longest}`
          : "no response fits: use shorter prompts or a model with more positions"
      }`,
    );
  }
  return longest;
}

// ---- Phase 1: check the options.

/** When to evaluate and when to save a checkpoint. */
interface Schedule {
  evalEvery: number;
  evalLimit: number | undefined;
  checkpointEvery: number;
}

/** The checked options of a run (the schedule as given; a resumed run may take the checkpoint's). */
interface RunSettings {
  algorithm: Algorithm;
  task: Task;
  /** The total steps as given (a resumed run without them takes the run's own). */
  steps: number | undefined;
  schedule: Schedule;
  outDir: string | undefined;
  rewardFns: Record<string, RewardFn>;
  measureAfterUpdate: boolean;
  sampler: Sampler | undefined;
  importanceSamplingCap: number | undefined;
  rewardWeights: Record<string, number> | undefined;
}

/** Look up the algorithm and task and check the numbers and `outDir` of `train`'s options. */
function checkTrainOptions(options: TrainOptions): RunSettings {
  const context = "Cannot train";
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${context}: options must be an object, got ${describe(options)}`);
  }
  const algorithm = typeof options.algorithm === "string"
    ? algorithmByName(options.algorithm)
    : options.algorithm;
  const task = typeof options.task === "string" ? taskByName(options.task) : options.task;
  const steps = options.steps === undefined && options.resume === true
    ? undefined
    : checkInteger(context, "steps", options.steps, 1);
  const evalEvery = checkInteger(context, "evalEvery", options.evalEvery ?? 0, 0);
  const checkpointEvery = checkInteger(context, "checkpointEvery", options.checkpointEvery ?? 0, 0);
  const evalLimit = options.evalLimit === undefined
    ? undefined
    : checkInteger(context, "evalLimit", options.evalLimit, 1);
  const given = options.outDir;
  const outDir = typeof given === "object" && given !== null ? given.path : given;
  if (outDir !== undefined && (typeof outDir !== "string" || outDir === "")) {
    throw new TypeError(
      `${context}: outDir must be a non-empty string or a RunFolder, got ${describe(given)}`,
    );
  }
  if (options.resume === true && options.overwrite === true) {
    throw new RangeError(
      `${context}: resume continues the run in outDir and overwrite moves it aside; give one of them`,
    );
  }
  const rewardFns = options.rewardFns ??
    { [task.name]: (p: string, c: string) => task.reward(p, c) };
  return {
    algorithm,
    task,
    steps,
    schedule: { evalEvery, evalLimit, checkpointEvery },
    outDir,
    rewardFns,
    measureAfterUpdate: options.measureAfterUpdate === true,
    sampler: options.sampler,
    rewardWeights: options.rewardWeights,
    importanceSamplingCap: options.importanceSamplingCap === undefined
      ? undefined
      : checkNumber(context, "importanceSamplingCap", options.importanceSamplingCap, {
        min: 0,
        exclusiveMin: true,
      }),
  };
}

// ---- Phase 2: models, optimizers and random streams, fresh or from the checkpoint.

/**
 * What a run allocates and must release, filled in as the setup goes, so that a failure part-way
 * through releases what exists.
 */
interface Held {
  policy?: Policy;
  reference?: Policy;
  valueModel?: ValueModel;
  optimizers: { policy?: tf.Optimizer; value?: tf.Optimizer };
}

/** A run once its models are in place: what the step loop reads and changes. */
interface Run {
  policy: Policy;
  reference: Policy | undefined;
  valueModel: ValueModel | undefined;
  optimizers: { policy: tf.Optimizer; value: tf.Optimizer | undefined };
  config: RlConfig;
  seed: number;
  /** The total steps of the run. */
  steps: number;
  /** The step of the restored checkpoint; 0 for a fresh start. */
  startStep: number;
  streams: { prompts: Random; step: Random };
  schedule: Schedule;
  /** The memory plan (made before the reference copy on a fresh start). */
  memory?: MemoryPlan;
  /** A pretrained run's base fingerprint, taken before its first step. */
  baseFingerprint?: string;
}

/** A fresh start: the caller's policy, a frozen copy as reference, a critic from its trunk. */
async function startRun(options: TrainOptions, settings: RunSettings, held: Held): Promise<Run> {
  const context = "Cannot train";
  if (options.policy === undefined) {
    throw new TypeError(`${context}: a policy is required unless resuming`);
  }
  const policy = held.policy = options.policy;
  const config = resolveConfig(settings.algorithm, options.config ?? {});
  const seed = options.seed ?? 0;
  if (typeof seed !== "number" || !Number.isFinite(seed)) {
    throw new TypeError(`${context}: seed must be a finite number, got ${describe(seed)}`);
  }
  const root = new Random(seed);
  const streams = { prompts: root.split(), step: root.split() };
  const memory = planRunMemory(options, settings, policy, config);
  const baseFingerprintOf = policy.architecture === undefined
    ? undefined
    : await baseFingerprint(policy);
  if (config.beta > 0) held.reference = referenceOf(policy);
  if (settings.algorithm.usesValueModel) {
    if (policy.architecture !== undefined) {
      // A pretrained trunk (copied) with a fresh scalar head.
      held.valueModel = pretrainedValueModel(policy);
    } else {
      held.valueModel = createValueModel({ ...policy.config, seed: seed + 1 });
      copyMatchingWeights(policy.weights, held.valueModel.weights);
    }
  }
  const policyOptimizer = held.optimizers.policy = adam(config.learningRate);
  if (held.valueModel !== undefined) {
    held.optimizers.value = adam(
      (config as RlConfig & { valueLearningRate: number }).valueLearningRate,
    );
  }
  return {
    policy,
    reference: held.reference,
    valueModel: held.valueModel,
    optimizers: { policy: policyOptimizer, value: held.optimizers.value },
    config,
    seed,
    steps: settings.steps!,
    startStep: 0,
    streams,
    schedule: settings.schedule,
    memory,
    ...(baseFingerprintOf === undefined ? {} : { baseFingerprint: baseFingerprintOf }),
  };
}

/** The KL reference: under LoRA the base with the adapter off (no copy), else a frozen copy. */
function referenceOf(policy: Policy): Policy {
  return loraAdapterOf(policy) !== undefined ? adapterOffReference(policy) : freezePolicy(policy);
}

/**
 * Resume from `outDir/checkpoint`: config, seed, step, weights, Adam states and random streams
 * come from the checkpoint, and so does the schedule wherever the caller gives none.
 */
async function restoreRun(options: TrainOptions, settings: RunSettings, held: Held): Promise<Run> {
  const { algorithm, outDir } = settings;
  if (outDir === undefined) {
    throw new TypeError(`Cannot resume training: outDir is required to find the checkpoint`);
  }
  const dir = `${outDir}/${CHECKPOINT}`;
  // Every setting that changes the run is checked before the weights are read.
  const saved = await readRunState(outDir);
  const steps = checkResumeSettings(saved, options, settings, outDir);
  const config = resolveConfig(algorithm, saved.config);
  checkSameOverrides(config, options.config, dir);
  const layout = await checkpointLayout(dir);
  if (layout === "hugging-face" || layout === "peft") {
    return await restorePretrainedRun(options, settings, held, { saved, steps, config, layout });
  }
  const loaded = await loadCheckpoint(dir);
  tf.dispose(Object.values(loaded.optimizerWeights ?? {}).flat().map((w) => w.tensor));
  if (options.policy !== undefined) {
    try {
      checkSamePolicyConfig(options.policy, loaded.policy, dir);
    } catch (error) {
      loaded.policy.dispose();
      loaded.valueModel?.dispose();
      Object.values(loaded.optimizers ?? {}).forEach((o) => o.dispose());
      throw error;
    }
  }
  const schedule = resumedSchedule(options, settings, saved);
  let policy: Policy;
  held.valueModel = loaded.valueModel;
  if (options.policy !== undefined) {
    // The caller's policy takes the saved weights, and Adam's slots are rebuilt on its variables.
    Object.values(loaded.optimizers ?? {}).forEach((o) => o.dispose());
    try {
      copyWeights(loaded.policy.weights, options.policy.weights);
    } finally {
      loaded.policy.dispose();
    }
    policy = held.policy = options.policy;
    const optimizers = await readOptimizers(
      `${loaded.dir}/optimizer.safetensors`,
      { policy: policy.weights, value_model: loaded.valueModel?.weights },
      loaded.config.optimizers,
      "Cannot resume training",
    );
    held.optimizers.policy = optimizers.policy;
    held.optimizers.value = optimizers.value;
  } else {
    policy = held.policy = loaded.policy;
    held.optimizers.policy = loaded.optimizers?.policy;
    held.optimizers.value = loaded.optimizers?.value;
  }
  const policyOptimizer = held.optimizers.policy;
  if (policyOptimizer === undefined) {
    throw new Error(`Cannot resume training: the checkpoint in ${dir} has no policy optimizer`);
  }
  restoreBiasCorrection(policyOptimizer, saved.adam?.policy);
  if (held.optimizers.value !== undefined) {
    restoreBiasCorrection(held.optimizers.value, saved.adam?.value);
  }
  const rng = loaded.rng as Record<string, RandomState>;
  const streams = { prompts: Random.fromState(rng.prompts), step: Random.fromState(rng.step) };
  if (config.beta > 0) {
    const ref = await loadCheckpoint(`${outDir}/${REFERENCE}`);
    held.reference = freezePolicy(ref.policy);
    ref.policy.dispose();
  }
  return {
    policy,
    reference: held.reference,
    valueModel: held.valueModel,
    optimizers: { policy: policyOptimizer, value: held.optimizers.value },
    config,
    seed: saved.seed,
    steps,
    startStep: saved.step,
    streams,
    schedule,
  };
}

/** The schedule of a resumed run: its own, unless the caller gives another one. */
function resumedSchedule(options: TrainOptions, settings: RunSettings, saved: RunState): Schedule {
  const given = settings.schedule;
  return {
    evalEvery: options.evalEvery === undefined ? saved.evalEvery ?? 0 : given.evalEvery,
    evalLimit: options.evalLimit === undefined ? saved.evalLimit ?? undefined : given.evalLimit,
    checkpointEvery: options.checkpointEvery === undefined
      ? saved.checkpointEvery ?? 0
      : given.checkpointEvery,
  };
}

/**
 * Resume a pretrained run (the Hugging Face or PEFT layout): on the policy the run started from,
 * whose base must have the saved fingerprint, the reference and critic are made as at the start,
 * then the checkpoint's weights, Adam states and random streams replace theirs.
 */
async function restorePretrainedRun(
  options: TrainOptions,
  settings: RunSettings,
  held: Held,
  { saved, steps, config, layout }: {
    saved: RunState;
    steps: number;
    config: RlConfig;
    layout: "hugging-face" | "peft";
  },
): Promise<Run> {
  const dir = `${settings.outDir}/${CHECKPOINT}`;
  const context = "Cannot resume training";
  const policy = options.policy;
  const kind = layout === "peft" ? "LoRA run" : "pretrained run";
  if (policy === undefined || policy.architecture === undefined) {
    throw new TypeError(
      `${context}: the checkpoint in ${dir} is a ${kind}'s; pass the policy it started from (loadPretrained of the same model${
        layout === "peft" ? ", wrapped by loraPolicy with the same rank and targets" : ""
      }), whose weights the checkpoint's replace (the CLI: the same --model${
        layout === "peft" ? " and --lora-rank" : ""
      } with --resume)`,
    );
  }
  if ((loraAdapterOf(policy) !== undefined) !== (layout === "peft")) {
    throw new TypeError(
      `${context}: the checkpoint in ${dir} is a ${kind}'s but the policy given is ${
        layout === "peft" ? "not a LoRA policy" : "a LoRA policy"
      }; pass the policy the run started from`,
    );
  }
  const fingerprint = await baseFingerprint(policy);
  if (saved.baseFingerprint !== undefined && saved.baseFingerprint !== fingerprint) {
    throw new RangeError(
      `${context}: the policy given is not the model the run in ${dir} started from (base fingerprint ${fingerprint}, the run's ${saved.baseFingerprint}); pass the same model${
        layout === "peft" ? " as the adapter's base" : ", not the checkpoint"
      }`,
    );
  }
  // The reference and the critic's trunk start from the model the run started from.
  held.policy = policy;
  if (config.beta > 0) held.reference = referenceOf(policy);
  if (settings.algorithm.usesValueModel) held.valueModel = pretrainedValueModel(policy);
  const optimizers = await restorePretrainedRunCheckpoint(dir, layout, {
    policy,
    valueModel: held.valueModel,
  });
  held.optimizers.policy = optimizers.policy;
  held.optimizers.value = optimizers.value;
  if (optimizers.policy === undefined) {
    throw new Error(`${context}: the checkpoint in ${dir} has no policy optimizer`);
  }
  restoreBiasCorrection(optimizers.policy, saved.adam?.policy);
  if (optimizers.value !== undefined) restoreBiasCorrection(optimizers.value, saved.adam?.value);
  const rng = JSON.parse(await Deno.readTextFile(`${dir}/trainer_state.json`)).rng as Record<
    string,
    RandomState
  >;
  return {
    policy,
    reference: held.reference,
    valueModel: held.valueModel,
    optimizers: { policy: optimizers.policy, value: optimizers.value },
    config,
    seed: saved.seed,
    steps,
    startStep: saved.step,
    streams: { prompts: Random.fromState(rng.prompts), step: Random.fromState(rng.step) },
    schedule: resumedSchedule(options, settings, saved),
    baseFingerprint: fingerprint,
  };
}

/** The models a run holds, for `run.json` and the result. */
function accountModels(run: Run): ModelAccount[] {
  const { policy, reference, valueModel } = run;
  return [
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
}

// ---- Phase 3: the files of the run.

/**
 * Write `run.json`; start `metrics.jsonl` empty and save the reference once (fresh start), or cut
 * `metrics.jsonl` back to the checkpoint's step (resume).
 */
async function writeRunFiles(
  outDir: string,
  settings: RunSettings,
  run: Run,
  { maxTokens, models, resumed }: {
    maxTokens: number;
    models: ModelAccount[];
    resumed: boolean | undefined;
  },
): Promise<void> {
  await Deno.mkdir(outDir, { recursive: true });
  await Deno.writeTextFile(
    `${outDir}/${RUN}`,
    JSON.stringify(
      {
        algorithm: settings.algorithm.name,
        task: settings.task.name,
        seed: run.seed,
        steps: run.steps,
        config: run.config,
        maxTokens,
        policy: run.policy.config,
        models,
        rewardFunctions: Object.keys(settings.rewardFns),
        backend: tf.getBackend(),
        resumedFrom: resumed === true ? run.startStep : undefined,
        memory: run.memory === undefined ? undefined : memoryRecord(run.memory),
      },
      null,
      2,
    ) + "\n",
  );
  if (resumed === true) {
    await truncateMetrics(`${outDir}/${METRICS}`, run.startStep);
  } else {
    await Deno.writeTextFile(`${outDir}/${METRICS}`, "");
    if (run.reference !== undefined && run.policy.architecture === undefined) {
      await saveCheckpoint(`${outDir}/${REFERENCE}`, {
        policy: run.reference,
        tokenizer: settings.task.tokenizer,
      });
    }
  }
}

// ---- Phase 4: one step, evaluation, metrics.

/** Draw the step's prompts (prompt stream) and run the algorithm's step on the step stream. */
function trainStep(
  run: Run,
  settings: RunSettings,
  step: number,
  maxTokens: number,
  rewardWeights: Record<string, number> | undefined,
): Promise<StepMetrics> {
  const { task } = settings;
  const batch: StepBatch = {
    prompts: task.prompts(run.streams.prompts, run.config.promptsPerStep),
    tokenizer: task.tokenizer,
    rewardFns: settings.rewardFns,
    rewardWeights,
    maxTokens,
  };
  // A micro-batch the memory plan chose (config 0) runs without changing the saved config.
  const chosen = run.memory?.microBatchSize;
  const config = run.config.microBatchSize === 0 && chosen !== undefined &&
      chosen <
        Math.max(
          ...minibatchSizes(
            run.config.promptsPerStep * run.config.groupSize,
            run.config.minibatches,
          ),
        )
    ? { ...run.config, microBatchSize: chosen }
    : run.config;
  return settings.algorithm.step({
    config,
    policy: run.policy,
    reference: run.reference,
    valueModel: run.valueModel,
    optimizers: { policy: run.optimizers.policy, value: run.optimizers.value },
    rng: run.streams.step,
    step,
    measureAfterUpdate: settings.measureAfterUpdate,
    sampler: settings.sampler,
    importanceSamplingCap: settings.importanceSamplingCap,
  }, batch);
}

/** The records of a run so far and where each new one goes. */
interface RunLog {
  records: StepRecord[];
  /** The last greedy accuracy measured. */
  finalAccuracy?: number;
  outDir: string | undefined;
  onStep: TrainOptions["onStep"];
}

/** Greedy accuracy and mean reward on the task's eval set (at most `evalLimit` examples). */
async function evaluate(
  run: Run,
  task: Task,
  maxTokens: number,
  log: RunLog,
): Promise<StepMetrics> {
  const { evalLimit } = run.schedule;
  const result = await evaluateAccuracy(run.policy, task, {
    maxTokens,
    ...(evalLimit === undefined ? {} : { limit: evalLimit }),
  });
  log.finalAccuracy = result.accuracy;
  return { "eval/accuracy": result.accuracy, "eval/reward": result.meanReward };
}

/** Keep a record, append it to `metrics.jsonl` and hand it to `onStep`. */
async function emit(log: RunLog, record: StepRecord): Promise<void> {
  log.records.push(record);
  if (log.outDir !== undefined) {
    await Deno.writeTextFile(`${log.outDir}/${METRICS}`, JSON.stringify(record) + "\n", {
      append: true,
    });
  }
  await log.onStep?.(record);
}

// ---- Phase 5: checkpoints.

/** Save everything a resume needs into `outDir/checkpoint` (the reference is saved once, apart). */
async function saveRunCheckpoint(
  outDir: string,
  settings: RunSettings,
  run: Run,
  step: number,
): Promise<void> {
  const { policy, value } = run.optimizers;
  const policyAdam = await biasCorrection(policy);
  const valueAdam = value === undefined ? undefined : await biasCorrection(value);
  const checkpoint = {
    policy: run.policy,
    valueModel: run.valueModel,
    optimizers: (value === undefined ? { policy } : { policy, value }) as Record<
      string,
      tf.Optimizer
    >,
    rng: { prompts: run.streams.prompts.state(), step: run.streams.step.state() },
    state: {
      step,
      algorithm: settings.algorithm.name,
      task: settings.task.name,
      seed: run.seed,
      config: run.config,
      evalEvery: run.schedule.evalEvery,
      evalLimit: run.schedule.evalLimit ?? null,
      checkpointEvery: run.schedule.checkpointEvery,
      steps: run.steps,
      rewardFunctions: Object.keys(settings.rewardFns),
      rewardWeights: rewardWeightsOf(settings.rewardFns, settings.rewardWeights),
      importanceSamplingCap: settings.importanceSamplingCap ?? null,
      adam: {
        policy: policyAdam,
        ...(valueAdam === undefined ? {} : { value: valueAdam }),
      },
      ...(run.baseFingerprint === undefined ? {} : { baseFingerprint: run.baseFingerprint }),
    } satisfies RunState,
  };
  const dir = `${outDir}/${CHECKPOINT}`;
  if (run.policy.architecture === undefined) {
    await saveCheckpoint(dir, { ...checkpoint, tokenizer: settings.task.tokenizer });
    return;
  }
  // A pretrained policy: the Hugging Face layout (PEFT's under LoRA), which transformers, PEFT
  // and vLLM load, with the optimizer and trainer state beside it.
  const tokenizer = (settings.task.tokenizer as Partial<TextTokenizer>).hfTokenizer;
  if (tokenizer === undefined) {
    throw new TypeError(
      `Cannot save the checkpoint: the policy is pretrained but task "${settings.task.name}" has no Hugging Face tokenizer (build the task with textTask)`,
    );
  }
  await savePretrainedRunCheckpoint(dir, { ...checkpoint, tokenizer });
}

/** What `train` keeps in a checkpoint's `trainer_state.json` (see {@linkcode readRunState}). */
export interface RunState {
  /** The step the checkpoint was saved at. */
  step: number;
  /** The algorithm's name. */
  algorithm: string;
  /** The task's name. */
  task: string;
  /** The seed of the run. */
  seed: number;
  /** The checked config of the run. */
  config: RlConfig;
  /** The total steps the run was planned for when the checkpoint was saved. */
  steps?: number;
  /** The evaluation schedule. */
  evalEvery?: number;
  /** At most this many eval examples (`null`: all). */
  evalLimit?: number | null;
  /** The checkpoint schedule. */
  checkpointEvery?: number;
  /** The names of the reward functions. */
  rewardFunctions?: string[];
  /** The weight of each reward function. */
  rewardWeights?: Record<string, number>;
  /** The importance-sampling cap (`null`: none). */
  importanceSamplingCap?: number | null;
  /** Adam's bias-correction powers. */
  adam?: { policy?: [number, number]; value?: [number, number] };
  /** A pretrained run's base fingerprint (`baseFingerprint`), checked on resume. */
  baseFingerprint?: string;
  /** Fields of other versions, kept as they were read. */
  [key: string]: unknown;
}

/**
 * Read the state of the run in `outDir` from its checkpoint's `trainer_state.json`, without
 * loading any weights: the step it reached, its algorithm, task, seed, config and planned steps
 * (from `run.json` for checkpoints older than that field).
 *
 * @param outDir A run folder written by `train`.
 * @returns The saved state.
 * @throws {Error} When the folder has no checkpoint, or one that cannot be resumed (a pretrained
 *   model in the Hugging Face layout, a LoRA adapter in PEFT's), or an unreadable one.
 *
 * @example
 * ```ts
 * import { readRunState } from "./train.ts";
 * import { assertRejects } from "@std/assert";
 *
 * const dir = await Deno.makeTempDir();
 * await assertRejects(() => readRunState(dir), Error, `no checkpoint in ${dir}/checkpoint`);
 * ```
 */
export async function readRunState(outDir: string): Promise<RunState> {
  const context = "Cannot resume training";
  const dir = `${outDir}/${CHECKPOINT}`;
  const layout = await checkpointLayout(dir);
  if (layout === undefined) throw new Error(`${context}: no checkpoint in ${dir}`);
  if (layout !== "trepo" && !(await exists(`${dir}/trainer_state.json`))) {
    throw new Error(
      layout === "peft"
        ? `${context}: ${dir} is a LoRA adapter in PEFT's layout without trainer_state.json (saved by saveAdapter, or by an earlier trepo), so it holds no optimizer or sampler state; loadAdapter puts it back onto its base model for a new run`
        : `${context}: ${dir} is a pretrained model in the Hugging Face layout without trainer_state.json (saved by savePretrained, or by an earlier trepo), so it holds no optimizer or sampler state; start a new run from it instead (--model ${dir})`,
    );
  }
  let state: RunState;
  try {
    state = (JSON.parse(await Deno.readTextFile(`${dir}/trainer_state.json`)) as {
      state: RunState;
    }).state;
  } catch (error) {
    throw new Error(
      `${context}: cannot read ${dir}/trainer_state.json (${
        error instanceof Error ? error.message : String(error)
      })`,
    );
  }
  if (state?.steps === undefined) {
    try {
      const run = JSON.parse(await Deno.readTextFile(`${outDir}/${RUN}`)) as { steps?: number };
      if (typeof run.steps === "number") return { ...state, steps: run.steps };
    } catch {
      // No run.json: the steps stay unknown.
    }
  }
  return state;
}

/** Each reward function's weight (1 unless given). */
function rewardWeightsOf(
  rewardFns: Record<string, RewardFn>,
  weights: Record<string, number> | undefined,
): Record<string, number> {
  return Object.fromEntries(Object.keys(rewardFns).map((name) => [name, weights?.[name] ?? 1]));
}

/**
 * On resume, whatever changes the run must agree with the checkpoint: algorithm, task, seed,
 * reward functions and weights, importance-sampling cap; the steps must go past the checkpoint.
 * Returns the total steps.
 */
function checkResumeSettings(
  saved: RunState,
  options: TrainOptions,
  settings: RunSettings,
  outDir: string,
): number {
  const context = "Cannot resume training";
  const dir = `${outDir}/${CHECKPOINT}`;
  const show = (v: unknown) =>
    typeof v === "object" && v !== null ? JSON.stringify(v) : describe(v);
  const differs = (what: string, given: unknown, theirs: unknown, fix: string) =>
    new RangeError(
      `${context}: ${what} is ${show(given)} but the run in ${outDir} has ${show(theirs)}; ${fix}`,
    );
  const fresh = "or start a new run in another folder";
  if (saved.algorithm !== settings.algorithm.name) {
    throw new RangeError(
      `${context}: the checkpoint in ${dir} was trained with ${saved.algorithm}, not ${settings.algorithm.name}`,
    );
  }
  if (saved.task !== undefined && saved.task !== settings.task.name) {
    throw differs("the task", settings.task.name, saved.task, `give its task, ${fresh}`);
  }
  if (options.seed !== undefined && options.seed !== saved.seed) {
    throw differs(
      "seed",
      options.seed,
      saved.seed,
      `leave seed (--seed) out to continue with the run's, ${fresh}`,
    );
  }
  if (saved.rewardFunctions !== undefined) {
    const names = Object.keys(settings.rewardFns);
    if (names.join() !== saved.rewardFunctions.join()) {
      throw differs(
        "the reward functions",
        names,
        saved.rewardFunctions,
        `give the same ones, ${fresh}`,
      );
    }
  }
  if (saved.rewardWeights !== undefined) {
    const weights = rewardWeightsOf(settings.rewardFns, settings.rewardWeights);
    if (JSON.stringify(weights) !== JSON.stringify(saved.rewardWeights)) {
      throw differs("rewardWeights", weights, saved.rewardWeights, `give the same ones, ${fresh}`);
    }
  }
  if (
    saved.importanceSamplingCap !== undefined &&
    (settings.importanceSamplingCap ?? null) !== saved.importanceSamplingCap
  ) {
    throw differs(
      "importanceSamplingCap",
      settings.importanceSamplingCap ?? null,
      saved.importanceSamplingCap,
      `give the same one, ${fresh}`,
    );
  }
  const steps = settings.steps ?? saved.steps;
  if (steps === undefined) {
    throw new RangeError(
      `${context}: the run in ${outDir} does not say its total steps; give steps`,
    );
  }
  if (steps <= saved.step) {
    throw new RangeError(
      steps === saved.step
        ? `${context}: the run in ${outDir} is complete at step ${saved.step} of ${steps}; give more steps (--steps N > ${saved.step}) to extend it`
        : `${context}: steps is ${steps} but the checkpoint in ${dir} is at step ${saved.step}; a resumed run can be extended (steps > ${saved.step}), never shortened below its checkpoint`,
    );
  }
  return steps;
}

/** On resume, a policy given must have the checkpoint's config (its init seed aside). */
function checkSamePolicyConfig(policy: Policy, saved: Policy, dir: string): void {
  const given = policy.config as unknown as Record<string, unknown>;
  const theirs = saved.config as unknown as Record<string, unknown>;
  for (const key of new Set([...Object.keys(given), ...Object.keys(theirs)])) {
    if (key === "seed") continue;
    if (JSON.stringify(given[key]) !== JSON.stringify(theirs[key])) {
      throw new RangeError(
        `Cannot resume training: the policy's ${key} is ${
          describe(given[key])
        } but the checkpoint's in ${dir} is ${
          describe(theirs[key])
        }; pass no policy (the checkpoint's is used) or one of the same shape`,
      );
    }
  }
}

/** Adam as every recipe uses it (β₁ 0.9, β₂ 0.999, ε 1e-8: Kingma & Ba, PyTorch defaults). */
function adam(learningRate: number): tf.Optimizer {
  return fusedAdam(learningRate, 0.9, 0.999, 1e-8);
}

/** Adam's running bias-correction powers β₁ᵗ⁺¹, β₂ᵗ⁺¹ (float32, as the optimizer holds them). */
async function biasCorrection(optimizer: tf.Optimizer): Promise<[number, number]> {
  const internals = optimizer as unknown as Partial<AdamInternals>;
  if (internals.accBeta1 === undefined || internals.accBeta2 === undefined) return [1, 1];
  const [beta1, beta2] = await Promise.all([internals.accBeta1.data(), internals.accBeta2.data()]);
  return [beta1[0], beta2[0]];
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

// ---- The memory plan of the run (lib/algorithms/run_memory.ts).

/** Plan the run's memory before its reference copy, warm start or sampling; refuse it if it does not fit. */
function planRunMemory(
  options: TrainOptions,
  settings: RunSettings,
  policy: Policy,
  config: RlConfig,
): MemoryPlan {
  const maxTokens = responseBudget(config, settings.task);
  const promptTokens = checkResponseBudget(settings.task, policy.config.maxLength, maxTokens);
  const lora = loraAdapterOf(policy) !== undefined;
  return planRun(policy, config, {
    algorithm: settings.algorithm,
    promptTokens,
    responseTokens: maxTokens,
    referenceCopy: config.beta > 0 && !lora,
    fullBatchForward: config.beta > 0 || settings.algorithm.usesValueModel ||
      settings.sampler?.remote === true || settings.measureAfterUpdate,
    ...(options.memoryLimitBytes === undefined ? {} : { limitBytes: options.memoryLimitBytes }),
  });
}

/** What `run.json` records of the plan: the micro-batch run, the peak, the limit, the items. */
function memoryRecord(plan: MemoryPlan): Record<string, unknown> {
  return {
    microBatchSize: plan.microBatchSize,
    peakBytes: Math.round(plan.peakBytes),
    peakPhase: plan.peakPhase,
    limitBytes: Number.isFinite(plan.limit.bytes) ? Math.round(plan.limit.bytes) : null,
    optimizerOutsideLimit: plan.limit.optimizerOutside === true,
    items: Object.fromEntries(Object.entries(plan.items).map(([k, v]) => [k, Math.round(v)])),
  };
}
