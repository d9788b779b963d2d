/**
 * An opt-in native GEMM for the wasm backend: the `BatchMatMul` kernel re-registered to call the
 * system BLAS's `cblas_sgemm` (OpenBLAS) through Deno FFI, directly on tfjs-wasm's heap (the
 * operands and the output stay where tfjs put them; no copies).
 *
 * Opt in with `initBackend({ blas: "openblas" })` (refuses when it cannot load) or
 * `{ blas: "auto" }` (falls back to plain wasm with one warning), or the `TREPO_BLAS` environment
 * variable. Needs `--allow-ffi` and a BLAS library (Debian: `apt-get install libopenblas0-pthread`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  type KernelArgs,
  replaceWasmKernel,
  runStockWasmKernel,
  type WasmBackendInternals,
} from "./wasm_kernels.ts";

/** How {@linkcode initBackend}'s `blas` option treats the native GEMM. */
export type BlasMode = "off" | "auto" | "openblas";

/** The valid {@linkcode BlasMode} values. */
export const BLAS_MODES: readonly BlasMode[] = ["off", "auto", "openblas"];

/** The libraries tried, in order, when no path is given. */
export const BLAS_LIBRARIES: readonly string[] = [
  "libopenblas.so.0",
  "libopenblas.so",
  "libopenblas.dylib",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
];

/** The outcome of {@linkcode loadNativeGemm}. */
export interface NativeGemmStatus {
  /** Whether the native kernel is registered and active. */
  active: boolean;
  /** The library that was loaded, when one was. */
  library?: string;
  /** BLAS threads (set with `openblas_set_num_threads` when the library has it). */
  threads?: number;
  /** Why it is not active: what was missing, what was tried. */
  reason?: string;
}

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32", // order
      "i32", // transA
      "i32", // transB
      "i32", // M
      "i32", // N
      "i32", // K
      "f32", // alpha
      "pointer", // A
      "i32", // lda
      "pointer", // B
      "i32", // ldb
      "f32", // beta
      "pointer", // C
      "i32", // ldc
    ],
    result: "void",
  },
} as const;

type Sgemm = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"]["cblas_sgemm"];

const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;

let sgemm: Sgemm | undefined;
let setThreads: ((n: number) => void) | undefined;
let loaded: NativeGemmStatus | undefined;
let enabled = false;

/**
 * Load the BLAS library (once) and register the native `BatchMatMul` kernel for the wasm backend.
 * Never throws: a failure comes back as `{ active: false, reason }`, the reason saying which of
 * the three things failed (`--allow-ffi` missing, no library could be opened, a library without
 * `cblas_sgemm`) and what was tried.
 *
 * Preconditions: the wasm backend is registered (importing `lib/backend.ts` does it).
 *
 * @param options `library`: one path or name to try instead of {@linkcode BLAS_LIBRARIES};
 *   `threads`: BLAS threads (default 1).
 * @returns Whether the native kernel is now active, and why not.
 */
export function loadNativeGemm(
  options: { library?: string; threads?: number } = {},
): NativeGemmStatus {
  if (loaded?.active && (options.library === undefined || options.library === loaded.library)) {
    if (options.threads !== undefined && setThreads !== undefined) {
      setThreads(options.threads);
      loaded = { ...loaded, threads: options.threads };
    }
    setNativeGemm(true);
    return loaded;
  }
  const candidates = options.library !== undefined ? [options.library] : [...BLAS_LIBRARIES];
  const tried = candidates.join(", ");
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return {
      active: false,
      reason:
        `--allow-ffi is missing, so no BLAS library can be loaded (would try ${tried}); run with --allow-ffi (deno run -A grants it)`,
    };
  }
  const failures: string[] = [];
  let lacksSymbol = false;
  for (const library of candidates) {
    let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
    try {
      lib = Deno.dlopen(library, SYMBOLS);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (/symbol/i.test(message)) lacksSymbol = true;
      failures.push(`${library}: ${message.replace(/^Could not open library: /, "")}`);
      continue;
    }
    const threads = options.threads ?? 1;
    let threadsSet: number | undefined;
    try {
      const control = Deno.dlopen(library, {
        openblas_set_num_threads: { parameters: ["i32"], result: "void" },
      });
      setThreads = (n: number) => control.symbols.openblas_set_num_threads(n);
      setThreads(threads);
      threadsSet = threads;
    } catch {
      // Not OpenBLAS (or an old one): the library's own default thread count applies.
    }
    sgemm = lib.symbols.cblas_sgemm;
    loaded = { active: true, library, threads: threadsSet };
    setNativeGemm(true);
    return loaded;
  }
  const what = lacksSymbol
    ? "a library was opened but it has no cblas_sgemm"
    : "no BLAS library could be opened";
  return {
    active: false,
    reason: `${what} (tried ${failures.join("; ")}); install OpenBLAS ` +
      "(Debian/Ubuntu: apt-get install libopenblas0-pthread; macOS: brew install openblas) or set TREPO_BLAS_LIBRARY to a library with cblas_sgemm",
  };
}

