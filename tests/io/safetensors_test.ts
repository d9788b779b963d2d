import {
  decodeSafetensors,
  encodeSafetensors,
  FLOAT_DTYPES,
  readSafetensorsFloat32,
  readSafetensorsHeader,
  toFloat32,
} from "../../lib/io/safetensors.ts";
import { Random } from "../../lib/random.ts";
import { assertEquals, assertRejects, assertThrows } from "@std/assert";

/** Build a file by hand: u64le header length, header bytes, data bytes. */
function handBuilt(header: string, data: number[]): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  let n = h.length;
  for (let i = 0; i < 8; i++) {
    out[i] = n & 0xff;
    n = Math.floor(n / 256);
  }
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

Deno.test("safetensors: parses a hand-built file (F32, I32, scalar, metadata)", () => {
  // 1.0f = 00 00 80 3f, -2.0f = 00 00 00 c0 (IEEE 754, little-endian); 258 = 02 01 00 00
  const header = JSON.stringify({
    __metadata__: { format: "pt" },
    b: { dtype: "I32", shape: [], data_offsets: [8, 12] },
    a: { dtype: "F32", shape: [1, 2], data_offsets: [0, 8] },
  });
  const bytes = handBuilt(header, [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 2, 1, 0, 0]);
  const file = decodeSafetensors(bytes);
  assertEquals(file.metadata, { format: "pt" });
  assertEquals([...file.tensors.keys()], ["a", "b"]); // data order
  const a = file.tensors.get("a")!;
  assertEquals(a.dtype, "F32");
  assertEquals(a.shape, [1, 2]);
  assertEquals(Array.from(a.data), [1, -2]);
  const b = file.tensors.get("b")!;
  assertEquals([b.dtype, b.shape, Array.from(b.data)], ["I32", [], [258]]);
});

Deno.test("safetensors: encodes the documented layout byte for byte", () => {
  const bytes = encodeSafetensors({ x: { dtype: "I32", shape: [1], data: new Int32Array([-1]) } });
  const view = new DataView(bytes.buffer);
  const n = Number(view.getBigUint64(0, true));
  assertEquals(n % 8, 0); // padded to 8 bytes
  const json = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assertEquals(JSON.parse(json), { x: { dtype: "I32", shape: [1], data_offsets: [0, 4] } });
  assertEquals(Array.from(bytes.subarray(8 + n)), [255, 255, 255, 255]);
});

Deno.test("safetensors: random tensors round trip bit-exactly", () => {
  const rng = new Random(1);
  const f32 = new Float32Array(1000).map(() => rng.normal() * 10 ** rng.int(8));
  f32[0] = -0;
  f32[1] = Number.MIN_VALUE;
  f32[2] = NaN;
  const f64 = new Float64Array(7).map(() => rng.normal());
  const i32 = new Int32Array(33).map(() => rng.next() | 0);
  const u8 = new Uint8Array(5).map(() => rng.int(256));
  const tensors = {
    "h0.attn.wqkv": { dtype: "F32" as const, shape: [10, 100], data: f32 },
    f64: { dtype: "F64" as const, shape: [7], data: f64 },
    ints: { dtype: "I32" as const, shape: [3, 11], data: i32 },
    bytes: { dtype: "U8" as const, shape: [5], data: u8 },
    empty: { dtype: "F32" as const, shape: [0, 3], data: new Float32Array(0) },
  };
  const file = decodeSafetensors(encodeSafetensors(tensors, { note: "ünïcode ✓" }));
  assertEquals(file.metadata, { note: "ünïcode ✓" });
  for (const [name, t] of Object.entries(tensors)) {
    const got = file.tensors.get(name)!;
    assertEquals(got.shape, t.shape);
    assertEquals(got.dtype, t.dtype);
    // Compare raw bytes (NaN and -0 included).
    assertEquals(
      new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.byteLength),
      new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
    );
  }
});

