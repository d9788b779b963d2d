/**
 * `deno run -A lib/cli/train.ts --algorithm grpo --task addition --steps 200`: train a policy with
 * one RL algorithm on one task, from a supervised warm start (or a checkpoint), writing
 * `run.json`, `metrics.jsonl` and `checkpoint/` under `--out`.
 *
 * `--help` lists every option with its default.
 *
 * @module
 */
import { type BackendName, BACKENDS, initBackend } from "../backend.ts";
import { createPolicy, type Policy } from "../policy/transformer.ts";
import { loadCheckpoint, saveCheckpoint } from "../policy/checkpoint.ts";
import { defaultPolicyConfig } from "../tasks/default_policy_config.ts";
import { TASK_NAMES, taskByName } from "../tasks/task_by_name.ts";
import { supervisedFineTune } from "../algorithms/supervised_fine_tune.ts";
import {
  ALGORITHM_NAMES,
  algorithmByName,
  checkResponseBudget,
  readRunState,
  responseBudget,
  type RunState,
  type StepRecord,
  train,
} from "../algorithms/train.ts";
import { claimRunFolder, type RunFolder } from "../algorithms/run_folder.ts";
import { commitsSettled } from "../io/atomic_directory.ts";
import {
  type Algorithm,
  type FieldSpec,
  resolveConfig,
  type RlConfig,
} from "../algorithms/step.ts";
// ---- Hub (lib/hub, helper "hub"): --from-hub pulls a checkpoint, --push-to-hub uploads the result.
import { type HubFileRef, parseHubFileRef, parseHubRef } from "../hub/hub_ref.ts";
import { pullCheckpoint } from "../hub/pull_checkpoint.ts";
import { pushCheckpoint } from "../hub/push_checkpoint.ts";
import { runCommand } from "./flags.ts";
import { loadPretrained } from "../hub/load_pretrained.ts";
import { loadPrompts, parsePrompts } from "../hub/load_prompts.ts";
import { textTask } from "../hub/prompt_task.ts";
import { formatReward } from "../score/math_reward.ts";
import type { Example, Task } from "../tasks/task.ts";
import { remoteSampler } from "../sample/remote_sampler.ts";
import { adaptableProjections, loraPolicy, projectionNames } from "../models/lora.ts";
// ---- Memory plan: refuse a run that cannot fit before its weights are loaded or made.
import { checkLoraRank, matchTargetModules } from "../models/lora.ts";
import { modelFamily } from "../models/pretrained.ts";
import { builtInModelShape, hfModelShape } from "../models/model_shape.ts";
import { loraParameters, type ModelShape } from "../policy/memory_plan.ts";
import { type PolicyConfig, policyWeightSpecs } from "../policy/transformer.ts";
import { planShape } from "../algorithms/run_memory.ts";
import { loadAdapter } from "../models/peft_adapter.ts";

/** The command's options (besides the algorithm's config keys). */
interface Options {
  algorithm: string;
  task: string;
  model: string | undefined;
  data: string | undefined;
  steps: number;
  seed: number;
  out: string | undefined;
  resume: boolean;
  overwrite: boolean;
  measureAfterUpdate: boolean;
  samplerUrl: string | undefined;
  samplerModel: string | undefined;
  samplerTimeout: number;
  importanceSamplingCap: number | undefined;
  loraRank: number | undefined;
  adapter: string | undefined;
  loraAlpha: number | undefined;
  loraTargets: string[] | undefined;
  adapterDir: string | undefined;
  serverAdapterDir: string | undefined;
  fromCheckpoint: string | undefined;
  fromHub: string | undefined;
  pushToHub: string | undefined;
  backend: BackendName | undefined;
  evalEvery: number;
  evalLimit: number | undefined;
  checkpointEvery: number;
  sftSteps: number | undefined;
  sftBatchSize: number | undefined;
  sftLearningRate: number | undefined;
  sftTarget: number | null | undefined;
  dModel: number | undefined;
  layers: number | undefined;
  quiet: boolean;
  help: boolean;
  config: Record<string, unknown>;
  /** The flags given on the command line (without the dashes), so that defaults can be told apart. */
  given: ReadonlySet<string>;
}

