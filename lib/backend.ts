/**
 * Choosing and initialising the tfjs backend.
 *
 * trepo runs on one tfjs instance (re-exported from `mod.ts` as `tf`). The embedded default is
 * the WebAssembly backend (SIMD, XNNPACK matmuls); the pure-JS `cpu` backend is the fallback.
 * `webgpu` and the native TensorFlow bindings (`tensorflow`, `tensorflow-gpu`) are opt-in.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import {
  BLAS_MODES,
  type BlasMode,
  loadNativeGemm,
  nativeGemmActive,
  type NativeGemmStatus,
} from "./native_gemm.ts";
import { setRowGather } from "./row_gather.ts";
import {
  type KernelArgs,
  replaceWasmKernel,
  runStockWasmKernel,
  type WasmBackendInternals,
} from "./wasm_kernels.ts";
import { setTiledTranspose } from "./matrix_transpose.ts";
import { installBindingSplit, type WebGpuLimits } from "./webgpu_binding_limit.ts";

export { isDeviceBackend } from "./validate.ts";
export { type WebGpuLimits, webgpuLimits } from "./webgpu_binding_limit.ts";

/** The backends {@linkcode initBackend} can select. */
export type BackendName = "wasm" | "cpu" | "webgpu" | "tensorflow" | "tensorflow-gpu";

/** The valid backend names, in order of preference. */
export const BACKENDS: readonly BackendName[] = [
  "wasm",
  "cpu",
  "webgpu",
  "tensorflow",
  "tensorflow-gpu",
];

/** Options of {@linkcode initBackend}. */
export interface InitBackendOptions {
  /**
   * The backend to use. Defaults to the `TREPO_BACKEND` environment variable when it is set and
   * readable, else `"wasm"`.
   */
  backend?: BackendName;
  /**
   * Accept a WebGPU fallback (software) adapter. Off by default: a software renderer is slower
   * than wasm and would silently turn a GPU run into a slow CPU run. Defaults to the
   * `TREPO_ALLOW_SOFTWARE_ADAPTER` environment variable (`1` or `true` turn it on) when it is
   * readable.
   */
  allowSoftwareAdapter?: boolean;
  /** Where the fallback warning goes (default `console.warn`). */
  warn?: (message: string) => void;
  /**
   * Native GEMM for the wasm backend's matmuls (OpenBLAS `cblas_sgemm` through Deno FFI, on the
   * wasm heap): `"off"` (default), `"auto"` (use it when it loads, else one warning and plain
   * wasm), `"openblas"` (refuse to start without it). Defaults to `TREPO_BLAS` when readable.
   * Needs `--allow-ffi`.
   */
  blas?: BlasMode;
  /** The BLAS library to load instead of the usual names. Defaults to `TREPO_BLAS_LIBRARY`. */
  blasLibrary?: string;
  /** BLAS threads (default 1, or `TREPO_BLAS_THREADS`). */
  blasThreads?: number;
}

/** What {@linkcode initBackend} selected. */
export interface BackendInfo {
  /** The backend that was asked for. */
  requested: BackendName;
  /** The tfjs backend now active (`tf.getBackend()`). */
  backend: string;
  /** Why the requested backend was replaced, when it was. */
  fallbackReason?: string;
  /** The native GEMM's state, when one was asked for. */
  blas?: NativeGemmStatus;
  /**
   * On webgpu, the device's per-tensor limits in bytes: one kernel binds at most
   * `maxStorageBufferBindingSize` (larger operands of `gather` and `matMul` are split, any other
   * kernel refuses them), and no tensor exceeds `maxBufferSize`.
   */
  webgpuLimits?: WebGpuLimits;
}

/** The exact npm versions of the optional native bindings (all of tfjs is pinned to one version). */
const TFJS_VERSION = "4.22.0";

