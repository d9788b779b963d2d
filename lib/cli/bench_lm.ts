/**
 * `deno task bench:lm [--shape smollm2-135m|qwen2.5-0.5b] [--lora-rank R] [--layers N] [--quick] [--blas off,openblas] [--python python3] [--out FILE]`:
 * a randomly initialised model with a real model's shape (`real_model_shapes.json`, the list
 * `tools/make_random_model.py` writes folders from too; built in memory, nothing downloaded):
 * SmolLM2-135M (llama: hidden 576, 30 layers, 9 heads, 3 key/value heads, intermediate 1536,
 * vocabulary 49152, tied head; the default) or Qwen2.5-0.5B (qwen2: hidden 896, 24 layers, 14
 * heads, 2 key/value heads, intermediate 4864, vocabulary 151936, tied, q/k/v biases). It measures
 * sampling throughput of the base model (16 prompts × 64 tokens, 64 new tokens, KV cache), one
 * Adam step on 4 × 256 tokens (teacher-forced log-probs of 255 tokens after a 1-token prompt, the
 * RL loss path; on trepo's side in the micro-batches its memory plan chooses, as `train` runs
 * it, the JSON says which) and the peak resident memory after each. The Adam step trains every weight, or,
 * with `--lora-rank R` (default 8 for Qwen2.5-0.5B, 0 = full for SmolLM2-135M), a LoRA adapter
 * of rank R and α = 2R on every linear projection, as `deno task train --lora-rank R` does (PEFT's
 * `get_peft_model` with the same targets on the PyTorch side). Each trepo variant (plain wasm, and
 * wasm with the native OpenBLAS GEMM when it loads) runs in its own process, so peak RSS is its
 * own. When Python with torch and transformers (and peft, for LoRA) is found, the same shapes run
 * in PyTorch (2 threads, `tools/bench_lm.py`) in the same invocation and the JSON records the
 * ratios; when not, the JSON says so. `--model DIR|org/name[@revision]` measures a real checkpoint
 * instead (both sides load the same folder; a Hub repo is pulled into the cache first).
 *
 * Written to `results/bench_lm.json` (SmolLM2-135M) or `results/bench_lm_<shape>.json` (other
 * shapes) unless `--out` is given; the JSON says which shape ran and whether the step was LoRA.
 *
 * `--layers N` keeps the width and vocabulary but uses N layers; `--quick` is `--layers 2` with
 * the same batch shapes, and writes to the git-ignored `results/quick/bench_lm.json` unless `--out`
 * is given. The JSON records exactly what ran.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { parseFlags, runCommand } from "./flags.ts";
import { defaultResultsPath } from "./results_path.ts";
import { modelFamily } from "../models/pretrained.ts";
import { loadPretrained } from "../hub/load_pretrained.ts";
import { pullCheckpoint } from "../hub/pull_checkpoint.ts";
import { parseHubRef } from "../hub/hub_ref.ts";
import type { HfConfig } from "../models/hf_config.ts";
import { makePolicy, type Policy } from "../policy/transformer.ts";
import { fusedAdam } from "../policy/fused_adam.ts";
import { sample } from "../sample/sample.ts";
import { disposeRollout, type Rollout } from "../sample/rollout.ts";
import { tokenLogProbs } from "../sample/token_log_probs.ts";
import { Random } from "../random.ts";
import { accumulateGradients, type Gradients } from "../algorithms/update.ts";
import { planMemory } from "../policy/memory_plan.ts";
import { memoryLimit } from "../policy/memory_limit.ts";
import { policyModelShape } from "../models/model_shape.ts";
import { loraPolicy, projectionNames } from "../models/lora.ts";
import REAL_MODEL_SHAPES from "./real_model_shapes.json" with { type: "json" };

/** The shapes one benchmark run uses. */
export interface LmBenchShape {
  /** Decoder layers (30 for SmolLM2-135M). */
  layers: number;
  /** Hidden size. */
  hidden: number;
  /** Attention heads. */
  heads: number;
  /** Key/value heads. */
  kvHeads: number;
  /** MLP width. */
  intermediate: number;
  /** Vocabulary. */
  vocab: number;
  /** Prompts sampled at once. */
  samplePrompts: number;
  /** Tokens per sampled prompt. */
  promptTokens: number;
  /** New tokens per sampled prompt. */
  newTokens: number;
  /** Sequences in the Adam step. */
  trainBatch: number;
  /** Tokens per sequence in the Adam step. */
  trainTokens: number;
}

