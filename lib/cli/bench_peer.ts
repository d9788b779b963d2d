/**
 * `deno task bench:peer [--rounds 3] [--steps 10] [--warmup 2] [--peer-threads 2,1] [--out results/bench_peer.json]`:
 * trepo's GRPO step (β = 0, the `bench:rl` workload) against the same step in TRL's `GRPOTrainer`
 * and in a lean hand-written PyTorch loop (`tools/bench_peer.py`), one after the other, for several
 * alternating rounds. When OpenBLAS loads, trepo is also timed with the native GEMM
 * (`lib/native_gemm.ts`, `--blas-threads`, default 1). Writes each median (the median of the
 * per-round medians) and the ratios trepo / TRL and trepo / lean PyTorch.
 *
 * The peers need Python with torch, transformers, trl, datasets and tokenizers; when any is missing
 * the command says which and how to install them, and exits with status 1.
 *
 * @module
 */
import { type BackendName, initBackend } from "../backend.ts";
import { parseFlags, runCommand } from "./flags.ts";
import { benchRl } from "./bench_rl.ts";
import { loadNativeGemm, setNativeGemm } from "../native_gemm.ts";

/** What the Python probe found. */
export interface PeerPythonCheck {
  /** The interpreter that was tried. */
  python: string;
  /** Modules that could not be imported (empty: ready). */
  missing: string[];
  /** Set when the interpreter itself could not be run. */
  error?: string;
}

const SCRIPT = new URL("../../tools/bench_peer.py", import.meta.url).pathname;
const PIP_PACKAGES = "torch transformers trl datasets tokenizers";

/**
 * Check that `python` can run the peer benchmark.
 *
 * @param python The interpreter (default `$TREPO_PYTHON`, else `python3`).
 * @returns The interpreter and the missing modules.
 */