const FLAGS: readonly [string, string, string][] = [
  ["--algorithm NAME", "grpo", `one of ${ALGORITHM_NAMES.join(", ")}`],
  ["--task NAME", "addition", `one of ${TASK_NAMES.join(", ")}`],
  [
    "--model DIR",
    "none",
    "a pretrained model folder in the Hugging Face layout, or a Hub repo org/name[@rev] (gpt2, llama, qwen2, qwen3); needs --data",
  ],
  [
    "--data FILE",
    "none",
    "{question, answer} rows (.jsonl, .json, .parquet; GSM8K format) for --model: a local file or a Hub dataset file org/dataset[@rev]:path",
  ],
  ["--steps N", "200", "total RL steps (a resumed run continues up to N)"],
  ["--seed N", "0", "seed of the warm start, the sampling and the prompts"],
  [
    "--out DIR",
    "results/<algorithm>-<task>-s<seed>",
    "where run.json, metrics.jsonl, checkpoint/ go",
  ],
  [
    "--resume",
    "off",
    "continue the run in --out from its checkpoint (bit-identical); its algorithm, task, seed and steps unless given (they must agree; --steps may only extend it)",
  ],
  [
    "--overwrite",
    "off",
    "start afresh in an --out that holds a run: the earlier run is moved to DIR.old-<time> (nothing is deleted)",
  ],
  [
    "--measure-after-update",
    "off",
    "log clip_ratio/after_update and policy/approx_kl_after_update (one extra forward pass)",
  ],
  [
    "--sampler-url URL",
    "none",
    "sample responses and TRePO continuations on an OpenAI-compatible server (vLLM, SGLang) serving --model; API key from $TREPO_SAMPLER_API_KEY",
  ],
  ["--sampler-model NAME", "--model", "the model name the server serves"],
  [
    "--sampler-timeout S",
    "60",
    "seconds one sampler request may wait for an answer (each retry too; 5 × S in all)",
  ],
  [
    "--importance-sampling-cap C",
    "off",
    "truncated importance sampling against the server's log-probs, weights capped at C (TRL: 3)",
  ],
  [
    "--lora-rank R",
    "off",
    "train a LoRA adapter of rank R on --model instead of every weight (needed with --sampler-url)",
  ],
  ["--lora-alpha A", "2 × rank", "LoRA scaling numerator (scale A / R)"],
  [
    "--adapter DIR",
    "none",
    "start from this LoRA adapter of --model (PEFT's layout; its rank, alpha and targets) and train it",
  ],
  [
    "--lora-targets a,b",
    "every linear projection",
    "modules to adapt, e.g. q_proj,v_proj (llama, qwen) or c_attn (gpt2)",
  ],
  [
    "--adapter-dir DIR",
    "OUT/adapters",
    "where each step's adapter is written for the server (it must read this folder)",
  ],
  ["--server-adapter-dir DIR", "--adapter-dir", "the same folder as the server sees it"],
  ["--from-checkpoint DIR", "none", "start from this checkpoint instead of a warm start"],
  ["--from-hub ORG/NAME[@REV]", "none", "start from a checkpoint on the Hugging Face Hub"],
  ["--push-to-hub ORG/NAME", "none", "upload the final checkpoint (needs HF_TOKEN)"],
  [
    "--backend NAME",
    "$TREPO_BACKEND, else wasm",
    `one of ${
      BACKENDS.join(", ")
    } (webgpu on a software adapter also needs TREPO_ALLOW_SOFTWARE_ADAPTER=1)`,
  ],
  ["--eval-every N", "20", "greedy eval accuracy every N steps (0: never)"],
  ["--eval-limit N", "all", "eval on at most N examples"],
  ["--checkpoint-every N", "50", "checkpoint every N steps (and after the last)"],
  [
    "--sft-steps N",
    "2000",
    "most supervised warm-start steps (0: no warm start; used when not starting from a checkpoint)",
  ],
  [
    "--sft-target X",
    "0.65",
    "stop the warm start at this greedy accuracy on held-out training pairs (none: run all steps)",
  ],
  ["--sft-batch-size N", "32", "supervised warm-start batch size"],
  ["--sft-learning-rate X", "0.002", "supervised warm-start learning rate (constant)"],
  ["--d-model N", "task default", "policy width (fresh policies only)"],
  ["--layers N", "task default", "policy depth (fresh policies only)"],
  ["--quiet", "off", "no progress output"],
  ["--help", "", "this text"],
];

