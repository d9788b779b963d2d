/**
 * One (algorithm, seed) run of an algorithm comparison: `train` from a given policy, with greedy
 * evaluations outside the timed steps, the prompts of every step recorded (as a digest, to check
 * that every algorithm saw the same ones), and the peak resident memory of the process.
 *
 * @module
 */
import type { Policy } from "../policy/transformer.ts";
import type { Task } from "../tasks/task.ts";
import { evaluateAccuracy } from "../algorithms/evaluate.ts";
import { resolveConfig } from "../algorithms/step.ts";
import { algorithmByName, train } from "../algorithms/train.ts";
import { checkInteger, describe } from "../validate.ts";
import type { CompareRecord, CompareRun } from "./compare_summary.ts";
import { evaluateSampledReward } from "./sampled_reward.ts";

/** Options of {@linkcode runComparison}. */
export interface CompareRunOptions {
  /** The algorithm's name (see `ALGORITHM_NAMES`). */
  algorithm: string;
  /** The row's label the run is recorded under (default the algorithm's name; see `compareRowByLabel`). */
  label?: string;
  /** The task. */
  task: Task;
  /** The warm-started policy; trained in place (the caller owns and disposes it). */
  policy: Policy;
  /** Policy updates (RL steps). */
  steps: number;
  /** Seed of the run's random streams (prompts and sampling). */
  seed: number;
  /** Settings over the algorithm's defaults. */
  config?: Record<string, unknown>;
  /** Evaluate greedy accuracy every this many steps (and at step 0 and after the last). */
  evalEvery: number;
  /** Evaluate on at most this many examples of the eval set (default all). */
  evalLimit?: number;
  /**
   * Also estimate the expected reward by sampling at every evaluation (`eval/sampled_reward`,
   * see `evaluateSampledReward`): `samples` responses per evaluation prompt, drawn from a fresh
   * stream seeded with `seed` at every evaluation (the same draws for the same policy).
   */
  sampledEval?: { samples: number; seed: number };
  /** Called with every record (the step-0 evaluation, then each step). */
  onStep?: (record: CompareRecord) => void;
}

/**
 * A stable digest of the prompts of every step (FNV-1a, 32 bits, of the JSON text), so that two
 * runs can be checked to have seen the same prompts at every step.
 *
 * @param prompts The prompts of each step, `[steps][promptsPerStep]`.
 * @returns Eight hexadecimal digits.
 *
 * @example
 * ```ts
 * import { promptsDigest } from "./compare_run.ts";
 * import { assertEquals, assertNotEquals } from "@std/assert";
 *
 * assertEquals(promptsDigest([]), "741638a5"); // FNV-1a of "[]"
 * assertNotEquals(promptsDigest([["1+2="]]), promptsDigest([["2+1="]]));
 * ```
 */
export function promptsDigest(prompts: readonly (readonly string[])[]): string {
  const text = JSON.stringify(prompts);
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

/**
 * The peak resident memory of this process so far, in MiB: `VmHWM` from `/proc/self/status`
 * where it exists (Linux), else the current `Deno.memoryUsage().rss`.
 *
 * @returns MiB (2²⁰ bytes).
 *
 * @example
 * ```ts
 * import { peakResidentMemoryMb } from "./compare_run.ts";
 * import { assert } from "@std/assert";
 *
 * assert(peakResidentMemoryMb() >= Deno.memoryUsage().rss / 2 ** 20 - 1);
 * ```
 */
export function peakResidentMemoryMb(): number {
  const current = Deno.memoryUsage().rss / 2 ** 20;
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const match = /^VmHWM:\s*(\d+)\s*kB/m.exec(status);
    if (match !== null) return Math.max(current, Number(match[1]) / 1024);
  } catch {
    // No procfs (macOS, Windows) or no read permission: fall back to the current RSS.
  }
  return current;
}

/**
 * Run one algorithm for `steps` policy updates from a warm-started policy, the way the
 * comparison does: the same seed gives the same prompt stream to every algorithm (`train` draws
 * the prompts of step s from their own stream, split from the seed before any sampling), greedy
 * eval accuracy (and mean greedy reward; with `sampledEval`, the mean sampled reward too) is
 * measured before the first update, every `evalEvery` updates and after the last, outside the
 * timed step (`time/step_s` is training only), and the prompts of every step are recorded as a
 * digest.
 *
 * Preconditions: a tfjs backend is initialised; the policy's vocabulary is the task's.
 *
 * @param options What to run.
 * @returns The run, under `label`: its records, the algorithm and the resolved config its steps
 *   were given, models held, Adam steps per update, peak memory so far and the prompts digest.
 * @throws {RangeError} For an unknown algorithm, a bad config, `steps < 1` or `evalEvery < 1`.
 *
 * @example Two GRPO updates of a tiny policy
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { createPolicy } from "../policy/transformer.ts";
 * import { defaultPolicyConfig } from "../tasks/default_policy_config.ts";
 * import { addition } from "../tasks/addition.ts";
 * import { runComparison } from "./compare_run.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const policy = createPolicy(defaultPolicyConfig(addition, { dModel: 16, layers: 1, heads: 2 }));
 * const run = await runComparison({
 *   algorithm: "grpo", task: addition, policy, steps: 2, seed: 0, evalEvery: 1, evalLimit: 4,
 *   config: { promptsPerStep: 1, groupSize: 2 },
 * });
 * assertEquals(run.records.map((r) => r.step), [0, 1, 2]);
 * assertEquals(run.records.every((r) => r["eval/accuracy"] !== undefined), true);
 * policy.dispose();
 * ```
 */
