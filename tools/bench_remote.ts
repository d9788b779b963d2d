/**
 * `deno task bench:remote [--steps 12] [--rounds 3] [--out results/bench_remote.json]`: what the
 * remote sampler adds to a training step (JSON serialisation, HTTP round trips, parsing, and the
 * local recomputation of the old log-probs) against the local sampler, for GRPO and TRePO.
 *
 * Both runs sample with the same policy and the same seeds: the remote one through the fake
 * OpenAI-compatible server of `tests/remote/fake_server.ts`, in this process on 127.0.0.1, which
 * generates with the policy being trained (so the generation itself costs the same on both
 * sides), the local one through a sampler that draws its seeds the same way. The difference of
 * the medians is the client's cost (plus the fake server's own JSON work). Rounds alternate
 * local and remote after one warm-up pair; the first step of every run is not counted.
 *
 * Workload: the addition task, 2 prompts × 8 responses, a fresh policy with d 128, 2 layers,
 * 4 heads; TRePO with its defaults (m = 4, K = 4).
 *
 * @module
 */
import { initBackend } from "../lib/backend.ts";
import { parseFlags, runCommand } from "../lib/cli/flags.ts";
import { createPolicy, type Policy } from "../lib/policy/transformer.ts";
import { sample } from "../lib/sample/sample.ts";
import { greedy } from "../lib/sample/greedy.ts";
import { remoteSampler } from "../lib/sample/remote_sampler.ts";
import type { Sampler } from "../lib/sample/sampler.ts";
import { train } from "../lib/algorithms/train.ts";
import { defaultPolicyConfig } from "../lib/tasks/default_policy_config.ts";
import { addition } from "../lib/tasks/addition.ts";
import { continueFrom } from "../lib/sample/continue_from.ts";
import { startFakeServer, withoutSync } from "../tests/remote/fake_server.ts";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Local sampling with one seed drawn per call, as the remote sampler draws them. */
const seededLocal: Sampler = {
  name: "seeded local",
  remote: false,
  sample: (policy, prompts, o) =>
    sample(policy, prompts, { ...o, rng: undefined, seed: o.rng!.int(2 ** 31) }),
  greedy,
  continueFrom: (policy, rollout, prefixes, o) =>
    continueFrom(policy, rollout, prefixes, { ...o, rng: undefined, seed: o.rng!.int(2 ** 31) }),
};

interface Run {
  stepMs: number[];
  sampleMs: number[];
  requests: number;
  requestBytes: number;
}

async function runOnce(algorithm: string, remote: boolean, steps: number): Promise<Run> {
  const policy: Policy = createPolicy(
    defaultPolicyConfig(addition, { dModel: 128, layers: 2, heads: 4, seed: 1 }),
  );
  const server = remote
    ? startFakeServer({ policy, eosToken: addition.tokenizer.eos, model: "bench" })
    : undefined;
  const marks: number[] = [];
  try {
    const result = await train({
      algorithm,
      task: "addition",
      policy,
      steps,
      seed: 3,
      config: { promptsPerStep: 2, groupSize: 8 },
      sampler: server === undefined
        ? seededLocal
        : withoutSync(remoteSampler({ baseUrl: server.url, model: "bench" })),
      onStep: () => {
        marks.push(server?.requests.length ?? 0);
      },
    });
    const kept = result.records.slice(1);
    // The requests of the counted steps (not the start-up check's, not the first step's).
    const bodies = server?.requests.slice(marks[0], marks.at(-1)) ?? [];
    return {
      stepMs: kept.map((r) => r["time/step_s"] * 1000),
      sampleMs: kept.map((r) => r["time/sample_s"] * 1000),
      requests: bodies.length / kept.length,
      requestBytes: bodies.reduce((a, r) => a + JSON.stringify(r.body).length, 0) / kept.length,
    };
  } finally {
    await server?.close();
    policy.dispose();
  }
}

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args, {
    steps: { value: true, default: "12", help: "steps per run (the first is not counted)" },
    rounds: { value: true, default: "3", help: "local/remote run pairs per algorithm" },
    out: { value: true, default: "results/bench_remote.json", help: "where to write" },
  }, "Usage: deno task bench:remote [options]");
  if (flags === undefined) return;
  const steps = Number(flags.steps ?? 12);
  const rounds = Number(flags.rounds ?? 3);
  if (!Number.isInteger(steps) || steps < 2 || !Number.isInteger(rounds) || rounds < 1) {
    throw new RangeError(
      `Cannot parse the command line: --steps must be an integer ≥ 2 and --rounds ≥ 1, got ${steps} and ${rounds}`,
    );
  }
  const backend = await initBackend({});
  const rows = [];
  for (const algorithm of ["grpo", "trepo"]) {
    const local: Run[] = [];
    const remote: Run[] = [];
    await runOnce(algorithm, false, 2); // warm-up (compilation, kernels), not counted
    await runOnce(algorithm, true, 2);
    for (let r = 0; r < rounds; r++) {
      local.push(await runOnce(algorithm, false, steps));
      remote.push(await runOnce(algorithm, true, steps));
    }
    const stepLocal = median(local.flatMap((x) => x.stepMs));
    const stepRemote = median(remote.flatMap((x) => x.stepMs));
    const sampleLocal = median(local.flatMap((x) => x.sampleMs));
    const sampleRemote = median(remote.flatMap((x) => x.sampleMs));
    const row = {
      algorithm,
      step_ms_local: stepLocal,
      step_ms_remote: stepRemote,
      added_ms_per_step: stepRemote - stepLocal,
      added_fraction: (stepRemote - stepLocal) / stepLocal,
      sample_ms_local: sampleLocal,
      sample_ms_remote: sampleRemote,
      requests_per_step: remote[0].requests,
      request_bytes_per_step: Math.round(remote[0].requestBytes),
    };
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  const out = flags.out ?? "results/bench_remote.json";
  await Deno.writeTextFile(
    out,
    JSON.stringify(
      {
        command: `deno task bench:remote ${Deno.args.join(" ")}`.trim(),
        backend: backend.backend,
        workload:
          "addition, 2 prompts x 8 responses, d 128, 2 layers, 4 heads; TRePO m = 4, K = 4; the fake server generates with the same policy in this process",
        steps,
        rounds,
        loadavg: Deno.loadavg(),
        note:
          "medians over rounds x (steps - 1) steps; added_ms_per_step = remote - local: JSON, HTTP on 127.0.0.1, parsing, the local log-prob recomputation, and the fake server's own JSON work",
        rows,
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`wrote ${out}`);
}

if (import.meta.main) await runCommand(main);