function usage(): string {
  const lines = [
    "Usage: deno run -A lib/cli/train.ts [options] [--<config-key> VALUE ...]",
    "",
    "Train a policy with an RL algorithm: a small policy on a built-in task (--task), or a pretrained",
    "model on your {question, answer} rows (--model, --data). A folder (--out) holds one run: it is",
    "locked while the run goes, and a folder that holds a run is refused unless --resume or --overwrite.",
    "",
    "Options:",
    ...FLAGS.map(([flag, def, what]) =>
      `  ${flag.padEnd(28)} ${what}${def === "" ? "" : ` (default: ${def})`}`
    ),
    "",
    "Algorithm config (defaults of the chosen --algorithm; kebab- or camelCase):",
  ];
  let name = "grpo";
  const i = Deno.args.indexOf("--algorithm");
  if (i >= 0 && Deno.args[i + 1] !== undefined) name = Deno.args[i + 1];
  try {
    const algorithm = algorithmByName(name);
    lines[lines.length - 1] =
      `Algorithm config (defaults of ${algorithm.name}; kebab- or camelCase):`;
    for (const [key, value] of Object.entries(algorithm.defaultConfig)) {
      const spec = (algorithm.configSpec as Record<string, FieldSpec>)[key];
      const choices = spec.kind === "choice" ? ` (${spec.choices?.join(" | ")})` : "";
      lines.push(`  --${kebab(key).padEnd(26)} ${JSON.stringify(value)}${choices}`);
    }
  } catch {
    lines.push(`  (unknown --algorithm ${name})`);
  }
  return lines.join("\n");
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function camel(key: string): string {
  return key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Parse the command line.
 *
 * @param args `Deno.args`.
 * @returns The options.
 * @throws {RangeError} For an unknown flag or a missing or malformed value.
 */
export function parseTrainArgs(args: readonly string[]): Options {
  const o: Options = {
    algorithm: "grpo",
    task: "addition",
    model: undefined,
    data: undefined,
    steps: 200,
    seed: 0,
    out: undefined,
    resume: false,
    overwrite: false,
    measureAfterUpdate: false,
    samplerUrl: undefined,
    samplerModel: undefined,
    samplerTimeout: 60,
    importanceSamplingCap: undefined,
    loraRank: undefined,
    adapter: undefined,
    loraAlpha: undefined,
    loraTargets: undefined,
    adapterDir: undefined,
    serverAdapterDir: undefined,
    fromCheckpoint: undefined,
    fromHub: undefined,
    pushToHub: undefined,
    backend: undefined,
    evalEvery: 20,
    evalLimit: undefined,
    checkpointEvery: 50,
    sftSteps: undefined,
    sftBatchSize: undefined,
    sftLearningRate: undefined,
    sftTarget: undefined,
    dModel: undefined,
    layers: undefined,
    quiet: false,
    help: false,
    config: {},
    given: new Set(),
  };
  const given = o.given as Set<string>;
  const context = "Cannot parse the command line";
  const raw: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) throw new RangeError(`${context}: unexpected argument "${arg}"`);
    let [flag, value] = arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    flag = flag.slice(2);
    given.add(flag);
    if (["resume", "overwrite", "quiet", "help"].includes(flag)) {
      (o as unknown as Record<string, boolean>)[flag] = true;
      continue;
    }
    if (flag === "measure-after-update") {
      o.measureAfterUpdate = true;
      continue;
    }
    if (value === undefined) {
      value = args[++i];
      if (value === undefined || value.startsWith("--")) {
        throw new RangeError(`${context}: --${flag} needs a value`);
      }
    }
    raw[flag] = value;
  }
  const integer = (flag: string, min: number): number => {
    const n = Number(raw[flag]);
    if (!Number.isInteger(n) || n < min) {
      throw new RangeError(`${context}: --${flag} must be an integer ≥ ${min}, got "${raw[flag]}"`);
    }
    return n;
  };
  const number = (flag: string): number => {
    const n = Number(raw[flag]);
    if (raw[flag].trim() === "" || !Number.isFinite(n)) {
      throw new RangeError(`${context}: --${flag} must be a number, got "${raw[flag]}"`);
    }
    return n;
  };
  for (const flag of Object.keys(raw)) {
    switch (flag) {
      case "algorithm":
        o.algorithm = raw[flag];
        break;
      case "task":
        o.task = raw[flag];
        break;
      case "model":
        o.model = raw[flag];
        break;
      case "data":
        o.data = raw[flag];
        break;
      case "steps":
        o.steps = integer(flag, 1);
        break;
      case "seed":
        o.seed = integer(flag, 0);
        break;
      case "out":
        o.out = raw[flag];
        break;
      case "sampler-url":
        o.samplerUrl = raw[flag];
        break;
      case "sampler-model":
        o.samplerModel = raw[flag];
        break;
      case "sampler-timeout":
        o.samplerTimeout = number(flag);
        if (o.samplerTimeout <= 0) {
          throw new RangeError(`${context}: --sampler-timeout must be > 0, got "${raw[flag]}"`);
        }
        break;
      case "importance-sampling-cap":
        o.importanceSamplingCap = number(flag);
        break;
      case "lora-rank":
        o.loraRank = integer(flag, 1);
        break;
      case "adapter":
        o.adapter = raw[flag];
        break;
      case "lora-alpha":
        o.loraAlpha = number(flag);
        break;
      case "lora-targets":
        o.loraTargets = raw[flag].split(",").map((t) => t.trim()).filter((t) => t !== "");
        break;
      case "adapter-dir":
        o.adapterDir = raw[flag];
        break;
      case "server-adapter-dir":
        o.serverAdapterDir = raw[flag];
        break;
      case "from-checkpoint":
        o.fromCheckpoint = raw[flag];
        break;
      case "from-hub":
        o.fromHub = raw[flag];
        break;
      case "push-to-hub":
        o.pushToHub = raw[flag];
        break;
      case "backend":
        o.backend = raw[flag] as BackendName;
        break;
      case "eval-every":
        o.evalEvery = integer(flag, 0);
        break;
      case "eval-limit":
        o.evalLimit = integer(flag, 1);
        break;
      case "checkpoint-every":
        o.checkpointEvery = integer(flag, 0);
        break;
      case "sft-steps":
        o.sftSteps = integer(flag, 0);
        break;
      case "sft-batch-size":
        o.sftBatchSize = integer(flag, 1);
        break;
      case "sft-learning-rate":
        o.sftLearningRate = number(flag);
        break;
      case "sft-target":
        o.sftTarget = raw[flag] === "none" ? null : number(flag);
        break;
      case "d-model":
        o.dModel = integer(flag, 1);
        break;
      case "layers":
        o.layers = integer(flag, 1);
        break;
      default: {
        // An algorithm config key: a number, or a string for choice keys.
        const value = raw[flag];
        const n = Number(value);
        o.config[camel(flag)] = value.trim() !== "" && Number.isFinite(n) ? n : value;
      }
    }
  }
  return o;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/** A progress reporter: a bar on a terminal, a line every few steps otherwise. */
function progress(steps: number, quiet: boolean): (record: StepRecord) => void {
  const started = performance.now();
  const tty = Deno.stdout.isTerminal();
  const every = Math.max(1, Math.round(steps / 20));
  let accuracy = NaN;
  let firstStep: number | undefined;
  const encoder = new TextEncoder();
  return (record) => {
    if (quiet) return;
    if (record["eval/accuracy"] !== undefined) accuracy = record["eval/accuracy"];
    if (record.step === 0) {
      console.log(`step 0: eval accuracy ${accuracy.toFixed(3)}`);
      return;
    }
    firstStep ??= record.step - 1;
    const done = record.step - firstStep;
    const elapsed = (performance.now() - started) / 1000;
    const eta = (elapsed / done) * (steps - record.step);
    const reward = record["reward/mean"] ?? NaN;
    const acc = Number.isNaN(accuracy) ? "  -  " : accuracy.toFixed(3);
    const text = `step ${record.step}/${steps}  reward ${reward.toFixed(3)}  acc ${acc}  ` +
      `${record["time/step_s"].toFixed(2)} s/step  ETA ${formatDuration(eta)}`;
    if (tty) {
      const width = 24;
      const filled = Math.round((record.step / steps) * width);
      const bar = "█".repeat(filled) + "░".repeat(width - filled);
      Deno.stdout.writeSync(encoder.encode(`\r\x1b[2K${bar} ${text}`));
      if (record.step === steps) Deno.stdout.writeSync(encoder.encode("\n"));
    } else if (record.step % every === 0 || record.step === steps) {
      console.log(text);
    }
  };
}

/**
 * The `{question, answer}` rows of `--data`: a local file, or else (when the argument has a `:`) a
 * file of a Hub dataset repo, `org/dataset[@revision]:path/in/repo`, downloaded by `loadPrompts`
 * from `$HF_ENDPOINT` (default huggingface.co) with `$HF_TOKEN`.
 */
async function loadData(data: string): Promise<Example[]> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(data);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound) || !data.includes(":")) {
      throw new Error(`Cannot read --data ${data}: ${(error as Error).message}`);
    }
    let ref: HubFileRef;
    try {
      ref = parseHubFileRef(data);
    } catch (error) {
      throw new TypeError(
        `Cannot read --data ${data}: no such file, and not a Hub dataset file (${
          (error as Error).message.replace(/^Cannot parse Hub file reference: /, "")
        })`,
      );
    }
    return await loadPrompts(ref.repo, { path: ref.path, revision: ref.revision });
  }
  return await parsePrompts(bytes, data);
}

