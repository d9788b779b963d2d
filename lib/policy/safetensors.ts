/**
 * The safetensors file format, written and read here (no dependency): an 8-byte little-endian
 * header length `N`, `N` bytes of JSON header, then the raw little-endian tensor data.
 *
 * The header maps each tensor name to `{ dtype, shape, data_offsets: [begin, end] }` (offsets
 * relative to the start of the data section) and may hold `"__metadata__"`, a map of strings.
 *
 * @module
 */

/** The element types supported here (little-endian). */
export type SafetensorsDtype = "F32" | "F64" | "I32" | "U8";

/** The typed array of each dtype. */
export type SafetensorsData = Float32Array | Float64Array | Int32Array | Uint8Array;

/** One tensor of a safetensors file. */
export interface SafetensorsTensor {
  /** The element type. */
  dtype: SafetensorsDtype;
  /** The shape (`[]` for a scalar). */
  shape: number[];
  /** The values in row-major order; length = product of the shape. */
  data: SafetensorsData;
}

/** A decoded safetensors file. */
export interface SafetensorsFile {
  /** The tensors, in the order of their data offsets. */
  tensors: Map<string, SafetensorsTensor>;
  /** The `"__metadata__"` string map (empty when absent). */
  metadata: Record<string, string>;
}

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F64: 8, I32: 4, U8: 1 };
const ARRAYS = {
  F32: Float32Array,
  F64: Float64Array,
  I32: Int32Array,
  U8: Uint8Array,
} as const;
/** Largest header accepted when reading (the reference implementation's limit is 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

function littleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function dtypeOf(data: unknown): SafetensorsDtype | undefined {
  if (data instanceof Float32Array) return "F32";
  if (data instanceof Float64Array) return "F64";
  if (data instanceof Int32Array) return "I32";
  if (data instanceof Uint8Array) return "U8";
  return undefined;
}

/**
 * Encode tensors (and optional string metadata) as a safetensors file.
 *
 * Layout: `u64le N ‖ header JSON (N bytes, space-padded to a multiple of 8) ‖ data`, tensors
 * stored contiguously in the given order.
 *
 * Used by `saveCheckpoint` for `model.safetensors`, `value_model.safetensors` and
 * `optimizer.safetensors`.
 *
 * Preconditions: names are non-empty and not `"__metadata__"`; each data array matches its dtype
 * and has `∏ shape` elements; metadata values are strings.
 *
 * @param tensors The tensors by name (a `Map` or a plain object).
 * @param metadata Optional `"__metadata__"` strings.
 * @returns The file's bytes.
 * @throws {TypeError} For a bad name, dtype, shape, data array or metadata value.
 *
 * @example Round trip
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const bytes = encodeSafetensors(
 *   { w: { dtype: "F32", shape: [2], data: new Float32Array([1.5, -2]) } },
 *   { format: "pt" },
 * );
 * const file = decodeSafetensors(bytes);
 * assertEquals(Array.from(file.tensors.get("w")!.data), [1.5, -2]);
 * assertEquals(file.metadata, { format: "pt" });
 * ```
 */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, SafetensorsTensor> | Readonly<Record<string, SafetensorsTensor>>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const context = "Cannot encode safetensors";
  if (!littleEndian()) throw new Error(`${context}: only little-endian platforms are supported`);
  const entries: [string, SafetensorsTensor][] = tensors instanceof Map
    ? [...tensors.entries()]
    : Object.entries(tensors as Record<string, SafetensorsTensor>);
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") {
        throw new TypeError(
          `${context}: metadata values must be strings, got ${typeof v} for key ${
            JSON.stringify(k)
          }`,
        );
      }
    }
    header.__metadata__ = { ...metadata };
  }
  let offset = 0;
  for (const [name, t] of entries) {
    if (typeof name !== "string" || name === "" || name === "__metadata__") {
      throw new TypeError(`${context}: invalid tensor name ${JSON.stringify(name)}`);
    }
    const dtype = dtypeOf(t?.data);
    if (dtype === undefined || dtype !== t.dtype) {
      throw new TypeError(
        `${context}: tensor "${name}" has dtype ${JSON.stringify(t?.dtype)} but its data is ${
          t?.data?.constructor?.name ?? typeof t?.data
        }; expected F32/Float32Array, F64/Float64Array, I32/Int32Array or U8/Uint8Array`,
      );
    }
    if (
      !Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0) ||
      elementCount(t.shape) !== t.data.length
    ) {
      throw new TypeError(
        `${context}: tensor "${name}" has shape ${
          JSON.stringify(t.shape)
        } but ${t.data.length} elements`,
      );
    }
    const size = t.data.length * BYTES[dtype];
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  let headerBytes = new TextEncoder().encode(json);
  const padding = (8 - (headerBytes.length % 8)) % 8;
  if (padding > 0) {
    json += " ".repeat(padding);
    headerBytes = new TextEncoder().encode(json);
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const [, t] of entries) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