Deno.test("safetensors: truncated and corrupt files give clear errors naming the source", () => {
  const good = encodeSafetensors({ w: { dtype: "F32", shape: [4], data: new Float32Array(4) } });
  const source = "ckpt/model.safetensors";
  assertThrows(
    () => decodeSafetensors(good.subarray(0, 5), { source }),
    Error,
    "Cannot read ckpt/model.safetensors: the file is truncated: 5 bytes",
  );
  assertThrows(
    () => decodeSafetensors(good.subarray(0, 20), { source }),
    Error,
    "ckpt/model.safetensors: the file is truncated or corrupt: the header length",
  );
  assertThrows(
    () => decodeSafetensors(good.subarray(0, good.length - 3), { source }),
    Error,
    'ckpt/model.safetensors: the file is truncated: tensor "w" needs bytes [0, 16) of the data, the file has 13',
  );
  const extra = new Uint8Array(good.length + 2);
  extra.set(good);
  assertThrows(() => decodeSafetensors(extra, { source }), Error, "2 trailing bytes");
  assertThrows(
    () => decodeSafetensors(handBuilt("{not json", []), { source }),
    Error,
    "ckpt/model.safetensors: the header is not valid UTF-8 JSON",
  );
  assertThrows(
    () =>
      decodeSafetensors(
        handBuilt('{"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}', [
          0,
          0,
          0,
          0,
          0,
          0,
          0,
          0,
        ]),
      ),
    Error,
    `Cannot read safetensors data: tensor "w" has dtype I64; supported: F64, F32, F16, BF16, I32, U8`,
  );
  assertThrows(
    () =>
      decodeSafetensors(
        handBuilt('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', [0, 0, 0, 0]),
      ),
    Error,
    "needs 8 bytes",
  );
  assertThrows(
    () =>
      decodeSafetensors(
        handBuilt(
          '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}',
          [1, 2, 3],
        ),
      ),
    Error,
    "gap or overlap",
  );
  assertThrows(
    () =>
      decodeSafetensors(handBuilt('{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}', [])),
    Error,
    "invalid shape",
  );
  assertThrows(
    () => decodeSafetensors(handBuilt('{"__metadata__":{"k":1}}', [])),
    Error,
    `"__metadata__" value of "k" is not a string`,
  );
});

Deno.test("safetensors: encode rejects mismatched dtype, shape and names", () => {
  assertThrows(
    () => encodeSafetensors({ w: { dtype: "I32", shape: [1], data: new Float32Array(1) } }),
    TypeError,
    `tensor "w" has dtype "I32" but its data is Float32Array`,
  );
  assertThrows(
    () => encodeSafetensors({ w: { dtype: "F32", shape: [2, 2], data: new Float32Array(3) } }),
    TypeError,
    `tensor "w" has shape [2,2] but 3 elements`,
  );
  assertThrows(
    () =>
      encodeSafetensors({ __metadata__: { dtype: "F32", shape: [0], data: new Float32Array(0) } }),
    TypeError,
    "invalid tensor name",
  );
  assertThrows(
    // deno-lint-ignore no-explicit-any
    () => encodeSafetensors({}, { k: 1 as any }),
    TypeError,
    "metadata values must be strings",
  );
});

