/**
 * `deno run -A lib/cli/compare.ts [--quick] [--seeds N]` (`deno task compare`): PPO, GRPO, ReMax,
 * RLOO, TRePO and REINFORCE from the same supervised warm start, on the same prompts at every
 * step, for the same number of policy updates, over several seeds; then the same on a hard
 * variant where success is rare at the start; then a credit variant, on long responses whose
 * reward is a sum of independent hidden per-token rewards (`vigenereCipher`: one point per right
 * letter), compared at equal updates and at equal generated tokens. Writes `summary.json`, `summary.md`, `report.html`
 * and `curves.png` (needs Chromium; skipped with a warning without it) to `results/compare/`
 * (`--quick`: the git-ignored `results/quick/compare/`; or `--out DIR`); the warm starts and the
 * per-run records go to `DIR/tmp/` (git-ignored), where `--resume` finds the finished runs.
 *
 * How the comparison is made fair, and what it measures (also written into `summary.md`):
 *
 * - **Same warm start.** One SFT checkpoint per seed (and one, much weaker, per seed for the hard
 *   variant), trained once in this process, saved, and loaded by every algorithm's run.
 * - **Same prompts per step.** Every algorithm runs with the same `promptsPerStep` and
 *   `groupSize` (the only settings taken away from the algorithms' defaults) and the same seed;
 *   `train` draws the prompts of every step from their own stream, split from the seed before any
 *   sampling, so they are identical whatever the algorithm does. Each run records a digest of
 *   its prompts and `summary.json` says whether they agreed (`samePromptsPerStep`).
 * - **Same number of policy updates.** A *policy update* is one RL step: one batch of fresh
 *   responses to the step's prompts turned into a change of the policy. Every run makes `--steps`
 *   of them. Inside an update PPO makes `epochs × minibatches` Adam steps (its defaults) and the
 *   others one; the table reports this as "Adam steps / update".
 * - **Separate processes.** Every (algorithm, seed) run is its own `deno` process, so that its
 *   peak resident memory (`VmHWM`) is its own and runs cannot leak into each other.
 * - **Wall seconds** are the training steps' own time (`time/step_s`), evaluation excluded;
 *   runs go one after the other, seeds outermost, on a possibly shared machine.
 *
 * Options: `--quick` (1 seed, a few updates, small warm starts: about a minute), `--seeds N`,
 * `--steps N`, `--algorithms a,b,…` (rows: algorithm names, or named rows such as `trepo-every`,
 * TRePO with every position evaluated; see `compareRowByLabel`), `--prompts-per-step N`, `--group-size N`, `--eval-every N`,
 * `--eval-limit N`, `--sft-steps N`, `--sft-batch-size N`, `--sft-learning-rate X`,
 * `--hard-sft-steps N`, `--hard-sft-batch-size N`, `--threshold-gain X`, `--no-main`, `--no-hard`,
 * `--no-credit`, `--credit-seeds N`, `--credit-steps N`, `--credit-eval-every N`,
 * `--credit-learning-rate X|default`, `--credit-sft-steps N`, `--credit-sft-target X|none`,
 * `--credit-eval-samples N`, `--credit-alphabet S`, `--credit-length N`, `--credit-task-seed N`,
 * `--task NAME`, `--backend NAME`, `--out DIR`, `--help`.
 *
 * @module
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type BackendName, BACKENDS, initBackend } from "../backend.ts";
import { createPolicy } from "../policy/transformer.ts";
import { loadCheckpoint, saveCheckpoint } from "../policy/checkpoint.ts";
import { defaultPolicyConfig } from "../tasks/default_policy_config.ts";
import { TASK_NAMES, taskByName } from "../tasks/task_by_name.ts";
import type { Task } from "../tasks/task.ts";
import { createVigenereCipher, type VigenereCipherOptions } from "../tasks/vigenere_cipher.ts";
import * as tf from "@tensorflow/tfjs";
import { Random } from "../random.ts";
import { evaluateAccuracy } from "../algorithms/evaluate.ts";
import { supervisedFineTune } from "../algorithms/supervised_fine_tune.ts";
import { resolveConfig } from "../algorithms/step.ts";
import { ALGORITHM_NAMES, algorithmByName } from "../algorithms/train.ts";
import {
  compareRowByLabel,
  compareRowConfig,
  type CompareRowSpec,
  NAMED_COMPARE_ROWS,
} from "../experiments/compare_rows.ts";
import {
  COMPARE_METRICS,
  type CompareRow,
  type CompareRun,
  type CompareSection,
  compareSection,
} from "../experiments/compare_summary.ts";
import { loadFinishedRun, runComparison, saveFinishedRun } from "../experiments/compare_run.ts";
import {
  accuracyPanels,
  compareFigure,
  gridFigure,
  metricLabel,
  signalPanels,
} from "../experiments/compare_figures.ts";
import {
  type BudgetComparison,
  compareAtEqualTokens,
  compareAtEqualUpdates,
} from "../experiments/budget_comparison.ts";
import { type StartSignal, startSignal } from "../experiments/start_signal.ts";
import { runCommand } from "./flags.ts";
import { defaultResultsPath } from "./results_path.ts";
import { figureToImage } from "../report/figure_to_image.ts";
import { type ReportSection, writeHtmlReport } from "../report/html_report.ts";
import { table, type TableRow } from "../report/table.ts";

/**
 * The rows compared by default, in the issue's order: the algorithms as shipped, and TRePO with
 * every position evaluated beside the default TRePO (see `compareRowByLabel`).
 */
const DEFAULT_ALGORITHMS = ["ppo", "grpo", "remax", "rloo", "trepo", "trepo-every", "reinforce"];

/** The parsed command line. */
interface CompareArgs {
  quick: boolean;
  /** Keep the finished runs (and warm starts) of an earlier compare into the same `--out`. */
  resume: boolean;
  help: boolean;
  seeds: number;
  steps: number;
  out: string;
  task: string;
  /** The rows' labels (algorithm names, or named rows such as `trepo-every`), in order. */
  algorithms: string[];
  promptsPerStep: number;
  groupSize: number;
  evalEvery: number;
  evalLimit: number | undefined;
  sftSteps: number;
  sftBatchSize: number;
  sftLearningRate: number;
  sftTarget: number | null;
  hardSftSteps: number;
  hardSftBatchSize: number;
  thresholdGain: number;
  main: boolean;
  hard: boolean;
  credit: boolean;
  creditSeeds: number;
  creditSteps: number;
  creditEvalEvery: number;
  /** One learning rate for every algorithm of the credit variant; `null`: each one's default. */
  creditLearningRate: number | null;
  /** Most SFT steps of the credit variant's warm start. */
  creditSftSteps: number;
  /** Stop that warm start at this greedy reward on held-out training pairs (`null`: all steps). */
  creditSftTarget: number | null;
  creditEvalSamples: number;
  creditAlphabet: string;
  creditLength: number;
  creditTaskSeed: number;
  backend: BackendName;
  worker: string | undefined;
}

