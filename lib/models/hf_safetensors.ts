/**
 * Reading the tensors of a Hugging Face safetensors shard as float32 (F32, F16 and BF16), in two
 * steps so that a checkpoint never sits in memory twice: {@linkcode readShardHeader} reads only the
 * 8-byte header length and the JSON header of a file and checks every tensor against the file's
 * length; {@linkcode readShardTensor} then reads one tensor's bytes from the file and converts them.
 *
 * File layout: `u64le N ‖ header JSON (N bytes) ‖ data`; the header maps each tensor name to
 * `{ dtype, shape, data_offsets: [begin, end] }`, offsets relative to the start of the data.
 *
 * @module
 */

/** The dtypes a pretrained weight may be stored in. */
export const WEIGHT_DTYPES: readonly string[] = ["F32", "F16", "BF16"];

/** Where one tensor of a shard lies, from the shard's header. */
export interface ShardTensor {
  /** The stored dtype: F32, F16 or BF16. */
  dtype: string;
  /** The shape. */
  shape: number[];
  /** Byte offset of the tensor's data in the file (header included). */
  offset: number;
  /** Number of bytes (`∏ shape × 4` for F32, `× 2` for F16 and BF16). */
  byteLength: number;
}

/** The header of a shard: its tensors, in header order, checked against the file's length. */
export interface ShardHeader {
  /** The file name, quoted in errors. */
  source: string;
  /** Tensor name → location (`"__metadata__"` left out). */
  tensors: Map<string, ShardTensor>;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * Math.pow(2, -14) * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * Math.pow(2, exponent - 15) * (1 + fraction / 1024);
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
 * Parse and check a shard header.
 *
 * @param headerBytes The `N` bytes of JSON after the 8-byte length.
 * @param fileLength The file's length in bytes.
 * @param source The file name, for error messages.
 * @returns The tensors and where they lie.
 * @throws {Error} `Cannot read <source>: …` for invalid JSON, a dtype other than F32, F16, BF16, a
 * tensor whose byte count disagrees with its shape, or a tensor cut off by the end of the file.
 *
 * @example A hand-built header of one BF16 tensor of 3 values, in a file 6 bytes too short
 * ```ts
 * import { parseShardHeader } from "./hf_safetensors.ts";
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * const json = '{"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]}}';
 * const header = new TextEncoder().encode(json);
 * const ok = parseShardHeader(header, 8 + header.length + 6, "a.safetensors");
 * assertEquals(ok.tensors.get("w"), {
 *   dtype: "BF16",
 *   shape: [3],
 *   offset: 8 + header.length,
 *   byteLength: 6,
 * });
 * assertThrows(
 *   () => parseShardHeader(header, 8 + header.length, "a.safetensors"),
 *   Error,
 *   'a.safetensors: the file is truncated: tensor "w"',
 * );
 * ```
 */
export function parseShardHeader(
  headerBytes: Uint8Array,
  fileLength: number,
  source: string,
): ShardHeader {
  const fail = (what: string): never => {
    throw new Error(`Cannot read ${source}: ${what}`);
  };
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(headerBytes));
  } catch (error) {
    return fail(`the header is not valid JSON (${(error as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail("the header is not a JSON object");
  }
  const dataStart = 8 + headerBytes.length;
  const dataLength = fileLength - dataStart;
  const tensors = new Map<string, ShardTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as {
      dtype?: string;
      shape?: number[];
      data_offsets?: [number, number];
    };
    if (typeof dtype !== "string" || !WEIGHT_DTYPES.includes(dtype)) {
      fail(`tensor "${name}" has dtype ${dtype}; supported: ${WEIGHT_DTYPES.join(", ")}`);
    }
    if (!Array.isArray(shape) || !Array.isArray(offsets) || offsets.length !== 2) {
      fail(`tensor "${name}" has no valid shape and data_offsets`);
    }
    const count = shape!.reduce((a, b) => a * b, 1);
    const width = dtype === "F32" ? 4 : 2;
    const [begin, end] = offsets!;
    if (end - begin !== count * width) {
      fail(
        `tensor "${name}" has ${end - begin} bytes, its shape [${shape}] needs ${count * width}`,
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
      dtype: dtype!,
      shape: [...shape!],
      offset: dataStart + begin,
      byteLength: end - begin,
    });
  }
  return { source, tensors };
}

/**
 * Read only the header of a safetensors file (8 bytes of length, then the JSON) and check every
 * tensor against the file's length: no tensor data is read.
 *
 * @param path The file's path.
 * @param source The file name, for error messages.
 * @returns The tensors and where they lie.
 * @throws {Deno.errors.NotFound} When the file does not exist.
 * @throws {Error} `Cannot read <source>: …` as {@linkcode parseShardHeader}, and for a file too
 * short for its header.
 */
export async function readShardHeader(path: string, source: string): Promise<ShardHeader> {
  using file = await Deno.open(path, { read: true });
  const fileLength = (await file.stat()).size;
  const fail = (what: string): never => {
    throw new Error(`Cannot read ${source}: ${what}`);
  };
  const prefix = new Uint8Array(8);
  if (!(await readAt(file, 0, prefix))) {
    fail(`the file is truncated (${fileLength} bytes, no header length)`);
  }
  const headerLength = Number(new DataView(prefix.buffer).getBigUint64(0, true));
  if (8 + headerLength > fileLength) {
    fail(`the file is truncated: header of ${headerLength} bytes, file of ${fileLength}`);
  }
  const headerBytes = new Uint8Array(headerLength);
  await readAt(file, 8, headerBytes);
  return parseShardHeader(headerBytes, fileLength, source);
}

/**
 * Convert the stored bytes of one tensor to float32 (BF16: the 16 high bits of a float32; F16:
 * IEEE half precision; F32: as is).
 *
 * @param bytes The tensor's bytes, little-endian; for F32 the array is reused when aligned.
 * @param dtype F32, F16 or BF16.
 * @returns `bytes.length / 4` (F32) or `bytes.length / 2` (F16, BF16) values.
 *
 * @example BF16 1.5 is 0x3FC0
 * ```ts
 * import { toFloat32 } from "./hf_safetensors.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(Array.from(toFloat32(new Uint8Array([0xc0, 0x3f]), "BF16")), [1.5]);
 * assertEquals(Array.from(toFloat32(new Uint8Array([0x00, 0x3e]), "F16")), [1.5]);
 * ```
 */
export function toFloat32(bytes: Uint8Array, dtype: string): Float32Array {
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
 * Read one tensor of a shard from an open file and convert it to float32: only that tensor's
 * bytes are in memory (for F32 they are the returned array).
 *
 * @param file The shard, open for reading.
 * @param name The tensor's name, for error messages.
 * @param tensor Where it lies (from {@linkcode readShardHeader}).
 * @param source The file name, for error messages.
 * @returns `∏ shape` float32 values, row-major.
 * @throws {Error} `Cannot read <source>: …` when the file ends inside the tensor (it changed after
 * its header was read).
 */
export async function readShardTensor(
  file: Deno.FsFile,
  name: string,
  tensor: ShardTensor,
  source: string,
): Promise<Float32Array> {
  const bytes = new Uint8Array(tensor.byteLength);
  if (!(await readAt(file, tensor.offset, bytes))) {
    throw new Error(
      `Cannot read ${source}: the file is truncated: tensor "${name}" ends at byte ${
        tensor.offset + tensor.byteLength
      }, after the end of the file`,
    );
  }
  return toFloat32(bytes, tensor.dtype);
}
