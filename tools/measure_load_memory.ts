/**
 * Peak resident memory of `loadPretrainedFolder` on one checkpoint folder, each measurement in a
 * fresh process (the peak, `VmHWM` of `/proc/self/status`, is per process):
 *
 *     deno run -A tools/measure_load_memory.ts DIR [--before ROOT] [--backend wasm] [--out FILE]
 *
 * `DIR` is a folder in the Hugging Face layout (e.g. `python3 tools/make_random_model.py
 * --shape smollm2-135m /tmp/smollm2_shape`). `--before ROOT` also measures the library tree at `ROOT` (e.g. an older
 * commit extracted with `git archive <sha> lib | tar -x -C ROOT`), so one JSON holds both. Each
 * row records the peak RSS after the backend is ready (baseline), the peak during the load, the
 * RSS after it, the float32 size of the weights and the time. Written to `--out` (default
 * `results/load_memory.json`) with the command line that produced it. Linux only.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** What one child process measures. */
interface LoadMemory {
  /** The library tree measured. */
  root: string;
  /** The backend. */
  backend: string;
  /** Parameters loaded. */
  parameters: number;
  /** Their float32 size, MiB. */
  float32MiB: number;
  /** Peak RSS (VmHWM) once the backend is ready, before loading, MiB. */
  baselinePeakMiB: number;
  /** Peak RSS at the end of the load, MiB. */
  peakMiB: number;
  /** `peakMiB − baselinePeakMiB`. */
  loadPeakMiB: number;
  /** RSS after the load (`Deno.memoryUsage().rss`), MiB. */
  rssAfterMiB: number;
  /** Seconds the load took. */
  seconds: number;
}

const MIB = 1024 * 1024;

function peakRssMiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
  return kb / 1024;
}

/** In the child: load `dir` with the library at `root` and print one JSON line. */
async function child(root: string, dir: string, backend: string): Promise<void> {
  const base = new URL(`file://${Deno.realPathSync(root)}/`);
  const { initBackend } = await import(new URL("lib/backend.ts", base).href);
  const { loadPretrainedFolder } = await import(new URL("lib/models/pretrained.ts", base).href);
  await initBackend({ backend });
  const baselinePeakMiB = peakRssMiB();
  const started = performance.now();
  const { policy } = await loadPretrainedFolder(dir);
  const seconds = (performance.now() - started) / 1000;
  const peakMiB = peakRssMiB();
  let parameters = 0;
  for (const w of policy.weights.values()) parameters += w.size;
  const row: LoadMemory = {
    root,
    backend,
    parameters,
    float32MiB: (parameters * 4) / MIB,
    baselinePeakMiB,
    peakMiB,
    loadPeakMiB: peakMiB - baselinePeakMiB,
    rssAfterMiB: Deno.memoryUsage().rss / MIB,
    seconds,
  };
  policy.dispose();
  console.log(JSON.stringify(row));
}

async function measure(root: string, dir: string, backend: string): Promise<LoadMemory> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--child",
      root,
      "--backend",
      backend,
      dir,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  if (!out.success) throw new Error(`Cannot measure ${root}: the child process failed: ${text}`);
  return JSON.parse(text);
}

async function main(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      child: { type: "string" },
      before: { type: "string" },
      backend: { type: "string", default: "wasm" },
      out: { type: "string", default: "results/load_memory.json" },
    },
  });
  const dir = positionals[0];
  if (dir === undefined) {
    throw new RangeError("Cannot measure: give the checkpoint folder, got no argument");
  }
  if (values.child !== undefined) return await child(values.child, dir, values.backend);
  const here = new URL("..", import.meta.url).pathname;
  const rows: Record<string, LoadMemory> = {};
  if (values.before !== undefined) rows.before = await measure(values.before, dir, values.backend);
  rows.after = await measure(here, dir, values.backend);
  const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  const report = {
    command: `deno run -A tools/measure_load_memory.ts ${args.join(" ")}`,
    checkpoint: {
      dir,
      dtype: config.torch_dtype ?? config.dtype,
      shards:
        (await Array.fromAsync(Deno.readDir(dir))).filter((e) => e.name.endsWith(".safetensors"))
          .length,
      made_by: "python3 tools/make_random_model.py --shape smollm2-135m DIR (random, BF16)",
    },
    date: new Date().toISOString(),
    ...rows,
  };
  await Deno.mkdir(values.out.replace(/\/[^/]*$/, "") || ".", { recursive: true });
  await Deno.writeTextFile(values.out, JSON.stringify(report, null, 2) + "\n");
  console.log(JSON.stringify(report, null, 2));
}

if (import.meta.main) await main(Deno.args);