/** The task name of a `--data` file: its base name without the extension. */
function dataName(data: string): string {
  return data.split(/[/:]/).pop()!.replace(/\.[^.]*$/, "");
}

/**
 * A pretrained model (`--model`) and the text task over its data file (`--data`): the response
 * budget fits the model's positions after the longest prompt (`maxLength − longest`, at most 256
 * tokens); a `--max-tokens` that does not fit is refused with the numbers.
 */
async function loadTextRun(
  model: string,
  data: string,
  maxTokens: number | undefined,
): Promise<{ policy: Policy; task: Task }> {
  const examples = await loadData(data);
  const { policy, tokenizer } = await loadPretrained(model);
  try {
    const name = dataName(data);
    const probe = textTask(examples, { tokenizer, vocabSize: policy.config.vocabSize, name });
    const longest = Math.max(
      ...[...examples.map((e) => e.prompt)].map((q) =>
        tokenizer.encode(
          tokenizer.applyChatTemplate([{ role: "user", content: q }], {
            addGenerationPrompt: true,
          }),
        ).length
      ),
    );
    // A prompt of p tokens leaves maxLength − p positions for the response (EOS included).
    const room = policy.config.maxLength - longest;
    if (room < 2) {
      throw new RangeError(
        `Cannot train on ${data}: the longest prompt has ${longest} tokens, which leaves no room for a response within the model's ${policy.config.maxLength} positions`,
      );
    }
    if (maxTokens !== undefined && maxTokens > room) {
      throw new RangeError(
        `Cannot train on ${data}: the longest prompt has ${longest} tokens and --max-tokens is ${maxTokens}, more than the model's ${policy.config.maxLength} positions (${longest} + ${maxTokens} = ${
          longest + maxTokens
        } > ${policy.config.maxLength}); give --max-tokens at most ${room}`,
      );
    }
    const task = room >= 256 ? probe : textTask(examples, {
      tokenizer,
      vocabSize: policy.config.vocabSize,
      name,
      maxResponseTokens: room,
    });
    return { policy, task };
  } catch (error) {
    policy.dispose();
    throw error;
  }
}

/** What a folder given to `--model`, `--adapter` or `--from-checkpoint` holds. */
type FolderKind =
  | { kind: "missing" | "file" | "other" }
  | { kind: "trepo" }
  | { kind: "hf"; modelType: string }
  | { kind: "adapter" };

async function folderKind(path: string): Promise<FolderKind> {
  try {
    if (!(await Deno.stat(path)).isDirectory) return { kind: "file" };
  } catch {
    return { kind: "missing" };
  }
  try {
    await Deno.stat(`${path}/adapter_config.json`);
    return { kind: "adapter" };
  } catch {
    // Not an adapter.
  }
  try {
    const config = JSON.parse(await Deno.readTextFile(`${path}/config.json`));
    if (config?.format === "trepo-checkpoint") return { kind: "trepo" };
    if (typeof config?.model_type === "string") return { kind: "hf", modelType: config.model_type };
  } catch {
    // No readable config.json.
  }
  return { kind: "other" };
}

