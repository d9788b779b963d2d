/**
 * The causal attention pattern of a left-padded row, as index ranges: which keys each query sees
 * and which queries see each key. Shared by the typed-array and the SIMD attention kernels.
 *
 * @module
 */

/** The keys query `i` sees: `[i, i]` for a padded query (`i < pad`), else `[pad, i]`. */
export function queryRanges(length: number, pad: number, lo: Int32Array, hi: Int32Array): void {
  for (let i = 0; i < length; i++) {
    lo[i] = i < pad ? i : pad;
    hi[i] = i;
  }
}

/** The queries that see key `j` (the transpose of {@linkcode queryRanges}). */
export function keyRanges(length: number, pad: number, lo: Int32Array, hi: Int32Array): void {
  for (let j = 0; j < length; j++) {
    lo[j] = j;
    hi[j] = j < pad ? j : length - 1;
  }
}