/** Defaults of a full run and of `--quick`. */
const DEFAULTS = {
  full: {
    seeds: 3,
    steps: 80,
    promptsPerStep: 16,
    groupSize: 4,
    evalEvery: 10,
    evalLimit: undefined,
    sftSteps: 2000,
    sftBatchSize: 32,
    sftTarget: 0.65,
    hardSftSteps: 100,
    hardSftBatchSize: 32,
    creditSeeds: 3,
    creditSteps: 40,
    creditEvalEvery: 4,
    creditSftSteps: 600,
    creditSftTarget: 0.4,
    creditEvalSamples: 4,
  },
  quick: {
    seeds: 1,
    steps: 6,
    promptsPerStep: 4,
    groupSize: 4,
    evalEvery: 2,
    evalLimit: 50,
    sftSteps: 150,
    sftBatchSize: 32,
    sftTarget: null,
    hardSftSteps: 40,
    hardSftBatchSize: 32,
    creditSeeds: 1,
    creditSteps: 2,
    creditEvalEvery: 2,
    creditSftSteps: 20,
    creditSftTarget: null,
    creditEvalSamples: 2,
  },
} as const;

const FLAGS: readonly [string, string, string][] = [
  ["--quick", "off", "1 seed, 6 updates, small warm starts (about a minute)"],
  [
    "--resume",
    "off",
    "keep the warm starts and (algorithm, seed, variant) runs finished by an earlier compare with the same settings into the same --out (DIR/tmp/); run the rest",
  ],
  ["--seeds N", "3 (quick 1)", "seeds 0..N−1: warm start, prompts and sampling"],
  ["--steps N", "80 (quick 6)", "policy updates per run"],
  [
    "--algorithms LIST",
    DEFAULT_ALGORITHMS.join(","),
    `comma-separated rows: algorithms (${ALGORITHM_NAMES}) or named rows (${
      Object.entries(NAMED_COMPARE_ROWS).map(([label, row]) => `${label}: ${row.description}`)
        .join("; ")
    })`,
  ],
  ["--prompts-per-step N", "16 (quick 4)", "prompts per update, the same for every algorithm"],
  ["--group-size N", "4", "responses per prompt, the same for every algorithm"],
  ["--eval-every N", "10 (quick 2)", "greedy eval every N updates (and at 0 and the end)"],
  ["--eval-limit N", "all (quick 50)", "eval on at most N examples"],
  ["--sft-steps N", "2000 (quick 150)", "most warm-start SFT steps"],
  [
    "--sft-target X",
    "0.65 (quick none)",
    "stop the warm start at this greedy accuracy on held-out training pairs (none: all steps)",
  ],
  ["--sft-batch-size N", "32", "warm-start SFT batch size"],
  ["--sft-learning-rate X", "0.002", "warm-start SFT learning rate (constant)"],
  ["--hard-sft-steps N", "100 (quick 40)", "SFT steps of the hard variant's weak warm start"],
  ["--hard-sft-batch-size N", "32", "SFT batch size of the hard variant's warm start"],
  ["--threshold-gain X", "0.05", "steps to threshold: updates to reach initial accuracy + X"],
  ["--no-main", "off", "skip the main variant (for example to run the credit variant alone)"],
  ["--no-hard", "off", "skip the hard variant"],
  ["--no-credit", "off", "skip the credit variant (long responses, per-token rewards)"],
  ["--credit-seeds N", "3 (quick 1)", "credit variant: seeds 0..N−1"],
  ["--credit-steps N", "40 (quick 2)", "credit variant: policy updates per run"],
  ["--credit-eval-every N", "4 (quick 2)", "credit variant: evaluate every N updates"],
  [
    "--credit-learning-rate X",
    "3e-4",
    'credit variant: one learning rate for every algorithm ("default": each algorithm\'s own)',
  ],
  ["--credit-sft-steps N", "600 (quick 20)", "credit variant: most warm-start SFT steps"],
  [
    "--credit-sft-target X",
    "0.4 (quick none)",
    "credit variant: stop the warm start at this greedy reward (per-letter accuracy) on held-out training pairs (none: all steps)",
  ],
  [
    "--credit-eval-samples N",
    "4 (quick 2)",
    "credit variant: sampled responses per eval prompt for the expected reward",
  ],
  ["--credit-alphabet S", "abcd", "credit variant: vigenereCipher's letters"],
  ["--credit-length N", "16", "credit variant: letters per prompt and per target"],
  ["--credit-task-seed N", "1", "credit variant: seed of the hidden key and the eval prompts"],
  ["--task NAME", "addition", `one of ${TASK_NAMES.join(", ")}`],
  ["--backend NAME", "wasm", `one of ${BACKENDS.join(", ")}`],
  ["--out DIR", "results/compare (quick results/quick/compare)", "where the results go"],
  ["--help", "", "this text"],
];

function usage(): string {
  return [
    "Usage: deno run -A lib/cli/compare.ts [options]",
    "",
    "Compare RL algorithms from one SFT warm start (same prompts, same number of updates).",
    "",
    "Options:",
    ...FLAGS.map(([flag, def, what]) =>
      `  ${flag.padEnd(26)} ${what}${def === "" ? "" : ` (default: ${def})`}`
    ),
  ].join("\n");
}

const VALUE_FLAGS: readonly string[] = [
  "seeds",
  "steps",
  "out",
  "task",
  "algorithms",
  "prompts-per-step",
  "group-size",
  "eval-every",
  "eval-limit",
  "sft-steps",
  "sft-batch-size",
  "sft-learning-rate",
  "sft-target",
  "hard-sft-steps",
  "hard-sft-batch-size",
  "threshold-gain",
  "credit-seeds",
  "credit-steps",
  "credit-eval-every",
  "credit-learning-rate",
  "credit-sft-steps",
  "credit-sft-target",
  "credit-eval-samples",
  "credit-alphabet",
  "credit-length",
  "credit-task-seed",
  "backend",
  "worker",
];

/**
 * Parse the command line of the compare command.
 *
 * @param argv `Deno.args`.
 * @returns The options, with `--quick` defaults where a flag is not given.
 * @throws {RangeError} For an unknown flag, a missing or malformed value, or an unknown algorithm.
 */
