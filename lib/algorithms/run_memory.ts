/**
 * The memory plan of a training run (`lib/policy/memory_plan.ts`) from its policy, config and
 * task, the check before each step against the memory actually held, and the wrapping of a real
 * allocation failure into an error that says what was being computed.
 *
 * What tfjs-wasm does when its heap is exhausted (measured with tfjs 4.22.0 in Deno 2.9.6): an
 * allocation past 4 GiB raises `RuntimeError: Aborted()` and every later call into the backend
 * aborts too; a failed allocation can also leave the backend computing garbage (`ones + 1` gave
 * `[2.02, 0, 0, 0]` after a failed 1 GiB `zeros`). Nothing computed after such a failure can be
 * trusted, so `train` stops at once and writes nothing more: the last checkpoint on disk stays as
 * it was.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Policy } from "../policy/transformer.ts";
import {
  assertFits,
  formatBytes,
  type MemoryLimit,
  type MemoryPlan,
  type ModelShape,
  planMemory,
  type StepShape,
} from "../policy/memory_plan.ts";
import { memoryLimit } from "../policy/memory_limit.ts";
import { policyModelShape } from "../models/model_shape.ts";
import { minibatchSizes } from "./update.ts";
import type { Algorithm, RlConfig } from "./step.ts";

/** What {@linkcode planRun} needs to know about a run besides its policy and config. */
export interface RunMemoryOptions {
  /** The algorithm (whether it trains a value model). */
  algorithm: Pick<Algorithm, "usesValueModel" | "name">;
  /** Tokens of the longest prompt. */
  promptTokens: number;
  /** The response budget. */
  responseTokens: number;
  /** Whether the reference is a separate copy (full fine-tuning with `beta > 0`). */
  referenceCopy: boolean;
  /** Whether a log-prob pass over the whole batch runs without a tape (reference, remote, PPO values). */
  fullBatchForward: boolean;
  /** A forced limit in bytes (default `$TREPO_MEMORY_LIMIT`, else the backend's). */
  limitBytes?: number;
  /** Bytes of the policy's tensors that already exist (they are part of the plan). */
  allocatedBytes?: number;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * The step shape of a run: rows per step and per minibatch, the micro-batch (0 when the config
 * has none or 0), the sequence and the rows sampled at once (TRePO: `rows × positions × K`).
 *
 * @param config The checked config.
 * @param options The run's lengths and passes.
 * @returns The step shape.
 *
 * @example GRPO, 4 prompts × 8 responses in 2 minibatches
 * ```ts
 * import { runStepShape } from "./run_memory.ts";
 * import { resolveConfig } from "./step.ts";
 * import { grpo } from "./grpo.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const config = resolveConfig(grpo, { promptsPerStep: 4, groupSize: 8, minibatches: 2 });
 * const shape = runStepShape(config, { promptTokens: 10, responseTokens: 20, fullBatchForward: true });
 * assertEquals([shape.rows, shape.minibatchRows, shape.sampledRows], [32, 16, 32]);
 * ```
 */
export function runStepShape(
  config: RlConfig,
  options: Pick<RunMemoryOptions, "promptTokens" | "responseTokens" | "fullBatchForward">,
): StepShape & { microBatchDivides: number } {
  const rows = config.promptsPerStep * config.groupSize;
  const sizes = minibatchSizes(rows, config.minibatches);
  const extra = config as unknown as Partial<Record<string, number>>;
  const continuations = (extra.positions ?? 0) * (extra.continuations ?? 0);
  return {
    rows,
    minibatchRows: Math.max(...sizes),
    microBatchDivides: sizes.reduce(gcd),
    microBatchSize: extra.microBatchSize ?? Math.max(...sizes),
    promptTokens: options.promptTokens,
    responseTokens: options.responseTokens,
    sampledRows: Math.max(rows, rows * continuations),
    // TRePO's prefixes of one response share one prefill row (`decode`'s shared sources).
    prefillRows: continuations > 0 ? rows : config.promptsPerStep,
    prefillTokens: continuations > 0
      ? options.promptTokens + options.responseTokens
      : options.promptTokens,
    logProbRows: options.fullBatchForward ? rows : 0,
  };
}

/**
 * Plan a run's memory and refuse it when it does not fit (before any reference copy, warm start
 * or sampling): the policy's shape (LoRA: base + adapters, adapters trained), a reference copy
 * when full fine-tuning keeps one, a value model the size of the policy for PPO (its adapters and
 * head under LoRA), against the backend's limit less whatever else the heap holds.
 *
 * @param policy The policy (its weights exist already: they are counted, not taken off the limit).
 * @param config The checked config (`microBatchSize` 0 lets the plan choose).
 * @param options Lengths, passes and the limit.
 * @returns The plan; `plan.microBatchSize` is the micro-batch to run.
 * @throws {MemoryPlanError} When the run does not fit; the message gives the numbers and the ways out.
 */
export function planRun(policy: Policy, config: RlConfig, options: RunMemoryOptions): MemoryPlan {
  const shape = policyModelShape(policy);
  // Every weight the forward reads exists already (a LoRA policy's base too, not only its
  // adapters): counted by the plan, so not taken off the limit as well.
  return planShape(shape, config, { allocatedBytes: 4 * shape.parameters, ...options });
}

/**
 * {@linkcode planRun} from a model shape alone, before any weight exists (`train`'s command plans
 * a `--model` folder from its `config.json`, a fresh `--d-model` policy from its config); a shape
 * whose `trainableParameters` are below its `parameters` is taken as LoRA (no reference copy, the
 * value model its adapters and head).
 *
 * @param shape The policy's shape (`policyModelShape`, `hfModelShape`).
 * @param config The checked config.
 * @param options Lengths, passes and the limit (`allocatedBytes` default 0).
 * @returns The plan.
 * @throws {MemoryPlanError} When the run does not fit.
 *
 * @example A 100000-wide built-in GPT is refused with the numbers
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { planShape } from "./run_memory.ts";
 * import { resolveConfig } from "./step.ts";
 * import { grpo } from "./grpo.ts";
 * import { assertThrows } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const d = 100000;
 * const shape = {
 *   parameters: 12 * d * d, trainableParameters: 12 * d * d, layers: 1, hidden: d, heads: 4,
 *   queryWidth: d, kvWidth: d, intermediate: 4 * d, vocab: 16,
 * };
 * assertThrows(
 *   () => planShape(shape, resolveConfig(grpo, {}), {
 *     algorithm: grpo, promptTokens: 8, responseTokens: 8, referenceCopy: true,
 *     fullBatchForward: true, limitBytes: 2 ** 32,
 *   }),
 *   RangeError,
 *   "Cannot start the run: it needs",
 * );
 * ```
 */
export function planShape(
  shape: ModelShape,
  config: RlConfig,
  options: RunMemoryOptions,
): MemoryPlan {
  const lora = shape.trainableParameters < shape.parameters;
  const model = {
    ...shape,
    referenceParameters: options.referenceCopy && !lora ? shape.parameters : 0,
    valueParameters: options.algorithm.usesValueModel
      ? (lora ? shape.trainableParameters + shape.hidden + 1 : shape.parameters)
      : 0,
  };
  const step = runStepShape(config, options);
  const divides = step.microBatchDivides;
  const limit = memoryLimit({
    ...(options.limitBytes === undefined ? {} : { bytes: options.limitBytes }),
    countedBytes: options.allocatedBytes ?? 0,
  });
  // The chosen micro-batch must divide every minibatch: plan over the common divisor's divisors.
  const plan = step.microBatchSize === 0 && divides !== step.minibatchRows
    ? planOverDivisors(model, step, divides, limit)
    : planMemory(model, step, limit);
  return assertFits(plan);
}

function planOverDivisors(
  model: Parameters<typeof planMemory>[0],
  step: StepShape,
  divides: number,
  limit: MemoryLimit,
): MemoryPlan {
  let last: MemoryPlan | undefined;
  for (let k = divides; k >= 1; k--) {
    if (divides % k !== 0) continue;
    last = planMemory(model, { ...step, microBatchSize: k }, limit);
    if (last.fits) return last;
  }
  return last!;
}

/**
 * The limit the in-step checks compare the memory actually held with: the backend's whole limit
 * (or the forced one), nothing taken off, since `tf.memory()` then counts everything.
 *
 * @param limitBytes A forced limit (default `$TREPO_MEMORY_LIMIT`, else the backend's).
 * @returns The limit.
 */
export function heldMemoryLimit(limitBytes?: number): MemoryLimit {
  return memoryLimit({
    ...(limitBytes === undefined ? {} : { bytes: limitBytes }),
    countedBytes: Infinity,
  });
}

/**
 * Before step `step`: refuse it when the memory held now plus what any phase of the step adds
 * (the plan's phase totals less what persists) would pass the limit. The error names the phase
 * and the sizes.
 *
 * @param plan The run's plan.
 * @param limit The whole limit ({@linkcode heldMemoryLimit}).
 * @param step The step about to run.
 * @param heldBytes Bytes held now (default `tf.memory().numBytes`).
 * @throws {RangeError} When a phase would not fit.
 *
 * @example A step refused when the heap already holds too much
 * ```ts
 * import { checkStepMemory } from "./run_memory.ts";
 * import { assertThrows } from "@std/assert";
 *
 * const plan = {
 *   persistentBytes: 100, phases: { sampling: 150, logProbs: 120, update: 300 },
 * };
 * const limit = { bytes: 400, tensorBytes: Infinity, what: "the wasm heap" };
 * checkStepMemory(plan, limit, 2, 100);
 * assertThrows(
 *   () => checkStepMemory(plan, limit, 2, 250),
 *   RangeError,
 *   "Cannot run step 2: the update needs 200 B on top of the 250 B held",
 * );
 * ```
 */
export function checkStepMemory(
  plan: Pick<MemoryPlan, "persistentBytes" | "phases">,
  limit: MemoryLimit,
  step: number,
  heldBytes: number = tf.memory().numBytes,
): void {
  const base = Math.max(heldBytes, plan.persistentBytes);
  const names = { sampling: "sampling", logProbs: "log-prob pass", update: "update" } as const;
  for (const phase of ["sampling", "logProbs", "update"] as const) {
    const adds = Math.max(0, plan.phases[phase] - plan.persistentBytes);
    if (base + adds > limit.bytes) {
      throw new RangeError(
        `Cannot run step ${step}: the ${names[phase]} needs ${formatBytes(adds)} on top of the ${
          formatBytes(heldBytes)
        } held, ${formatBytes(base + adds)} in all, but ${limit.what} holds ${
          formatBytes(limit.bytes)
        }; the checkpoint of the last completed step is left as it was`,
      );
    }
  }
}

/**
 * Whether an error is an allocation failure of a backend: V8's `RangeError: Array buffer
 * allocation failed` (cpu), emscripten's `RuntimeError: Aborted()` or an out-of-bounds access
 * after a failed allocation (wasm), or a WebGPU out-of-memory.
 *
 * @param error Anything thrown.
 * @returns Whether it is one.
 *
 * @example
 * ```ts
 * import { isAllocationFailure } from "./run_memory.ts";
 * import { assert } from "@std/assert";
 *
 * assert(isAllocationFailure(new RangeError("Array buffer allocation failed")));
 * assert(!isAllocationFailure(new RangeError("Cannot train: steps must be at least 1, got 0")));
 * ```
 */
export function isAllocationFailure(error: unknown): boolean {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return /Array buffer allocation failed|Aborted\(|memory access out of bounds|out of memory|Cannot allocate|Invalid typed array length/i
    .test(message);
}

/**
 * The error for an allocation failure during `what`: names it, the memory held and the plan's
 * peak and limit, and says the backend cannot be trusted afterwards.
 *
 * @param error The failure (kept as `cause`).
 * @param what What was being computed (`"step 3"`).
 * @param plan The run's plan.
 * @param heldBytes Bytes tfjs reported held before it (the backend may not answer after it).
 * @returns The error to throw.
 */
export function allocationError(
  error: unknown,
  what: string,
  plan: Pick<MemoryPlan, "peakBytes" | "peakPhase" | "limit" | "microBatchSize">,
  heldBytes: number,
): Error {
  const cause = error instanceof Error ? error.message : String(error);
  return new Error(
    `Cannot run ${what}: out of memory (${cause.split("\n")[0]}) with ${
      formatBytes(heldBytes)
    } held before it; the plan's peak was ${
      formatBytes(plan.peakBytes)
    } (${plan.peakPhase}, micro-batch ${plan.microBatchSize}) of the ${
      formatBytes(plan.limit.bytes)
    } that ${plan.limit.what} holds. The backend cannot be trusted after this failure, so nothing more was written: the checkpoint of the last completed step is left as it was`,
    { cause: error },
  );
}