/**
 * Initialise and select a tfjs backend; call once before building models.
 *
 * `"wasm"` (default) checks the boolean that `tf.setBackend` returns (it does not throw) and, when
 * it is false, falls back to `"cpu"` with one warning. On wasm only, the BatchMatMul gradient is
 * replaced by one that transposes explicitly, so that every matmul in the backward pass is a plain
 * one that hits the fast XNNPACK kernel (identical values, about 3× faster training steps).
 * `"tensorflow"` and `"tensorflow-gpu"` load `@tensorflow/tfjs-node(-gpu)` dynamically and throw an
 * error saying what to install when they cannot be loaded. `"webgpu"` refuses a software adapter
 * unless `allowSoftwareAdapter` is set, and splits `gather` and `matMul` operands larger than one
 * storage binding (see `webgpu_binding_limit.ts`; the device's limits come back in `webgpuLimits`).
 *
 * Preconditions: `--allow-read` (the wasm binary is read from `node_modules`); `--allow-env` to
 * honour `TREPO_BACKEND` and `TREPO_ALLOW_SOFTWARE_ADAPTER`; `--unstable-webgpu` for `"webgpu"`.
 * `"webgpu"` never falls back to another backend: it throws an error that says which of three
 * things is missing (the `--unstable-webgpu` flag, any adapter, or the opt-in for a software
 * adapter) and what to do.
 *
 * @param options The backend and fallback behaviour.
 * @returns The requested and the active backend.
 * @throws {RangeError} For an unknown backend name.
 * @throws {Error} When an opt-in backend cannot be loaded.
 *
 * @example Select the cpu backend
 * ```ts
 * import { initBackend } from "./backend.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const info = await initBackend({ backend: "cpu" });
 * assertEquals(info.backend, "cpu");
 * ```
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const requested = options.backend ?? backendFromEnvironment() ?? "wasm";
  if (!BACKENDS.includes(requested)) {
    throw new RangeError(
      `Cannot initialise the backend: unknown backend "${requested}", expected one of ${
        BACKENDS.join(", ")
      }`,
    );
  }
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const blas = options.blas ?? (readEnvironment("TREPO_BLAS") as BlasMode | undefined) ?? "off";
  if (!BLAS_MODES.includes(blas)) {
    throw new RangeError(
      `Cannot initialise the backend: unknown blas mode "${blas}", expected one of ${
        BLAS_MODES.join(", ")
      }`,
    );
  }
  if (blas === "openblas" && requested !== "wasm") {
    throw new RangeError(
      `Cannot use the native GEMM: it serves the wasm backend only, got backend "${requested}"`,
    );
  }
  switch (requested) {
    case "wasm": {
      const info = await initWasm(warn);
      if (blas === "off" || info.backend !== "wasm") return info;
      const threads = options.blasThreads ?? Number(readEnvironment("TREPO_BLAS_THREADS") ?? 1);
      const status = loadNativeGemm({
        library: options.blasLibrary ?? readEnvironment("TREPO_BLAS_LIBRARY"),
        threads,
      });
      if (!status.active && blas === "openblas") {
        throw new Error(
          `Cannot use the native GEMM: ${status.reason}. Refusing to run without it because blas "openblas" was asked for; use blas "auto" (TREPO_BLAS=auto) to fall back to plain wasm`,
        );
      }
      if (!status.active) {
        warn(
          `trepo: native GEMM unavailable: ${status.reason}; fell back to the plain wasm matmul`,
        );
      }
      return { ...info, blas: status };
    }
    case "cpu":
      await selectBackend("cpu");
      return { requested, backend: tf.getBackend() };
    case "webgpu":
      return await initWebGpu(
        options.allowSoftwareAdapter ?? softwareAdapterFromEnvironment() ?? false,
      );
    case "tensorflow":
    case "tensorflow-gpu":
      return await initNative(requested);
  }
}

function readEnvironment(variable: string): string | undefined {
  const permission = Deno.permissions.querySync({ name: "env", variable });
  if (permission.state !== "granted") return undefined;
  const value = Deno.env.get(variable);
  return value === undefined || value === "" ? undefined : value;
}

function backendFromEnvironment(): BackendName | undefined {
  return readEnvironment("TREPO_BACKEND") as BackendName | undefined;
}

function softwareAdapterFromEnvironment(): boolean | undefined {
  const value = readEnvironment("TREPO_ALLOW_SOFTWARE_ADAPTER");
  return value === undefined ? undefined : ["1", "true", "yes"].includes(value.toLowerCase());
}

async function selectBackend(name: string): Promise<boolean> {
  const ok = await tf.setBackend(name);
  if (ok) await tf.ready();
  return ok;
}

async function initWasm(warn: (message: string) => void): Promise<BackendInfo> {
  let reason: string | undefined;
  try {
    if (await selectBackend("wasm")) {
      installPlainMatMulGradient();
      setSharedIdentity(true);
      setRowGather(true);
      setTiledTranspose(true);
      return { requested: "wasm", backend: "wasm" };
    }
    reason = "tf.setBackend('wasm') returned false";
  } catch (error) {
    reason = error instanceof Error ? error.message : String(error);
  }
  warn(
    `trepo: the wasm backend could not be initialised (${reason}); falling back to the cpu backend, which is about 30× slower. Run with --allow-read so that the wasm binary can be loaded`,
  );
  if (!(await selectBackend("cpu"))) {
    throw new Error("Cannot initialise the backend: neither wasm nor cpu could be selected");
  }
  return { requested: "wasm", backend: "cpu", fallbackReason: reason };
}

async function initWebGpu(allowSoftwareAdapter: boolean): Promise<BackendInfo> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (gpu === undefined) {
    throw new Error(
      "Cannot initialise the webgpu backend: navigator.gpu is undefined, so this Deno exposes no WebGPU; rerun as `deno run --unstable-webgpu …` (the `deno task` commands of trepo pass it), or upgrade Deno",
    );
  }
  const adapter = await gpu.requestAdapter() as
    | {
      isFallbackAdapter?: boolean;
      info?: { isFallbackAdapter?: boolean; description?: string; device?: string };
    }
    | null;
  if (adapter === null) {
    throw new Error(
      "Cannot initialise the webgpu backend: navigator.gpu.requestAdapter() found no adapter at all; install a GPU driver with the Vulkan loader (libvulkan1), or Mesa's software renderer (libegl-mesa0, libgl1-mesa-dri) together with TREPO_ALLOW_SOFTWARE_ADAPTER=1, or use the default wasm backend",
    );
  }
  const software = adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
  if (software && !allowSoftwareAdapter) {
    const name = adapter.info?.description || adapter.info?.device || "unnamed";
    throw new Error(
      `Cannot initialise the webgpu backend: the only adapter is a software (fallback) adapter (${name}), usually slower than wasm; set TREPO_ALLOW_SOFTWARE_ADAPTER=1 (or pass allowSoftwareAdapter: true) to use it anyway, or use the default wasm backend`,
    );
  }
  await import("@tensorflow/tfjs-backend-webgpu");
  if (!(await selectBackend("webgpu"))) {
    throw new Error("Cannot initialise the webgpu backend: tf.setBackend('webgpu') returned false");
  }
  return { requested: "webgpu", backend: "webgpu", webgpuLimits: installBindingSplit() };
}

async function initNative(requested: "tensorflow" | "tensorflow-gpu"): Promise<BackendInfo> {
  const pkg = requested === "tensorflow" ? "@tensorflow/tfjs-node" : "@tensorflow/tfjs-node-gpu";
  const specifier = `npm:${pkg}@${TFJS_VERSION}`;
  try {
    await import(specifier);
  } catch (error) {
    const cause = error instanceof Error ? error.message.split("\n")[0] : String(error);
    const gpuNote = requested === "tensorflow-gpu"
      ? " It needs an NVIDIA GPU with CUDA 11.2 and cuDNN 8.1 installed system-wide."
      : "";
    throw new Error(
      `Cannot initialise the ${requested} backend: ${specifier} could not be loaded (${cause}).` +
        gpuNote +
        ` Install it with its native libtensorflow by running \`deno install --allow-scripts=${specifier}\`` +
        ` in the project (its install script downloads libtensorflow), or use the default wasm backend`,
      { cause: error },
    );
  }
  const name = "tensorflow";
  if (!(await selectBackend(name))) {
    throw new Error(
      `Cannot initialise the ${requested} backend: tf.setBackend('${name}') returned false`,
    );
  }
  return { requested, backend: name };
}

let plainMatMulGradientInstalled = false;

/**
 * Re-register the BatchMatMul gradient so that, while wasm is the active backend, every matmul of
 * the backward pass is a plain one (explicit `tf.transpose`, no transpose flags): only those reach
 * XNNPACK on wasm. Other backends keep the stock form (flags are cheaper there). Same values.
 */
