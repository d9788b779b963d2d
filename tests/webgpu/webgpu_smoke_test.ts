/**
 * The webgpu smoke run inside `deno test`: `smoke.ts` runs in a subprocess
 * (`deno run --unstable-webgpu` with `TREPO_BACKEND=webgpu TREPO_ALLOW_SOFTWARE_ADAPTER=1`, so
 * Mesa's llvmpipe software adapter is accepted on a machine without a GPU), and its results are
 * compared with the same computations on wasm in this process. About 25 s on llvmpipe (2 cores).
 *
 * When the subprocess finds no WebGPU adapter at all, the comparison is skipped with a message
 * (the clear error itself is tested in `tests/backend_test.ts`).
 */
import * as tf from "@tensorflow/tfjs";
import { mesa, runsHere } from "../../tools/requirement.ts";
import { assert, assertArrayAlmostEquals, assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { createPolicy } from "../../lib/policy/transformer.ts";
import { tokenLogProbs } from "../../lib/sample/token_log_probs.ts";
import {
  type ForwardResult,
  fromHost,
  type SamplingResult,
  SMOKE_CONFIG,
  smokeForward,
  smokeTheory,
  type TheoryResult,
  type TrainResultSummary,
} from "./smoke_cases.ts";
import { ALGORITHM_NAMES } from "../../lib/algorithms/train.ts";

await initBackend({ backend: "wasm" });

interface SmokeOutput {
  backend: string;
  seconds: number;
  forward: ForwardResult;
  sampling: SamplingResult;
  training: Record<string, TrainResultSummary>;
  theory: TheoryResult;
}

async function runSmoke(): Promise<SmokeOutput | string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-webgpu", new URL("./smoke.ts", import.meta.url).pathname],
    env: { NO_COLOR: "1", TREPO_BACKEND: "webgpu", TREPO_ALLOW_SOFTWARE_ADAPTER: "1" },
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  const line = stdout.split("\n").find((l) => l.startsWith("SMOKE "));
  if (out.code === 0 && line !== undefined) return JSON.parse(line.slice("SMOKE ".length));
  if (stderr.includes("found no adapter at all")) return "no WebGPU adapter on this machine";
  throw new Error(`The webgpu smoke run failed (exit ${out.code}):\n${stdout}\n${stderr}`);
}

Deno.test("webgpu (software adapter): forward, gradients, sampling, every recipe, a checkpoint, the theory lab", async (t) => {
  const smoke = await runSmoke();
  if (typeof smoke === "string") return void runsHere("webgpu smoke test", mesa(smoke));
  assertEquals(smoke.backend, "webgpu");
  console.log(`webgpu smoke run: ${smoke.seconds.toFixed(1)} s`);

  await t.step("policy logits and gradients equal wasm's within 1e-4", async () => {
    const reference = await smokeForward();
    assertArrayAlmostEquals(smoke.forward.logits, reference.logits, 1e-4);
    assertEquals(Object.keys(smoke.forward.gradients), Object.keys(reference.gradients));
    for (const [name, values] of Object.entries(reference.gradients)) {
      assertArrayAlmostEquals(smoke.forward.gradients[name], values, 1e-4, name);
    }
  });

  await t.step("sample, greedy and tokenLogProbs agree with wasm's teacher forcing", () => {
    const { sampled, greedy, recomputed } = smoke.sampling;
    assertEquals(sampled.tokens.length, 4);
    assertEquals(greedy.tokens.length, 2);
    for (const r of [sampled, greedy]) {
      r.tokens.forEach((row, b) => {
        assertEquals(row.length, r.mask[b].length);
        assert(row.every((id) => Number.isInteger(id) && id >= 0 && id < SMOKE_CONFIG.vocabSize));
        assertEquals(r.mask[b].reduce((a, m) => a + m, 0), r.lengths[b]);
      });
    }
    // The sampler's own log-probs, webgpu's teacher forcing and wasm's teacher forcing agree.
    assertArrayAlmostEquals(recomputed.flat(), sampled.logProbs.flat(), 1e-4);
    const policy = createPolicy(SMOKE_CONFIG);
    const rollout = fromHost(sampled);
    const wasm = tf.tidy(() => tokenLogProbs(policy, rollout));
    assertArrayAlmostEquals(recomputed.flat(), Array.from(wasm.dataSync()), 1e-4);
    tf.dispose([wasm, rollout.tokens, rollout.mask, rollout.logProbs]);
    policy.dispose();
  });

  await t.step("2 steps of every recipe through train(), checkpoint saved and reloaded", () => {
    assertEquals(Object.keys(smoke.training), [...ALGORITHM_NAMES]);
    for (const [name, summary] of Object.entries(smoke.training)) {
      assert(summary.checkpointMatches, `${name}: the reloaded checkpoint differs`);
      const steps = summary.metrics.filter((m) => m["loss/policy"] !== undefined);
      assertEquals(steps.length, 2, `${name}: expected 2 steps`);
      for (const m of steps) {
        assert(Number.isFinite(m["loss/policy"]), `${name}: loss/policy ${m["loss/policy"]}`);
        assert(Number.isFinite(m["grad_norm"]), `${name}: grad_norm ${m["grad_norm"]}`);
      }
    }
  });

  await t.step(
    "the theory lab on the transformer adapter: exact J and ∇J equal wasm's",
    async () => {
      const reference = await smokeTheory();
      const { theory } = smoke;
      assertArrayAlmostEquals([theory.objective, theory.gradientNorm], [
        reference.objective,
        reference.gradientNorm,
      ], 1e-4);
      assert(
        theory.scoreFunctionCheck < 1e-3,
        `Theorem 1's form vs autodiff: ${theory.scoreFunctionCheck}`,
      );
      assertEquals(theory.estimators.map((e) => e.name), reference.estimators.map((e) => e.name));
      for (const e of theory.estimators) {
        assert(Number.isFinite(e.relativeBias) && Number.isFinite(e.standardError), e.name);
      }
    },
  );
});