export function parseCompareArgs(argv: readonly string[]): CompareArgs {
  const context = "Cannot parse the command line";
  const raw: Record<string, string> = {};
  const switches = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) throw new RangeError(`${context}: unexpected argument "${arg}"`);
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    if (["quick", "resume", "no-main", "no-hard", "no-credit", "help"].includes(flag)) {
      switches.add(flag);
      continue;
    }
    if (!VALUE_FLAGS.includes(flag)) {
      throw new RangeError(`${context}: unknown option --${flag} (see --help)`);
    }
    let value = eq < 0 ? undefined : arg.slice(eq + 1);
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined || value.startsWith("--")) {
        throw new RangeError(`${context}: --${flag} needs a value`);
      }
    }
    raw[flag] = value;
  }
  const quick = switches.has("quick");
  const d = quick ? DEFAULTS.quick : DEFAULTS.full;
  const integer = (flag: string, fallback: number, min: number): number => {
    if (raw[flag] === undefined) return fallback;
    const n = Number(raw[flag]);
    if (raw[flag].trim() === "" || !Number.isInteger(n) || n < min) {
      throw new RangeError(`${context}: --${flag} must be an integer ≥ ${min}, got "${raw[flag]}"`);
    }
    return n;
  };
  const number = (flag: string, fallback: number): number => {
    if (raw[flag] === undefined) return fallback;
    const n = Number(raw[flag]);
    if (raw[flag].trim() === "" || !Number.isFinite(n)) {
      throw new RangeError(`${context}: --${flag} must be a number, got "${raw[flag]}"`);
    }
    return n;
  };
  const algorithms = (raw.algorithms ?? DEFAULT_ALGORITHMS.join(","))
    .split(",").map((s) => s.trim()).filter((s) => s !== "")
    .map((name) => compareRowByLabel(name).label);
  if (algorithms.length === 0) {
    throw new RangeError(`${context}: --algorithms must name at least one algorithm`);
  }
  const twice = algorithms.find((name, i) => algorithms.indexOf(name) !== i);
  if (twice !== undefined) {
    throw new RangeError(
      `${context}: --algorithms names ${twice} twice; name each row once`,
    );
  }
  if (raw["credit-learning-rate"] !== undefined && raw["credit-learning-rate"] !== "default") {
    const lr = number("credit-learning-rate", 0);
    if (lr <= 0) {
      throw new RangeError(
        `${context}: --credit-learning-rate must be greater than 0 or "default", got "${
          raw["credit-learning-rate"]
        }"`,
      );
    }
  }
  const backend = (raw.backend ?? "wasm") as BackendName;
  if (!BACKENDS.includes(backend)) {
    throw new RangeError(
      `${context}: --backend must be one of ${BACKENDS.join(", ")}, got "${backend}"`,
    );
  }
  const args: CompareArgs = {
    quick,
    resume: switches.has("resume"),
    help: switches.has("help"),
    seeds: integer("seeds", d.seeds, 1),
    steps: integer("steps", d.steps, 1),
    out: raw.out ?? defaultResultsPath("results/compare", quick),
    task: taskByName(raw.task ?? "addition").name,
    algorithms,
    promptsPerStep: integer("prompts-per-step", d.promptsPerStep, 1),
    groupSize: integer("group-size", d.groupSize, 2),
    evalEvery: integer("eval-every", d.evalEvery, 1),
    evalLimit: raw["eval-limit"] === undefined ? d.evalLimit : integer("eval-limit", 0, 1),
    sftSteps: integer("sft-steps", d.sftSteps, 0),
    sftBatchSize: integer("sft-batch-size", d.sftBatchSize, 1),
    sftLearningRate: number("sft-learning-rate", 2e-3),
    sftTarget: raw["sft-target"] === undefined
      ? d.sftTarget
      : raw["sft-target"] === "none"
      ? null
      : number("sft-target", 0.65),
    hardSftSteps: integer("hard-sft-steps", d.hardSftSteps, 0),
    hardSftBatchSize: integer("hard-sft-batch-size", d.hardSftBatchSize, 1),
    thresholdGain: number("threshold-gain", 0.05),
    main: !switches.has("no-main"),
    hard: !switches.has("no-hard"),
    credit: !switches.has("no-credit"),
    creditSeeds: integer("credit-seeds", d.creditSeeds, 1),
    creditSteps: integer("credit-steps", d.creditSteps, 1),
    creditEvalEvery: integer("credit-eval-every", d.creditEvalEvery, 1),
    creditLearningRate: raw["credit-learning-rate"] === "default"
      ? null
      : number("credit-learning-rate", 3e-4),
    creditSftSteps: integer("credit-sft-steps", d.creditSftSteps, 0),
    creditSftTarget: raw["credit-sft-target"] === undefined
      ? d.creditSftTarget
      : raw["credit-sft-target"] === "none"
      ? null
      : number("credit-sft-target", 0.4),
    creditEvalSamples: integer("credit-eval-samples", d.creditEvalSamples, 1),
    creditAlphabet: raw["credit-alphabet"] ?? "abcd",
    creditLength: integer("credit-length", 16, 1),
    creditTaskSeed: integer("credit-task-seed", 1, 0),
    backend,
    worker: raw.worker,
  };
  if (args.creditSftTarget !== null && (args.creditSftTarget <= 0 || args.creditSftTarget > 1)) {
    throw new RangeError(
      `${context}: --credit-sft-target must be in (0, 1] or "none", got "${
        raw["credit-sft-target"]
      }"`,
    );
  }
  if (!args.main && !args.hard && !args.credit) {
    throw new RangeError(`${context}: --no-main, --no-hard and --no-credit leave nothing to run`);
  }
  if (args.credit) createVigenereCipher(creditCipher(args)); // throws on a bad alphabet or size
  return args;
}

/** The credit variant's task options, from the command line. */
function creditCipher(args: CompareArgs): VigenereCipherOptions {
  return {
    alphabet: args.creditAlphabet,
    length: args.creditLength,
    seed: args.creditTaskSeed,
    evalSize: Math.min(
      CREDIT_EVAL_PROMPTS,
      Math.floor(args.creditAlphabet.length ** args.creditLength / 2),
    ),
  };
}

/** Held-out evaluation prompts of the credit variant (fewer than the task's 200: evaluation time). */
const CREDIT_EVAL_PROMPTS = 100;

// ---------------------------------------------------------------------------------------------
// Worker: one (algorithm, seed) run in its own process.

/** What the parent hands a worker process. */
interface Job {
  /** The row's label (the run is recorded under it). */
  label: string;
  /** The algorithm the row runs. */
  algorithm: string;
  task: string;
  /** Build the task with `createVigenereCipher(cipher)` instead of by name. */
  cipher?: VigenereCipherOptions;
  /** Also estimate the sampled reward at every evaluation. */
  sampledEval?: { samples: number; seed: number };
  seed: number;
  steps: number;
  checkpoint: string;
  config: Record<string, unknown>;
  evalEvery: number;
  evalLimit: number | undefined;
  backend: BackendName;
  result: string;
}

async function worker(jobPath: string): Promise<void> {
  const job = JSON.parse(await Deno.readTextFile(jobPath)) as Job;
  await initBackend({ backend: job.backend });
  const loaded = await loadCheckpoint(job.checkpoint);
  loaded.valueModel?.dispose();
  const started = performance.now();
  const run = await runComparison({
    algorithm: job.algorithm,
    label: job.label,
    task: job.cipher === undefined ? taskByName(job.task) : createVigenereCipher(job.cipher),
    policy: loaded.policy,
    steps: job.steps,
    seed: job.seed,
    config: job.config,
    evalEvery: job.evalEvery,
    ...(job.evalLimit === undefined ? {} : { evalLimit: job.evalLimit }),
    ...(job.sampledEval === undefined ? {} : { sampledEval: job.sampledEval }),
  });
  loaded.policy.dispose();
  // Saved with its job, atomically: `--resume` keeps it only when the job is the same.
  await saveFinishedRun(job.result, job, { run, seconds: (performance.now() - started) / 1000 });
}

