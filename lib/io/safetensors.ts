/**
 * The safetensors file format, read and written here (no dependency): an 8-byte little-endian
 * header length `N`, `N` bytes of JSON header, then the raw little-endian tensor data.
 *
 * The header maps each tensor name to `{ dtype, shape, data_offsets: [begin, end] }` (offsets
 * relative to the start of the data section) and may hold `"__metadata__"`, a map of strings.
 *
 * Two ways to read:
 * - whole: {@linkcode decodeSafetensors} decodes a file's bytes (a checkpoint of trepo's own);
 * - lazily: {@linkcode readSafetensorsHeader} reads only the header of a file on disk, and
 *   {@linkcode readSafetensorsFloat32} then reads one tensor's bytes and converts them to
 *   float32, so that a large shard never sits in memory twice.
 *
 * Both check the header the same way ({@linkcode parseSafetensorsHeader}). One writer:
 * {@linkcode encodeSafetensors}.
 *
 * @module
 */

/** The element types supported here (little-endian). */
export type SafetensorsDtype = "F64" | "F32" | "F16" | "BF16" | "I32" | "U8";

/** The typed array of each dtype (F16 and BF16: their raw 16-bit patterns). */
export type SafetensorsData = Float64Array | Float32Array | Uint16Array | Int32Array | Uint8Array;

/** One tensor of a safetensors file, with its values. */
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

/** Where one tensor of a file lies, from the file's header. */
export interface SafetensorsEntry {
  /** The stored element type. */
  dtype: SafetensorsDtype;
  /** The shape. */
  shape: number[];
  /** Byte offset of the tensor's data in the file (the 8 bytes and the header included). */
  offset: number;
  /** Number of bytes: `∏ shape × element size`. */
  byteLength: number;
}

/** The checked header of a file. */
export interface SafetensorsHeader {
  /** The file's name, quoted in errors. */
  source: string;
  /** Tensor name → where it lies, in header order (`"__metadata__"` left out). */
  tensors: Map<string, SafetensorsEntry>;
  /** The `"__metadata__"` string map (empty when absent). */
  metadata: Record<string, string>;
}

/** Options of {@linkcode parseSafetensorsHeader} and {@linkcode readSafetensorsHeader}. */
export interface SafetensorsHeaderOptions {
  /** The dtypes accepted (default all of {@linkcode SafetensorsDtype}); any other is an error. */
  dtypes?: readonly SafetensorsDtype[];
}

/** The dtypes a float32 weight may be stored in: what {@linkcode toFloat32} converts. */
export const FLOAT_DTYPES: readonly SafetensorsDtype[] = ["F32", "F16", "BF16"];

const BYTES: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I32: 4, U8: 1 };
const DTYPES = Object.keys(BYTES) as SafetensorsDtype[];
const ARRAYS = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
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

function failer(source: string): (what: string) => never {
  return (what: string): never => {
    throw new Error(`Cannot read ${source}: ${what}`);
  };
}

/**
 * Encode tensors (and optional string metadata) as a safetensors file.
 *
 * Layout: `u64le N ‖ header JSON (N bytes, space-padded to a multiple of 8) ‖ data`, tensors
 * stored contiguously in the given order.
 *
 * Used by `saveCheckpoint` for `model.safetensors`, `value_model.safetensors` and
 * `optimizer.safetensors`, by `savePretrained` and by `saveAdapter`.
 *
 * Preconditions: names are non-empty and not `"__metadata__"`; each data array matches its dtype
 * (F16 and BF16: a `Uint16Array` of bit patterns) and has `∏ shape` elements; metadata values are
 * strings.
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
    const dtype = t?.dtype;
    if (!DTYPES.includes(dtype) || !(t.data instanceof ARRAYS[dtype])) {
      throw new TypeError(
        `${context}: tensor "${name}" has dtype ${JSON.stringify(dtype)} but its data is ${
          t?.data?.constructor?.name ?? typeof t?.data
        }; expected ${DTYPES.map((d) => `${d}/${ARRAYS[d].name}`).join(", ")}`,
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

/**
 * The header length of a file from its first 8 bytes, checked against the file's length.
 *
 * @throws {Error} `Cannot read <source>: …` for a file shorter than 8 bytes, a header longer than
 * the file, or one over 100 MB.
 */
function headerLengthOf(prefix: Uint8Array, fileLength: number, source: string): number {
  const fail = failer(source);
  if (!littleEndian()) fail("only little-endian platforms are supported");
  if (prefix.length < 8 || fileLength < 8) {
    fail(`the file is truncated: ${fileLength} bytes, no header length (8 bytes)`);
  }
  const length = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (length > BigInt(fileLength - 8)) {
    fail(
      `the file is truncated or corrupt: the header length is ${length} bytes but only ${
        fileLength - 8
      } bytes follow`,
    );
  }
  const n = Number(length);
  if (n > MAX_HEADER_BYTES) fail(`the header length ${n} exceeds ${MAX_HEADER_BYTES} bytes`);
  return n;
}