export async function runComparison(options: CompareRunOptions): Promise<CompareRun> {
  const context = "Cannot run the comparison";
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${context}: options must be an object, got ${describe(options)}`);
  }
  const algorithm = algorithmByName(options.algorithm);
  if (options.label !== undefined && (typeof options.label !== "string" || options.label === "")) {
    throw new TypeError(
      `${context}: label must be a non-empty string, got ${describe(options.label)}`,
    );
  }
  const steps = checkInteger(context, "steps", options.steps, 1);
  const evalEvery = checkInteger(context, "evalEvery", options.evalEvery, 1);
  const evalLimit = options.evalLimit === undefined
    ? undefined
    : checkInteger(context, "evalLimit", options.evalLimit, 1);
  const config = resolveConfig(algorithm, options.config ?? {});
  const base = options.task;
  const maxTokens = config.maxTokens > 0 ? config.maxTokens : base.maxResponseTokens;
  const prompts: string[][] = [];
  const task: Task = Object.freeze(
    {
      ...base,
      prompts(rng, n) {
        const drawn = base.prompts(rng, n);
        // The steps' draws only: train also draws 256 prompts of its own (seed 0) to check the
        // response budget before the first step.
        if (n === config.promptsPerStep) prompts.push([...drawn]);
        return drawn;
      },
    } satisfies Task,
  );
  const records: CompareRecord[] = [];
  const evaluate = async (): Promise<Record<string, number>> => {
    const result = await evaluateAccuracy(options.policy, base, {
      maxTokens,
      ...(evalLimit === undefined ? {} : { limit: evalLimit }),
    });
    const sampled: Record<string, number> = options.sampledEval === undefined ? {} : {
      "eval/sampled_reward": (await evaluateSampledReward(options.policy, base, {
        maxTokens,
        samples: options.sampledEval.samples,
        seed: options.sampledEval.seed,
        ...(evalLimit === undefined ? {} : { limit: evalLimit }),
      })).meanReward,
    };
    return { "eval/accuracy": result.accuracy, "eval/reward": result.meanReward, ...sampled };
  };
  const emit = (record: CompareRecord) => {
    records.push(record);
    options.onStep?.(record);
  };
  emit({ step: 0, ...(await evaluate()) });
  const result = await train({
    algorithm,
    config: options.config ?? {},
    task,
    policy: options.policy,
    steps,
    seed: options.seed,
    evalEvery: 0,
    onStep: async (record) => {
      const evaluation = record.step % evalEvery === 0 || record.step === steps
        ? await evaluate()
        : {};
      emit({ ...record, ...evaluation });
    },
  });
  result.valueModel?.dispose();
  return {
    algorithm: options.label ?? algorithm.name,
    recipe: algorithm.name,
    config: { ...config },
    seed: options.seed,
    records,
    peakRssMb: peakResidentMemoryMb(),
    models: result.models.map((m) => ({
      role: m.role,
      parameters: m.parameters,
      trainable: m.trainable,
    })),
    adamStepsPerUpdate: config.epochs * config.minibatches,
    promptsDigest: promptsDigest(prompts),
  };
}

/** A saved result and the settings it was made with (what `saveFinishedRun` writes). */
interface FinishedRunFile<T> {
  settings: unknown;
  result: T;
}

/**
 * Save the result of one finished piece of a comparison (a run, a warm start) next to the
 * settings that made it, atomically (written aside, then renamed over `path`): an interrupted
 * comparison leaves either the whole file or none, never half of one.
 *
 * @param path The file, e.g. `DIR/tmp/runs/main/grpo-s0.result.json`.
 * @param settings Everything that changes the result (JSON-serialisable), compared on resume.
 * @param result The result (JSON-serialisable).
 *
 * @example
 * ```ts
 * import { loadFinishedRun, saveFinishedRun } from "./compare_run.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const path = (await Deno.makeTempDir()) + "/grpo-s0.result.json";
 * await saveFinishedRun(path, { algorithm: "grpo", seed: 0 }, { accuracy: 0.5 });
 * assertEquals(await loadFinishedRun(path, { algorithm: "grpo", seed: 0 }), { accuracy: 0.5 });
 * assertEquals(await loadFinishedRun(path, { algorithm: "grpo", seed: 1 }), undefined);
 * ```
 */
export async function saveFinishedRun(
  path: string,
  settings: unknown,
  result: unknown,
): Promise<void> {
  const aside = `${path}.partial-${Deno.pid}`;
  const file: FinishedRunFile<unknown> = { settings, result };
  await Deno.writeTextFile(aside, JSON.stringify(file) + "\n");
  await Deno.rename(aside, path);
}

/**
 * The result saved by {@linkcode saveFinishedRun} at `path`, when the file exists, is whole, and
 * was made with exactly these settings (compared as JSON text); otherwise `undefined` (the run
 * must be made again). What `compare --resume` uses to skip finished runs.
 *
 * @param path The file.
 * @param settings The settings the result must have been made with.
 * @returns The saved result, or `undefined`.
 */
export async function loadFinishedRun<T>(path: string, settings: unknown): Promise<T | undefined> {
  let file: FinishedRunFile<T>;
  try {
    file = JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined; // missing, or not JSON: not finished
  }
  if (typeof file !== "object" || file === null || !("result" in file)) return undefined;
  return JSON.stringify(file.settings) === JSON.stringify(settings) ? file.result : undefined;
}