export async function checkPeerPython(python?: string): Promise<PeerPythonCheck> {
  const exe = python ?? Deno.env.get("TREPO_PYTHON") ?? "python3";
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(exe, {
      args: [SCRIPT, "--check"],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { python: exe, missing: PIP_PACKAGES.split(" "), error: reason };
  }
  const text = new TextDecoder().decode(output.stdout).trim();
  try {
    const parsed = JSON.parse(text.split("\n").at(-1) ?? "") as { missing: string[] };
    return { python: exe, missing: parsed.missing };
  } catch {
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").at(-1) ?? "";
    return {
      python: exe,
      missing: PIP_PACKAGES.split(" "),
      error: stderr || `exit ${output.code}`,
    };
  }
}

/**
 * The message `bench:peer` prints when the peers cannot run.
 *
 * @param check The result of {@linkcode checkPeerPython}.
 * @returns A message that says what is missing and how to install it.
 */
export function missingPeerMessage(check: PeerPythonCheck): string {
  const what = check.error !== undefined
    ? `the Python interpreter "${check.python}" could not be run (${check.error})`
    : `the Python interpreter "${check.python}" lacks the modules ${check.missing.join(", ")}`;
  return `Cannot run the peer benchmark: ${what}. Install them with ` +
    `\`${check.python} -m pip install ${PIP_PACKAGES}\` (on CPU-only machines add ` +
    "`--index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple`" +
    " for a small torch), or point TREPO_PYTHON at an interpreter that has them";
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

interface PeerRun {
  torch: string;
  transformers: string;
  trl: string;
  threads: number;
  impls: Record<string, { step_ms: number[]; median_ms: number }>;
}

async function runPeers(
  python: string,
  threads: number,
  steps: number,
  warmup: number,
): Promise<PeerRun> {
  const out = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const result = await new Deno.Command(python, {
      args: [
        SCRIPT,
        "--impl",
        "trl,lean",
        "--threads",
        String(threads),
        "--steps",
        String(steps),
        "--warmup",
        String(warmup),
        "--out",
        out,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (result.code !== 0) {
      const tail = new TextDecoder().decode(result.stderr).trim().split("\n").slice(-5).join("\n");
      throw new Error(
        `Cannot run the peer benchmark: ${SCRIPT} exited with ${result.code}: ${tail}`,
      );
    }
    return JSON.parse(await Deno.readTextFile(out)) as PeerRun;
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args, {
    backend: { value: true, default: "$TREPO_BACKEND, else wasm", help: "trepo's tfjs backend" },
    rounds: { value: true, default: "3", help: "alternating rounds (trepo, then the peers)" },
    steps: { value: true, default: "10", help: "timed steps per implementation and round" },
    warmup: { value: true, default: "2", help: "untimed steps first" },
    "peer-threads": { value: true, default: "2,1", help: "torch thread counts to measure" },
    blas: {
      value: true,
      default: "auto",
      help: "also time trepo with the native GEMM (auto: when OpenBLAS loads; off)",
    },
    "blas-threads": { value: true, default: "1", help: "OpenBLAS threads for that row" },
    python: { value: true, default: "$TREPO_PYTHON, else python3", help: "the interpreter" },
    out: { value: true, default: "results/bench_peer.json", help: "where the JSON goes" },
  }, "Usage: deno task bench:peer [options]\n\ntrepo's GRPO step against TRL and lean PyTorch.");
  if (flags === undefined) return;
  const check = await checkPeerPython(flags.python);
  if (check.missing.length > 0 || check.error !== undefined) {
    console.error(missingPeerMessage(check));
    Deno.exit(1);
  }
  const backend = await initBackend(
    flags.backend === undefined ? {} : { backend: flags.backend as BackendName },
  );
  const rounds = Number(flags.rounds ?? "3");
  const steps = Number(flags.steps ?? "10");
  const warmup = Number(flags.warmup ?? "2");
  const threads = (flags["peer-threads"] ?? "2,1").split(",").map(Number);
  const out = flags.out ?? "results/bench_peer.json";
  const blasThreads = Number(flags["blas-threads"] ?? "1");
  let blas: string | undefined;
  if ((flags.blas ?? "auto") !== "off" && backend.backend === "wasm") {
    const status = loadNativeGemm({ threads: blasThreads });
    setNativeGemm(false);
    if (status.active) blas = status.library;
    else console.warn(`bench:peer: no native-GEMM row: ${status.reason}`);
  }
  const perRound: Record<string, number[]> = {};
  const record = (name: string, ms: number) => (perRound[name] ??= []).push(ms);
  let versions: Omit<PeerRun, "impls" | "threads"> | undefined;
  const loads: number[][] = [Deno.loadavg()];
  for (let round = 0; round < rounds; round++) {
    const [row] = await benchRl({
      steps,
      warmup,
      filter: (algorithm, beta, typed) => algorithm === "grpo" && beta === 0 && typed,
    });
    record("trepo", row.step_ms);
    console.log(`round ${round + 1}: trepo ${row.step_ms.toFixed(1)} ms`);
    if (blas !== undefined) {
      setNativeGemm(true);
      const [native] = await benchRl({
        steps,
        warmup,
        filter: (algorithm, beta, typed) => algorithm === "grpo" && beta === 0 && typed,
      });
      setNativeGemm(false);
      record("trepo_openblas", native.step_ms);
      console.log(
        `round ${round + 1}: trepo + OpenBLAS (${blasThreads} threads) ${
          native.step_ms.toFixed(1)
        } ms`,
      );
    }
    for (const t of threads) {
      const peers = await runPeers(check.python, t, steps, warmup);
      versions = { torch: peers.torch, transformers: peers.transformers, trl: peers.trl };
      for (const [impl, r] of Object.entries(peers.impls)) {
        record(`${impl}_${t}t`, r.median_ms);
        console.log(`round ${round + 1}: ${impl} (${t} threads) ${r.median_ms.toFixed(1)} ms`);
      }
    }
    loads.push(Deno.loadavg());
  }
  const medians = Object.fromEntries(
    Object.entries(perRound).map(([k, v]) => [k, median(v)]),
  );
  const best = (impl: string) => Math.min(...threads.map((t) => medians[`${impl}_${t}t`]));
  const ratios: Record<string, number> = {
    trepo_over_trl: medians.trepo / best("trl"),
    trepo_over_lean_torch: medians.trepo / best("lean"),
  };
  if (blas !== undefined) {
    ratios.trepo_openblas_over_trl = medians.trepo_openblas / best("trl");
    ratios.trepo_openblas_over_lean_torch = medians.trepo_openblas / best("lean");
  }
  for (const t of threads) {
    ratios[`trepo_over_trl_${t}t`] = medians.trepo / medians[`trl_${t}t`];
    ratios[`trepo_over_lean_torch_${t}t`] = medians.trepo / medians[`lean_${t}t`];
  }
  for (const [k, v] of Object.entries(ratios)) console.log(`${k}: ${v.toFixed(2)}`);
  await Deno.mkdir(out.slice(0, Math.max(0, out.lastIndexOf("/"))) || ".", { recursive: true });
  await Deno.writeTextFile(
    out,
    JSON.stringify(
      {
        workload:
          "GRPO beta=0, 2 prompts x 8 responses, 8-token prompts, 16 new tokens (EOS suppressed), vocab 64, d 128, 2 layers, 4 heads, fp32",
        backend: backend.backend,
        peers: versions,
        peer_threads: threads,
        trepo_openblas: blas === undefined
          ? null
          : { library: blas, threads: blasThreads, note: 'initBackend({ blas: "openblas" })' },
        rounds,
        steps,
        warmup,
        note:
          "medians of per-round medians of wall-clock ms per step; the headline ratios use each peer's faster thread count (on a loaded 2-core machine torch with 2 threads can be slower than with 1)",
        medians_ms: medians,
        per_round_ms: perRound,
        ratios,
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