/**
 * Parse and check a safetensors header against the file's length, as the reference
 * implementation does: well-formed UTF-8 JSON, known dtypes, integer shapes, offsets that match
 * `∏ shape × element size`, lie within the file, tile the data section exactly (contiguous, no
 * gaps or overlaps) and end at the end of the file.
 *
 * Used by {@linkcode decodeSafetensors} and {@linkcode readSafetensorsHeader}.
 *
 * @param headerBytes The `N` bytes of JSON after the 8-byte length.
 * @param fileLength The file's length in bytes (8 + N + data).
 * @param source The file name, for error messages.
 * @param options The dtypes accepted.
 * @returns The tensors and where they lie, and the metadata.
 * @throws {Error} `Cannot read <source>: …` naming the tensor, for any of the faults above.
 *
 * @example A hand-built header of one BF16 tensor of 3 values, in a file 6 bytes too short
 * ```ts
 * import { parseSafetensorsHeader } from "./safetensors.ts";
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * const json = '{"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]}}';
 * const header = new TextEncoder().encode(json);
 * const ok = parseSafetensorsHeader(header, 8 + header.length + 6, "a.safetensors");
 * assertEquals(ok.tensors.get("w"), {
 *   dtype: "BF16",
 *   shape: [3],
 *   offset: 8 + header.length,
 *   byteLength: 6,
 * });
 * assertThrows(
 *   () => parseSafetensorsHeader(header, 8 + header.length, "a.safetensors"),
 *   Error,
 *   'a.safetensors: the file is truncated: tensor "w"',
 * );
 * ```
 */
