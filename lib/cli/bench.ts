/**
 * Performance benchmark of the policy: sampling throughput with and without the key/value cache,
 * one Adam training step of the reference model, and the backend's plain matmul peak measured in
 * the same run (compare ratios, not absolute numbers: the machine is shared).
 *
 * Run: `deno run -A lib/cli/bench.ts [--quick] [--backend wasm|cpu] [--out results/bench.json]`.
 * Writes `results/bench.json` (`--quick`: the git-ignored `results/quick/bench.json`) and prints a
 * table.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import process from "node:process";
import { type BackendName, BACKENDS, initBackend } from "../backend.ts";
import { parseFlags, runCommand } from "./flags.ts";
import { defaultResultsPath } from "./results_path.ts";
import { Random } from "../random.ts";
import { createPolicy, type Policy, type PolicyConfig } from "../policy/transformer.ts";
import { sample } from "../sample/sample.ts";
import { disposeRollout } from "../sample/rollout.ts";
import { setTypedKernels, useTypedKernels } from "../policy/causal_attention.ts";
import { fusedAdam } from "../policy/fused_adam.ts";

/** The benchmark's results (the content of `results/bench.json`). */
export interface BenchResult {
  /** The active tfjs backend. */
  backend: string;
  /** `navigator.hardwareConcurrency`. */
  cores: number;
  /** Whether `--quick` was given. */
  quick: boolean;
  /** 1, 5 and 15-minute load averages at the end of the run (the machine is shared). */
  loadAverage: number[];
  /** Sampling throughput: B = 64 responses, 8-token prompts, 16 new tokens. */
  sampling: {
    batch: number;
    promptTokens: number;
    newTokens: number;
    generatedTokens: number;
    tokensPerSecond: number;
    tokensPerSecondNoCache: number;
    speedup: number;
    /** Cached, with the typed-array kernels off (every op a tfjs op: the previous path). */
    tokensPerSecondTfjsOps: number;
  };
  /** One Adam step of the reference model (vocab 64, d 128, 2 layers, 4 heads, L 64, B 16). */
  trainStep: {
    config: PolicyConfig;
    batch: number;
    sequence: number;
    ms: number;
    msAll: number[];
    gflopPerStep: number;
    gflops: number;
    peakMatmulGflops: number;
    fractionOfPeak: number;
    /** Median CPU ms of this process per step (the machine is shared; wasm is single-threaded). */
    cpuMs: number;
    /** GFLOP/s from CPU time. */
    gflopsCpu: number;
    /** Matmul peak from CPU time. */
    peakMatmulGflopsCpu: number;
    /** `gflopsCpu / peakMatmulGflopsCpu`. */
    fractionOfPeakCpu: number;
    /**
     * The same step with the typed-array kernels off (attention, LayerNorm and embedding gradient
     * as tfjs ops: the previous path), timed in the same run, alternating with the measured steps.
     */
    tfjsOps: { ms: number; cpuMs: number; fractionOfPeak: number; fractionOfPeakCpu: number };
  };
}

/** The reference model of DESIGN §5. */
export const REFERENCE_CONFIG: PolicyConfig = {
  vocabSize: 64,
  dModel: 128,
  layers: 2,
  heads: 4,
  maxLength: 64,
  seed: 0,
};

/**
 * Matmul FLOPs of one forward pass over `B·L` tokens: the linear layers (QKV, output, MLP in and
 * out: `2N·12d²` per layer), the attention products (`4·B·L²·d` per layer) and the output head
 * (`2N·d·V`). Embedding lookups are gathers, not counted. A training step is counted as 3×.
 *
 * @param config The model.
 * @param batch `B`.
 * @param length `L`.
 * @returns FLOPs of the forward pass.
 *
 * @example
 * ```ts
 * import { forwardMatmulFlops } from "./bench.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const c = { vocabSize: 2, dModel: 1, layers: 1, heads: 1, maxLength: 4, seed: 0 };
 * assertEquals(forwardMatmulFlops(c, 1, 1), 2 * 12 + 4 + 2 * 2);
 * ```
 */
export function forwardMatmulFlops(config: PolicyConfig, batch: number, length: number): number {
  const n = batch * length;
  const d = config.dModel;
  const perLayer = 2 * n * 12 * d * d + 4 * batch * length * length * d;
  return config.layers * perLayer + 2 * n * d * config.vocabSize;
}

/** CPU time of this process in ms (robust to other processes sharing the cores; wasm is single-threaded). */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** GFLOP/s of a plain 2-D `n×n` matmul on the active backend (median of `repeats`). */
export async function matmulPeakGflops(
  n = 512,
  repeats = 20,
): Promise<{ wall: number; cpu: number }> {
  const rng = new Random(1);
  const a = tf.tensor2d(Float32Array.from({ length: n * n }, () => rng.normal()), [n, n]);
  const b = tf.tensor2d(Float32Array.from({ length: n * n }, () => rng.normal()), [n, n]);
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let i = 0; i < repeats + 2; i++) {
    const start = performance.now();
    const cpuStart = cpuMs();
    const c = tf.matMul(a, b);
    await c.data();
    const elapsed = performance.now() - start;
    const cpuElapsed = cpuMs() - cpuStart;
    c.dispose();
    if (i >= 2) {
      times.push(elapsed);
      cpuTimes.push(cpuElapsed);
    }
  }
  tf.dispose([a, b]);
  const flop = 2 * n ** 3;
  return { wall: flop / (median(times) / 1000) / 1e9, cpu: flop / (median(cpuTimes) / 1000) / 1e9 };
}