// ---------------------------------------------------------------------------------------------
// Parent: warm starts, runs, summary.

/** One variant of the comparison: a name, its task, its warm start and its runs' settings. */
interface Variant {
  name: "main" | "hard" | "credit";
  task: Task;
  /** The credit variant's task options (its worker builds the task from them). */
  cipher?: VigenereCipherOptions;
  sftSteps: number;
  sftBatchSize: number;
  /**
   * Stop the warm start at this held-out training accuracy — or, when `sftTargetIsReward`, at this
   * greedy mean reward — (`null`: run every step).
   */
  sftTarget: number | null;
  /** Whether `sftTarget` is a greedy mean reward rather than an exact-match accuracy. */
  sftTargetIsReward?: boolean;
  seeds: number[];
  steps: number;
  evalEvery: number;
  evalLimit: number | undefined;
  /** The settings over each algorithm's defaults (the same for every algorithm). */
  config: Record<string, unknown>;
  /** The record key the section follows. */
  metric: string;
  sampledEval?: { samples: number; seed: number };
}

interface WarmStart {
  seed: number;
  checkpoint: string;
  finalLoss: number | null;
  seconds: number;
  steps: number;
  heldOutAccuracy: number | null;
  /** Greedy mean reward on held-out training pairs at the last check (reward targets only). */
  heldOutReward?: number | null;
}

/** SFT steps between two checks of a reward-target warm start. */
const REWARD_CHECK_EVERY = 10;
/** Held-out training pairs of a reward-target warm start's checks. */
const REWARD_CHECK_EXAMPLES = 100;

async function warmStart(
  args: CompareArgs,
  variant: Variant,
  seed: number,
  dir: string,
): Promise<WarmStart> {
  const task = variant.task;
  const policy = createPolicy(defaultPolicyConfig(task, { seed }));
  try {
    if (variant.sftTargetIsReward === true && variant.sftTarget !== null) {
      const sft = await supervisedFineTuneToReward(policy, task, {
        steps: variant.sftSteps,
        batchSize: variant.sftBatchSize,
        learningRate: args.sftLearningRate,
        target: variant.sftTarget,
        seed,
      });
      const checkpoint = `${dir}/${variant.name}-s${seed}`;
      await saveCheckpoint(checkpoint, { policy, tokenizer: task.tokenizer });
      return { seed, checkpoint, ...sft, heldOutAccuracy: null };
    }
    const sft = await supervisedFineTune(policy, task, {
      steps: variant.sftSteps,
      batchSize: variant.sftBatchSize,
      learningRate: args.sftLearningRate,
      stopAtAccuracy: variant.sftTarget,
      seed,
    });
    const checkpoint = `${dir}/${variant.name}-s${seed}`;
    await saveCheckpoint(checkpoint, { policy, tokenizer: task.tokenizer });
    return {
      seed,
      checkpoint,
      finalLoss: sft.losses.at(-1) ?? null,
      seconds: sft.seconds,
      steps: sft.steps,
      heldOutAccuracy: sft.heldOutAccuracy,
    };
  } finally {
    policy.dispose();
  }
}

/**
 * Supervised fine-tuning that stops at a greedy mean reward: `supervisedFineTune` in chunks of
 * {@linkcode REWARD_CHECK_EVERY} steps with one Adam optimizer throughout, checking after each
 * chunk the greedy mean reward on held-out training pairs (drawn once from their own stream, never
 * from the eval set). For tasks with partial credit, where exact-match accuracy stays near 0
 * until the policy is nearly perfect.
 */
async function supervisedFineTuneToReward(
  policy: ReturnType<typeof createPolicy>,
  task: Task,
  options: { steps: number; batchSize: number; learningRate: number; target: number; seed: number },
): Promise<Pick<WarmStart, "finalLoss" | "seconds" | "steps" | "heldOutReward">> {
  const heldOut: Task = {
    ...task,
    evalSet: task.sftExamples(new Random(options.seed).split(), REWARD_CHECK_EXAMPLES),
  };
  const optimizer = tf.train.adam(options.learningRate);
  const started = performance.now();
  let steps = 0;
  let finalLoss: number | null = null;
  let heldOutReward = (await evaluateAccuracy(policy, heldOut)).meanReward;
  try {
    while (heldOutReward < options.target && steps < options.steps) {
      const chunk = Math.min(REWARD_CHECK_EVERY, options.steps - steps);
      const sft = await supervisedFineTune(policy, task, {
        steps: chunk,
        batchSize: options.batchSize,
        optimizer,
        stopAtAccuracy: null,
        // A fresh example stream per chunk, the same for the same seed.
        seed: options.seed * 100_003 + steps + 1,
      });
      steps += sft.steps;
      finalLoss = sft.losses.at(-1) ?? finalLoss;
      heldOutReward = (await evaluateAccuracy(policy, heldOut)).meanReward;
    }
  } finally {
    optimizer.dispose();
  }
  return { finalLoss, seconds: (performance.now() - started) / 1000, steps, heldOutReward };
}

/** A run's result as its worker saves it. */
interface RunResult {
  run: CompareRun;
  seconds: number;
}

/** The worker process running now, so that SIGINT can stop it too. */
let running: Deno.ChildProcess | undefined;

async function spawnRun(job: Job, jobPath: string): Promise<RunResult> {
  await Deno.writeTextFile(jobPath, JSON.stringify(job, null, 2) + "\n");
  await Deno.remove(job.result).catch(() => {});
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", fileURLToPath(import.meta.url), "--worker", jobPath],
    stdout: "inherit",
    stderr: "inherit",
  });
  running = command.spawn();
  const { code } = await running.status;
  running = undefined;
  const result = code === 0 ? await loadFinishedRun<RunResult>(job.result, job) : undefined;
  if (result === undefined) {
    throw new Error(
      `Cannot run the comparison: the run of ${job.label} (seed ${job.seed}) exited with code ${code}${
        code === 0 ? " without its result" : ""
      }; its job is ${jobPath}`,
    );
  }
  return result;
}

/**
 * A variant's warm start for one seed: with `--resume`, the one saved by an earlier compare with
 * the same settings (its checkpoint still there); otherwise made now and saved with its settings.
 */
