/**
 * The few encodings trepo's hand-assembled WebAssembly modules need (the fused Adam loop, the SIMD
 * attention kernels): LEB128 integers, vectors, names and sections, per the WebAssembly binary
 * format (no toolchain).
 *
 * @module
 */

/** The module preamble: `\0asm`, version 1. */
export const WASM_HEADER: readonly number[] = [0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0];

/**
 * Unsigned LEB128.
 *
 * @param n A non-negative 32-bit integer.
 * @returns Its bytes.
 *
 * @example
 * ```ts
 * import { uleb } from "./wasm_assembler.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(uleb(624485), [0xe5, 0x8e, 0x26]); // the format's own example
 * ```
 */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    const low = n & 127;
    n >>>= 7;
    out.push(n === 0 ? low : low | 128);
  } while (n !== 0);
  return out;
}

/**
 * Signed LEB128.
 *
 * @param n A 32-bit integer.
 * @returns Its bytes.
 *
 * @example
 * ```ts
 * import { sleb } from "./wasm_assembler.ts";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(sleb(-123456), [0xc0, 0xbb, 0x78]); // the format's own example
 * ```
 */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const low = n & 127;
    n >>= 7;
    if ((n === 0 && (low & 64) === 0) || (n === -1 && (low & 64) !== 0)) return [...out, low];
    out.push(low | 128);
  }
}

/** A vector: its length, then its items' bytes. */
export function vec(items: readonly (readonly number[])[]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/** A section: its id, its byte length, then its content. */
export function section(id: number, content: readonly number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

/** A name (ASCII): its length, then its bytes. */
export function name(text: string): number[] {
  return [text.length, ...[...text].map((c) => c.charCodeAt(0))];
}
