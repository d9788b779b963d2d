/**
 * `deno run -A tools/bench_blas.ts [--rounds 3] [--out results/bench_blas.json]`: the native GEMM
 * (OpenBLAS through FFI, `lib/native_gemm.ts`) against the plain wasm matmul, in one process,
 * alternating rounds: a 512³ matmul, the `deno task bench` train step (reference model, 16 × 64
 * tokens, Adam) and the `bench:rl` GRPO β = 0 step. BLAS threads 1 and 2 are both measured.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend.ts";
import { loadNativeGemm, setNativeGemm } from "../lib/native_gemm.ts";
import { matmulPeakGflops, REFERENCE_CONFIG, timeTrainSteps } from "../lib/cli/bench.ts";
import { benchRl } from "../lib/cli/bench_rl.ts";
import { createPolicy } from "../lib/policy/transformer.ts";
import { parseFlags, runCommand } from "../lib/cli/flags.ts";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args, {
    rounds: { value: true, default: "3", help: "alternating rounds" },
    steps: { value: true, default: "8", help: "timed steps per measurement" },
    out: { value: true, default: "results/bench_blas.json", help: "where the JSON goes" },
  }, "Usage: deno run -A tools/bench_blas.ts [options]");
  if (flags === undefined) return;
  const rounds = Number(flags.rounds ?? "3");
  const steps = Number(flags.steps ?? "8");
  await initBackend({ backend: "wasm" });
  const variants: [string, number][] = [["wasm", 0], ["openblas_1t", 1], ["openblas_2t", 2]];
  const results: Record<string, Record<string, number[]>> = {};
  const put = (variant: string, what: string, x: number) =>
    ((results[variant] ??= {})[what] ??= []).push(x);
  const loads = [Deno.loadavg()];
  for (let round = 0; round < rounds; round++) {
    for (const [variant, threads] of variants) {
      if (threads === 0) setNativeGemm(false);
      else {
        const status = loadNativeGemm({ threads });
        if (!status.active) throw new Error(`Cannot measure the native GEMM: ${status.reason}`);
      }
      const peak = await matmulPeakGflops(512, 10);
      put(variant, "matmul512_gflops", peak.wall);
      const policy = createPolicy(REFERENCE_CONFIG);
      const train = await timeTrainSteps(policy, 16, 64, steps);
      policy.dispose();
      put(variant, "train_step_ms", median(train.wall));
      const [row] = await benchRl({
        steps,
        warmup: 2,
        filter: (a, beta, typed) => a === "grpo" && beta === 0 && typed,
      });
      put(variant, "grpo_step_ms", row.step_ms);
      put(variant, "grpo_train_ms", row.train_ms);
      put(variant, "grpo_sample_ms", row.sample_ms);
      console.log(
        `round ${round + 1} ${variant.padEnd(12)} matmul512 ${peak.wall.toFixed(0)} GFLOP/s, ` +
          `train step ${median(train.wall).toFixed(1)} ms, GRPO step ${
            row.step_ms.toFixed(1)
          } ms ` +
          `(sample ${row.sample_ms.toFixed(1)}, train ${row.train_ms.toFixed(1)})`,
      );
    }
    loads.push(Deno.loadavg());
  }
  setNativeGemm(false);
  const medians = Object.fromEntries(
    Object.entries(results).map((
      [v, r],
    ) => [v, Object.fromEntries(Object.entries(r).map(([k, xs]) => [k, median(xs)]))]),
  );
  const ratios: Record<string, Record<string, number>> = {};
  for (const v of ["openblas_1t", "openblas_2t"]) {
    ratios[`${v}_over_wasm`] = Object.fromEntries(
      Object.keys(medians.wasm).map((k) => [k, medians[v][k] / medians.wasm[k]]),
    );
  }
  console.log(JSON.stringify({ medians, ratios }, null, 2));
  const out = flags.out ?? "results/bench_blas.json";
  await Deno.writeTextFile(
    out,
    JSON.stringify(
      {
        note:
          "medians over rounds of per-round medians; wall clock on a shared 2-core machine; openblas_Nt = native GEMM with N OpenBLAS threads",
        tfjs: tf.version.tfjs,
        rounds,
        steps,
        medians,
        ratios,
        per_round: results,
        loadAverage: loads,
        date: new Date().toISOString(),
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`Wrote ${out}`);
}

if (import.meta.main) await runCommand(main);
