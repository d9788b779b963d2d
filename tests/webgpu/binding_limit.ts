/**
 * The over-the-binding-limit run, as a script: `deno run -A --unstable-webgpu
 * tests/webgpu/binding_limit.ts` with `TREPO_ALLOW_SOFTWARE_ADAPTER=1` on a machine without a GPU.
 * `tests/webgpu/binding_limit_test.ts` spawns it and checks its numbers against plain-JS sums.
 * A `[35000, 960]` float32 table (134.4 MB, over WebGPU's default 128 MiB binding) is gathered
 * from, multiplied in two layouts and differentiated through `embedRows`. It
 * prints one JSON line prefixed `LIMIT ` (every value read with `await t.data()`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend.ts";
import { embedRows } from "../../lib/policy/layers.ts";

/** The table's shape: just over 128 MiB of float32. */
export const ROWS = 35000;
/** The table's width (Qwen2.5-0.5B's is 896, SmolLM2-360M's 960). */
export const WIDTH = 960;
/** The ids looked up: both ends and both sides of the 128 MiB piece boundary (row 34952). */
export const IDS = [0, 1, 34951, 34952, 34953, 34999, 20000, 34952];

/** `E[i, j]`, multiples of 1/16 in [−0.5, 0.5]: every sum below is exact in float32. */
export function entry(i: number, j: number): number {
  return (((i * 7 + j * 3) % 17) - 8) / 16;
}

/** `h[r, j]` of the left factor `h` `[2, WIDTH]`. */
export function left(r: number, j: number): number {
  return ((r + 2 * j) % 5 - 2) / 4;
}

/** `u[i, c]` of the tall factor `u` `[ROWS, 2]`. */
export function tall(i: number, c: number): number {
  return ((i * (c + 1)) % 4 - 1.5) / 2;
}

/** The columns of `h·Eᵀ` that are read back. */
export const COLUMNS = [0, 1, 34951, 34952, 34999];

function filled(rows: number, cols: number, f: (i: number, j: number) => number): tf.Tensor2D {
  const values = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) values[i * cols + j] = f(i, j);
  return tf.tensor2d(values, [rows, cols]);
}

if (import.meta.main) {
  const info = await initBackend({ backend: "webgpu" });
  const started = performance.now();
  const log = async (what: string, t: tf.Tensor) => {
    await t.data();
    console.error(`[binding limit] ${what} ${((performance.now() - started) / 1000).toFixed(1)} s`);
  };
  const e = filled(ROWS, WIDTH, entry);
  const before = tf.memory().numTensors;
  const dataBefore = tf.engine().backend.numDataIds();
  const ids = tf.tensor1d(IDS, "int32");
  const gathered = tf.gather(e, ids);
  await log("gathered", gathered);
  const h = filled(2, WIDTH, left);
  const headT = tf.matMul(h, e, false, true); // [2, ROWS]: split by columns (the tied head)
  await log("headT", headT);
  const u = filled(ROWS, 2, tall);
  const eTu = tf.matMul(e, u, true, false); // [WIDTH, 2]: split over the contraction
  await log("eTu", eTu);
  // ∂/∂E Σ embedRows(E, ids) ⊙ h₀ (h₀ the first row of h): row ids[n] gains h₀, repeats add up.
  const h0 = tf.slice(h, [0, 0], [1, WIDTH]);
  const gradient = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(embedRows(t, ids), h0)))(e);
  await log("gradient", gradient);
  const gradientValues = await gradient.data();
  const gradientRows = IDS.map((id) =>
    Array.from(gradientValues.subarray(id * WIDTH, (id + 1) * WIDTH))
  );
  let elsewhere = 0;
  for (let i = 0; i < ROWS; i++) {
    if (IDS.includes(i)) continue;
    for (let j = 0; j < WIDTH; j++) {
      elsewhere = Math.max(elsewhere, Math.abs(gradientValues[i * WIDTH + j]));
    }
  }
  const headValues = await headT.data();
  let refused = "";
  try {
    tf.tidy(() => tf.add(e, 1));
  } catch (error) {
    refused = error instanceof Error ? error.message : String(error);
  }
  const output = {
    backend: tf.getBackend(),
    limits: info.webgpuLimits,
    tableBytes: ROWS * WIDTH * 4,
    gathered: Array.from(await gathered.data()),
    head: [0, 1].map((r) => COLUMNS.map((c) => headValues[r * ROWS + c])),
    eTu: Array.from(await eTu.data()),
    gradientRows,
    gradientElsewhere: elsewhere,
    refused,
  };
  tf.dispose([ids, gathered, h, headT, u, eTu, h0, gradient]);
  const leaked = tf.memory().numTensors - before;
  const leakedData = tf.engine().backend.numDataIds() - dataBefore;
  console.log(`LIMIT ${JSON.stringify({ ...output, leaked, leakedData })}`);
}