/**
 * Switch the native `BatchMatMul` kernel on or off (the stock wasm kernel comes back when off).
 * Switching on has no effect until {@linkcode loadNativeGemm} has loaded a library.
 *
 * @param on Whether to use the native kernel.
 * @returns Whether it was on before.
 */
export function setNativeGemm(on: boolean): boolean {
  const previous = enabled;
  if (on && sgemm === undefined) return previous;
  if (on === enabled) return previous;
  if (!replaceWasmKernel("BatchMatMul", on ? nativeBatchMatMul : undefined)) {
    throw new Error("Cannot switch the native GEMM: the wasm backend has no BatchMatMul kernel");
  }
  enabled = on;
  return previous;
}

/**
 * Whether matmuls on the active backend run through the native GEMM now (then transposes are free:
 * callers need not transpose explicitly for XNNPACK's sake).
 *
 * @returns `true` while the native kernel is on and wasm is the active backend.
 */
export function nativeGemmActive(): boolean {
  return enabled && tf.getBackend() === "wasm";
}

function nativeBatchMatMul(args: KernelArgs): tf.TensorInfo {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  const backend = args.backend as WasmBackendInternals;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = outerA.reduce((x, y) => x * y, 1);
  const batchB = outerB.reduce((x, y) => x * y, 1);
  const sameOuter = outerA.length === outerB.length && outerA.every((x, i) => x === outerB[i]);
  const simple = a.dtype === "float32" && b.dtype === "float32" && k === kb && k > 0 &&
    (sameOuter || batchA === 1 || batchB === 1);
  if (!simple) {
    return runStockWasmKernel("BatchMatMul", args);
  }
  const outer = batchA >= batchB ? outerA : outerB;
  const batch = Math.max(batchA, batchB);
  const out = backend.makeOutput([...outer, m, n], "float32");
  if (m * n === 0) return out;
  // After makeOutput: the heap may have grown, which replaces its ArrayBuffer.
  const base = Deno.UnsafePointer.of(backend.wasm.HEAPU8 as Uint8Array<ArrayBuffer>);
  const offA = backend.dataIdMap.get(a.dataId).memoryOffset;
  const offB = backend.dataIdMap.get(b.dataId).memoryOffset;
  const offC = backend.dataIdMap.get(out.dataId).memoryOffset;
  const strideA = batchA === 1 ? 0 : m * k * 4;
  const strideB = batchB === 1 ? 0 : k * n * 4;
  const strideC = m * n * 4;
  const ta = transposeA ? TRANS : NO_TRANS;
  const tb = transposeB ? TRANS : NO_TRANS;
  const lda = transposeA ? m : k;
  const ldb = transposeB ? k : n;
  const call = sgemm!;
  for (let i = 0; i < batch; i++) {
    call(
      ROW_MAJOR,
      ta,
      tb,
      m,
      n,
      k,
      1,
      Deno.UnsafePointer.offset(base!, offA + i * strideA),
      lda,
      Deno.UnsafePointer.offset(base!, offB + i * strideB),
      ldb,
      0,
      Deno.UnsafePointer.offset(base!, offC + i * strideC),
      n,
    );
  }
  return out;
}
