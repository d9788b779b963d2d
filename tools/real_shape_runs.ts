/**
 * Train every recipe for 2 steps on random models of real shapes, through the CLI a researcher
 * uses (`lib/cli/train.ts --model DIR --data F`), and record whether each run completes, its wall
 * time, its peak RSS (`/usr/bin/time -v`), the memory plan it chose (run.json) and its metrics, in
 * `results/real_shape_runs.json`. A refusal or a crash is recorded as such: it is a finding.
 *
 *   python3 tools/make_random_model.py --shape smollm2-135m /tmp/smollm2_shape
 *   python3 tools/make_random_model.py --shape qwen2.5-0.5b /tmp/qwen_shape
 *   deno run -A tools/real_shape_runs.ts [--smol DIR] [--qwen DIR] [--only NAME,…] [--out FILE]
 *
 * Runs one at a time (each takes the machine's cores). Runs already in the output file are kept
 * unless named again with --only, so the matrix can be filled in over several sittings.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** One run of the matrix. */
interface RunSpec {
  name: string;
  model: "smol" | "qwen";
  algorithm: string;
  /** `openblas`: the native GEMM; `off`: plain tfjs-wasm. */
  blas: "openblas" | "off";
  extra: string[];
}

const RECIPES = ["grpo", "dr_grpo", "rloo", "reinforce", "remax", "ppo", "trepo"];
/** TRePO at these shapes: one prompt of two responses, one evaluated position, K = 2. */
const TREPO_SMALL = [
  "--prompts-per-step",
  "1",
  "--group-size",
  "2",
  "--positions",
  "1",
  "--continuations",
  "2",
];

function matrix(): RunSpec[] {
  const runs: RunSpec[] = [];
  for (const blas of ["openblas", "off"] as const) {
    for (const algorithm of RECIPES) {
      runs.push({
        name: `smol_${algorithm}_${blas}`,
        model: "smol",
        algorithm,
        blas,
        extra: [],
      });
    }
  }
  for (const algorithm of ["grpo", "trepo"]) {
    runs.push({
      name: `qwen_${algorithm}_lora8_openblas`,
      model: "qwen",
      algorithm,
      blas: "openblas",
      extra: ["--lora-rank", "8", ...(algorithm === "trepo" ? TREPO_SMALL : [])],
    });
  }
  return runs;
}

/** The command of one run (without `/usr/bin/time`). */
function trainArgs(spec: RunSpec, modelDir: string, outDir: string): string[] {
  return [
    "run",
    "-A",
    "lib/cli/train.ts",
    "--model",
    modelDir,
    "--data",
    `${modelDir}/prompts.jsonl`,
    "--algorithm",
    spec.algorithm,
    "--steps",
    "2",
    "--eval-every",
    "0",
    ...(spec.extra.includes("--prompts-per-step")
      ? []
      : ["--prompts-per-step", "2", "--group-size", "4"]),
    "--max-tokens",
    "32",
    "--out",
    outDir,
    "--overwrite",
    "--quiet",
    ...spec.extra,
  ];
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined;
  }
}

async function readJsonl(path: string): Promise<unknown[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((l) => l.trim() !== "").map((l) =>
      JSON.parse(l)
    );
  } catch {
    return [];
  }
}

/** Run one spec and collect what it left. */
async function runOne(spec: RunSpec, modelDir: string, scratch: string) {
  const outDir = `${scratch}/${spec.name}`;
  const args = trainArgs(spec, modelDir, outDir);
  const started = performance.now();
  const child = new Deno.Command("/usr/bin/time", {
    args: ["-v", Deno.execPath(), ...args],
    env: { TREPO_BLAS: spec.blas, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stdout, stderr } = await child.output();
  const wall = (performance.now() - started) / 1000;
  const err = new TextDecoder().decode(stderr);
  const out = new TextDecoder().decode(stdout);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err);
  const runJson = await readJson(`${outDir}/run.json`) as Record<string, unknown> | undefined;
  // What the run printed last before time's report: the refusal or the crash, if any.
  const tail = (out + err.split("\tCommand being timed")[0]).trim().split("\n").slice(-6).join(
    "\n",
  );
  return {
    name: spec.name,
    algorithm: spec.algorithm,
    blas: spec.blas,
    extra_flags: spec.extra.join(" "),
    rc: code,
    wall_s: Math.round(wall),
    peak_rss_mib: rss === null ? null : Math.round(Number(rss[1]) / 1024),
    memory_plan: runJson?.memory ?? null,
    metrics: await readJsonl(`${outDir}/metrics.jsonl`),
    ...(code === 0 ? {} : { output_tail: tail }),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      smol: { type: "string", default: "/tmp/smollm2_shape" },
      qwen: { type: "string", default: "/tmp/qwen_shape" },
      only: { type: "string" },
      out: { type: "string", default: "results/real_shape_runs.json" },
      scratch: { type: "string", default: "/tmp/real_shape_runs" },
    },
  });
  const only = values.only?.split(",").map((s) => s.trim());
  const specs = matrix().filter((s) => only === undefined || only.includes(s.name));
  if (only !== undefined && specs.length !== only.length) {
    const known = matrix().map((s) => s.name).join(", ");
    throw new RangeError(`real_shape_runs: --only names a run that is not in the matrix: ${known}`);
  }
  const previous = await readJson(values.out) as { runs?: { name: string }[] } | undefined;
  const runs = new Map((previous?.runs ?? []).map((r) => [r.name, r]));
  for (const spec of specs) {
    const dir = spec.model === "smol" ? values.smol : values.qwen;
    console.log(`real_shape_runs: ${spec.name} …`);
    const result = await runOne(spec, dir, values.scratch);
    console.log(
      `real_shape_runs: ${spec.name}: rc ${result.rc}, ${result.wall_s} s, peak RSS ${result.peak_rss_mib} MiB`,
    );
    runs.set(spec.name, result);
    const order = matrix().map((s) => s.name);
    const sorted = [...runs.values()].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    await Deno.writeTextFile(
      values.out,
      JSON.stringify(
        {
          command:
            "deno run -A tools/real_shape_runs.ts (each run: TREPO_BLAS=… /usr/bin/time -v " +
            "deno run -A lib/cli/train.ts --model DIR --data DIR/prompts.jsonl --algorithm ALGO " +
            "--steps 2 --eval-every 0 --prompts-per-step 2 --group-size 4 --max-tokens 32 EXTRA)",
          models: "python3 tools/make_random_model.py --shape smollm2-135m /tmp/smollm2_shape; " +
            "--shape qwen2.5-0.5b /tmp/qwen_shape",
          note: "one run each, one at a time, on a 2-core machine shared with other work (times " +
            "are indicative); peak RSS from /usr/bin/time -v; random models score 0 on " +
            "correctness and format, so advantages and gradients are zero, but every pass runs",
          runs: sorted,
        },
        null,
        2,
      ) + "\n",
    );
  }
}