export function parseSafetensorsHeader(
  headerBytes: Uint8Array,
  fileLength: number,
  source: string,
  options: SafetensorsHeaderOptions = {},
): SafetensorsHeader {
  const fail = failer(source);
  const accepted = options.dtypes ?? DTYPES;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
  } catch (error) {
    fail(`the header is not valid UTF-8 JSON (${error instanceof Error ? error.message : error})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail("the header is not a JSON object");
  }
  const dataStart = 8 + headerBytes.length;
  const dataLength = fileLength - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsEntry>();
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
    if (typeof value !== "object" || value === null) fail(`tensor "${name}" has no description`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (typeof dtype !== "string" || !accepted.includes(dtype as SafetensorsDtype)) {
      fail(`tensor "${name}" has dtype ${dtype}; supported: ${accepted.join(", ")}`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
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
    if (end > dataLength) {
      fail(
        `the file is truncated: tensor "${name}" needs bytes [${begin}, ${end}) of the data, the file has ${
          Math.max(0, dataLength)
        }`,
      );
    }
    tensors.set(name, {
      dtype: dtype as SafetensorsDtype,
      shape: [...shape as number[]],
      offset: dataStart + begin,
      byteLength: end - begin,
    });
  }
  const ordered = [...tensors].sort(([, a], [, b]) =>
    a.offset - b.offset || a.byteLength - b.byteLength
  );
  let cursor = dataStart;
  for (const [name, e] of ordered) {
    if (e.offset !== cursor) {
      fail(
        `tensor "${name}" starts at byte ${
          e.offset - dataStart
        } of the data but the previous tensor ends at ${cursor - dataStart} (gap or overlap)`,
      );
    }
    cursor = e.offset + e.byteLength;
  }
  if (cursor !== fileLength) {
    fail(`the file has ${fileLength - cursor} trailing bytes after the last tensor (corrupt)`);
  }
  return { source, tensors, metadata };
}

/** Options of {@linkcode decodeSafetensors}. */
export interface DecodeSafetensorsOptions {
  /** The file's name or path, quoted in error messages (default `"safetensors data"`). */
  source?: string;
}

/**
 * Decode a whole safetensors file, validating it fully ({@linkcode parseSafetensorsHeader}).
 *
 * Used by `loadCheckpoint`.
 *
 * @param bytes The file's bytes.
 * @param options The source name used in error messages.
 * @returns The tensors (copied into fresh, aligned typed arrays, in data order) and the metadata.
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
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`Cannot read ${source}: expected a Uint8Array, got ${typeof bytes}`);
  }
  const n = headerLengthOf(bytes, bytes.length, source);
  const header = parseSafetensorsHeader(bytes.subarray(8, 8 + n), bytes.length, source);
  const ordered = [...header.tensors].sort(([, a], [, b]) => a.offset - b.offset);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, e] of ordered) {
    const copy = bytes.slice(e.offset, e.offset + e.byteLength);
    const data = new ARRAYS[e.dtype](copy.buffer, 0, e.byteLength / BYTES[e.dtype]);
    tensors.set(name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata: header.metadata };
}

/** Read `buffer.length` bytes at `position` of an open file; false when the file ends first. */
async function readAt(file: Deno.FsFile, position: number, buffer: Uint8Array): Promise<boolean> {
  await file.seek(position, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < buffer.length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) return false;
    filled += n;
  }
  return true;
}

/**
 * Read only the header of a safetensors file on disk (8 bytes of length, then the JSON) and check
 * it against the file's length ({@linkcode parseSafetensorsHeader}): no tensor data is read.
 *
 * Used by `planWeights` (pretrained shards) and `loadAdapter` (PEFT adapters).
 *
 * @param path The file's path.
 * @param source The file name, for error messages.
 * @param options The dtypes accepted.
 * @returns The tensors and where they lie, and the metadata.
 * @throws {Deno.errors.NotFound} When the file does not exist.
 * @throws {Error} `Cannot read <source>: …` as {@linkcode parseSafetensorsHeader}, and for a file
 * too short for its header.
 *
 * @example Header only, then one tensor
 * ```ts
 * import {
 *   encodeSafetensors,
 *   readSafetensorsFloat32,
 *   readSafetensorsHeader,
 * } from "./safetensors.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await Deno.writeFile(
 *   path,
 *   encodeSafetensors({ w: { dtype: "BF16", shape: [2], data: new Uint16Array([0x3fc0, 0xc000]) } }),
 * );
 * const header = await readSafetensorsHeader(path, "w.safetensors");
 * const entry = header.tensors.get("w")!;
 * assertEquals([entry.dtype, entry.shape, entry.byteLength], ["BF16", [2], 4]);
 * using file = await Deno.open(path);
 * assertEquals(Array.from(await readSafetensorsFloat32(file, "w", entry, "w.safetensors")), [1.5, -2]);
 * await Deno.remove(path);
 * ```
 */
export async function readSafetensorsHeader(
  path: string,
  source: string,
  options: SafetensorsHeaderOptions = {},
): Promise<SafetensorsHeader> {
  using file = await Deno.open(path, { read: true });
  const fileLength = (await file.stat()).size;
  const prefix = new Uint8Array(8);
  const complete = await readAt(file, 0, prefix);
  const n = headerLengthOf(complete ? prefix : new Uint8Array(0), fileLength, source);
  const headerBytes = new Uint8Array(n);
  if (!(await readAt(file, 8, headerBytes))) {
    failer(source)(`the file is truncated: it ends inside its header of ${n} bytes`);
  }
  return parseSafetensorsHeader(headerBytes, fileLength, source, options);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * Math.pow(2, -14) * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * Math.pow(2, exponent - 15) * (1 + fraction / 1024);
}

/**
 * Convert the stored bytes of one tensor to float32 (BF16: the 16 high bits of a float32; F16:
 * IEEE half precision; F32: as is).
 *
 * @param bytes The tensor's bytes, little-endian; for F32 the array is reused when aligned.
 * @param dtype F32, F16 or BF16.
 * @returns `bytes.length / 4` (F32) or `bytes.length / 2` (F16, BF16) values.
 * @throws {TypeError} For another dtype.
 *
 * @example BF16 1.5 is 0x3FC0, F16 1.5 is 0x3E00
 * ```ts
 * import { toFloat32 } from "./safetensors.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(Array.from(toFloat32(new Uint8Array([0xc0, 0x3f]), "BF16")), [1.5]);
 * assertEquals(Array.from(toFloat32(new Uint8Array([0x00, 0x3e]), "F16")), [1.5]);
 * ```
 */
export function toFloat32(bytes: Uint8Array, dtype: SafetensorsDtype): Float32Array {
  if (!FLOAT_DTYPES.includes(dtype)) {
    throw new TypeError(
      `Cannot convert safetensors data to float32: dtype ${dtype}; supported: ${
        FLOAT_DTYPES.join(", ")
      }`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === "F32") {
    if (bytes.byteOffset % 4 === 0) {
      return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    }
    const data = new Float32Array(bytes.byteLength / 4);
    for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(4 * i, true);
    return data;
  }
  const data = new Float32Array(bytes.byteLength / 2);
  if (dtype === "BF16") {
    const u32 = new Uint32Array(data.buffer);
    for (let i = 0; i < data.length; i++) u32[i] = view.getUint16(2 * i, true) << 16;
  } else {
    for (let i = 0; i < data.length; i++) data[i] = halfToFloat(view.getUint16(2 * i, true));
  }
  return data;
}

/**
 * Read one tensor of a file from an open handle and convert it to float32 ({@linkcode toFloat32}):
 * only that tensor's bytes are in memory (for F32 they are the returned array).
 *
 * @param file The file, open for reading.
 * @param name The tensor's name, for error messages.
 * @param entry Where it lies (from {@linkcode readSafetensorsHeader}).
 * @param source The file name, for error messages.
 * @returns `∏ shape` float32 values, row-major.
 * @throws {Error} `Cannot read <source>: …` when the file ends inside the tensor (it changed after
 * its header was read).
 */
export async function readSafetensorsFloat32(
  file: Deno.FsFile,
  name: string,
  entry: SafetensorsEntry,
  source: string,
): Promise<Float32Array> {
  const bytes = new Uint8Array(entry.byteLength);
  if (!(await readAt(file, entry.offset, bytes))) {
    failer(source)(
      `the file is truncated: tensor "${name}" ends at byte ${
        entry.offset + entry.byteLength
      }, after the end of the file`,
    );
  }
  return toFloat32(bytes, entry.dtype);
}