/** Milliseconds of each of `steps` Adam steps (next-token cross-entropy on random tokens). */
export async function timeTrainSteps(
  policy: Policy,
  batch: number,
  length: number,
  steps: number,
): Promise<{ wall: number[]; cpu: number[] }> {
  const { vocabSize } = policy.config;
  const rng = new Random(2);
  const ids = Int32Array.from({ length: batch * (length + 1) }, () => rng.int(vocabSize));
  const all = tf.tensor2d(ids, [batch, length + 1], "int32");
  const inputs = tf.slice(all, [0, 0], [batch, length]) as tf.Tensor2D;
  const targets = tf.tidy(() =>
    tf.cast(
      tf.oneHot(
        tf.reshape(tf.slice(all, [0, 1], [batch, length]), [batch * length]) as tf.Tensor1D,
        vocabSize,
      ),
      "float32",
    )
  );
  // The fused Adam update is one of the typed-array kernels: off with them ("tfjs ops" rows).
  const optimizer = useTypedKernels() ? fusedAdam(1e-3) : tf.train.adam(1e-3);
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let i = 0; i < steps + 1; i++) {
    const start = performance.now();
    const cpuStart = cpuMs();
    const { value, grads } = tf.variableGrads(() =>
      tf.tidy(() => {
        const logits = tf.reshape(policy.logits(inputs), [batch * length, vocabSize]);
        return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), targets), 1))) as tf.Scalar;
      })
    );
    optimizer.applyGradients(grads as tf.NamedTensorMap as Record<string, tf.Variable>);
    await value.data();
    const elapsed = performance.now() - start;
    const cpuElapsed = cpuMs() - cpuStart;
    tf.dispose(grads);
    value.dispose();
    if (i >= 1) {
      times.push(elapsed);
      cpuTimes.push(cpuElapsed);
    }
  }
  optimizer.dispose();
  tf.dispose([all, inputs, targets]);
  return { wall: times, cpu: cpuTimes };
}

/** Tokens per second of `sample` (B = 64 rows, 8-token prompts, 16 new tokens). */
async function samplingThroughput(
  policy: Policy,
  kvCache: boolean,
  repeats: number,
): Promise<{ tokensPerSecond: number; generatedTokens: number }> {
  const rng = new Random(3);
  const prompts = Array.from(
    { length: 64 },
    () => Array.from({ length: 8 }, () => 1 + rng.int(63)),
  );
  let tokens = 0;
  let seconds = 0;
  for (let i = 0; i < repeats + 1; i++) {
    const start = performance.now();
    const r = await sample(policy, prompts, { maxTokens: 16, eosToken: 0, seed: 10 + i, kvCache });
    const elapsed = (performance.now() - start) / 1000;
    if (i >= 1) {
      tokens += r.lengths.reduce((a, b) => a + b, 0);
      seconds += elapsed;
    }
    disposeRollout(r);
  }
  return { tokensPerSecond: tokens / seconds, generatedTokens: tokens / repeats };
}

/**
 * Run the benchmark.
 *
 * @param options `quick` for fewer repetitions; `backend` (default: `initBackend`'s default).
 * @returns The results.
 */