/** Options of {@linkcode decodeSafetensors}. */
export interface DecodeSafetensorsOptions {
  /** The file's name or path, quoted in error messages (default `"safetensors data"`). */
  source?: string;
}

/**
 * Decode a safetensors file, validating it fully: header length within the file, well-formed
 * JSON, known dtypes, integer shapes, offsets that match `∏ shape × element size`, tile the data
 * section exactly (contiguous, no gaps or overlaps) and end at the end of the file.
 *
 * Used by `loadCheckpoint`.
 *
 * @param bytes The file's bytes.
 * @param options The source name used in error messages.
 * @returns The tensors (copied into fresh, aligned typed arrays) and the metadata.
 * @throws {Error} Naming the source, for a truncated or corrupt file or an unsupported dtype.
 *
 * @example A hand-built file
 * ```ts
 * import { decodeSafetensors } from "./safetensors.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const json = '{"x":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}';
 * const header = new TextEncoder().encode(json);
 * const bytes = new Uint8Array(8 + header.length + 8);
 * bytes[0] = header.length; // u64 little-endian
 * bytes.set(header, 8);
 * bytes.set([7, 0, 0, 0, 255, 255, 255, 255], 8 + header.length); // 7, -1
 * assertEquals(Array.from(decodeSafetensors(bytes).tensors.get("x")!.data), [7, -1]);
 * ```
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  options: DecodeSafetensorsOptions = {},
): SafetensorsFile {
  const source = options.source ?? "safetensors data";
  const fail = (what: string): never => {
    throw new Error(`Cannot read ${source}: ${what}`);
  };
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`Cannot read ${source}: expected a Uint8Array, got ${typeof bytes}`);
  }
  if (!littleEndian()) fail("only little-endian platforms are supported");
  if (bytes.length < 8) {
    fail(`the file is truncated: ${bytes.length} bytes, fewer than the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    fail(
      `the file is truncated or corrupt: the header length is ${headerLength} bytes but only ${
        bytes.length - 8
      } bytes follow`,
    );
  }
  const n = Number(headerLength);
  if (n > MAX_HEADER_BYTES) fail(`the header length ${n} exceeds ${MAX_HEADER_BYTES} bytes`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (error) {
    fail(`the header is not valid UTF-8 JSON (${error instanceof Error ? error.message : error})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail("the header is not a JSON object");
  }
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: {
    name: string;
    dtype: SafetensorsDtype;
    shape: number[];
    begin: number;
    end: number;
  }[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        fail(`"__metadata__" must be an object of strings`);
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== "string") {
          fail(`"__metadata__" value of ${JSON.stringify(k)} is not a string`);
        }
        metadata[k] = v as string;
      }
      continue;
    }
    const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof info !== "object" || info === null) fail(`tensor "${name}" has no description`);
    const dtype = info.dtype;
    if (typeof dtype !== "string" || !(dtype in BYTES)) {
      fail(
        `tensor "${name}" has unsupported dtype ${
          JSON.stringify(dtype)
        }, expected one of F32, F64, I32, U8`,
      );
    }
    const shape = info.shape;
    if (
      !Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)
    ) {
      fail(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    const offsets = info.data_offsets;
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]
    ) {
      fail(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const expected = elementCount(shape as number[]) * BYTES[dtype as SafetensorsDtype];
    if (end - begin !== expected) {
      fail(
        `tensor "${name}" has data_offsets [${begin}, ${end}] (${end - begin} bytes) but shape ${
          JSON.stringify(shape)
        } of ${dtype} needs ${expected} bytes`,
      );
    }
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of entries) {
    if (e.begin !== cursor) {
      fail(
        `tensor "${e.name}" starts at byte ${e.begin} of the data but the previous tensor ends at ${cursor} (gap or overlap)`,
      );
    }
    cursor = e.end;
  }
  if (cursor !== dataLength) {
    fail(
      cursor > dataLength
        ? `the file is truncated: the header describes ${cursor} bytes of data but only ${dataLength} are present`
        : `the file has ${dataLength - cursor} trailing bytes after the last tensor (corrupt)`,
    );
  }
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    const copy = bytes.slice(dataStart + e.begin, dataStart + e.end);
    const Array_ = ARRAYS[e.dtype];
    const data = new Array_(copy.buffer, 0, (e.end - e.begin) / BYTES[e.dtype]);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}
