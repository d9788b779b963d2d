/**
 * `deno task bench:lm [--layers N] [--quick] [--blas off,openblas] [--python python3] [--out results/bench_lm.json]`:
 * a randomly initialised model with SmolLM2-135M's shape (llama: hidden 576, 30 layers, 9 heads,
 * 3 key/value heads, intermediate 1536, vocabulary 49152, tied head; built in memory, nothing
 * downloaded), measuring sampling throughput (16 prompts × 64 tokens, 64 new tokens, KV cache),
 * one Adam step on 4 × 256 tokens (teacher-forced log-probs of 255 tokens after a 1-token prompt,
 * the RL loss path) and the peak resident memory of each run. Each trepo variant (plain wasm, and
 * wasm with the native OpenBLAS GEMM when it loads) runs in its own process, so peak RSS is its
 * own. When Python with torch and transformers is found, the same shapes run in PyTorch (2
 * threads, `tools/bench_lm.py`) in the same invocation and the JSON records the ratios; when not,
 * the JSON says so. `--model DIR|org/name[@revision]` measures a real checkpoint instead (both
 * sides load the same folder; a Hub repo is pulled into the cache first).
 *
 * `--layers N` keeps the width and vocabulary but uses N layers; `--quick` is `--layers 2` with
 * the same batch shapes. The JSON records exactly what ran.
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

/** SmolLM2-135M's shape with the benchmark's batch shapes. */
export const SMOLLM2_135M_SHAPE: LmBenchShape = {
  layers: 30,
  hidden: 576,
  heads: 9,
  kvHeads: 3,
  intermediate: 1536,
  vocab: 49152,
  samplePrompts: 16,
  promptTokens: 64,
  newTokens: 64,
  trainBatch: 4,
  trainTokens: 256,
};

/**
 * The `config.json` of a llama model with the given shape (SmolLM2-135M's other fields:
 * `rope_theta` 100000, `rms_norm_eps` 1e-5, 8192 positions, tied head).
 *
 * @param shape The shape.
 * @returns The config, as `loadPretrained` would read it.
 */
