/**
 * Causal attention where groups of query heads share one key/value head (grouped-query
 * attention; multi-head attention when the counts are equal, multi-query with one kv head).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type KeyValueCache, MASKED } from "../policy/layers.ts";

/**
 * Causal (+ left padding) additive bias `[B or 1, 1, L, L]`: key `j` is masked for query `i`
 * when `j > i` or `j` is a pad of its row.
 *
 * @param batch Rows `B`.
 * @param length Positions `L`.
 * @param padCounts Left pads per row, if any.
 * @returns The bias.
 */
export function causalBias(
  batch: number,
  length: number,
  padCounts?: readonly number[],
): tf.Tensor4D {
  const rows = padCounts === undefined ? 1 : batch;
  const data = new Float32Array(rows * length * length);
  for (let b = 0; b < rows; b++) {
    const pad = padCounts?.[b] ?? 0;
    for (let i = 0; i < length; i++) {
      for (let j = 0; j < length; j++) {
        if (j > i || j < pad) data[(b * length + i) * length + j] = MASKED;
      }
    }
  }
  return tf.tensor4d(data, [rows, 1, length, length]);
}

/**
 * `softmax(q·kᵀ·scale + bias)·v` per head, query head `h` reading kv head `⌊h·G/H⌋`.
 *
 * No key or value is copied per query head: the `r = H/G` query heads that share a kv head are
 * laid beside the positions instead (`[B, G, Lq·r, d_h]`, row `i·r + j` = position `i`, head
 * `g·r + j`), so each kv head meets its `r` query heads in one matmul, and the bias rows are
 * repeated `r` times (`Lq·Lk` floats, not the `Lk·d_h` of a key or value head). Repeating the
 * keys and values instead cost a tile of the whole cache per layer and decoding step (35 % of
 * sampling at SmolLM2-135M's 9 query / 3 kv heads).
 *
 * @param q Queries `[B, Lq, H, d_h]`.
 * @param k Keys `[B, Lk, G, d_h]`, `H` divisible by `G`.
 * @param v Values `[B, Lk, G, d_h]`.
 * @param bias Additive bias `[B or 1, 1, Lq, Lk]`.
 * @param scale Score scale (`1/√d_h`).
 * @returns The heads concatenated, `[B·Lq, H·d_h]`.
 */
export function groupedQueryAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  bias: tf.Tensor4D,
  scale: number,
): tf.Tensor2D {
  const [b, lq, h, dh] = q.shape;
  const [, lk, g] = k.shape;
  const r = h / g;
  const qg = tf.reshape(
    tf.transpose(tf.reshape(q, [b, lq, g, r * dh]), [0, 2, 1, 3]),
    [b, g, lq * r, dh],
  );
  const kg = tf.transpose(k, [0, 2, 1, 3]);
  const vg = tf.transpose(v, [0, 2, 1, 3]);
  const rows = bias.shape[0];
  const biasRows = r === 1 ? bias : tf.reshape(
    tf.tile(tf.reshape(bias, [rows, lq, 1, lk]), [1, 1, r, 1]),
    [rows, 1, lq * r, lk],
  );
  const scores = tf.add(tf.mul(tf.matMul(qg, kg, false, true), scale), biasRows);
  const out = tf.matMul(tf.softmax(scores), vg); // [B, G, Lq·r, d_h]
  return tf.reshape(
    tf.transpose(tf.reshape(out, [b, g, lq, r * dh]), [0, 2, 1, 3]),
    [b * lq, h * dh],
  );
}

/** The shapes {@linkcode cachedAttention} works with. */
export interface AttentionShape {
  /** Sequences in the batch, `B`. */
  batch: number;
  /** New positions per sequence, `L`. */
  length: number;
  /** Query heads `H`. */
  heads: number;
  /** Key/value heads `G` (`H` divisible by `G`). */
  kvHeads: number;
  /** Head size `d_h`. */
  headDim: number;
}

/**
 * One layer's attention with a key/value cache: append this step's keys and values to the
 * layer's cached ones (`past`, when decoding), push the result onto `keys` / `values` (the next
 * cache), then {@linkcode groupedQueryAttention} at scale `1/√d_h`.
 *
 * Used by every pretrained family (GPT-2 with `G = H`, and the RoPE decoders).
 *
 * @param q Queries `[B·L, H·d_h]` (positions already encoded).
 * @param k Keys `[B·L, G·d_h]` (positions already encoded).
 * @param v Values `[B·L, G·d_h]`.
 * @param cache `past` (the previous step's cache, or `undefined`), the `layer` index, and the
 *   arrays the new cache is collected in.
 * @param shape `B`, `L`, `H`, `G`, `d_h`.
 * @param bias Additive attention bias `[B or 1, 1, L, past + L]`.
 * @returns The heads concatenated, `[B·L, H·d_h]`.
 */
export function cachedAttention(
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  cache: {
    past: KeyValueCache | undefined;
    layer: number;
    keys: tf.Tensor3D[];
    values: tf.Tensor3D[];
  },
  shape: AttentionShape,
  bias: tf.Tensor4D,
): tf.Tensor2D {
  const { batch, length, heads: h, kvHeads: g, headDim: dh } = shape;
  let kAll = tf.reshape(k, [batch, length, g * dh]) as tf.Tensor3D;
  let vAll = tf.reshape(v, [batch, length, g * dh]) as tf.Tensor3D;
  if (cache.past !== undefined) {
    kAll = tf.concat([cache.past.keys[cache.layer], kAll], 1);
    vAll = tf.concat([cache.past.values[cache.layer], vAll], 1);
  }
  cache.keys.push(kAll);
  cache.values.push(vAll);
  const s = kAll.shape[1];
  return groupedQueryAttention(
    tf.reshape(q, [batch, length, h, dh]),
    tf.reshape(kAll, [batch, s, g, dh]),
    tf.reshape(vAll, [batch, s, g, dh]),
    bias,
    1 / Math.sqrt(dh),
  );
}