/** The real models whose shapes `--shape` names (the keys of `real_model_shapes.json`). */
export type LmBenchModel = keyof typeof REAL_MODEL_SHAPES;

/** Every `--shape` name, the default first. */
export const LM_BENCH_MODELS = Object.keys(REAL_MODEL_SHAPES) as LmBenchModel[];

/**
 * A real model's shape with the benchmark's batch shapes (16 prompts × 64 tokens + 64 new; Adam
 * on 4 × 256 tokens).
 *
 * @param model The model, e.g. `"smollm2-135m"`.
 * @returns Its widths, layers and vocabulary from `real_model_shapes.json`, and the batch shapes.
 *
 * @example
 * ```ts
 * import { lmBenchShape } from "./bench_lm.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const s = lmBenchShape("qwen2.5-0.5b");
 * assertEquals([s.hidden, s.layers, s.heads, s.kvHeads, s.vocab], [896, 24, 14, 2, 151936]);
 * ```
 */
export function lmBenchShape(model: LmBenchModel): LmBenchShape {
  const c = REAL_MODEL_SHAPES[model].config;
  return {
    layers: c.num_hidden_layers,
    hidden: c.hidden_size,
    heads: c.num_attention_heads,
    kvHeads: c.num_key_value_heads,
    intermediate: c.intermediate_size,
    vocab: c.vocab_size,
    samplePrompts: 16,
    promptTokens: 64,
    newTokens: 64,
    trainBatch: 4,
    trainTokens: 256,
  };
}

/** SmolLM2-135M's shape with the benchmark's batch shapes. */
export const SMOLLM2_135M_SHAPE: LmBenchShape = lmBenchShape("smollm2-135m");

/**
 * The `config.json` of a model with the given shape: the real model's (`rope_theta`, norm
 * epsilon, positions, tied head, BOS/EOS ids, model type) with the widths, layers and vocabulary
 * of `shape`.
 *
 * @param shape The shape.
 * @param model Whose other fields (default SmolLM2-135M's).
 * @returns The config, as `loadPretrained` would read it.
 *
 * @example
 * ```ts
 * import { lmBenchConfig, lmBenchShape } from "./bench_lm.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const c = lmBenchConfig({ ...lmBenchShape("qwen2.5-0.5b"), layers: 2 }, "qwen2.5-0.5b");
 * assertEquals([c.model_type, c.num_hidden_layers, c.rope_theta], ["qwen2", 2, 1e6]);
 * ```
 */
export function lmBenchConfig(
  shape: LmBenchShape,
  model: LmBenchModel = "smollm2-135m",
): HfConfig {
  return {
    ...REAL_MODEL_SHAPES[model].config,
    hidden_size: shape.hidden,
    intermediate_size: shape.intermediate,
    num_hidden_layers: shape.layers,
    num_attention_heads: shape.heads,
    num_key_value_heads: shape.kvHeads,
    vocab_size: shape.vocab,
  };
}

/**
 * The module names of every linear projection of a pretrained model (`q_proj`, …, `down_proj`
 * for the RoPE decoders, `c_attn`, … for GPT-2): the LoRA targets `deno task train --lora-rank`
 * uses by default, and the `target_modules` given to PEFT on the PyTorch side.
 *
 * @param config The model's `config.json`.
 * @returns The distinct last components of its projection paths, in model order.
 *
 * @example
 * ```ts
 * import { everyProjectionName, lmBenchConfig, lmBenchShape } from "./bench_lm.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const config = lmBenchConfig({ ...lmBenchShape("smollm2-135m"), layers: 1 });
 * assertEquals(everyProjectionName(config), [
 *   "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
 * ]);
 * ```
 */
export function everyProjectionName(config: HfConfig): string[] {
  return projectionNames(modelFamily(config).architecture.projections?.keys() ?? []);
}

/** The LoRA adapter an Adam step trains (PEFT's `LoraConfig` fields). */
export interface LmBenchLora {
  /** Rank `r`. */
  rank: number;
  /** `lora_alpha` (scale α / r). */
  alpha: number;
  /** `target_modules`. */
  target_modules: string[];
  /** Parameters of the adapter. */
  trainable_parameters: number;
}