export function llamaBenchConfig(shape: LmBenchShape): HfConfig {
  return {
    model_type: "llama",
    architectures: ["LlamaForCausalLM"],
    hidden_size: shape.hidden,
    intermediate_size: shape.intermediate,
    num_hidden_layers: shape.layers,
    num_attention_heads: shape.heads,
    num_key_value_heads: shape.kvHeads,
    vocab_size: shape.vocab,
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 100000,
    tie_word_embeddings: true,
    hidden_act: "silu",
    bos_token_id: 0,
    eos_token_id: 0,
  };
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
  /** Peak resident set size of the process, MiB (VmHWM). */
  peak_rss_mib: number;
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

/**
 * Run the trepo side of the benchmark in this process, on the backend already initialised.
 *
 * @param shape The shapes.
 * @param options Timed Adam steps (after one untimed), a progress callback, the implementation
 * label.
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
  } = {},
): Promise<LmBenchResult> {
  const steps = options.steps ?? 1;
  const log = options.log ?? (() => {});
  const policy = options.policy ?? randomPretrainedPolicy(llamaBenchConfig(shape), 1);
  const rng = new Random(7);
  const vocab = policy.config.vocabSize;
  const token = () => 1 + rng.int(vocab - 1);
  const prompts = Array.from(
    { length: shape.samplePrompts },
    () => Array.from({ length: shape.promptTokens }, token),
  );
  // Warm-up (kernel compilation, first allocations): a 2-token sample.
  disposeRollout(await sample(policy, prompts.slice(0, 2), { maxTokens: 2, eosToken: 0, seed: 1 }));
  let started = performance.now();
  const rollout = await sample(policy, prompts, {
    maxTokens: shape.newTokens,
    eosToken: 0,
    seed: 2,
  });
  const sampleS = (performance.now() - started) / 1000;
  const sampleTokens = rollout.lengths.reduce((a, b) => a + b, 0);
  disposeRollout(rollout);
  log(`sampling: ${sampleTokens} tokens in ${sampleS.toFixed(2)} s`);
  // Adam step: a 1-token prompt and trainTokens − 1 response tokens per sequence.
  const optimizer = fusedAdam(1e-5);
  const trainRollout: Rollout = {
    promptTokens: Array.from({ length: shape.trainBatch }, () => [token()]),
    tokens: tf.tensor2d(
      Array.from({ length: shape.trainBatch * (shape.trainTokens - 1) }, token),
      [shape.trainBatch, shape.trainTokens - 1],
      "int32",
    ),
    mask: tf.ones([shape.trainBatch, shape.trainTokens - 1]) as tf.Tensor2D,
    logProbs: tf.zeros([shape.trainBatch, shape.trainTokens - 1]) as tf.Tensor2D,
    lengths: Array.from({ length: shape.trainBatch }, () => shape.trainTokens - 1),
    groupSize: 1,
  };
  const vars = [...policy.weights.values()];
  const times: number[] = [];
  let adamError: string | undefined;
  try {
    for (let i = 0; i < steps + 1; i++) {
      started = performance.now();
      const { value, grads } = tf.variableGrads(
        () => tf.neg(tf.mean(tokenLogProbs(policy, trainRollout))) as tf.Scalar,
        vars,
      );
      optimizer.applyGradients(grads);
      await value.data();
      tf.dispose([value, ...Object.values(grads)]);
      const ms = performance.now() - started;
      log(`adam step ${i === 0 ? "(untimed)" : i}: ${ms.toFixed(0)} ms`);
      if (i > 0) times.push(ms);
    }
  } catch (error) {
    // tfjs-wasm keeps every tensor in one 32-bit WebAssembly memory (at most 4 GiB): a large
    // model's Adam step can run out of it. Keep the sampling numbers and say why.
    adamError = error instanceof Error ? error.message : String(error);
    log(`adam step failed: ${adamError}`);
  }
  const parameters = policy.parameterCount;
  try {
    disposeRollout(trainRollout);
    optimizer.dispose();
    policy.dispose();
  } catch (error) {
    if (adamError === undefined) throw error; // after a failed step the wasm memory may be unusable
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
    info: {
      backend: tf.getBackend(),
      tfjs: tf.version_core,
      ...(adamError === undefined ? {} : { adam_error: adamError }),
    },
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
    // JSON writes NaN (a failed Adam step) as null; keep it NaN so ratios stay NaN (null).
    result.adam_step_median_ms ??= NaN;
    return { result };
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

async function pythonReady(python: string): Promise<string | undefined> {
  try {
    const r = await new Deno.Command(python, {
      args: ["-c", "import torch, transformers"],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (r.code === 0) return undefined;
    return new TextDecoder().decode(r.stderr).trim().split("\n").at(-1) ?? `exit ${r.code}`;
  } catch (error) {
    return `${python} could not be run (${(error as Error).message})`;
  }
}

function shapeArgs(shape: LmBenchShape): string[] {
  return Object.entries(shape).flatMap(([k, v]) => [`--${k}`, String(v)]);
}

async function main(): Promise<void> {
  const flags = parseFlags(
    Deno.args,
    {
      layers: { value: true, default: "30", help: "decoder layers (SmolLM2-135M has 30)" },
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
      out: { value: true, default: "results/bench_lm.json", help: "where the JSON goes" },
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
    "Usage: deno task bench:lm [options]\n\nSmolLM2-135M-shaped sampling and Adam step, trepo vs PyTorch.",
  );
  if (flags === undefined) return;
  const layers = flags.quick !== undefined ? 2 : Number(flags.layers ?? "30");
  if (!Number.isInteger(layers) || layers < 1) {
    throw new RangeError(`Cannot run bench:lm: --layers must be a positive integer, got ${layers}`);
  }
  let shape: LmBenchShape = { ...SMOLLM2_135M_SHAPE, layers };
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
      ...SMOLLM2_135M_SHAPE,
      layers: c.num_hidden_layers ?? c.n_layer,
      hidden: c.hidden_size ?? c.n_embd,
      heads: c.num_attention_heads ?? c.n_head,
      kvHeads: c.num_key_value_heads ?? c.num_attention_heads ?? c.n_head,
      intermediate: c.intermediate_size ?? 4 * (c.n_embd ?? 0),
      vocab: c.vocab_size,
      // Sequences must fit the model's positions.
      trainTokens: Math.min(
        SMOLLM2_135M_SHAPE.trainTokens,
        c.max_position_embeddings ?? c.n_positions,
      ),
    };
  }
  const steps = Number(flags.steps ?? "1");
  const blasThreads = Number(flags["blas-threads"] ?? "2");
  if (flags.worker !== undefined) {
    const blas = (flags.blas ?? "off") as "off" | "openblas";
    const info = await initBackend({ backend: "wasm", blas, blasThreads });
    const result = await benchLmTrepo(shape, {
      steps,
      ...(modelDir === undefined ? {} : { policy: (await loadPretrained(modelDir)).policy }),
      impl: blas === "off" ? "trepo-wasm" : "trepo-openblas",
      log: (line) => console.log(`  ${line}`),
    });
    result.info = { ...result.info, blas: info.blas ?? "off" };
    await Deno.writeTextFile(flags.worker, JSON.stringify(result));
    return;
  }
  const out = flags.out ?? defaultResultsPath("results/bench_lm.json", flags.quick !== undefined);
  const variants = (flags.blas ?? "off,openblas").split(",").filter((x) => x !== "");
  const loadBefore = Deno.loadavg();
  const results: LmBenchResult[] = [];
  const skipped: Record<string, string> = {};
  for (const blas of variants) {
    console.log(`trepo (wasm, blas ${blas}), ${shape.layers} layers:`);
    const { result, error } = await runChild(Deno.execPath(), [
      "run",
      "-A",
      SELF,
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
  const missing = await pythonReady(python);
  if (missing === undefined) {
    console.log(`torch (${flags["torch-threads"] ?? "2"} threads), ${shape.layers} layers:`);
    const { result, error } = await runChild(python, [
      SCRIPT,
      ...shapeArgs(shape),
      ...(modelDir === undefined ? [] : ["--model", modelDir]),
      "--steps",
      String(steps),
      "--threads",
      flags["torch-threads"] ?? "2",
    ], "--out");
    if (result) results.push(result);
    else skipped.torch = error!;
  } else {
    skipped.torch = `Python with torch and transformers not available (${python}: ${missing}); ` +
      `install with \`${python} -m pip install torch transformers\``;
  }
  const torch = results.find((r) => r.impl === "torch");
  const ratios: Record<string, Record<string, number>> = {};
  for (const r of results) {
    if (r.impl === "torch" || torch === undefined) continue;
    ratios[`${r.impl}_over_torch`] = {
      sample_tokens_per_s: r.sample_tokens_per_s / torch.sample_tokens_per_s,
      adam_step_ms: r.adam_step_median_ms / torch.adam_step_median_ms,
      peak_rss: r.peak_rss_mib / torch.peak_rss_mib,
    };
  }
  for (const r of results) {
    console.log(
      `${r.impl.padEnd(15)} sample ${r.sample_tokens_per_s.toFixed(1)} tok/s, Adam step ${
        r.adam_step_median_ms.toFixed(0)
      } ms, peak RSS ${r.peak_rss_mib.toFixed(0)} MiB`,
    );
  }
  const argv = ["deno", "task", "bench:lm", ...Deno.args].join(" ");
  await Deno.mkdir(out.slice(0, Math.max(0, out.lastIndexOf("/"))) || ".", { recursive: true });
  await Deno.writeTextFile(
    out,
    JSON.stringify(
      {
        command: argv,
        model: flags.model !== undefined
          ? `${flags.model} (${modelDir}), pretrained weights`
          : layers === 30
          ? "SmolLM2-135M shape, random init"
          : `SmolLM2-135M shape with ${layers} of its 30 layers, random init`,
        shape,
        config: modelConfig ?? llamaBenchConfig(shape),
        steps,
        note:
          "each implementation runs in its own process, one after the other; wall clock on a shared machine; sampling: one timed call after a 2-token warm-up; Adam: timed steps after one untimed; ratios are trepo / torch (tokens/s: >1 is faster; ms and RSS: <1 is better)",
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
