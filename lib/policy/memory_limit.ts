/**
 * The memory a run may use on the active tfjs backend, for the memory plan (`memory_plan.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { webgpuLimits } from "../backend.ts";
import type { MemoryLimit } from "./memory_plan.ts";

/** The size of the wasm heap: one 32-bit WebAssembly memory, which never shrinks. */
export const WASM_HEAP_BYTES = 2 ** 32;

/**
 * The part of the wasm heap a plan may fill. The plan counts tensors, not the allocator's
 * fragmentation (the heap never shrinks, and a freed block is reused only by what fits in it): at
 * SmolLM2-135M's shape, steps planned at 99.9 % of the heap passed for GRPO and aborted for RLOO
 * (`results/real_shape_runs.json`); planned at 90 % every recipe ran.
 */
export const WASM_HEAP_PLANNED_FRACTION = 0.9;

/** The fraction of the machine's available memory the cpu backend plans for. */
export const CPU_MEMORY_FRACTION = 0.8;

/** Options of {@linkcode memoryLimit}. */
export interface MemoryLimitOptions {
  /**
   * A forced limit in bytes (tests, or a machine shared with other work); default
   * `$TREPO_MEMORY_LIMIT` (bytes, or a number with `KiB`, `MiB`, `GiB`), else the backend's.
   */
  bytes?: number;
  /**
   * Bytes of tensors that exist already and that the plan counts itself (the policy's weights):
   * everything else `tf.memory()` reports is taken off the limit (default 0).
   */
  countedBytes?: number;
}

/**
 * Parse a byte count: `"4294967296"`, `"64MiB"`, `"1.5 GiB"`, `"512k"`.
 *
 * @param text The text.
 * @returns Bytes (an integer).
 * @throws {RangeError} For anything else, or a count ≤ 0.
 *
 * @example
 * ```ts
 * import { parseBytes } from "./memory_limit.ts";
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * assertEquals(parseBytes("64MiB"), 64 * 2 ** 20);
 * assertEquals(parseBytes("1.5 GiB"), 1.5 * 2 ** 30);
 * assertEquals(parseBytes("1000"), 1000);
 * assertThrows(() => parseBytes("lots"), RangeError, "TREPO_MEMORY_LIMIT");
 * ```
 */
export function parseBytes(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i.exec(String(text));
  const units: Record<string, number> = { b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 };
  const bytes = match === null
    ? NaN
    : Math.floor(Number(match[1]) * units[(match[2] ?? "b")[0].toLowerCase()]);
  if (!(bytes > 0)) {
    throw new RangeError(
      `Cannot read the memory limit (TREPO_MEMORY_LIMIT): expected bytes such as 4294967296, 64MiB or 1.5GiB, got "${text}"`,
    );
  }
  return bytes;
}

function environmentLimit(): number | undefined {
  let text: string | undefined;
  try {
    text = Deno.env.get("TREPO_MEMORY_LIMIT");
  } catch {
    return undefined; // no --allow-env
  }
  return text === undefined || text.trim() === "" ? undefined : parseBytes(text);
}

/**
 * The limit of the active backend: wasm, {@linkcode WASM_HEAP_PLANNED_FRACTION} of the 4 GiB heap
 * less the tensors it holds that the plan does not count; webgpu, no total (WebGPU does not report the device's memory) but
 * `maxBufferSize` per tensor; cpu and the others, {@linkcode CPU_MEMORY_FRACTION} of the memory
 * `Deno.systemMemoryInfo()` reports available, plus the counted tensors already allocated. A
 * forced limit (`options.bytes` or `$TREPO_MEMORY_LIMIT`) replaces the total.
 *
 * @param options A forced limit, and the bytes already allocated that the plan counts.
 * @returns The limit.
 *
 * @example A forced limit
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { memoryLimit } from "./memory_limit.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * assertEquals(memoryLimit({ bytes: 2 ** 20 }).bytes, 2 ** 20);
 * ```
 */
export function memoryLimit(options: MemoryLimitOptions = {}): MemoryLimit {
  const counted = options.countedBytes ?? 0;
  const held = tf.memory().numBytes;
  const uncounted = Math.max(0, held - counted);
  const forced = options.bytes ?? environmentLimit();
  const backend = tf.getBackend();
  const what = backend === "wasm"
    ? "the wasm heap"
    : backend === "webgpu"
    ? "the webgpu device"
    : "this machine's memory";
  const gpu = webgpuLimits();
  const tensorBytes = gpu === undefined ? Infinity : gpu.maxBufferSize;
  // The fused Adam (every recipe's optimizer) keeps its moments beside the wasm heap.
  const optimizerOutside = backend === "wasm";
  if (forced !== undefined) {
    const bytes = Math.max(0, forced - uncounted);
    return { bytes, tensorBytes, what: `${what} (limit forced)`, optimizerOutside };
  }
  if (backend === "wasm") {
    const bytes = WASM_HEAP_PLANNED_FRACTION * WASM_HEAP_BYTES - uncounted;
    const margin = `${Math.round(100 * (1 - WASM_HEAP_PLANNED_FRACTION))} %`;
    return {
      bytes,
      tensorBytes,
      what: `${what} (less ${margin} for fragmentation)`,
      optimizerOutside,
    };
  }
  if (backend === "webgpu") return { bytes: Infinity, tensorBytes, what };
  let available = Infinity;
  try {
    available = Deno.systemMemoryInfo().available;
  } catch {
    // no --allow-sys: no total limit
  }
  return { bytes: CPU_MEMORY_FRACTION * available + counted, tensorBytes, what };
}
