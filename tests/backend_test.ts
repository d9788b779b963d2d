import * as tf from "@tensorflow/tfjs";
import { initBackend, setSharedIdentity } from "../lib/backend.ts";
import { Random } from "../lib/random.ts";
import { createPolicy } from "../lib/policy/transformer.ts";
import {
  assertArrayAlmostEquals,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";

// Values of scale 0.5, rounded to 3 decimals: the forward matmuls of wasm (XNNPACK) and cpu sum in
// different orders, and float32 rounding then differs by ~1e-6 relative; at this scale the
// gradients stay within the 1e-5 absolute tolerance the comparison asks for.
function randomValues(rng: Random, shape: number[]): number[] {
  const n = shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, () => Math.round(rng.normal() * 500) / 1000);
}

/** Gradients of sum(sin(matMul(matMul(a, b, tA, tB), c))) w.r.t. a, b and c, on the active backend. */
function chainGradients(
  values: number[][],
  shapes: number[][],
  transposeA: boolean,
  transposeB: boolean,
): number[][] {
  return tf.tidy(() => {
    const [a, b, c] = values.map((v, i) => tf.tensor(v, shapes[i]));
    const f = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
      tf.sum(tf.sin(tf.matMul(tf.matMul(x, y, transposeA, transposeB), z)));
    const grads = tf.grads(f)([a, b, c]);
    return grads.map((g) => Array.from(g.dataSync()));
  });
}

Deno.test("matmul-chain gradients are equal on wasm and cpu (all transpose flags, rank 2, 3 and 4)", async () => {
  const rng = new Random(11);
  for (const lead of [[], [3], [2, 2]]) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        // a · b is [m, n] with inner size k; then · c [n, p].
        const [m, k, n, p] = [5, 7, 4, 6];
        const shapes = [
          [...lead, ...(transposeA ? [k, m] : [m, k])],
          [...lead, ...(transposeB ? [n, k] : [k, n])],
          [...lead, n, p],
        ];
        const values = shapes.map((s) => randomValues(rng, s));
        await initBackend({ backend: "cpu" });
        const cpu = chainGradients(values, shapes, transposeA, transposeB);
        const info = await initBackend({ backend: "wasm" });
        assertEquals(info.backend, "wasm");
        const wasm = chainGradients(values, shapes, transposeA, transposeB);
        for (let i = 0; i < 3; i++) {
          assertArrayAlmostEquals(
            wasm[i],
            cpu[i],
            1e-5,
            `batch [${lead}] tA ${transposeA} tB ${transposeB} input ${i}`,
          );
        }
      }
    }
  }
  await initBackend({ backend: "cpu" });
});

Deno.test("initBackend returns what was chosen and rejects unknown names", async () => {
  assertEquals(await initBackend({ backend: "cpu" }), { requested: "cpu", backend: "cpu" });
  await assertRejects(
    // @ts-expect-error: testing a bad name
    () => initBackend({ backend: "tpu" }),
    RangeError,
    'Cannot initialise the backend: unknown backend "tpu", expected one of wasm, cpu, webgpu, tensorflow, tensorflow-gpu',
  );
});

Deno.test("TREPO_BACKEND selects the backend when none is given", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--no-lock",
      `import { initBackend } from "${new URL("../lib/backend.ts", import.meta.url)}";
      console.log(JSON.stringify(await initBackend()));`,
    ],
    env: { TREPO_BACKEND: "cpu", NO_COLOR: "1" },
  }).output();
  assertStringIncludes(new TextDecoder().decode(out.stdout), '{"requested":"cpu","backend":"cpu"}');
});

Deno.test("the native tensorflow backend fails with a message saying what to install", async () => {
  // tfjs-node is not installable on these machines (its install script downloads libtensorflow);
  // run in a subprocess without the lockfile so that the attempt leaves the project untouched.
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--no-lock",
      `import { initBackend } from "${new URL("../lib/backend.ts", import.meta.url)}";
      try { await initBackend({ backend: "tensorflow-gpu" }); } catch (e) { console.log(e.message); }`,
    ],
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assertStringIncludes(
    text,
    "Cannot initialise the tensorflow-gpu backend: npm:@tensorflow/tfjs-node-gpu@4.22.0 could not be loaded",
  );
  assertStringIncludes(text, "CUDA 11.2 and cuDNN 8.1");
  assertStringIncludes(text, "deno install --allow-scripts=npm:@tensorflow/tfjs-node-gpu@4.22.0");
});

