/**
 * The webgpu smoke run, as a script: `deno run -A --unstable-webgpu tests/webgpu/smoke.ts` with
 * `TREPO_BACKEND=webgpu` (and `TREPO_ALLOW_SOFTWARE_ADAPTER=1` on a machine without a GPU).
 * `tests/webgpu/webgpu_smoke_test.ts` spawns it and compares its output with the same
 * computations on wasm. It prints one JSON line prefixed `SMOKE ` (every value read with
 * `await t.data()`); progress goes to stderr.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { smokeForward, smokeSampling, smokeTheory, smokeTrain } from "./smoke_cases.ts";

const info = await initBackend();
const log = (message: string) => console.error(`[smoke ${info.backend}] ${message}`);
const started = performance.now();
const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
const forward = await smokeForward();
log(`logits and gradients (${seconds()} s)`);
const sampling = await smokeSampling();
log(`sample, greedy, tokenLogProbs (${seconds()} s)`);
const training = await smokeTrain((name) => log(`${name} 2 steps + checkpoint (${seconds()} s)`));
const theory = await smokeTheory();
log(`theory lab on the transformer adapter (${seconds()} s)`);
console.log(
  `SMOKE ${
    JSON.stringify({
      backend: tf.getBackend(),
      seconds: (performance.now() - started) / 1000,
      forward,
      sampling,
      training,
      theory,
    })
  }`,
);
