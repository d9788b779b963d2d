/**
 * Reading the tensors of a Hugging Face safetensors shard as float32 (F32, F16 and BF16).
 *
 * @module
 */

/** The dtypes a pretrained weight may be stored in. */
export const WEIGHT_DTYPES: readonly string[] = ["F32", "F16", "BF16"];

/** One tensor of a shard, converted to float32. */
export interface Float32Tensor {
  /** The shape. */
  shape: number[];
  /** The values, row-major. */
  data: Float32Array;
  /** The stored dtype. */
  dtype: string;
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
 * Decode every tensor of a safetensors shard to float32.
 *
 * @param bytes The file's bytes.
 * @param source The file name, for error messages.
 * @returns Tensor name → tensor.
 * @throws {Error} Naming the file (and tensor) for a truncated or corrupt file or a dtype other
 * than F32, F16, BF16.
 */
export function readSafetensorsFloat32(
  bytes: Uint8Array,
  source: string,
): Map<string, Float32Tensor> {
  const fail = (what: string): never => {
    throw new Error(`Cannot read ${source}: ${what}`);
  };
  if (bytes.length < 8) fail(`the file is truncated (${bytes.length} bytes, no header length)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > bytes.length) {
    fail(`the file is truncated: header of ${headerLength} bytes, file of ${bytes.length}`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (error) {
    return fail(`the header is not valid JSON (${(error as Error).message})`);
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const out = new Map<string, Float32Tensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: offsets } = entry as {
      dtype: string;
      shape: number[];
      data_offsets: [number, number];
    };
    if (!WEIGHT_DTYPES.includes(dtype)) {
      fail(`tensor "${name}" has dtype ${dtype}; supported: ${WEIGHT_DTYPES.join(", ")}`);
    }
    const count = shape.reduce((a, b) => a * b, 1);
    const width = dtype === "F32" ? 4 : 2;
    const [begin, end] = offsets;
    if (end - begin !== count * width) {
      fail(
        `tensor "${name}" has ${end - begin} bytes, its shape [${shape}] needs ${count * width}`,
      );
    }
    if (end > dataLength) {
      fail(
        `the file is truncated: tensor "${name}" needs bytes [${begin}, ${end}) of the data, the file has ${dataLength}`,
      );
    }
    const at = dataStart + begin;
    const data = new Float32Array(count);
    if (dtype === "F32") {
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(at + 4 * i, true);
    } else if (dtype === "BF16") {
      const u32 = new Uint32Array(data.buffer);
      for (let i = 0; i < count; i++) u32[i] = view.getUint16(at + 2 * i, true) << 16;
    } else {
      for (let i = 0; i < count; i++) data[i] = halfToFloat(view.getUint16(at + 2 * i, true));
    }
    out.set(name, { shape: [...shape], data, dtype });
  }
  return out;
}