Deno.test("safetensors: F16 and BF16 bit patterns decode, convert to float32 and round trip", async () => {
  // F16 (IEEE half): 0x3c00 = 1, 0xc000 = -2, 0x7bff = 65504 (largest), 0x0001 = 2^-24 (smallest
  // subnormal), 0x7c00 = +Infinity. BF16 (high half of a float32): 0x3f80 = 1, 0xc000 = -2,
  // 0x4049 = 3.140625, 0x0080 = 2^-126 (smallest normal), 0xff80 = -Infinity.
  const f16 = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00]);
  const bf16 = new Uint16Array([0x3f80, 0xc000, 0x4049, 0x0080, 0xff80]);
  const bytes = encodeSafetensors({
    h: { dtype: "F16", shape: [5], data: f16 },
    b: { dtype: "BF16", shape: [5], data: bf16 },
  });
  const file = decodeSafetensors(bytes);
  assertEquals(file.tensors.get("h")!.dtype, "F16");
  assertEquals(Array.from(file.tensors.get("h")!.data), Array.from(f16));
  assertEquals(Array.from(file.tensors.get("b")!.data), Array.from(bf16));
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  try {
    await Deno.writeFile(path, bytes);
    const header = await readSafetensorsHeader(path, "x.safetensors", { dtypes: FLOAT_DTYPES });
    using handle = await Deno.open(path);
    const h = await readSafetensorsFloat32(handle, "h", header.tensors.get("h")!, "x.safetensors");
    const b = await readSafetensorsFloat32(handle, "b", header.tensors.get("b")!, "x.safetensors");
    assertEquals(Array.from(h), [1, -2, 65504, 2 ** -24, Infinity]);
    assertEquals(Array.from(b), [1, -2, 3.140625, 2 ** -126, -Infinity]);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("safetensors: whole and lazy reads agree on files written by Python's safetensors", async () => {
  // The fixtures were written by tools/make_hf_fixtures.py (safetensors 0.x, torch): F32, F16, BF16.
  const root = new URL("../fixtures/hf/", import.meta.url).pathname;
  for (
    const name of [
      "gpt2/model.safetensors",
      "llama/model.safetensors",
      "llama_untied/model-00002-of-00005.safetensors",
    ]
  ) {
    const path = root + name;
    const whole = decodeSafetensors(await Deno.readFile(path), { source: name });
    const header = await readSafetensorsHeader(path, name);
    assertEquals([...header.tensors.keys()].sort(), [...whole.tensors.keys()].sort(), name);
    using handle = await Deno.open(path);
    for (const [tensor, entry] of header.tensors) {
      const decoded = whole.tensors.get(tensor)!;
      assertEquals([entry.dtype, entry.shape], [decoded.dtype, decoded.shape], tensor);
      const lazy = await readSafetensorsFloat32(handle, tensor, entry, name);
      const bytes = new Uint8Array(
        decoded.data.buffer,
        decoded.data.byteOffset,
        decoded.data.byteLength,
      );
      assertEquals(lazy, toFloat32(bytes, decoded.dtype), tensor);
    }
  }
});

Deno.test("safetensors: lazy reads refuse other dtypes, a short header and a file cut after its header was read", async () => {
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  try {
    await Deno.writeFile(
      path,
      encodeSafetensors({ n: { dtype: "I32", shape: [2], data: new Int32Array([1, 2]) } }),
    );
    await assertRejects(
      () => readSafetensorsHeader(path, "n.safetensors", { dtypes: FLOAT_DTYPES }),
      Error,
      'Cannot read n.safetensors: tensor "n" has dtype I32; supported: F32, F16, BF16',
    );
    const good = encodeSafetensors({ w: { dtype: "F32", shape: [4], data: new Float32Array(4) } });
    await Deno.writeFile(path, good.subarray(0, 4));
    await assertRejects(
      () => readSafetensorsHeader(path, "w.safetensors"),
      Error,
      "Cannot read w.safetensors: the file is truncated: 4 bytes, no header length",
    );
    await Deno.writeFile(path, good);
    const header = await readSafetensorsHeader(path, "w.safetensors");
    await Deno.writeFile(path, good.subarray(0, good.length - 1));
    using handle = await Deno.open(path);
    await assertRejects(
      () => readSafetensorsFloat32(handle, "w", header.tensors.get("w")!, "w.safetensors"),
      Error,
      `Cannot read w.safetensors: the file is truncated: tensor "w" ends at byte ${good.length}`,
    );
  } finally {
    await Deno.remove(path);
  }
});