async function keptOrNewWarmStart(
  args: CompareArgs,
  variant: Variant,
  seed: number,
  dir: string,
): Promise<{ start: WarmStart; kept: boolean }> {
  const settings = {
    task: variant.task.name,
    cipher: variant.cipher ?? null,
    sftSteps: variant.sftSteps,
    sftBatchSize: variant.sftBatchSize,
    sftLearningRate: args.sftLearningRate,
    sftTarget: variant.sftTarget,
    sftTargetIsReward: variant.sftTargetIsReward ?? false,
    seed,
  };
  const path = `${dir}/${variant.name}-s${seed}.json`;
  if (args.resume) {
    const kept = await loadFinishedRun<WarmStart>(path, settings);
    if (kept !== undefined && await exists(`${kept.checkpoint}/config.json`)) {
      return { start: kept, kept: true };
    }
  }
  const start = await warmStart(args, variant, seed, dir);
  await saveFinishedRun(path, settings, start);
  return { start, kept: false };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function fixed(x: number | null | undefined, digits: number): string {
  return x === null || x === undefined || !Number.isFinite(x) ? "—" : x.toFixed(digits);
}

function pm(m: { mean: number; std: number }, digits = 3): string {
  return `${m.mean.toFixed(digits)} ± ${m.std.toFixed(digits)}`;
}

function thresholdText(row: CompareRow): string {
  const s = row.stepsToThreshold;
  return s.mean === null ? `never (0/${s.runs})` : `${fixed(s.mean, 1)} (${s.reached}/${s.runs})`;
}

/** The table of a section, as rows of text (for Markdown and the HTML report). */
function tableRows(section: CompareSection): TableRow[] {
  return section.rows.map((row) => ({
    algorithm: row.algorithm,
    "models held": row.modelsHeld.join(" + "),
    parameters: row.parameters,
    "Adam steps / update": row.adamStepsPerUpdate,
    "initial acc": fixed(row.initialAccuracy, 3),
    "final acc (mean ± std)": pm(row.finalAccuracy),
    "gain (mean ± std)": pm(row.accuracyGain),
    [`updates to +${row.stepsToThreshold.gain}`]: thresholdText(row),
    "generated tokens": Math.round(row.generatedTokens),
    "train s": fixed(row.wallSeconds, 1),
    "peak RSS MiB": Math.round(row.peakRssMb),
    "all-equal groups": fixed(row.allEqualGroupFraction, 3),
    "non-zero adv": fixed(row.nonzeroAdvantageFraction, 3),
    "non-zero adv in all-equal groups": fixed(row.nonzeroInEqualGroupsFraction, 3),
  }));
}

function definitions(args: CompareArgs): string {
  return `
How the comparison is made fair. One SFT warm start per seed is trained once, saved, and loaded by
every algorithm's run. Every algorithm uses promptsPerStep = ${args.promptsPerStep} and groupSize =
${args.groupSize} (the only settings taken from the algorithms' defaults; everything else — learning
rate, β, epochs, minibatches, aggregation, TRePO's positions and continuations — is each algorithm's
default, listed under "configs" in summary.json) and the same seed, so the prompt stream of train()
(split from the seed before any sampling) gives every algorithm the same prompts at every update;
each run records a digest of its prompts and "samePromptsPerStep" says whether they all agreed.
A row is an algorithm, settings over its defaults, and a label (setup.rows in summary.json); every
row but one is an algorithm as shipped. trepo-every is TRePO with every interior position evaluated
(m = maxTokens − 1; 16 on the credit variant's 17-token responses), so that no prefix value is
interpolated and the update is the unbiased estimate of Eq. 28; on addition (answers of at most 4 tokens) the default m = 4 already
evaluates every position, so there trepo and trepo-every are the same estimator, draw for draw.
A policy update is one RL step: one batch of fresh responses to that step's prompts turned into a
change of the policy; every run makes the same number of them. Within an update PPO makes
epochs × minibatches Adam steps, the others one ("Adam steps / update").

Columns. initial / final acc: greedy accuracy on the task's eval set before the first and after
the last update (mean ± sample std over seeds); gain: final − initial seed by seed (a paired
difference, so the spread of the warm starts cancels). updates to +g: the first evaluated update at
which accuracy ≥ the run's own initial accuracy + g, mean over the seeds that reached it
(reached/seeds). generated tokens: every sampled token per run — responses, ReMax's greedy
baselines, TRePO's continuations. train s: the training steps' wall time per run (evaluation
excluded; runs go one after the other on a possibly shared machine, so compare ratios). peak RSS:
VmHWM of the run's own process (Deno, V8 and the wasm heap included, so the models' own bytes —
a few hundred kB — are a small part of it). models held / parameters: what the run keeps in memory
(the reward is a program). all-equal groups: mean over updates of the fraction of prompt groups
whose ${args.groupSize} rewards were all equal, where GRPO's and RLOO's advantages are 0 (—: the
algorithm does not report it). non-zero adv: mean over updates of the fraction of responses with a
non-zero response-level advantage (GRPO, RLOO, ReMax, REINFORCE: every token of a response shares
it) or of tokens with a non-zero per-token advantage (TRePO); — for PPO, whose whitened GAE
advantages are non-zero on practically every token. non-zero adv in all-equal groups: the same for
TRePO's tokens, counted only inside groups whose rewards were all equal — there GRPO's and RLOO's
advantages are exactly 0 by construction, so this column is the signal only TRePO has.
`.trim();
}

function hardNotes(args: CompareArgs): string {
  return `
The hard variant. The same task and settings from a much weaker warm start (${args.hardSftSteps}
SFT steps of ${args.hardSftBatchSize} instead of the main warm start's ${
    args.sftTarget === null
      ? `${args.sftSteps} steps`
      : `training until ${args.sftTarget} held-out training accuracy`
  }), so that
greedy accuracy starts near zero and most groups of ${args.groupSize} sampled responses score 0
together. The paper's point: such an all-equal group gives GRPO (and RLOO) exactly no gradient,
while TRePO's per-token values, estimated from continuations of random prefixes, can still be
non-zero inside such a group — when some continuation succeeds. That signal is bought with extra
sampling, which the generated-tokens column and the accuracy-vs-tokens curve show.
`.trim();
}

function creditNotes(
  args: CompareArgs,
  variant: Variant,
  signal: StartSignal,
  starts: readonly WarmStart[],
): string {
  const cipher = variant.cipher!;
  const task = variant.task;
  const length = cipher.length!;
  const lr = args.creditLearningRate === null
    ? "each algorithm's default learning rate"
    : `learning rate ${args.creditLearningRate} for every algorithm (instead of each one's default, 3e-5, with which J moved about two thirds as much or less in a one-seed check; --credit-learning-rate default uses those)`;
  const fraction = (m: { mean: number; std: number } | null, digits = 3) =>
    m === null ? "not reported" : `${m.mean.toFixed(digits)} ± ${m.std.toFixed(digits)}`;
  const warmText = starts.map((w) =>
    `seed ${w.seed}: ${w.steps} steps, ${fixed(w.heldOutReward ?? null, 3)}`
  ).join("; ");
  const target = variant.sftTarget === null
    ? `${variant.sftSteps} SFT steps of ${variant.sftBatchSize}`
    : `SFT (batches of ${variant.sftBatchSize}, at most ${variant.sftSteps} steps) until the greedy reward on held-out training pairs reaches ${variant.sftTarget}, checked every ${REWARD_CHECK_EVERY} steps`;
  return `
The credit variant: where per-token credit can matter. Task vigenereCipher: a prompt is ${length}
random letters of "${cipher.alphabet}" then ">"; a hidden key (seed ${cipher.seed}) shifts each
position, so the target letter at position t is the prompt's letter t shifted by key t; the reward
is one point per right letter, RM = (1/${length}) Σ_t 𝟙[letter t right] (missing letters score 0,
letters after the ${length}th are ignored; responses of at most ${task.maxResponseTokens} tokens).
So RM is a sum of independent hidden token rewards, each depending only on its own position and
the prompt's letter there — the setting of the paper's Theorem 1, with no reward for length. A
response-level advantage gives all ${length} letters the same credit, the right and the wrong ones;
per-token advantages (TRePO's Monte-Carlo values, PPO's critic) can tell them apart.

Warm start: ${target} (per seed, steps and held-out greedy reward: ${warmText}); the
SFT examples are training prompts with their right answers, so the warm start knows part of the
key. ${variant.seeds.length} seed${variant.seeds.length === 1 ? "" : "s"}, ${variant.steps} updates
of ${args.promptsPerStep} prompts × ${args.groupSize} responses, ${lr}.

Metric: the expected reward J (the expected fraction of right letters) on the ${task.evalSet.length}
held-out evaluation prompts (never trained on), estimated from ${args.creditEvalSamples} sampled
responses per prompt at temperature 1 with a fixed seed: the objective every recipe maximises,
smooth in the policy. The greedy reward (the fraction of right letters of the greedy response) is
a second reading, reported below; it moves when a letter's most likely choice flips.

Signal at the start (the first update's batch, sampled from the warm start, over
${signal.runs} runs): all-equal groups ${fraction(signal.allEqualGroupFraction)}, reward std within
the batch ${fraction(signal.rewardStd)}, mean reward ${fraction(signal.rewardMean)}, mean response
length ${fraction(signal.responseLength, 1)} tokens.
`.trim();
}

/**
 * Every row's full config in one variant (the algorithm's defaults, the shared settings, the
 * row's overrides resolved against the task), by label: what `summary.json` lists as `configs`.
 */
function resolvedConfigs(
  rows: readonly CompareRowSpec[],
  shared: Record<string, unknown>,
  task: Task,
): Record<string, unknown> {
  return Object.fromEntries(rows.map((row) => [
    row.label,
    resolveConfig(
      algorithmByName(row.algorithm),
      compareRowConfig(row, shared, task.maxResponseTokens),
    ),
  ]));
}

/** The per-algorithm table of a budget comparison. */
function budgetRows(comparison: BudgetComparison): TableRow[] {
  const byName = new Map(comparison.versusLeader.map((v) => [v.algorithm, v.difference]));
  return comparison.rows.map((row) => {
    const d = byName.get(row.algorithm);
    return {
      algorithm: row.algorithm,
      [`value (mean ± std)`]: pm(row.value),
      updates: fixed(row.steps.mean, 1),
      "generated tokens": Math.round(row.tokens.mean),
      "leader − this (mean ± std)": d === undefined ? "leader" : pm(d),
      t: d === undefined ? "" : fixed(d.t, 2),
      separated: d === undefined ? "" : d.separated ? "yes" : "no",
    };
  });
}

async function main(): Promise<void> {
  const args = parseCompareArgs(Deno.args);
  if (args.help) {
    console.log(usage());
    return;
  }
  if (args.worker !== undefined) {
    await worker(args.worker);
    return;
  }
  const started = performance.now();
  const info = await initBackend({ backend: args.backend });
  const out = resolve(args.out);
  const tmp = `${out}/tmp`;
  await Deno.mkdir(`${tmp}/sft`, { recursive: true });
  const shared = { promptsPerStep: args.promptsPerStep, groupSize: args.groupSize };
  const rows = args.algorithms.map(compareRowByLabel);
  const seeds = Array.from({ length: args.seeds }, (_, i) => i);
  const task = taskByName(args.task);
  const configs = resolvedConfigs(rows, shared, task);
  const common = {
    task,
    seeds,
    steps: args.steps,
    evalEvery: args.evalEvery,
    evalLimit: args.evalLimit,
    config: shared,
    metric: COMPARE_METRICS.accuracy,
  };
  const cipher = creditCipher(args);
  const creditConfig = {
    ...shared,
    ...(args.creditLearningRate === null ? {} : { learningRate: args.creditLearningRate }),
  };
  const variants: Variant[] = [
    ...(args.main
      ? [{
        name: "main" as const,
        ...common,
        sftSteps: args.sftSteps,
        sftBatchSize: args.sftBatchSize,
        sftTarget: args.sftTarget,
      }]
      : []),
    ...(args.hard
      ? [{
        name: "hard" as const,
        ...common,
        sftSteps: args.hardSftSteps,
        sftBatchSize: args.hardSftBatchSize,
        sftTarget: null,
      }]
      : []),
    ...(args.credit
      ? [{
        name: "credit" as const,
        task: createVigenereCipher(cipher),
        cipher,
        sftSteps: args.creditSftSteps,
        sftBatchSize: args.sftBatchSize,
        sftTarget: args.creditSftTarget,
        sftTargetIsReward: true,
        seeds: Array.from({ length: args.creditSeeds }, (_, i) => i),
        steps: args.creditSteps,
        evalEvery: args.creditEvalEvery,
        // --quick: a smoke test, evaluated on the first 25 held-out prompts only.
        evalLimit: args.quick ? 25 : undefined,
        config: creditConfig,
        metric: COMPARE_METRICS.sampledReward,
        sampledEval: { samples: args.creditEvalSamples, seed: 1234 },
      }]
      : []),
  ];
  const total = variants.reduce((s, v) => s + v.seeds.length * args.algorithms.length, 0);
  console.log(
    `trepo compare: ${
      args.algorithms.join(", ")
    } on ${args.task}; ${args.seeds} seed(s), ${args.steps} updates of ${args.promptsPerStep} prompts × ${args.groupSize} responses; variants ${
      variants.map((v) => v.name).join(", ")
    }; ${total} runs; backend ${info.backend}`,
  );

  const sections: Partial<Record<Variant["name"], CompareSection>> = {};
  const warm: Partial<Record<Variant["name"], WarmStart[]>> = {};
  const allRuns: Partial<Record<Variant["name"], CompareRun[]>> = {};
  let done = 0;
  // Ctrl-C: stop the run in progress; the finished ones stay for --resume.
  const interrupted = () => {
    try {
      running?.kill("SIGINT");
    } catch {
      // It has exited already.
    }
    // Results are saved whole (renamed into place), so every result file is a finished run.
    let finished = 0;
    for (const variant of variants) {
      try {
        for (const entry of Deno.readDirSync(`${tmp}/runs/${variant.name}`)) {
          if (entry.name.endsWith(".result.json")) finished++;
        }
      } catch {
        // Not started yet.
      }
    }
    console.error(
      `\nInterrupted: ${finished} finished run(s) are kept in ${tmp}/runs; run the same command with --resume to skip them`,
    );
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", interrupted);
  for (const variant of variants) {
    const runs: CompareRun[] = [];
    warm[variant.name] = [];
    await Deno.mkdir(`${tmp}/runs/${variant.name}`, { recursive: true });
    for (const seed of variant.seeds) {
      const { start, kept: keptStart } = await keptOrNewWarmStart(
        args,
        variant,
        seed,
        `${tmp}/sft`,
      );
      warm[variant.name]!.push(start);
      console.log(
        `[${variant.name} s${seed}] warm start${
          keptStart ? " (kept, --resume)" : ""
        }: ${start.steps} SFT steps of ${variant.sftBatchSize}, loss ${
          fixed(start.finalLoss, 3)
        }, held-out training ${
          start.heldOutReward === undefined
            ? `accuracy ${fixed(start.heldOutAccuracy, 3)}`
            : `greedy reward ${fixed(start.heldOutReward, 3)}`
        } (${start.seconds.toFixed(1)} s)`,
      );
      for (const row of rows) {
        const algorithm = row.label;
        const base = `${tmp}/runs/${variant.name}/${algorithm}-s${seed}`;
        const job: Job = {
          label: row.label,
          algorithm: row.algorithm,
          task: variant.task.name,
          ...(variant.cipher === undefined ? {} : { cipher: variant.cipher }),
          ...(variant.sampledEval === undefined ? {} : { sampledEval: variant.sampledEval }),
          seed,
          steps: variant.steps,
          checkpoint: start.checkpoint,
          config: compareRowConfig(row, variant.config, variant.task.maxResponseTokens),
          evalEvery: variant.evalEvery,
          evalLimit: variant.evalLimit,
          backend: args.backend,
          result: `${base}.result.json`,
        };
        // A kept run needs its kept warm start: a new warm start invalidates the seed's runs.
        const kept = args.resume && keptStart
          ? await loadFinishedRun<RunResult>(job.result, job)
          : undefined;
        const { run, seconds } = kept ?? await spawnRun(job, `${base}.job.json`);
        if (kept !== undefined) {
          console.log(`[${variant.name} s${seed}] ${algorithm}: kept (--resume)`);
        }
        runs.push(run);
        done++;
        const values = run.records.map((r) => r[variant.metric]).filter((a) => a !== undefined);
        const greedy = run.records.map((r) => r[COMPARE_METRICS.greedyReward])
          .filter((a) => a !== undefined);
        const tokens = run.records.reduce((s, r) => s + (r["tokens/generated"] ?? 0), 0);
        const elapsed = (performance.now() - started) / 1000;
        console.log(
          `[${variant.name} s${seed}] ${algorithm.padEnd(9)} ${
            variant.metric === COMPARE_METRICS.accuracy
              ? "acc"
              : `greedy ${fixed(greedy[0], 3)} → ${fixed(greedy.at(-1), 3)}  sampled`
          } ${fixed(values[0], 3)} → ${fixed(values.at(-1), 3)}  ${tokens} tokens  ${
            seconds.toFixed(1)
          } s  ${Math.round(run.peakRssMb)} MiB  (${done}/${total}, ${
            elapsed.toFixed(0)
          } s elapsed, ETA ${((elapsed / done) * (total - done)).toFixed(0)} s)`,
        );
      }
    }
    allRuns[variant.name] = runs;
    sections[variant.name] = compareSection(variant.task.name, runs, {
      gain: args.thresholdGain,
      ...(variant.metric === COMPARE_METRICS.accuracy ? {} : { metric: variant.metric }),
    });
  }

  // ---- summary.json
  const main = sections.main;
  const hard = sections.hard;
  const creditVariant = variants.find((v) => v.name === "credit");
  const credit = sections.credit;
  const creditRuns = allRuns.credit ?? [];
  const creditLabel = credit === undefined ? "" : metricLabel(credit);
  const creditStart = credit === undefined ? undefined : startSignal(creditRuns);
  const equalUpdates = credit === undefined
    ? undefined
    : compareAtEqualUpdates(creditRuns, { metric: credit.metric, label: creditLabel });
  const equalTokens = credit === undefined
    ? undefined
    : compareAtEqualTokens(creditRuns, { metric: credit.metric, label: creditLabel });
  // The greedy reward (per-letter accuracy of the greedy response) as a second reading.
  const greedyLabel = metricLabel({ metric: COMPARE_METRICS.greedyReward });
  const greedyOptions = { metric: COMPARE_METRICS.greedyReward, label: greedyLabel };
  const greedyEqualUpdates = credit === undefined
    ? undefined
    : compareAtEqualUpdates(creditRuns, greedyOptions);
  const greedyEqualTokens = credit === undefined
    ? undefined
    : compareAtEqualTokens(creditRuns, greedyOptions);
  const command = `deno run -A lib/cli/compare.ts ${Deno.args.join(" ")}`.trim();
  const warmInfo = (name: Variant["name"]) => {
    const variant = variants.find((v) => v.name === name)!;
    return {
      sftSteps: variant.sftSteps,
      sftBatchSize: variant.sftBatchSize,
      sftLearningRate: args.sftLearningRate,
      sftTarget: variant.sftTarget,
      ...(variant.sftTargetIsReward === true ? { sftTargetMeaning: "greedy mean reward" } : {}),
      perSeed: warm[name]!.map((
        { seed, finalLoss, seconds, steps, heldOutAccuracy, heldOutReward },
      ) => ({
        seed,
        steps,
        heldOutAccuracy,
        ...(heldOutReward === undefined ? {} : { heldOutReward }),
        finalLoss,
        seconds,
      })),
    };
  };
  const summary = {
    ...(main ?? {}),
    ...(hard === undefined ? {} : { hard: { ...hard, warmStart: warmInfo("hard") } }),
    ...(credit === undefined ? {} : {
      credit: {
        ...credit,
        warmStart: warmInfo("credit"),
        setup: {
          task: {
            name: credit.task,
            ...creditVariant!.cipher,
            maxResponseTokens: creditVariant!.task.maxResponseTokens,
            evalPrompts: creditVariant!.task.evalSet.length,
          },
          metric: credit.metric,
          metricMeaning:
            "mean reward of sampled responses (temperature 1, fixed seed) on the held-out eval prompts: the expected fraction of right letters, J",
          evalSamplesPerPrompt: args.creditEvalSamples,
          evalEvery: creditVariant!.evalEvery,
          seedValues: creditVariant!.seeds,
          learningRate: args.creditLearningRate,
          configs: resolvedConfigs(rows, creditVariant!.config, creditVariant!.task),
        },
        startSignal: creditStart,
        equalUpdates,
        equalTokens,
        greedy: { equalUpdates: greedyEqualUpdates, equalTokens: greedyEqualTokens },
      },
    }),
    ...(main === undefined ? {} : { warmStart: warmInfo("main") }),
    setup: {
      algorithms: args.algorithms,
      rows: rows.map(({ label, algorithm, overrides, description }) => ({
        label,
        algorithm,
        overrides,
        description,
      })),
      promptsPerStep: args.promptsPerStep,
      groupSize: args.groupSize,
      evalEvery: args.evalEvery,
      evalLimit: args.evalLimit ?? null,
      thresholdGain: args.thresholdGain,
      seedValues: seeds,
      backend: info.backend,
      policyUpdate:
        "one RL step: one batch of fresh responses to the step's prompts turned into a policy change (PPO: epochs × minibatches Adam steps inside it)",
      configs,
    },
    command,
    date: new Date().toISOString(),
    seconds: (performance.now() - started) / 1000,
  };
  // Six significant digits are plenty for accuracies, fractions and seconds, and keep the file small.
  const round = (_key: string, value: unknown) =>
    typeof value === "number" && !Number.isInteger(value) && Number.isFinite(value)
      ? Number(value.toPrecision(6))
      : value;
  await Deno.writeTextFile(`${out}/summary.json`, JSON.stringify(summary, round, 2) + "\n");

  // ---- summary.md
  const header = [
    "# Algorithm comparison (arXiv 2506.02553)",
    "",
    `Command: \`${command}\` (${summary.seconds.toFixed(0)} s in all, backend ${info.backend}, ${
      new Date().toISOString().slice(0, 10)
    }).`,
    "",
    main === undefined
      ? `Main variant skipped (--no-main).`
      : `${args.task}, ${main.seeds} seed(s), ${main.steps} policy updates of ${args.promptsPerStep} prompts × ${args.groupSize} responses; warm start ${args.sftSteps} SFT steps of ${args.sftBatchSize}. Same prompts at every update for every algorithm: **${
        main.samePromptsPerStep ? "yes" : "NO"
      }** (prompt digests compared seed by seed).`,
    "",
  ];
  const creditMd = credit === undefined ? [] : [
    "## Credit variant: long responses, a sum of hidden per-token rewards",
    "",
    creditNotes(args, creditVariant!, creditStart!, warm.credit!),
    "",
    `Same prompts at every update: **${
      credit.samePromptsPerStep ? "yes" : "NO"
    }**. In the table, "acc" columns hold the ${creditLabel}.`,
    "",
    table(tableRows(credit)).toMarkdown(),
    "",
    "### At equal policy updates",
    "",
    equalUpdates!.verdict,
    "",
    table(budgetRows(equalUpdates!)).toMarkdown(),
    "",
    "### At equal generated tokens",
    "",
    equalTokens!.verdict,
    "",
    table(budgetRows(equalTokens!)).toMarkdown(),
    "",
    `### The ${greedyLabel}, as a second reading`,
    "",
    greedyEqualUpdates!.verdict,
    "",
    greedyEqualTokens!.verdict,
    "",
  ];
  const md = [
    ...header,
    ...(main === undefined ? [] : [
      "## Main comparison",
      "",
      table(tableRows(main)).toMarkdown(),
      "",
    ]),
    ...(hard === undefined ? [] : [
      "## Hard variant: rare success at the start",
      "",
      hardNotes(args),
      "",
      `Same prompts at every update: **${hard.samePromptsPerStep ? "yes" : "NO"}**.`,
      "",
      table(tableRows(hard)).toMarkdown(),
      "",
    ]),
    ...creditMd,
    "## How to read this",
    "",
    definitions(args),
    "",
    "Figures: `curves.png` (accuracy against updates, generated tokens and training seconds, mean ± std over seeds; the hard variant's accuracy and signal fractions on the second row; the credit variant's expected reward on the last row) and `report.html` (interactive).",
    "",
  ].join("\n");
  await Deno.writeTextFile(`${out}/summary.md`, md);
  const written = ["summary.json", "summary.md"];

  // ---- curves.png and report.html
  const creditTokens = credit === undefined
    ? undefined
    : { section: credit, tokens: equalTokens!.amount };
  const figure = main !== undefined ? compareFigure(main, hard, creditTokens) : gridFigure([
    ...(hard === undefined ? [] : [signalPanels(hard, "hard", true)]),
    ...(credit === undefined ? [] : [
      accuracyPanels(
        credit,
        "credit",
        hard === undefined,
        ` (equal budget ${Math.round(equalTokens!.amount)})`,
      ),
    ]),
  ], {
    title: { text: "From one SFT warm start per seed (mean ± std over seeds; arXiv 2506.02553)" },
    width: 1500,
    height: 80 + 450 * ((hard === undefined ? 0 : 1) + (credit === undefined ? 0 : 1)),
  });
  let image: Uint8Array | undefined;
  try {
    image = await figureToImage(figure);
    await Deno.writeFile(`${out}/curves.png`, image);
    written.push("curves.png");
  } catch (error) {
    console.warn(`curves.png not written: ${(error as Error).message}`);
  }
  const reportSections: ReportSection[] = [
    {
      title: "Algorithm comparison from one SFT warm start (arXiv 2506.02553)",
      text: `${command}\n\n${header.slice(4).join("\n").replaceAll("**", "")}`,
    },
    { title: "Accuracy curves", figure, image },
    ...(main === undefined ? [] : [{ title: "Main comparison", table: tableRows(main) }]),
    ...(hard === undefined ? [] : [
      { title: "Hard variant: rare success at the start", text: hardNotes(args) },
      {
        title: "Hard variant: accuracy and reward signal",
        figure: gridFigure([signalPanels(hard, "hard", true)], { width: 1500, height: 480 }),
      },
      { title: "Hard variant", table: tableRows(hard) },
    ]),
    ...(credit === undefined ? [] : [
      {
        title: "Credit variant: long responses, a sum of hidden per-token rewards",
        text: creditNotes(args, creditVariant!, creditStart!, warm.credit!),
      },
      {
        title: "Credit variant: expected reward (mean ± std over seeds)",
        figure: gridFigure([
          accuracyPanels(
            credit,
            "credit",
            true,
            ` (equal budget ${Math.round(equalTokens!.amount)})`,
          ),
        ], { width: 1500, height: 480 }),
      },
      { title: "Credit variant", table: tableRows(credit) },
      { title: "Credit variant at equal policy updates", text: equalUpdates!.verdict },
      { title: "Credit variant at equal updates", table: budgetRows(equalUpdates!) },
      { title: "Credit variant at equal generated tokens", text: equalTokens!.verdict },
      { title: "Credit variant at equal tokens", table: budgetRows(equalTokens!) },
      {
        title: `Credit variant: the ${greedyLabel}, as a second reading`,
        text: `${greedyEqualUpdates!.verdict}\n\n${greedyEqualTokens!.verdict}`,
      },
    ]),
    { title: "How to read this", text: definitions(args) },
  ];
  await writeHtmlReport(`${out}/report.html`, reportSections);
  written.push("report.html");
  if (main !== undefined) console.log(`\n${table(tableRows(main)).toText()}`);
  if (hard !== undefined) console.log(`\nhard variant:\n${table(tableRows(hard)).toText()}`);
  if (credit !== undefined) {
    console.log(`\ncredit variant:\n${table(tableRows(credit)).toText()}`);
    console.log(`\n${equalUpdates!.verdict}\n\n${equalTokens!.verdict}`);
    console.log(`\n${greedyEqualUpdates!.verdict}\n\n${greedyEqualTokens!.verdict}`);
  }
  console.log(`\nwrote ${written.map((f) => `${args.out}/${f}`).join(", ")}`);
  Deno.removeSignalListener("SIGINT", interrupted);
}

if (import.meta.main) await runCommand(main);