/**
 * A randomly initialised pretrained-family policy from a config (normal(0, 0.02) weights, norm
 * gains 1, biases 0), as if loaded by `loadPretrained`.
 *
 * @param config The `config.json`.
 * @param seed The seed.
 * @returns A trainable policy with `architecture` set.
 */
export function randomPretrainedPolicy(config: HfConfig, seed = 0): Policy {
  const family = modelFamily(config);
  const weights = new Map<string, tf.Variable>();
  let i = 0;
  for (const [name, shape] of family.weightShapes) {
    const value = tf.tidy(() =>
      name.includes("norm")
        ? tf.ones([...shape])
        : name.endsWith(".bias")
        ? tf.zeros([...shape])
        : tf.randomNormal([...shape], 0, 0.02, "float32", seed * 1000 + i)
    );
    weights.set(name, tf.variable(value, true, `bench_lm_${seed}_${i}`));
    value.dispose();
    i++;
  }
  return makePolicy(family.policyConfig, weights, true, family.architecture);
}

/** What one implementation measured. */
export interface LmBenchResult {
  /** Which implementation (`trepo-wasm`, `trepo-openblas`, `torch`). */
  impl: string;
  /** Parameters of the model. */
  parameters: number;
  /** Generated tokens per second of the timed sampling call. */
  sample_tokens_per_s: number;
  /** Seconds of the timed sampling call. */
  sample_s: number;
  /** Tokens generated in it. */
  sample_tokens: number;
  /** Milliseconds of each timed Adam step. */
  adam_step_ms: number[];
  /** Their median (NaN, written as null, when the step failed: see `info.adam_error`). */
  adam_step_median_ms: number;
  /** Peak resident set size of the process at the end, MiB (VmHWM). */
  peak_rss_mib: number;
  /** Peak resident set size of the process once sampling is done (before the Adam step), MiB. */
  sample_peak_rss_mib: number;
  /** The adapter the Adam step trained, or `null` when it trained every weight. */
  lora: LmBenchLora | null;
  /** Extra facts (backend, BLAS status, versions). */
  info: Record<string, unknown>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Peak RSS of this process in MiB (Linux `VmHWM`; current RSS elsewhere). */
export function peakRssMib(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const m = status.match(/VmHWM:\s+(\d+)\s+kB/);
    if (m) return Number(m[1]) / 1024;
  } catch { /* not Linux */ }
  return Deno.memoryUsage().rss / 2 ** 20;
}