export async function runBench(
  options: { quick?: boolean; backend?: BackendName } = {},
): Promise<BenchResult> {
  const quick = options.quick ?? false;
  const info = await initBackend(options.backend === undefined ? {} : { backend: options.backend });
  const policy = createPolicy(REFERENCE_CONFIG);
  const cached = await samplingThroughput(policy, true, quick ? 2 : 5);
  const naive = await samplingThroughput(policy, false, quick ? 1 : 3);
  const previous = setTypedKernels("off");
  const tfjsOps = await samplingThroughput(policy, true, quick ? 1 : 3);
  setTypedKernels(previous);
  const [batch, sequence] = [16, 64];
  const peak1 = await matmulPeakGflops(512, quick ? 8 : 20);
  // Alternate rounds of the measured path and of the tfjs-op path (the load drifts).
  const times = { wall: [] as number[], cpu: [] as number[] };
  const reference = { wall: [] as number[], cpu: [] as number[] };
  for (let round = 0; round < (quick ? 2 : 5); round++) {
    const t = await timeTrainSteps(policy, batch, sequence, 2);
    times.wall.push(...t.wall);
    times.cpu.push(...t.cpu);
    const before = setTypedKernels("off");
    const r = await timeTrainSteps(policy, batch, sequence, 1);
    setTypedKernels(before);
    reference.wall.push(...r.wall);
    reference.cpu.push(...r.cpu);
  }
  const peak2 = await matmulPeakGflops(512, quick ? 8 : 20);
  const peak = Math.max(peak1.wall, peak2.wall);
  const peakCpu = Math.max(peak1.cpu, peak2.cpu);
  const ms = median(times.wall);
  const cpuMedian = median(times.cpu);
  const gflopPerStep = (3 * forwardMatmulFlops(REFERENCE_CONFIG, batch, sequence)) / 1e9;
  policy.dispose();
  const gflops = gflopPerStep / (ms / 1000);
  const refMs = median(reference.wall);
  const refCpuMs = median(reference.cpu);
  return {
    backend: info.backend,
    cores: navigator.hardwareConcurrency,
    quick,
    loadAverage: Deno.loadavg(),
    sampling: {
      batch: 64,
      promptTokens: 8,
      newTokens: 16,
      generatedTokens: cached.generatedTokens,
      tokensPerSecond: cached.tokensPerSecond,
      tokensPerSecondNoCache: naive.tokensPerSecond,
      speedup: cached.tokensPerSecond / naive.tokensPerSecond,
      tokensPerSecondTfjsOps: tfjsOps.tokensPerSecond,
    },
    trainStep: {
      config: REFERENCE_CONFIG,
      batch,
      sequence,
      ms,
      msAll: times.wall.map((t) => Math.round(t * 10) / 10),
      cpuMs: cpuMedian,
      gflopPerStep,
      gflops,
      peakMatmulGflops: peak,
      fractionOfPeak: gflops / peak,
      gflopsCpu: gflopPerStep / (cpuMedian / 1000),
      peakMatmulGflopsCpu: peakCpu,
      fractionOfPeakCpu: (gflopPerStep / (cpuMedian / 1000)) / peakCpu,
      tfjsOps: {
        ms: refMs,
        cpuMs: refCpuMs,
        fractionOfPeak: gflopPerStep / (refMs / 1000) / peak,
        fractionOfPeakCpu: gflopPerStep / (refCpuMs / 1000) / peakCpu,
      },
    },
  };
}

function table(r: BenchResult): string {
  const f = (x: number, digits = 1) => x.toFixed(digits);
  const rows: [string, string][] = [
    ["backend / cores", `${r.backend} / ${r.cores}`],
    ["sampling tokens/s (cache)", f(r.sampling.tokensPerSecond)],
    ["sampling tokens/s (no cache)", f(r.sampling.tokensPerSecondNoCache)],
    ["sampling speedup", `${f(r.sampling.speedup, 2)}×`],
    ["train step ms (median)", f(r.trainStep.ms)],
    ["train step GFLOP/s", f(r.trainStep.gflops, 2)],
    ["matmul 512 peak GFLOP/s", f(r.trainStep.peakMatmulGflops, 2)],
    ["fraction of peak", `${f(100 * r.trainStep.fractionOfPeak)} %`],
    ["train step CPU ms (median)", f(r.trainStep.cpuMs)],
    [
      "GFLOP/s / peak (CPU time)",
      `${f(r.trainStep.gflopsCpu, 2)} / ${f(r.trainStep.peakMatmulGflopsCpu, 2)}`,
    ],
    ["fraction of peak (CPU time)", `${f(100 * r.trainStep.fractionOfPeakCpu)} %`],
    ["sampling tokens/s (tfjs ops)", f(r.sampling.tokensPerSecondTfjsOps)],
    [
      "train step ms / CPU ms (tfjs ops)",
      `${f(r.trainStep.tfjsOps.ms)} / ${f(r.trainStep.tfjsOps.cpuMs)}`,
    ],
    [
      "fraction of peak wall / CPU (tfjs ops)",
      `${f(100 * r.trainStep.tfjsOps.fractionOfPeak)} % / ${
        f(100 * r.trainStep.tfjsOps.fractionOfPeakCpu)
      } %`,
    ],
    ["load average 1/5/15 min", r.loadAverage.map((x) => f(x, 2)).join(" / ")],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n");
}

async function main(): Promise<void> {
  const flags = parseFlags(
    Deno.args,
    {
      quick: { value: false, default: "off", help: "fewer repetitions" },
      backend: {
        value: true,
        default: "$TREPO_BACKEND, else wasm",
        help: `one of ${BACKENDS.join(", ")}`,
      },
      out: {
        value: true,
        default: "results/bench.json (quick results/quick/bench.json)",
        help: "where the JSON goes",
      },
    },
    "Usage: deno task bench [options]\n\nSampling and training-step speed of the reference model.",
  );
  if (flags !== undefined) {
    const out = flags.out ?? defaultResultsPath("results/bench.json", flags.quick === "true");
    const result = await runBench({
      quick: flags.quick === "true",
      ...(flags.backend === undefined ? {} : { backend: flags.backend as BackendName }),
    });
    console.log(table(result));
    const dir = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) : ".";
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(out, JSON.stringify(result, null, 2) + "\n");
    console.log(`wrote ${out}`);
  }
}

if (import.meta.main) await runCommand(main);
