/**
 * `deno run -A lib/cli/bench_rl.ts [--steps 20] [--warmup 2] [--backend wasm] [--out results/bench_rl.json]`
 * (the native GEMM with `TREPO_BLAS=openblas`, recorded as `native_gemm`):
 * milliseconds per RL optimizer step of GRPO, RLOO and TRePO on a fixed shape (2 prompts × 8
 * responses, 8-token prompts, exactly 16 new tokens with EOS blocked, vocabulary 64, d 128,
 * 2 layers, 4 heads), with β = 0 and β = 0.04, split into sampling, scoring + advantage and
 * training time, plus sampling tokens per second and the process's CPU time per step. Medians over
 * the measured steps. GRPO β = 0 is also measured with the typed-array kernels off (every op a
 * tfjs op), for comparison in the same run.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendName, BACKENDS, initBackend } from "../backend.ts";
import { parseFlags, runCommand } from "./flags.ts";
import { Random } from "../random.ts";
import { createPolicy, freezePolicy, type Policy } from "../policy/transformer.ts";
import { charTokenizer } from "../tasks/task.ts";
import {
  type Algorithm,
  resolveConfig,
  type RlConfig,
  type StepBatch,
} from "../algorithms/step.ts";
import { grpo } from "../algorithms/grpo.ts";
import { rloo } from "../algorithms/rloo.ts";
import { trepo } from "../algorithms/trepo.ts";
import { setTypedKernels } from "../policy/causal_attention.ts";
import { fusedAdam } from "../policy/fused_adam.ts";
import process from "node:process";

/** One measured configuration. */
export interface RlBenchRow {
  /** Algorithm name. */
  algorithm: string;
  /** KL coefficient (0: no reference forward pass). */
  beta: number;
  /** Whether the typed-array kernels ran (false: every op a tfjs op, the previous path). */
  typed_kernels: boolean;
  /** Median milliseconds of a whole step. */
  step_ms: number;
  /** Median CPU milliseconds of this process per step (robust to other load on the machine). */
  step_cpu_ms: number;
  /** Median milliseconds of sampling (TRePO: responses and continuations). */
  sample_ms: number;
  /** Median milliseconds of scoring (the reward functions; TRePO: continuations too). */
  score_ms: number;
  /** Median milliseconds of advantage estimation alone. */
  advantage_ms: number;
  /** Median milliseconds of the loss and the optimizer update. */
  train_ms: number;
  /** Median generated tokens per step. */
  tokens_per_step: number;
  /** Median sampling throughput, generated tokens per second of sampling time. */
  sample_tokens_per_s: number;
}

const VOCAB = 64;
const PROMPT_TOKENS = 8;
const NEW_TOKENS = 16;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Block EOS: with the final LayerNorm's gain uniform, `Σ_d h_d = Σ_d b_d` for every position
 * (normalised activations sum to 0), so a constant EOS column `−10⁴` and `b = 1/d` give EOS a logit
 * of −10⁴ everywhere. A learning rate of 1e-6 keeps it so during the measured steps.
 */
function blockEos(policy: Policy, eos: number): void {
  const d = policy.config.dModel;
  const head = policy.weights.get("head")!;
  const lnfB = policy.weights.get("lnf.b")!;
  const lnfG = policy.weights.get("lnf.g")!;
  tf.tidy(() => {
    const column = tf.oneHot(tf.tensor1d([eos], "int32"), VOCAB).reshape([1, VOCAB]);
    const mask = tf.sub(1, tf.cast(column, "float32"));
    head.assign(
      tf.add(tf.mul(head, mask), tf.mul(tf.cast(column, "float32"), -1e4)) as tf.Tensor2D,
    );
    lnfB.assign(tf.fill(lnfB.shape, 1 / d));
    lnfG.assign(tf.onesLike(lnfG));
  });
}

/**
 * Measure the configurations.
 *
 * @param options Measured steps, warm-up steps, and a progress callback.
 * @returns One row per algorithm and β.
 */
