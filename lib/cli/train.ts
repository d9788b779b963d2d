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
import { ALGORITHM_NAMES, algorithmByName, type StepRecord, train } from "../algorithms/train.ts";
import { type FieldSpec, resolveConfig } from "../algorithms/step.ts";
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
import { adaptableProjections, loraPolicy } from "../models/lora.ts";
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
  measureAfterUpdate: boolean;
  samplerUrl: string | undefined;
  samplerModel: string | undefined;
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
  ["--resume", "off", "continue from DIR/checkpoint (bit-identical)"],
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
    "Train a policy with an RL algorithm on a synthetic task.",
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
    measureAfterUpdate: false,
    samplerUrl: undefined,
    samplerModel: undefined,
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
  };
  const context = "Cannot parse the command line";
  const raw: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) throw new RangeError(`${context}: unexpected argument "${arg}"`);
    let [flag, value] = arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    flag = flag.slice(2);
    if (["resume", "quiet", "help"].includes(flag)) {
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

/**
 * A pretrained model (`--model`) and the text task over its data file (`--data`): the longest
 * response fits the model's positions after the longest prompt (at most 256 tokens).
 */
async function loadTextRun(model: string, data: string): Promise<{ policy: Policy; task: Task }> {
  const examples = await loadData(data);
  const { policy, tokenizer } = await loadPretrained(model);
  try {
    const name = data.split("/").pop()!.replace(/\.[^.]*$/, "");
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
    const room = policy.config.maxLength - longest + 1;
    if (room < 2) {
      throw new RangeError(
        `Cannot train on ${data}: the longest prompt has ${longest} tokens, which leaves no room for a response within the model's ${policy.config.maxLength} positions`,
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

/** Run the command. */
export async function main(args: readonly string[]): Promise<void> {
  const o = parseTrainArgs(args);
  if (o.help) {
    console.log(usage());
    return;
  }
  const algorithm = algorithmByName(o.algorithm);
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
  const backend = await initBackend(o.backend === undefined ? {} : { backend: o.backend });
  const pretrained = o.model === undefined ? undefined : await loadTextRun(o.model, o.data!);
  const task = pretrained?.task ?? taskByName(o.task);
  for (const key of Object.keys(o.config)) {
    if (!Object.hasOwn(algorithm.defaultConfig, key)) {
      throw new RangeError(
        `Cannot parse the command line: unknown option --${
          kebab(key)
        } (see --help for the options of ${algorithm.name})`,
      );
    }
  }
  if (!o.resume) resolveConfig(algorithm, o.config); // fail on a bad value before the warm start
  const out = o.out ?? `results/${algorithm.name}-${task.name}-s${o.seed}`;
  const sources = [o.resume, o.fromCheckpoint !== undefined, o.fromHub !== undefined].filter(
    Boolean,
  ).length;
  if (sources > 1) {
    throw new RangeError(
      "Cannot parse the command line: give at most one of --resume, --from-checkpoint, --from-hub",
    );
  }
  const log = (line: string) => {
    if (!o.quiet) console.log(line);
  };
  log(
    `trepo train: ${algorithm.name} on ${task.name}, ${o.steps} steps, seed ${o.seed}, backend ${backend.backend}`,
  );

  let policy: Policy | undefined = pretrained?.policy;
  if (pretrained !== undefined && o.loraRank !== undefined) {
    policy = loraPolicy(pretrained.policy, {
      rank: o.loraRank,
      alpha: o.loraAlpha ?? 2 * o.loraRank,
      targetModules: o.loraTargets ?? everyProjection(pretrained.policy),
      seed: o.seed,
    });
    log(`LoRA: rank ${o.loraRank}, ${policy.parameterCount} trainable parameters`);
  } else if (pretrained !== undefined && o.adapter !== undefined) {
    policy = await loadAdapter(pretrained.policy, o.adapter);
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
    } else {
      const overrides = {
        seed: o.seed,
        ...(o.dModel === undefined ? {} : { dModel: o.dModel }),
        ...(o.layers === undefined ? {} : { layers: o.layers }),
      };
      policy = createPolicy(defaultPolicyConfig(task, overrides));
      if (o.sftSteps !== 0) {
        log("Supervised warm start…");
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
      }
    }
  }
  const result = await train({
    algorithm,
    config: o.config,
    task,
    policy,
    steps: o.steps,
    seed: o.seed,
    evalEvery: o.evalEvery,
    evalLimit: o.evalLimit,
    checkpointEvery: o.checkpointEvery,
    outDir: out,
    resume: o.resume,
    measureAfterUpdate: o.measureAfterUpdate,
    ...(o.samplerUrl === undefined ? {} : {
      sampler: remoteSampler({
        baseUrl: o.samplerUrl,
        model: o.samplerModel ?? o.model!,
        apiKey: Deno.env.get("TREPO_SAMPLER_API_KEY"),
        adapterDir: o.adapterDir ?? `${out}/adapters`,
        ...(o.serverAdapterDir === undefined ? {} : { serverAdapterDir: o.serverAdapterDir }),
      }),
      importanceSamplingCap: o.importanceSamplingCap,
    }),
    onStep: progress(o.steps, o.quiet),
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

/** The names of every linear projection of a pretrained model (PEFT's "all-linear", head aside). */
function everyProjection(policy: Policy): string[] {
  const modules = adaptableProjections(policy, "Cannot set up LoRA").keys();
  return [...new Set([...modules].map((m) => m.slice(m.lastIndexOf(".") + 1)))];
}

if (import.meta.main) await runCommand(() => main(Deno.args));