/**
 * Whether `--model` names a local path rather than a Hub repo `org/name[@rev]`: it starts with
 * `./`, `../`, `/` or `~`, has more than one `/`, ends with `/`, uses `\`, or its first part
 * exists here.
 */
async function looksLocal(model: string): Promise<boolean> {
  if (/^(\.{1,2}([/\\]|$)|[/\\~]|[A-Za-z]:[/\\])/.test(model)) return true;
  if (model.includes("\\") || model.endsWith("/") || model.split("/").length > 2) return true;
  try {
    await Deno.stat(model.split("/")[0]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Check `--model` (a Hugging Face folder or a Hub repo; a local-looking path never goes to the
 * Hub) and `--from-checkpoint` (a trepo checkpoint) before anything is loaded; a folder of the
 * other kind names the flag to use instead.
 */
async function checkSources(o: Options): Promise<void> {
  if (o.model !== undefined) {
    const found = await folderKind(o.model);
    const context = `Cannot load --model ${o.model}`;
    if (found.kind === "trepo") {
      throw new TypeError(
        `${context}: it is a trepo checkpoint (the built-in policy), not a Hugging Face model; start from it with --from-checkpoint ${o.model} (and its --task)`,
      );
    }
    if (found.kind === "adapter") {
      throw new TypeError(
        `${context}: it is a LoRA adapter, not a model; give its base model with --model and the adapter with --adapter ${o.model}`,
      );
    }
    if (found.kind === "file") {
      throw new TypeError(`${context}: it is a file; give the model's folder (with config.json)`);
    }
    if (found.kind === "missing" && await looksLocal(o.model)) {
      throw new TypeError(
        `${context}: no such folder (it looks like a local path, so the Hub was not asked${await nearby(
          o.model,
        )})`,
      );
    }
  }
  if (o.fromCheckpoint !== undefined) {
    const found = await folderKind(o.fromCheckpoint);
    const context = `Cannot start from --from-checkpoint ${o.fromCheckpoint}`;
    if (found.kind === "hf") {
      throw new TypeError(
        `${context}: it is a Hugging Face model (model_type ${found.modelType}), not a trepo checkpoint; train it with --model ${o.fromCheckpoint} --data FILE`,
      );
    }
    if (found.kind === "adapter") {
      throw new TypeError(
        `${context}: it is a LoRA adapter, not a trepo checkpoint; train it with --model BASE --adapter ${o.fromCheckpoint} --data FILE`,
      );
    }
    if (found.kind === "missing") {
      throw new TypeError(`${context}: no such folder${await nearby(o.fromCheckpoint)}`);
    }
    if (found.kind === "file") {
      throw new TypeError(`${context}: it is a file; give the checkpoint's folder`);
    }
  }
}

/** A hint for a missing path: what its deepest existing parent holds. */
async function nearby(path: string): Promise<string> {
  const parts = path.replace(/\/+$/, "").split("/");
  for (let n = parts.length - 1; n >= 1; n--) {
    const parent = parts.slice(0, n).join("/") || "/";
    try {
      const names: string[] = [];
      for await (const entry of Deno.readDir(parent)) if (entry.isDirectory) names.push(entry.name);
      if (names.length === 0) return `; ${parent} exists but holds no folders`;
      names.sort();
      return `; ${parent} holds ${names.slice(0, 8).join(", ")}${names.length > 8 ? ", …" : ""}`;
    } catch {
      // Go up.
    }
  }
  return "";
}

/** Run the command. */
export async function main(args: readonly string[]): Promise<void> {
  const o = parseTrainArgs(args);
  if (o.help) {
    console.log(usage());
    return;
  }
  let algorithm = algorithmByName(o.algorithm);
  if ((o.model === undefined) !== (o.data === undefined)) {
    throw new RangeError(
      "Cannot parse the command line: --model and --data go together (a pretrained model and its {question, answer} rows)",
    );
  }
  if (o.samplerUrl === undefined) {
    if (o.samplerModel !== undefined || o.importanceSamplingCap !== undefined) {
      throw new RangeError(
        "Cannot parse the command line: --sampler-model and --importance-sampling-cap need --sampler-url",
      );
    }
  } else if (o.model === undefined) {
    throw new RangeError(
      "Cannot parse the command line: --sampler-url needs --model (the server serves that pretrained model)",
    );
  }
  if (o.loraRank === undefined && (o.loraAlpha ?? o.loraTargets) !== undefined) {
    throw new RangeError(
      "Cannot parse the command line: --lora-alpha and --lora-targets need --lora-rank",
    );
  }
  const lora = o.loraRank !== undefined || o.adapter !== undefined;
  if (!lora && (o.adapterDir ?? o.serverAdapterDir) !== undefined) {
    throw new RangeError(
      "Cannot parse the command line: --adapter-dir and --server-adapter-dir need --lora-rank or --adapter",
    );
  }
  if (o.loraRank !== undefined && o.adapter !== undefined) {
    throw new RangeError(
      "Cannot parse the command line: give --lora-rank (a new adapter) or --adapter (a saved one), not both",
    );
  }
  if (lora && o.model === undefined) {
    throw new RangeError(
      "Cannot parse the command line: --lora-rank and --adapter need --model (LoRA adapts a pretrained model)",
    );
  }
  if (o.model !== undefined && (o.fromCheckpoint !== undefined || o.fromHub !== undefined)) {
    throw new RangeError(
      "Cannot parse the command line: --model cannot be combined with --from-checkpoint or --from-hub",
    );
  }
  if (o.model !== undefined && o.given.has("task")) {
    throw new RangeError(
      "Cannot parse the command line: --task picks a built-in task for a fresh policy; with --model the task is --data's rows, so leave --task out",
    );
  }
  const sources = [o.resume, o.fromCheckpoint !== undefined, o.fromHub !== undefined].filter(
    Boolean,
  ).length;
  if (sources > 1) {
    throw new RangeError(
      "Cannot parse the command line: give at most one of --resume, --from-checkpoint, --from-hub",
    );
  }
  if (o.resume && o.overwrite) {
    throw new RangeError(
      "Cannot parse the command line: --resume continues the run in --out and --overwrite moves it aside; give one of them",
    );
  }
  await checkSources(o);
  const out = o.out ??
    `results/${algorithm.name}-${o.model === undefined ? o.task : dataName(o.data!)}-s${o.seed}`;
  // A resumed run keeps its own algorithm, task, seed, steps and schedule unless they are given
  // (train refuses given ones that differ from the checkpoint's).
  const saved = o.resume ? await readRunState(out) : undefined;
  if (saved?.baseFingerprint !== undefined && o.model === undefined) {
    throw new TypeError(
      `Cannot resume training: the run in ${out} fine-tunes a pretrained model; give the flags it started with again (--model, --data, and --lora-rank or --adapter for a LoRA run) with --resume`,
    );
  }
  const keep = (flag: string) => saved !== undefined && !o.given.has(flag);
  if (keep("algorithm")) algorithm = algorithmByName(saved!.algorithm);
  // The seed a resumed run uses is its own (train refuses a --seed that differs).
  const seed = saved === undefined ? o.seed : saved.seed;
  const steps = keep("steps") ? saved!.steps ?? o.steps : o.steps;
  const checkpointEvery = keep("checkpoint-every")
    ? saved!.checkpointEvery ?? 0
    : o.checkpointEvery;
  for (const key of Object.keys(o.config)) {
    if (!Object.hasOwn(algorithm.defaultConfig, key)) {
      throw new RangeError(
        `Cannot parse the command line: unknown option --${
          kebab(key)
        } (see --help for the options of ${algorithm.name})`,
      );
    }
  }
  // Fail on a bad value before any work.
  const config = o.resume ? undefined : resolveConfig(algorithm, o.config);
  const backend = await initBackend(o.backend === undefined ? {} : { backend: o.backend });
  const maxTokens = typeof o.config.maxTokens === "number" && o.config.maxTokens > 0
    ? o.config.maxTokens
    : undefined;
  const folder = await claimRunFolder(out, { resume: o.resume, overwrite: o.overwrite });
  const interrupt = { lastCheckpoint: saved?.step, warmStart: false };
  const onInterrupt = async () => {
    // Never exit between a checkpoint commit's renames; the message names what is on disk.
    await commitsSettled();
    interrupt.lastCheckpoint = await readRunState(out).then(
      (state) => state.step,
      () => interrupt.lastCheckpoint, // the Hugging Face and PEFT layouts record no step
    );
    folder.release();
    console.error(interruptedMessage(o, out, interrupt));
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    await trainInFolder(o, {
      algorithm,
      out,
      folder,
      saved,
      seed,
      steps,
      checkpointEvery,
      backend: backend.backend,
      config,
      maxTokens,
      interrupt,
    });
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
    folder.release();
  }
}

/** What `main` settled before the run: the folder is claimed, the resumed run's state read. */
interface Prepared {
  algorithm: Algorithm;
  out: string;
  folder: RunFolder;
  saved: RunState | undefined;
  seed: number;
  steps: number;
  checkpointEvery: number;
  backend: string;
  /** The checked config of a fresh run (a resumed one takes its checkpoint's). */
  config: RlConfig | undefined;
  maxTokens: number | undefined;
  /** Updated as the run goes, for the message on SIGINT. */
  interrupt: { lastCheckpoint: number | undefined; warmStart: boolean };
}

/** Load or build the policy, warm-start it, and train it in the claimed folder. */
async function trainInFolder(o: Options, prepared: Prepared): Promise<void> {
  const { algorithm, out, saved, seed, steps, interrupt } = prepared;
  if (o.model !== undefined) await planModelFolder(o, prepared, algorithm);
  const pretrained = o.model === undefined
    ? undefined
    : await loadTextRun(o.model, o.data!, prepared.maxTokens);
  const task = pretrained?.task ??
    taskByName(saved !== undefined && !o.given.has("task") ? saved.task : o.task);
  const log = (line: string) => {
    if (!o.quiet) console.log(line);
  };
  if (prepared.folder.movedAside !== undefined) {
    log(`Moved the earlier run in ${out} to ${prepared.folder.movedAside} (--overwrite)`);
  }
  log(
    `trepo train: ${algorithm.name} on ${task.name}, ${
      saved === undefined ? "" : `resuming from step ${saved.step} of `
    }${steps} steps, seed ${seed}, backend ${prepared.backend}`,
  );

  let policy: Policy | undefined = pretrained?.policy;
  if (pretrained !== undefined && o.loraRank !== undefined) {
    policy = loraPolicy(pretrained.policy, {
      rank: o.loraRank,
      alpha: o.loraAlpha ?? 2 * o.loraRank,
      targetModules: o.loraTargets ??
        projectionNames(adaptableProjections(pretrained.policy, "Cannot set up LoRA").keys()),
      seed: o.seed,
      baseModel: o.model, // saved as the adapter's base_model_name_or_path
    });
    log(`LoRA: rank ${o.loraRank}, ${policy.parameterCount} trainable parameters`);
  } else if (pretrained !== undefined && o.adapter !== undefined) {
    policy = await loadAdapter(pretrained.policy, o.adapter, { baseModel: o.model });
    log(`LoRA: adapter ${o.adapter}, ${policy.parameterCount} trainable parameters`);
  }
  if (!o.resume && pretrained === undefined) {
    let from = o.fromCheckpoint;
    // ---- Hub: --from-hub org/name[@revision] (lib/hub).
    if (o.fromHub !== undefined) {
      const ref = parseHubRef(o.fromHub);
      log(`Pulling ${ref.repo}@${ref.revision} from the Hub…`);
      from = await pullCheckpoint(ref.repo, { revision: ref.revision });
    }
    if (from !== undefined) {
      const loaded = await loadCheckpoint(from);
      policy = loaded.policy;
      loaded.valueModel?.dispose();
      Object.values(loaded.optimizers ?? {}).forEach((opt) => opt.dispose());
      for (const weights of Object.values(loaded.optimizerWeights ?? {})) {
        for (const w of weights) w.tensor.dispose();
      }
      log(`Starting from the checkpoint ${from}`);
      if (prepared.config !== undefined) {
        checkResponseBudget(task, policy.config.maxLength, responseBudget(prepared.config, task));
      }
    } else {
      const overrides = {
        seed: o.seed,
        ...(o.dModel === undefined ? {} : { dModel: o.dModel }),
        ...(o.layers === undefined ? {} : { layers: o.layers }),
      };
      const policyConfig = defaultPolicyConfig(task, overrides);
      if (prepared.config !== undefined) planFreshPolicy(policyConfig, prepared, algorithm, task);
      policy = createPolicy(policyConfig);
      if (prepared.config !== undefined) {
        // Before the warm start: the prompts and the response budget fit the policy.
        checkResponseBudget(task, policy.config.maxLength, responseBudget(prepared.config, task));
      }
      if (o.sftSteps !== 0) {
        log("Supervised warm start…");
        interrupt.warmStart = true;
        const sft = await supervisedFineTune(policy, task, {
          steps: o.sftSteps,
          batchSize: o.sftBatchSize,
          learningRate: o.sftLearningRate,
          stopAtAccuracy: o.sftTarget,
          seed: o.seed,
        });
        const accuracy = sft.heldOutAccuracy === null
          ? ""
          : `, held-out training accuracy ${sft.heldOutAccuracy}`;
        log(
          `  ${sft.steps} steps, final loss ${sft.losses.at(-1)?.toFixed(4)}${accuracy} (${
            formatDuration(sft.seconds)
          })`,
        );
        await saveCheckpoint(`${out}/sft`, { policy, tokenizer: task.tokenizer });
        interrupt.warmStart = false;
      }
    }
  }
  const result = await train({
    algorithm,
    config: o.config,
    task,
    policy,
    // A resumed run takes its own steps, seed and schedule for the flags not given.
    ...(saved !== undefined && !o.given.has("steps") ? {} : { steps: o.steps }),
    ...(saved !== undefined && !o.given.has("seed") ? {} : { seed: o.seed }),
    ...(saved !== undefined && !o.given.has("eval-every") ? {} : { evalEvery: o.evalEvery }),
    ...(saved !== undefined && !o.given.has("eval-limit") ? {} : { evalLimit: o.evalLimit }),
    ...(saved !== undefined && !o.given.has("checkpoint-every")
      ? {}
      : { checkpointEvery: o.checkpointEvery }),
    outDir: prepared.folder,
    resume: o.resume,
    measureAfterUpdate: o.measureAfterUpdate,
    ...(o.samplerUrl === undefined ? {} : {
      sampler: remoteSampler({
        baseUrl: o.samplerUrl,
        model: o.samplerModel ?? o.model!,
        apiKey: Deno.env.get("TREPO_SAMPLER_API_KEY"),
        timeoutMs: Math.ceil(o.samplerTimeout * 1000),
        deadlineMs: Math.ceil(5 * o.samplerTimeout * 1000),
        ...(o.quiet ? {} : { onRetry: (retry) => console.log(`sampler: ${retry.message}`) }),
        adapterDir: o.adapterDir ?? `${out}/adapters`,
        ...(o.serverAdapterDir === undefined ? {} : { serverAdapterDir: o.serverAdapterDir }),
      }),
      importanceSamplingCap: o.importanceSamplingCap,
    }),
    onStep: progress(steps, o.quiet),
    onCheckpoint: (step) => {
      interrupt.lastCheckpoint = step;
    },
    ...(pretrained === undefined
      ? {}
      : { rewardFns: { correctness: task.reward, format: formatReward } }),
  });
  const accuracy = result.finalAccuracy === undefined
    ? ""
    : `, final eval accuracy ${result.finalAccuracy.toFixed(3)}`;
  log(`Done${accuracy}.`);
  log(`Results in ${out}/: run.json, metrics.jsonl, checkpoint/`);
  // ---- Hub: --push-to-hub org/name (lib/hub).
  if (o.pushToHub !== undefined) {
    const pushed = await pushCheckpoint(`${out}/checkpoint`, { repo: o.pushToHub });
    log(`Pushed to ${pushed.url}`);
  }
  result.policy.dispose();
  result.valueModel?.dispose();
  if (pretrained !== undefined && pretrained.policy !== result.policy) pretrained.policy.dispose();
}

/** What SIGINT prints: where the last checkpoint is and how to go on. */
function interruptedMessage(o: Options, out: string, interrupt: Prepared["interrupt"]): string {
  const head = "Interrupted.";
  if (interrupt.warmStart) {
    return `${head} The supervised warm start did not finish, and no RL checkpoint was written; start again with --overwrite (the run in ${out} is moved aside)`;
  }
  if (interrupt.lastCheckpoint === undefined) {
    return `${head} No checkpoint was written yet; start again with --overwrite (the run in ${out} is moved aside)`;
  }
  const where = `The last checkpoint (step ${interrupt.lastCheckpoint}) is in ${out}/checkpoint`;
  const model = o.model === undefined
    ? ""
    : ` --model ${shellQuote(o.model)} --data ${shellQuote(o.data!)}${
      o.loraRank === undefined ? "" : ` --lora-rank ${o.loraRank}`
    }${o.adapter === undefined ? "" : ` --adapter ${shellQuote(o.adapter)}`}`;
  return `${head} ${where}. Resume with: deno task train --resume --out ${shellQuote(out)}${model}`;
}

function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:@=-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

if (import.meta.main) await runCommand(() => main(Deno.args));

// ---- Memory plan before anything is allocated (lib/algorithms/run_memory.ts).

/**
 * Before loading `--model DIR`: read its `config.json`, check `--lora-rank` against every
 * target's `min(in, out)`, and refuse a run whose plan does not fit even with the shortest prompt
 * (the exact plan, with the prompts measured, runs in `train` before the reference copy). A Hub
 * repo is checked after it is pulled, in `train`.
 */
async function planModelFolder(o: Options, prepared: Prepared, algorithm: Algorithm) {
  let text: string;
  try {
    text = await Deno.readTextFile(`${o.model}/config.json`);
  } catch {
    return; // a Hub repo, or a folder whose loading reports what is wrong
  }
  const config = JSON.parse(text);
  const family = modelFamily(config);
  const projections = family.architecture.projections ?? new Map();
  let shape: ModelShape = hfModelShape(config, family.weightShapes, projections);
  if (o.loraRank !== undefined) {
    const context = "Cannot create the LoRA policy";
    const names = o.loraTargets ??
      [...new Set([...projections.keys()].map((m) => m.slice(m.lastIndexOf(".") + 1)))];
    if (projections.size === 0) {
      throw new TypeError(`${context}: ${o.model} has no projections LoRA can adapt`);
    }
    const modules = matchTargetModules(projections, names, context);
    const sizes = [...modules].map(([module, layout]) => {
      const w = family.weightShapes.get(`${module}.weight`)!;
      const size: [number, number] = layout === "linear" ? [w[1], w[0]] : [w[0], w[1]];
      return [module, size] as const;
    });
    checkLoraRank(context, o.loraRank, sizes);
    const adapters = loraParameters(sizes.map(([, size]) => size), o.loraRank);
    shape = {
      ...shape,
      parameters: shape.parameters + adapters,
      trainableParameters: adapters,
      headTrained: false,
      adaptable: undefined,
    };
  }
  if (prepared.config === undefined) return;
  planShape(shape, prepared.config, {
    algorithm,
    promptTokens: 0,
    responseTokens: prepared.maxTokens ?? 1,
    referenceCopy: prepared.config.beta > 0,
    fullBatchForward: prepared.config.beta > 0 || algorithm.usesValueModel ||
      o.samplerUrl !== undefined || o.measureAfterUpdate,
  });
}

/** Before creating a fresh built-in policy (`--d-model`, `--layers`): its plan must fit. */
function planFreshPolicy(
  config: PolicyConfig,
  prepared: Prepared,
  algorithm: Algorithm,
  task: Task,
): void {
  const parameters = policyWeightSpecs(config).reduce(
    (sum, spec) => sum + spec.shape.reduce((a, b) => a * b, 1),
    0,
  );
  const rl = prepared.config!;
  const maxTokens = responseBudget(rl, task);
  planShape(
    builtInModelShape(config, parameters, parameters),
    rl,
    {
      algorithm,
      promptTokens: checkResponseBudget(task, config.maxLength, maxTokens),
      responseTokens: maxTokens,
      referenceCopy: rl.beta > 0,
      fullBatchForward: rl.beta > 0 || algorithm.usesValueModel,
    },
  );
}