/** Try webgpu in a subprocess; its stdout: "selected <backend>" or the error message. */
async function tryWebGpu(
  flags: string[],
  env: Record<string, string>,
  prelude = "",
): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--no-lock",
      ...flags,
      `${prelude}
      import * as tf from "@tensorflow/tfjs";
      import { initBackend } from "${new URL("../lib/backend.ts", import.meta.url)}";
      try { await initBackend(); console.log("selected " + tf.getBackend()); } catch (e) { console.log(e.message); }`,
    ],
    env: { NO_COLOR: "1", TREPO_BACKEND: "webgpu", ...env },
  }).output();
  return new TextDecoder().decode(out.stdout);
}

Deno.test("webgpu without navigator.gpu says to add --unstable-webgpu, never a silent fallback", async () => {
  // Deno 2.9 exposes navigator.gpu even without --unstable-webgpu; older versions do not. Spawn
  // without the flag, and with navigator.gpu removed, to see the error either way.
  const text = await tryWebGpu(
    [],
    { TREPO_ALLOW_SOFTWARE_ADAPTER: "1" },
    `Object.defineProperty(navigator, "gpu", { value: undefined });`,
  );
  assertStringIncludes(text, "Cannot initialise the webgpu backend: navigator.gpu is undefined");
  assertStringIncludes(text, "--unstable-webgpu");
});

Deno.test("webgpu with no adapter at all says what to install, never a silent fallback", async () => {
  // Deno's WebGPU restricted to Metal finds no adapter on Linux, GPU or not.
  const text = await tryWebGpu(["--unstable-webgpu"], {
    TREPO_ALLOW_SOFTWARE_ADAPTER: "1",
    DENO_WEBGPU_BACKEND: "metal",
  });
  if (Deno.build.os === "darwin") return;
  assertStringIncludes(text, "requestAdapter() found no adapter at all");
  assertStringIncludes(text, "libvulkan1");
});

Deno.test("webgpu on a software adapter needs TREPO_ALLOW_SOFTWARE_ADAPTER=1", async () => {
  const text = await tryWebGpu(["--unstable-webgpu"], {});
  if (text.startsWith("selected webgpu")) return; // a real GPU adapter: nothing to refuse
  if (text.includes("found no adapter at all")) return; // no Mesa here (tools/ci_install.sh)
  assertStringIncludes(text, "the only adapter is a software (fallback) adapter");
  assertStringIncludes(text, "TREPO_ALLOW_SOFTWARE_ADAPTER=1");
  const allowed = await tryWebGpu(["--unstable-webgpu"], { TREPO_ALLOW_SOFTWARE_ADAPTER: "1" });
  assertStringIncludes(allowed, "selected webgpu");
});

Deno.test("wasm Identity shares buffers: clones outlive their source, gradients are bit-identical to copying", async () => {
  await initBackend({ backend: "wasm" });
  const x = tf.tensor1d([1, 2, 3]);
  const y = tf.clone(x);
  x.dispose();
  assertEquals(Array.from(await y.data()), [1, 2, 3]);
  y.dispose();
  const policy = createPolicy({
    vocabSize: 9,
    dModel: 8,
    layers: 1,
    heads: 2,
    maxLength: 6,
    seed: 3,
  });
  const ids = tf.tensor2d(Int32Array.from({ length: 12 }, (_, i) => (i * 5) % 9), [2, 6], "int32");
  const gradients = async (): Promise<number[][]> => {
    const { value, grads } = tf.variableGrads(() =>
      tf.tidy(() => tf.mean(tf.square(policy.logits(ids as tf.Tensor2D))) as tf.Scalar)
    );
    const out = await Promise.all(
      Object.keys(grads).sort().map(async (k) => Array.from(await grads[k].data())),
    );
    tf.dispose([value, ...Object.values(grads)]);
    return out;
  };
  const before = tf.memory().numTensors;
  const shared = await gradients();
  const previous = setSharedIdentity(false);
  const copied = await gradients();
  setSharedIdentity(previous);
  assertEquals(shared, copied);
  assertEquals(tf.memory().numTensors, before);
  ids.dispose();
  policy.dispose();
});