/** The wasm backend's heap (its one `WebAssembly.Memory`), MiB; `undefined` on other backends. */
export function wasmHeapMib(): number | undefined {
  if (tf.getBackend() !== "wasm") return undefined;
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  const bytes = backend.wasm?.HEAPU8?.buffer.byteLength;
  return bytes === undefined ? undefined : bytes / 2 ** 20;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Run the trepo side of the benchmark in this process, on the backend already initialised.
 * A failure of the sampling call or the Adam step (tfjs-wasm keeps every tensor in one 32-bit
 * WebAssembly memory, at most 4 GiB) is recorded in `info.sample_error` / `info.adam_error`
 * with the heap size, not thrown; after a failed sampling call the Adam step is not tried.
 *
 * @param shape The shapes.
 * @param options Timed Adam steps (after one untimed), a progress callback, the implementation
 * label, the model whose config a random model takes (default SmolLM2-135M), a LoRA rank for
 * the Adam step (0 or absent: every weight).
 * @returns The measurements.
 */
export async function benchLmTrepo(
  shape: LmBenchShape,
  options: {
    steps?: number;
    log?: (line: string) => void;
    impl?: string;
    /** A loaded checkpoint to measure instead of the random model (disposed at the end). */
    policy?: Policy;
    /** Whose `config.json` the random model takes (ignored with `policy`). */
    model?: LmBenchModel;
    /** Train a LoRA adapter of this rank (α = 2·rank, every linear projection) in the Adam step. */
    loraRank?: number;
  } = {},
): Promise<LmBenchResult> {
  const steps = options.steps ?? 1;
  const log = options.log ?? (() => {});
  const base = options.policy ??
    randomPretrainedPolicy(lmBenchConfig(shape, options.model ?? "smollm2-135m"), 1);
  const rng = new Random(7);
  const vocab = base.config.vocabSize;
  const token = () => 1 + rng.int(vocab - 1);
  const prompts = Array.from(
    { length: shape.samplePrompts },
    () => Array.from({ length: shape.promptTokens }, token),
  );
  const info: Record<string, unknown> = { backend: tf.getBackend(), tfjs: tf.version_core };
  let sampleS = NaN;
  let sampleTokens = 0;
  let started = performance.now();
  try {
    // Warm-up (kernel compilation, first allocations): a 2-token sample.
    disposeRollout(await sample(base, prompts.slice(0, 2), { maxTokens: 2, eosToken: 0, seed: 1 }));
    started = performance.now();
    const rollout = await sample(base, prompts, {
      maxTokens: shape.newTokens,
      eosToken: 0,
      seed: 2,
    });
    sampleS = (performance.now() - started) / 1000;
    sampleTokens = rollout.lengths.reduce((a, b) => a + b, 0);
    disposeRollout(rollout);
    log(`sampling: ${sampleTokens} tokens in ${sampleS.toFixed(2)} s`);
  } catch (error) {
    info.sample_error = errorText(error);
    log(`sampling failed: ${info.sample_error}`);
  }
  info.wasm_heap_mib_after_sample = wasmHeapMib();
  const samplePeak = peakRssMib();
  const loraRank = options.loraRank ?? 0;
  let lora: LmBenchLora | null = null;
  let policy = base;
  if (loraRank > 0) {
    const targets = everyProjectionName(base.architecture?.hfConfig ?? {});
    policy = loraPolicy(base, {
      rank: loraRank,
      alpha: 2 * loraRank,
      targetModules: targets,
      seed: 3,
    });
    lora = {
      rank: loraRank,
      alpha: 2 * loraRank,
      target_modules: targets,
      trainable_parameters: policy.parameterCount,
    };
  }
  // Adam step: a 1-token prompt and trainTokens − 1 response tokens per sequence, in the
  // micro-batches the memory plan chooses (as `train` runs it): one Adam step over the summed
  // gradients of -Σ log π / (B·(T−1)), the whole batch's mean.
  const optimizer = fusedAdam(1e-5);
  const responseTokens = shape.trainTokens - 1;
  const plan = planMemory(
    policyModelShape(policy),
    {
      rows: shape.trainBatch,
      minibatchRows: shape.trainBatch,
      microBatchSize: 0,
      promptTokens: 1,
      responseTokens,
      logProbRows: 0,
    },
    memoryLimit({ countedBytes: tf.memory().numBytes }),
  );
  const micro = plan.microBatchSize;
  info.micro_batch_size = micro;
  info.planned_peak_mib = plan.peakBytes / 2 ** 20;
  const microRollouts: Rollout[] = Array.from(
    { length: shape.trainBatch / micro },
    () => ({
      promptTokens: Array.from({ length: micro }, () => [token()]),
      tokens: tf.tensor2d(
        Array.from({ length: micro * responseTokens }, token),
        [micro, responseTokens],
        "int32",
      ),
      mask: tf.ones([micro, responseTokens]) as tf.Tensor2D,
      logProbs: tf.zeros([micro, responseTokens]) as tf.Tensor2D,
      lengths: Array.from({ length: micro }, () => responseTokens),
      groupSize: 1,
    }),
  );
  const count = shape.trainBatch * responseTokens;
  const vars = [...policy.weights.values()];
  const times: number[] = [];
  if (info.sample_error === undefined) {
    try {
      for (let i = 0; i < steps + 1; i++) {
        started = performance.now();
        let sum: Gradients | undefined;
        for (const r of microRollouts) {
          sum = accumulateGradients(
            vars,
            () => tf.div(tf.neg(tf.sum(tokenLogProbs(policy, r))), count) as tf.Scalar,
            sum,
          );
        }
        const named = Object.fromEntries(vars.map((v, k) => [v.name, sum!.grads[k]]));
        optimizer.applyGradients(named);
        await sum!.loss.data();
        tf.dispose([sum!.loss, ...sum!.grads]);
        const ms = performance.now() - started;
        log(`adam step ${i === 0 ? "(untimed)" : i}: ${ms.toFixed(0)} ms (micro-batch ${micro})`);
        if (i > 0) times.push(ms);
      }
    } catch (error) {
      // Keep the sampling numbers and say why.
      info.adam_error = errorText(error);
      log(`adam step failed: ${info.adam_error}`);
    }
    info.wasm_heap_mib_after_adam = wasmHeapMib();
    info.adam_moments_mib_beside_heap = optimizer.bytesBesideHeap / 2 ** 20;
  }
  const parameters = base.parameterCount;
  try {
    microRollouts.forEach(disposeRollout);
    optimizer.dispose();
    if (policy !== base) policy.dispose();
    base.dispose();
  } catch (error) {
    // After a failed step the wasm memory may be unusable.
    if (info.adam_error === undefined && info.sample_error === undefined) throw error;
  }
  return {
    impl: options.impl ?? "trepo",
    parameters,
    sample_tokens_per_s: sampleTokens / sampleS,
    sample_s: sampleS,
    sample_tokens: sampleTokens,
    adam_step_ms: times,
    adam_step_median_ms: times.length === 0 ? NaN : median(times),
    peak_rss_mib: peakRssMib(),
    sample_peak_rss_mib: samplePeak,
    lora,
    info,
  };
}

const SELF = new URL(import.meta.url).pathname;
const SCRIPT = new URL("../../tools/bench_lm.py", import.meta.url).pathname;

async function runChild(
  exe: string,
  args: string[],
  outFlag: string,
): Promise<{ result?: LmBenchResult; error?: string }> {
  const out = await Deno.makeTempFile({ suffix: ".json" });
  try {
    let output: Deno.CommandOutput;
    try {
      output = await new Deno.Command(exe, {
        args: [...args, outFlag, out],
        stdout: "inherit",
        stderr: "piped",
      }).output();
    } catch (error) {
      return { error: `${exe} could not be run (${(error as Error).message})` };
    }
    if (output.code !== 0) {
      const tail = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-3).join(" ");
      return { error: `exit ${output.code}: ${tail}` };
    }
    const result = JSON.parse(await Deno.readTextFile(out)) as LmBenchResult;
    // JSON writes NaN (a failed step) as null; keep it NaN so ratios stay NaN (null).
    result.adam_step_median_ms ??= NaN;
    result.sample_tokens_per_s ??= NaN;
    result.sample_s ??= NaN;
    return { result };
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

async function pythonReady(python: string, modules: string): Promise<string | undefined> {
  try {
    const r = await new Deno.Command(python, {
      args: ["-c", `import ${modules}`],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (r.code === 0) return undefined;
    return new TextDecoder().decode(r.stderr).trim().split("\n").at(-1) ?? `exit ${r.code}`;
  } catch (error) {
    return `${python} could not be run (${(error as Error).message})`;
  }
}

/** The batch-shape flags of `tools/bench_lm.py` (the model's widths come from its config). */
function batchArgs(shape: LmBenchShape): string[] {
  const keys = ["samplePrompts", "promptTokens", "newTokens", "trainBatch", "trainTokens"] as const;
  return keys.flatMap((k) => [`--${k}`, String(shape[k])]);
}

/** The default output: `results/bench_lm.json` for SmolLM2-135M, else `results/bench_lm_<shape>.json`. */
function defaultOut(model: LmBenchModel, quick: boolean): string {
  const name = model === LM_BENCH_MODELS[0] ? "bench_lm" : `bench_lm_${model}`;
  return defaultResultsPath(`results/${name}.json`, quick);
}

async function main(): Promise<void> {
  const flags = parseFlags(
    Deno.args,
    {
      shape: {
        value: true,
        default: LM_BENCH_MODELS[0],
        help: `the real model whose shape the random model takes: ${LM_BENCH_MODELS.join(" | ")}`,
      },
      "lora-rank": {
        value: true,
        default: "8 for qwen2.5-0.5b, else 0",
        help:
          "the Adam step trains a LoRA adapter of this rank (α = 2·rank, every projection); 0: every weight",
      },
      layers: { value: true, default: "the shape's", help: "decoder layers (same width)" },
      quick: { value: false, default: "off", help: "2 layers, same width and batch shapes" },
      steps: { value: true, default: "1", help: "timed Adam steps (after one untimed)" },
      blas: {
        value: true,
        default: "off,openblas",
        help: "trepo variants: wasm alone (off) and with the native OpenBLAS GEMM (openblas)",
      },
      "blas-threads": { value: true, default: "2", help: "OpenBLAS threads" },
      python: { value: true, default: "$TREPO_PYTHON, else python3", help: "the interpreter" },
      "torch-threads": { value: true, default: "2", help: "torch threads" },
      out: {
        value: true,
        default:
          "results/bench_lm.json, results/bench_lm_<shape>.json for other shapes (quick: under results/quick/)",
        help: "where the JSON goes",
      },
      model: {
        value: true,
        default: "none: random init",
        help: "measure a real checkpoint instead: a folder or a Hub repo org/name[@revision]",
      },
      worker: {
        value: true,
        default: "",
        help: "internal: run one trepo variant, write JSON here",
      },
    },
    "Usage: deno task bench:lm [options]\n\nSampling and an Adam step at a real model's shape (SmolLM2-135M, Qwen2.5-0.5B), trepo vs PyTorch.",
  );
  if (flags === undefined) return;
  const model = (flags.shape ?? LM_BENCH_MODELS[0]) as LmBenchModel;
  if (!LM_BENCH_MODELS.includes(model)) {
    throw new RangeError(
      `Cannot run bench:lm: --shape must be one of ${LM_BENCH_MODELS.join(", ")}, got ${model}`,
    );
  }
  const full = lmBenchShape(model);
  const layers = flags.quick !== undefined ? 2 : Number(flags.layers ?? full.layers);
  if (!Number.isInteger(layers) || layers < 1) {
    throw new RangeError(`Cannot run bench:lm: --layers must be a positive integer, got ${layers}`);
  }
  const loraRank = Number(flags["lora-rank"] ?? (model === "qwen2.5-0.5b" ? 8 : 0));
  if (!Number.isInteger(loraRank) || loraRank < 0) {
    throw new RangeError(
      `Cannot run bench:lm: --lora-rank must be an integer ≥ 0, got ${flags["lora-rank"]}`,
    );
  }
  let shape: LmBenchShape = { ...full, layers };
  let modelDir: string | undefined;
  let modelConfig: HfConfig | undefined;
  if (flags.model !== undefined) {
    modelDir = flags.model;
    if (!(await Deno.stat(modelDir).then((s) => s.isDirectory).catch(() => false))) {
      const { repo, revision } = parseHubRef(modelDir);
      modelDir = await pullCheckpoint(repo, { revision });
    }
    modelConfig = JSON.parse(await Deno.readTextFile(`${modelDir}/config.json`)) as HfConfig;
    const c = modelConfig as Record<string, number>;
    shape = {
      ...full,
      layers: c.num_hidden_layers ?? c.n_layer,
      hidden: c.hidden_size ?? c.n_embd,
      heads: c.num_attention_heads ?? c.n_head,
      kvHeads: c.num_key_value_heads ?? c.num_attention_heads ?? c.n_head,
      intermediate: c.intermediate_size ?? 4 * (c.n_embd ?? 0),
      vocab: c.vocab_size,
      // Sequences must fit the model's positions.
      trainTokens: Math.min(full.trainTokens, c.max_position_embeddings ?? c.n_positions),
    };
  }
  const config = modelConfig ?? lmBenchConfig(shape, model);
  const steps = Number(flags.steps ?? "1");
  const blasThreads = Number(flags["blas-threads"] ?? "2");
  if (flags.worker !== undefined) {
    const blas = (flags.blas ?? "off") as "off" | "openblas";
    const info = await initBackend({ backend: "wasm", blas, blasThreads });
    const result = await benchLmTrepo(shape, {
      steps,
      model,
      loraRank,
      ...(modelDir === undefined ? {} : { policy: (await loadPretrained(modelDir)).policy }),
      impl: blas === "off" ? "trepo-wasm" : "trepo-openblas",
      log: (line) => console.log(`  ${line}`),
    });
    result.info = { ...result.info, blas: info.blas ?? "off" };
    await Deno.writeTextFile(flags.worker, JSON.stringify(result));
    return;
  }
  const lora = loraRank === 0
    ? null
    : { rank: loraRank, alpha: 2 * loraRank, target_modules: everyProjectionName(config) };
  const out = flags.out ?? defaultOut(model, flags.quick !== undefined);
  const variants = (flags.blas ?? "off,openblas").split(",").filter((x) => x !== "");
  const loadBefore = Deno.loadavg();
  const results: LmBenchResult[] = [];
  const skipped: Record<string, string> = {};
  for (const blas of variants) {
    console.log(`trepo (wasm, blas ${blas}), ${model} shape, ${shape.layers} layers:`);
    const { result, error } = await runChild(Deno.execPath(), [
      "run",
      "-A",
      SELF,
      "--shape",
      model,
      "--lora-rank",
      String(loraRank),
      ...(flags.quick !== undefined ? ["--quick"] : ["--layers", String(layers)]),
      ...(modelDir === undefined ? [] : ["--model", modelDir]),
      "--steps",
      String(steps),
      "--blas",
      blas,
      "--blas-threads",
      String(blasThreads),
    ], "--worker");
    if (result) results.push(result);
    else skipped[`trepo-${blas}`] = error!;
  }
  const python = flags.python ?? Deno.env.get("TREPO_PYTHON") ?? "python3";
  const modules = lora === null ? "torch, transformers" : "torch, transformers, peft";
  const missing = await pythonReady(python, modules);
  if (missing === undefined) {
    console.log(`torch (${flags["torch-threads"] ?? "2"} threads), ${shape.layers} layers:`);
    const configFile = await Deno.makeTempFile({ suffix: ".json" });
    try {
      await Deno.writeTextFile(configFile, JSON.stringify(config));
      const { result, error } = await runChild(python, [
        SCRIPT,
        ...(modelDir === undefined ? ["--config", configFile] : ["--model", modelDir]),
        ...batchArgs(shape),
        ...(lora === null ? [] : [
          "--lora-rank",
          String(lora.rank),
          "--lora-alpha",
          String(lora.alpha),
          "--lora-targets",
          lora.target_modules.join(","),
        ]),
        "--steps",
        String(steps),
        "--threads",
        flags["torch-threads"] ?? "2",
      ], "--out");
      if (result) results.push(result);
      else skipped.torch = error!;
    } finally {
      await Deno.remove(configFile).catch(() => {});
    }
  } else {
    skipped.torch = `Python with ${modules} not available (${python}: ${missing}); ` +
      `install with \`${python} -m pip install ${modules.replaceAll(",", "")}\``;
  }
  const torch = results.find((r) => r.impl === "torch");
  const ratios: Record<string, Record<string, number>> = {};
  for (const r of results) {
    if (r.impl === "torch" || torch === undefined) continue;
    ratios[`${r.impl}_over_torch`] = {
      sample_tokens_per_s: r.sample_tokens_per_s / torch.sample_tokens_per_s,
      adam_step_ms: r.adam_step_median_ms / torch.adam_step_median_ms,
      sample_peak_rss: r.sample_peak_rss_mib / torch.sample_peak_rss_mib,
      peak_rss: r.peak_rss_mib / torch.peak_rss_mib,
    };
  }
  for (const r of results) {
    const failed = [r.info.sample_error, r.info.adam_error].filter((e) => e !== undefined);
    console.log(
      `${r.impl.padEnd(15)} sample ${r.sample_tokens_per_s.toFixed(1)} tok/s (peak RSS ${
        r.sample_peak_rss_mib.toFixed(0)
      } MiB), Adam step ${r.adam_step_median_ms.toFixed(0)} ms, peak RSS ${
        r.peak_rss_mib.toFixed(0)
      } MiB${failed.length === 0 ? "" : `; failed: ${failed.join("; ")}`}`,
    );
  }
  const argv = ["deno", "task", "bench:lm", ...Deno.args].join(" ");
  const name = REAL_MODEL_SHAPES[model].name;
  await Deno.mkdir(out.slice(0, Math.max(0, out.lastIndexOf("/"))) || ".", { recursive: true });
  await Deno.writeTextFile(
    out,
    JSON.stringify(
      {
        command: argv,
        model: flags.model !== undefined
          ? `${flags.model} (${modelDir}), pretrained weights`
          : layers === full.layers
          ? `${name} shape, random init`
          : `${name} shape with ${layers} of its ${full.layers} layers, random init`,
        shape_name: flags.model !== undefined ? null : model,
        shape,
        config,
        lora,
        steps,
        note:
          "each implementation runs in its own process, one after the other; wall clock on a shared machine; sampling (the base model): one timed call after a 2-token warm-up; Adam (every weight, or the LoRA adapter when lora is set): timed steps after one untimed; sample_peak_rss_mib is the process's peak once sampling is done, peak_rss_mib at the end; ratios are trepo / torch (tokens/s: >1 is faster; ms and RSS: <1 is better)",
        loadAverage: { before: loadBefore, after: Deno.loadavg() },
        cpus: navigator.hardwareConcurrency,
        date: new Date().toISOString(),
        results,
        ratios,
        skipped,
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`Wrote ${out}`);
}

if (import.meta.main) await runCommand(main);