function installPlainMatMulGradient(): void {
  if (plainMatMulGradientInstalled) return;
  plainMatMulGradientInstalled = true;
  const swap = (x: tf.Tensor): tf.Tensor => {
    const perm = x.shape.map((_, i) => i);
    [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
    return tf.transpose(x, perm);
  };
  const mm = (x: tf.Tensor, y: tf.Tensor, tx: boolean, ty: boolean): tf.Tensor =>
    tf.getBackend() === "wasm" && !nativeGemmActive()
      ? tf.matMul(tx ? swap(x) : x, ty ? swap(y) : y)
      : tf.matMul(x, y, tx, ty);
  tf.registerGradient({
    kernelName: "BatchMatMul",
    inputsToSave: ["a", "b"],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const g = Array.isArray(dy) ? dy[0] : dy;
      const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
      if (!transposeA && !transposeB) {
        return { a: () => mm(g, b, false, true), b: () => mm(a, g, true, false) };
      }
      if (!transposeA && transposeB) {
        return { a: () => mm(g, b, false, false), b: () => mm(g, a, true, false) };
      }
      if (transposeA && !transposeB) {
        return { a: () => mm(b, g, false, true), b: () => mm(a, g, false, false) };
      }
      return { a: () => mm(b, g, true, true), b: () => mm(g, a, true, true) };
    },
  });
}

let sharedIdentity = false;

/**
 * Make tfjs-wasm's `Identity` kernel share its input's buffer (reference-counted, as its `Reshape`
 * already does) instead of copying it. tfjs clones every tensor it saves for the backward pass
 * through `Identity`, so on wasm each saved activation was a full copy (≈ 100 copies, ≈ 9 ms of a
 * `bench:rl` GRPO step). Safe because tfjs tensors are immutable (a variable's `assign` swaps its
 * buffer, it never writes into it); code that writes into a buffer in place (the fused Adam's
 * moments) does so only when the backend's reference count says the buffer is its alone.
 *
 * @param on Whether `Identity` shares (true, installed by `initBackend` on wasm) or copies.
 * @returns Whether it shared before.
 */
export function setSharedIdentity(on: boolean): boolean {
  const previous = sharedIdentity;
  if (on !== sharedIdentity && replaceWasmKernel("Identity", on ? shareIdentity : undefined)) {
    sharedIdentity = on;
  }
  return previous;
}

function shareIdentity(args: KernelArgs): tf.TensorInfo {
  const x = (args.inputs as { x: tf.TensorInfo }).x;
  if (x.dtype === "string") return runStockWasmKernel("Identity", args);
  (args.backend as WasmBackendInternals).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}