export async function benchRl(
  options: {
    steps?: number;
    warmup?: number;
    log?: (line: string) => void;
    /** Keep only the rows this accepts (default: all). `bench:peer` measures GRPO β = 0 alone. */
    filter?: (algorithm: string, beta: number, typedKernels: boolean) => boolean;
  } = {},
): Promise<RlBenchRow[]> {
  const steps = options.steps ?? 20;
  const warmup = options.warmup ?? 2;
  const chars = Array.from({ length: VOCAB - 1 }, (_, i) => String.fromCharCode(0x21 + i));
  const tokenizer = charTokenizer(chars);
  const rows: RlBenchRow[] = [];
  const cases: [Algorithm<RlConfig>, Record<string, unknown>, number[], boolean][] = [
    [grpo as unknown as Algorithm<RlConfig>, {}, [0, 0.04], true],
    [grpo as unknown as Algorithm<RlConfig>, {}, [0], false],
    [rloo as unknown as Algorithm<RlConfig>, {}, [0, 0.04], true],
    [trepo as unknown as Algorithm<RlConfig>, { positions: 4, continuations: 4 }, [0, 0.04], true],
  ];
  for (const [algorithm, extra, betas, typed] of cases) {
    const previousMode = setTypedKernels(typed ? "auto" : "off");
    for (const beta of betas) {
      if (options.filter !== undefined && !options.filter(algorithm.name, beta, typed)) continue;
      const config = resolveConfig(algorithm, {
        ...extra,
        promptsPerStep: 2,
        groupSize: 8,
        beta,
        learningRate: 1e-6,
        maxTokens: NEW_TOKENS,
      });
      const policy = createPolicy({
        vocabSize: VOCAB,
        dModel: 128,
        layers: 2,
        heads: 4,
        maxLength: PROMPT_TOKENS + NEW_TOKENS,
        seed: 1,
      });
      blockEos(policy, tokenizer.eos);
      const reference = beta > 0 ? freezePolicy(policy) : undefined;
      // The fused Adam update counts as a typed-array kernel: off in the "tfjs ops" row.
      const optimizer = typed ? fusedAdam(config.learningRate) : tf.train.adam(config.learningRate);
      const rng = new Random(2);
      const promptRng = new Random(3);
      const target = chars[0];
      const batch = (): StepBatch => ({
        prompts: Array.from(
          { length: 2 },
          () =>
            Array.from({ length: PROMPT_TOKENS }, () => chars[promptRng.int(chars.length)]).join(
              "",
            ),
        ),
        tokenizer,
        rewardFns: {
          share: (_p: string, c: string) => [...c].filter((x) => x === target).length / 16,
        },
        maxTokens: NEW_TOKENS,
      });
      const samples: Record<string, number>[] = [];
      for (let i = 0; i < warmup + steps; i++) {
        const started = performance.now();
        const cpuStarted = process.cpuUsage();
        const m = await algorithm.step(
          { config, policy, reference, optimizers: { policy: optimizer }, rng, step: i + 1 },
          batch(),
        );
        const total = performance.now() - started;
        const cpu = process.cpuUsage(cpuStarted);
        if (i >= warmup) samples.push({ ...m, total, cpu: (cpu.user + cpu.system) / 1000 });
      }
      const row: RlBenchRow = {
        algorithm: algorithm.name,
        beta,
        typed_kernels: typed,
        step_ms: median(samples.map((s) => s.total)),
        step_cpu_ms: median(samples.map((s) => s.cpu)),
        sample_ms: median(samples.map((s) => s["time/sample_s"] * 1000)),
        score_ms: median(samples.map((s) => s["time/score_s"] * 1000)),
        advantage_ms: median(samples.map((s) => s["time/advantage_s"] * 1000)),
        train_ms: median(samples.map((s) => s["time/train_s"] * 1000)),
        tokens_per_step: median(samples.map((s) => s["tokens/generated"])),
        sample_tokens_per_s: median(samples.map((s) => s["tokens/generated"] / s["time/sample_s"])),
      };
      rows.push(row);
      options.log?.(
        `${row.algorithm.padEnd(6)} β=${String(beta).padEnd(5)}${typed ? "" : " (tfjs ops)"} step ${
          row.step_ms.toFixed(0)
        } ms (CPU ${row.step_cpu_ms.toFixed(0)}) ` +
          `(sample ${row.sample_ms.toFixed(0)}, score ${row.score_ms.toFixed(1)}, adv ${
            row.advantage_ms.toFixed(1)
          }, train ${row.train_ms.toFixed(0)}) ${row.tokens_per_step} tokens, ${
            row.sample_tokens_per_s.toFixed(0)
          } tok/s sampling`,
      );
      optimizer.dispose();
      reference?.dispose();
      policy.dispose();
    }
    setTypedKernels(previousMode);
  }
  return rows;
}

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args, {
    backend: {
      value: true,
      default: "$TREPO_BACKEND, else wasm",
      help: `one of ${BACKENDS.join(", ")}`,
    },
    out: { value: true, default: "results/bench_rl.json", help: "where the JSON goes" },
    steps: { value: true, default: "20", help: "timed steps per row (the median is reported)" },
    warmup: { value: true, default: "2", help: "untimed steps first" },
  }, "Usage: deno task bench:rl [options]\n\nMilliseconds per RL step of GRPO, RLOO and TRePO.");
  if (flags === undefined) return;
  const backend = await initBackend(
    flags.backend === undefined ? {} : { backend: flags.backend as BackendName },
  );
  const out = flags.out ?? "results/bench_rl.json";
  const steps = Number(flags.steps ?? "20");
  const warmup = Number(flags.warmup ?? "2");
  const blas = backend.blas?.active
    ? `${backend.blas.library}, ${backend.blas.threads ?? "default"} thread(s)`
    : "off";
  console.log(
    `rlStep bench on ${backend.backend} (native GEMM: ${blas}): median of ${steps} steps after ${warmup} warm-up`,
  );
  const rows = await benchRl({ steps, warmup, log: (line) => console.log(line) });
  await Deno.mkdir(out.slice(0, Math.max(0, out.lastIndexOf("/"))) || ".", { recursive: true });
  await Deno.writeTextFile(
    out,
    JSON.stringify(
      {
        rlStep: {
          backend: backend.backend,
          native_gemm: blas,
          shape: {
            prompts: 2,
            responses_per_prompt: 8,
            prompt_tokens: PROMPT_TOKENS,
            new_tokens: NEW_TOKENS,
            vocab: VOCAB,
            d_model: 128,
            layers: 2,
            heads: 4,
          },
          steps,
          warmup,
          note:
            "wall-clock medians on a shared machine (expect ±20% between runs); step_cpu_ms is this process's CPU time; typed_kernels false = every op a tfjs op (the previous path)",
          loadAverage: Deno.loadavg(),
          date: new Date().toISOString(),
          rows,
        },
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`Wrote ${out}`);
}

if (import.meta.main) await runCommand(main);
