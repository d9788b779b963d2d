/**
 * The native GEMM (OpenBLAS through FFI on the wasm heap) against the stock wasm matmul: forward
 * values and gradients for every transpose combination, 2-D, batched and broadcast; and the
 * messages when it cannot load. Skipped with a message when no OpenBLAS is installed.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend.ts";
import { loadNativeGemm, nativeGemmActive, setNativeGemm } from "../lib/native_gemm.ts";
import { createPolicy } from "../lib/policy/transformer.ts";
import { runsHere } from "../tools/requirement.ts";

await initBackend({ backend: "wasm" });
const status = loadNativeGemm();
setNativeGemm(false);
const openBlas = runsHere("native GEMM equality tests", {
  id: "openblas",
  present: status.active,
  missing: status.reason ?? "OpenBLAS did not load",
  install: "apt-get install libopenblas0-pthread, or run bash .ci/run",
});

function random(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, "float32", seed);
}

async function run(
  aShape: number[],
  bShape: number[],
  ta: boolean,
  tb: boolean,
): Promise<Float32Array[]> {
  const a = random(aShape, 1);
  const b = random(bShape, 2);
  const outShape = tf.tidy(() => tf.matMul(tf.zeros(aShape), tf.zeros(bShape), ta, tb).shape);
  const w = random(outShape, 3);
  const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), w));
  // trepo's BatchMatMul gradient (lib/backend.ts) does not reduce broadcast batch axes: forward
  // only when the ranks differ.
  const [ga, gb] = aShape.length === bShape.length ? tf.grads(f)([a, b]) : [a.clone(), b.clone()];
  const y = tf.matMul(a, b, ta, tb);
  const outs = await Promise.all([y, ga, gb].map((t) => t.data() as Promise<Float32Array>));
  tf.dispose([a, b, w, ga, gb, y]);
  return outs;
}

function close(x: Float32Array, y: Float32Array, what: string): void {
  assertEquals(x.length, y.length, what);
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    worst = Math.max(worst, Math.abs(x[i] - y[i]) / (1 + Math.abs(y[i])));
  }
  assert(worst < 1e-4, `${what}: max relative difference ${worst}`);
}

const SHAPES: [string, number[], number[]][] = [
  ["2-D", [7, 5], [5, 9]],
  ["batched", [3, 7, 5], [3, 5, 9]],
  ["broadcast b", [2, 3, 7, 5], [5, 9]],
  ["broadcast a", [7, 5], [4, 5, 9]],
];

Deno.test({
  name: "native GEMM equals the wasm matmul: forward and gradients, all transposes",
  ignore: !openBlas,
  fn: async () => {
    for (const [name, aShape, bShape] of SHAPES) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const sa = [...aShape];
          const sb = [...bShape];
          if (ta) [sa[sa.length - 2], sa[sa.length - 1]] = [sa[sa.length - 1], sa[sa.length - 2]];
          if (tb) [sb[sb.length - 2], sb[sb.length - 1]] = [sb[sb.length - 1], sb[sb.length - 2]];
          const before = tf.memory().numTensors;
          setNativeGemm(false);
          const reference = await run(sa, sb, ta, tb);
          setNativeGemm(true);
          assert(nativeGemmActive());
          const native = await run(sa, sb, ta, tb);
          setNativeGemm(false);
          const what = `${name} transposeA=${ta} transposeB=${tb}`;
          ["forward", "grad a", "grad b"].forEach((part, i) =>
            close(native[i], reference[i], `${what} ${part}`)
          );
          assertEquals(tf.memory().numTensors, before, `${what}: tensors leaked`);
        }
      }
    }
  },
});

Deno.test("loadNativeGemm: a library without cblas_sgemm, and a library that does not exist", () => {
  const noSymbol = loadNativeGemm({ library: "libm.so.6" });
  assertEquals(noSymbol.active, false);
  assertStringIncludes(noSymbol.reason!, "a library was opened but it has no cblas_sgemm");
  assertStringIncludes(noSymbol.reason!, "libm.so.6");
  const missing = loadNativeGemm({ library: "libdoes-not-exist.so.0" });
  assertEquals(missing.active, false);
  assertStringIncludes(missing.reason!, "no BLAS library could be opened");
  assertStringIncludes(missing.reason!, "libdoes-not-exist.so.0");
  assertStringIncludes(missing.reason!, "apt-get install libopenblas0-pthread");
  assertEquals(nativeGemmActive(), false);
});

Deno.test("initBackend: TREPO_BLAS forced without --allow-ffi refuses; auto falls back", async () => {
  const code = `
    import { initBackend } from "./lib/backend.ts";
    const warnings: string[] = [];
    const info = await initBackend({ backend: "wasm", blas: "auto", warn: (m: string) => warnings.push(m) });
    console.log(JSON.stringify({ info, warnings }));
    try { await initBackend({ backend: "wasm", blas: "openblas" }); console.log("no error"); }
    catch (e) { console.log("refused: " + (e as Error).message); }
  `;
  // `deno run -` reads the script from stdin, with --allow-ffi left out.
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(code));
  await writer.close();
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assertStringIncludes(text, "--allow-ffi is missing");
  assertStringIncludes(text, "fell back to the plain wasm matmul");
  assertStringIncludes(text, "refused: Cannot use the native GEMM");
});

Deno.test({
  name: "native GEMM: a tiny GPT's loss gradients equal the wasm path's",
  ignore: !openBlas,
  fn: async () => {
    const policy = createPolicy({
      vocabSize: 11,
      dModel: 16,
      layers: 2,
      heads: 2,
      maxLength: 8,
      seed: 4,
    });
    const ids = tf.tensor2d(
      Int32Array.from({ length: 3 * 8 }, (_, i) => (i * 7) % 11),
      [3, 8],
      "int32",
    );
    const gradients = async (): Promise<Float32Array[]> => {
      const { value, grads } = tf.variableGrads(() =>
        tf.tidy(() => tf.mean(tf.square(policy.logits(ids as tf.Tensor2D))) as tf.Scalar)
      );
      const names = Object.keys(grads).sort();
      const out = await Promise.all(names.map((n) => grads[n].data() as Promise<Float32Array>));
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    setNativeGemm(false);
    const reference = await gradients();
    setNativeGemm(true);
    const native = await gradients();
    setNativeGemm(false);
    assertEquals(native.length, reference.length);
    native.forEach((g, i) => close(g, reference[i], `gradient ${i}`));
    ids.dispose();
    policy.dispose();
  },
});
