/**
 * The layers of the GPT-style decoder shared by the policy ({@linkcode createPolicy}) and the
 * value model ({@linkcode createValueModel}): token and position embeddings, pre-LayerNorm blocks
 * of causal multi-head attention and a GELU MLP, and the final LayerNorm. Internal to
 * `lib/policy/` and `lib/sample/`; the public surface is `transformer.ts` and `value_model.ts`.
 *
 * Layout choices for the wasm backend (DESIGN §5): activations stay 2-D (`[B·L, d]`), so every
 * linear layer is one plain 2-D matmul (the only kind that reaches XNNPACK); Q, K and V come
 * from one fused `[d, 3d]` projection; embeddings are a gather whose gradient is written as a
 * plain matmul (wasm has no kernel for the gradient of `gather`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { PolicyConfig } from "./transformer.ts";
import { causalAttention, useTypedKernels } from "./causal_attention.ts";
import { nativeGemmActive } from "../native_gemm.ts";

/** Additive attention bias for masked keys (finite, so a fully masked row stays finite). */
export const MASKED = -1e9;

/** Read a weight by name, with an error naming the missing one. */
export function weight<T extends tf.Tensor = tf.Variable>(
  weights: ReadonlyMap<string, T>,
  name: string,
): T {
  const w = weights.get(name);
  if (w === undefined) {
    throw new TypeError(`Cannot run the transformer: weight "${name}" is missing`);
  }
  return w;
}

/**
 * Rows of an embedding table: `table[ids]`, `[N, d]`. Forward is a gather; the gradient with
 * respect to the table is `onehot(ids)ᵀ · dy`, a plain 2-D matmul (no `gather` gradient needed).
 */
export function embedRows(table: tf.Tensor, ids: tf.Tensor1D): tf.Tensor2D {
  const rows = table.shape[0];
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const t = args[0] as tf.Tensor2D;
    // The ids are saved (kept alive by the tape until the backward pass), not closed over:
    // the forward pass usually runs inside a tidy that disposes them.
    (args[1] as tf.GradSaveFunc)([ids]);
    return {
      value: tf.gather(t, ids),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const g = (Array.isArray(dy) ? dy[0] : dy) as tf.Tensor2D;
        if (useTypedKernels()) return [scatterAddRows(g, saved[0] as tf.Tensor1D, rows)];
        const oneHotT = tf.transpose(oneHotFloat(saved[0] as tf.Tensor1D, rows)) as tf.Tensor2D;
        return [tf.matMul(oneHotT, g)];
      },
    };
  });
  return f(table) as tf.Tensor2D;
}

/** `out[ids[n], :] += g[n, :]`, `out` `[rows, d]` (the gradient of a gather), over typed arrays. */
function scatterAddRows(g: tf.Tensor2D, ids: tf.Tensor1D, rows: number): tf.Tensor2D {
  const d = g.shape[1];
  const gy = g.dataSync() as Float32Array;
  const index = ids.dataSync();
  const out = new Float32Array(rows * d);
  for (let n = 0; n < index.length; n++) {
    const o = index[n] * d;
    const i = n * d;
    for (let e = 0; e < d; e++) out[o + e] += gy[i + e];
  }
  return tf.tensor2d(out, [rows, d]);
}

/**
 * One-hot rows as float32 `[N, depth]`. Built as int32 then cast: on the wasm backend
 * `tf.oneHot(…, "float32")` returns int32 bit patterns labelled float32 (tfjs 4.22).
 */
export function oneHotFloat(ids: tf.Tensor1D, depth: number): tf.Tensor2D {
  return tf.cast(tf.oneHot(ids, depth), "float32") as tf.Tensor2D;
}

/** Column sums `Σ_n x[n, :]` as a `[1, N]·[N, d]` matmul (wasm reduces axis 0 ~30× slower). */
function columnSums(x: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(tf.ones([1, x.shape[0]]) as tf.Tensor2D, x);
}

/** A matmul whose transposes are explicit on wasm (only flag-free 2-D matmuls reach XNNPACK). */
function mm(a: tf.Tensor2D, b: tf.Tensor2D, transposeA: boolean, transposeB: boolean): tf.Tensor2D {
  if (tf.getBackend() !== "wasm" || nativeGemmActive()) {
    return tf.matMul(a, b, transposeA, transposeB);
  }
  return tf.matMul(transposeA ? tf.transpose(a) : a, transposeB ? tf.transpose(b) : b);
}

/**
 * LayerNorm over the last axis: `x̂·g + b`, `x̂ = (x − μ)/√(σ² + ε)`, `x` `[N, d]`.
 * Hand-written gradient: `dx = r·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))` with `dx̂ = dy·g`,
 * `r = 1/√(σ² + ε)`, `dg = Σ_n dy·x̂`, `db = Σ_n dy` (column sums as matmuls).
 */
export function layerNorm(x: tf.Tensor2D, g: tf.Tensor, b: tf.Tensor, epsilon = 1e-5): tf.Tensor2D {
  if (useTypedKernels()) return layerNormTyped(x, g, b, epsilon);
  const d = x.shape[1];
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, gs, bs] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const mean = tf.mean(xs, -1, true);
    const centred = tf.sub(xs, mean);
    const r = tf.rsqrt(tf.add(tf.mean(tf.mul(centred, centred), -1, true), epsilon));
    const xhat = tf.mul(centred, r);
    save([xhat, r, gs]);
    return {
      value: tf.add(tf.mul(xhat, gs), bs),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const g2 = (Array.isArray(dy) ? dy[0] : dy) as tf.Tensor2D;
        const [xh, rs, gain] = saved;
        const dxhat = tf.mul(g2, gain);
        const a = tf.mean(dxhat, -1, true);
        const c = tf.mean(tf.mul(dxhat, xh), -1, true);
        const dx = tf.mul(tf.sub(tf.sub(dxhat, a), tf.mul(xh, c)), rs);
        const dg = tf.reshape(columnSums(tf.mul(g2, xh) as tf.Tensor2D), [d]);
        const db = tf.reshape(columnSums(g2), [d]);
        return [dx, dg, db];
      },
    };
  });
  return f(x, g, b) as tf.Tensor2D;
}

/**
 * {@linkcode layerNorm} as one op over typed arrays (wasm and cpu backends): ~20 tfjs ops and
 * four `[1, N]·[N, d]` column-sum matmuls become two loops. Same formulas.
 */
function layerNormTyped(
  x: tf.Tensor2D,
  g: tf.Tensor,
  b: tf.Tensor,
  epsilon: number,
): tf.Tensor2D {
  const [n, d] = x.shape;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, gain, shift] = (args.slice(0, 3) as tf.Tensor[]).map((t) =>
      t.dataSync() as Float32Array
    );
    const xhat = new Float32Array(n * d);
    const rstd = new Float64Array(n);
    const out = new Float32Array(n * d);
    for (let r = 0; r < n; r++) {
      const o = r * d;
      let mean = 0;
      for (let e = 0; e < d; e++) mean += xs[o + e];
      mean /= d;
      let v = 0;
      for (let e = 0; e < d; e++) {
        const c = xs[o + e] - mean;
        v += c * c;
      }
      const rs = 1 / Math.sqrt(v / d + epsilon);
      rstd[r] = rs;
      for (let e = 0; e < d; e++) {
        const h = (xs[o + e] - mean) * rs;
        xhat[o + e] = h;
        out[o + e] = h * gain[e] + shift[e];
      }
    }
    return {
      value: tf.tensor2d(out, [n, d]),
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
        const gy = (Array.isArray(dy) ? dy[0] : dy).dataSync() as Float32Array;
        const dx = new Float32Array(n * d);
        const dg = new Float64Array(d);
        const db = new Float64Array(d);
        for (let r = 0; r < n; r++) {
          const o = r * d;
          let a = 0;
          let c = 0;
          for (let e = 0; e < d; e++) {
            const y = gy[o + e];
            const h = xhat[o + e];
            const dh = y * gain[e];
            a += dh;
            c += dh * h;
            dg[e] += y * h;
            db[e] += y;
          }
          a /= d;
          c /= d;
          const rs = rstd[r];
          for (let e = 0; e < d; e++) {
            dx[o + e] = (gy[o + e] * gain[e] - a - xhat[o + e] * c) * rs;
          }
        }
        return [
          tf.tensor2d(dx, [n, d]),
          tf.tensor(Float32Array.from(dg), g.shape),
          tf.tensor(Float32Array.from(db), b.shape),
        ];
      },
    };
  });
  return f(x, g, b) as tf.Tensor2D;
}

/**
 * GELU, tanh form: `½x(1 + tanh(u)) = x·σ(2u)`, `u = √(2/π)(x + 0.044715x³)`. Written with the
 * sigmoid (the identity `½(1 + tanh u) = σ(2u)`): wasm's tanh kernel is ~8× slower than sigmoid.
 */
export function gelu(x: tf.Tensor2D): tf.Tensor2D {
  const cube = tf.mul(tf.mul(x, x), x);
  const inner = tf.mul(tf.add(x, tf.mul(cube, 0.044715)), 2 * Math.sqrt(2 / Math.PI));
  return tf.mul(x, tf.sigmoid(inner));
}

/**
 * `x·W + b` with `x` `[N, in]`: one plain 2-D matmul. Hand-written gradient (`dx = dy·Wᵀ`,
 * `dW = xᵀ·dy`, `db = 1ᵀ·dy`), every product a plain 2-D matmul on wasm.
 */
export function linear(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, ws, bs] = args as tf.Tensor2D[];
    (args[3] as tf.GradSaveFunc)([xs, ws]);
    return {
      value: tf.add(tf.matMul(xs, ws), bs),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const g = (Array.isArray(dy) ? dy[0] : dy) as tf.Tensor2D;
        const [x0, w0] = saved as tf.Tensor2D[];
        const db = tf.reshape(columnSums(g), [w0.shape[1]]);
        return [mm(g, w0, false, true), mm(x0, g, true, false), db];
      },
    };
  });
  return f(x, w, b) as tf.Tensor2D;
}

/** Per-layer attention keys and values of the positions seen so far, each `[B, S, d]`. */
export type KeyValueCache = {
  keys: tf.Tensor3D[];
  values: tf.Tensor3D[];
};

/** Dispose every tensor of a cache. */
export function disposeCache(cache: KeyValueCache): void {
  for (const t of cache.keys) t.dispose();
  for (const t of cache.values) t.dispose();
}

/** Options of {@linkcode trunk}. */
export interface TrunkOptions {
  /**
   * Left padding of each row (`B` numbers). Padded keys are masked out and positions count from
   * each row's first real token. Omitted: no padding.
   */
  padCounts?: readonly number[];
  /** Also return every layer's keys and values (for incremental decoding). */
  collectCache?: boolean;
}

/** Output of {@linkcode trunk}. */
export interface TrunkOutput {
  /** Final-LayerNorm hidden states `[B, L, d]`. */
  hidden: tf.Tensor3D;
  /** Keys and values per layer (only with `collectCache`). */
  cache?: KeyValueCache;
}

/** Position ids `[B·L]` of a left-padded batch: `max(0, j − pad_b)`. */
export function positionIds(
  batch: number,
  length: number,
  padCounts?: readonly number[],
): number[] {
  const ids = new Array<number>(batch * length);
  for (let b = 0; b < batch; b++) {
    const pad = padCounts?.[b] ?? 0;
    for (let j = 0; j < length; j++) ids[b * length + j] = Math.max(0, j - pad);
  }
  return ids;
}

/** Causal (+ key padding) additive bias `[B or 1, 1, L, L]`. */
function attentionBias(batch: number, length: number, padCounts?: readonly number[]): tf.Tensor4D {
  const rows = padCounts === undefined ? 1 : batch;
  const data = new Float32Array(rows * length * length);
  for (let b = 0; b < rows; b++) {
    const pad = padCounts?.[b] ?? 0;
    const base = b * length * length;
    for (let i = 0; i < length; i++) {
      for (let j = 0; j < length; j++) {
        if (j > i || j < pad) data[base + i * length + j] = MASKED;
      }
    }
  }
  return tf.tensor4d(data, [rows, 1, length, length]);
}

/** Transpose helper (explicit, so matmuls stay flag-free). */
function heads(x: tf.Tensor2D, batch: number, length: number, h: number, dh: number): tf.Tensor4D {
  return tf.transpose(tf.reshape(x, [batch, length, h, dh]), [0, 2, 1, 3]);
}

/**
 * Causal multi-head self-attention over a whole sequence.
 *
 * @param q Queries `[B·L, d]` (already scaled by 1/√d_h).
 * @param k Keys `[B·L, d]`.
 * @param v Values `[B·L, d]`.
 * @param bias Additive bias `[B or 1, 1, L, L]`.
 * @returns The attention output `[B·L, d]` (before the output projection).
 */
export function selfAttention(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  v: tf.Tensor2D,
  bias: tf.Tensor4D,
  batch: number,
  length: number,
  h: number,
): tf.Tensor2D {
  const d = q.shape[1];
  const dh = d / h;
  const bh = batch * h;
  // 3-D [B·H, ·, ·] operands: a batched matmul of rank 3 (lib/backend.ts's wasm gradient
  // transposes rank 2 and 3 only).
  const qh = tf.reshape(heads(q, batch, length, h, dh), [bh, length, dh]);
  const kt = tf.reshape(
    tf.transpose(tf.reshape(k, [batch, length, h, dh]), [0, 2, 3, 1]),
    [bh, dh, length],
  );
  const vh = tf.reshape(heads(v, batch, length, h, dh), [bh, length, dh]);
  const scores = tf.add(tf.reshape(tf.matMul(qh, kt), [batch, h, length, length]), bias);
  const p = tf.reshape(tf.softmax(scores), [bh, length, length]);
  const out = tf.reshape(tf.matMul(p, vh), [batch, h, length, dh]);
  return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [batch * length, d]);
}

/**
 * The decoder trunk over whole sequences: embeddings, `layers` pre-LN blocks, final LayerNorm.
 * Differentiable with respect to the weights.
 *
 * @param weights The named weights (see `transformer.ts`).
 * @param config The model configuration.
 * @param tokens Token ids int32 `[B, L]`, `L ≤ maxLength`.
 * @param options Left padding and cache collection.
 * @returns Hidden states `[B, L, d]` (and the cache when asked).
 */
export function trunk(
  weights: ReadonlyMap<string, tf.Variable>,
  config: PolicyConfig,
  tokens: tf.Tensor2D,
  options: TrunkOptions = {},
): TrunkOutput {
  const [batch, length] = tokens.shape;
  const { dModel: d, heads: h, layers } = config;
  const n = batch * length;
  const ids = tf.reshape(tokens, [n]) as tf.Tensor1D;
  const tokenEmb = embedRows(weight(weights, "wte"), ids);
  let x: tf.Tensor2D;
  if (options.padCounts === undefined) {
    const wpe = tf.slice(weight(weights, "wpe"), [0, 0], [length, d]);
    x = tf.reshape(tf.add(tf.reshape(tokenEmb, [batch, length, d]), wpe), [n, d]);
  } else {
    const pos = tf.tensor1d(positionIds(batch, length, options.padCounts), "int32");
    x = tf.add(tokenEmb, embedRows(weight(weights, "wpe"), pos));
  }
  const fused = useTypedKernels();
  const bias = fused ? undefined : attentionBias(batch, length, options.padCounts);
  const scale = 1 / Math.sqrt(d / h);
  const keys: tf.Tensor3D[] = [];
  const values: tf.Tensor3D[] = [];
  for (let l = 0; l < layers; l++) {
    const p = `h${l}.`;
    const a = layerNorm(x, weight(weights, p + "ln1.g"), weight(weights, p + "ln1.b"));
    const qkv = linear(a, weight(weights, p + "attn.wqkv"), weight(weights, p + "attn.bqkv"));
    if (options.collectCache) {
      keys.push(tf.reshape(tf.slice(qkv, [0, d], [n, d]), [batch, length, d]));
      values.push(tf.reshape(tf.slice(qkv, [0, 2 * d], [n, d]), [batch, length, d]));
    }
    let att: tf.Tensor2D;
    if (bias === undefined) {
      att = causalAttention(qkv, batch, length, h, options.padCounts);
    } else {
      const [q, k, v] = tf.split(qkv, 3, 1) as tf.Tensor2D[];
      att = selfAttention(tf.mul(q, scale), k, v, bias, batch, length, h);
    }
    x = tf.add(x, linear(att, weight(weights, p + "attn.wo"), weight(weights, p + "attn.bo")));
    const m = layerNorm(x, weight(weights, p + "ln2.g"), weight(weights, p + "ln2.b"));
    const hidden = gelu(linear(m, weight(weights, p + "mlp.wfc"), weight(weights, p + "mlp.bfc")));
    x = tf.add(
      x,
      linear(hidden, weight(weights, p + "mlp.wproj"), weight(weights, p + "mlp.bproj")),
    );
  }
  const out = layerNorm(x, weight(weights, "lnf.g"), weight(weights, "lnf.b"));
  const hidden = tf.reshape(out, [batch, length, d]) as tf.Tensor3D;
  return options.collectCache ? { hidden, cache: { keys, values } } : { hidden };
}

/**
 * One incremental decoding step: the hidden state of one new token per row, attending to the
 * cached keys and values plus its own.
 *
 * @param weights The named weights.
 * @param config The model configuration.
 * @param tokens The new token of each row, int32 `[B]`.
 * @param positions The position id of each new token, int32 `[B]`.
 * @param cache Keys and values so far, each `[B, S, d]` (not disposed here).
 * @param keyBias Additive bias of the `S + 1` keys (cached then new), `[B, S + 1]`.
 * @returns The final-LN hidden state `[B, d]` and the extended cache (`[B, S + 1, d]` each).
 */
export function decodeStep(
  weights: ReadonlyMap<string, tf.Variable>,
  config: PolicyConfig,
  tokens: tf.Tensor1D,
  positions: tf.Tensor1D,
  cache: KeyValueCache,
  keyBias: tf.Tensor2D,
): { hidden: tf.Tensor2D; cache: KeyValueCache } {
  const batch = tokens.shape[0];
  const { dModel: d, heads: h, layers } = config;
  const dh = d / h;
  const scale = 1 / Math.sqrt(dh);
  let x = tf.add(
    tf.gather(weight(weights, "wte"), tokens),
    tf.gather(weight(weights, "wpe"), positions),
  ) as tf.Tensor2D;
  const s = cache.keys[0].shape[1] + 1;
  const bias = tf.reshape(keyBias, [batch, s, 1]);
  const keys: tf.Tensor3D[] = [];
  const values: tf.Tensor3D[] = [];
  for (let l = 0; l < layers; l++) {
    const p = `h${l}.`;
    const a = layerNorm(x, weight(weights, p + "ln1.g"), weight(weights, p + "ln1.b"));
    const qkv = linear(a, weight(weights, p + "attn.wqkv"), weight(weights, p + "attn.bqkv"));
    const [q, k, v] = tf.split(qkv, 3, 1) as tf.Tensor2D[];
    const kAll = tf.concat([cache.keys[l], tf.reshape(k, [batch, 1, d])], 1) as tf.Tensor3D;
    const vAll = tf.concat([cache.values[l], tf.reshape(v, [batch, 1, d])], 1) as tf.Tensor3D;
    keys.push(kAll);
    values.push(vAll);
    // scores[b, j, h] = Σ_e q[b, h, e]·K[b, j, h, e] / √d_h (elementwise: no batched matmul)
    const qs = tf.reshape(tf.mul(q, scale), [batch, 1, d]);
    const scores = tf.add(tf.sum(tf.reshape(tf.mul(kAll, qs), [batch, s, h, dh]), 3), bias);
    const probs = tf.transpose(tf.softmax(tf.transpose(scores, [0, 2, 1])), [0, 2, 1]); // [B,S,H]
    const weighted = tf.mul(
      tf.reshape(vAll, [batch, s, h, dh]),
      tf.reshape(probs, [batch, s, h, 1]),
    );
    const att = tf.reshape(tf.sum(weighted, 1), [batch, d]) as tf.Tensor2D;
    x = tf.add(x, linear(att, weight(weights, p + "attn.wo"), weight(weights, p + "attn.bo")));
    const m = layerNorm(x, weight(weights, p + "ln2.g"), weight(weights, p + "ln2.b"));
    const hid = gelu(linear(m, weight(weights, p + "mlp.wfc"), weight(weights, p + "mlp.bfc")));
    x = tf.add(x, linear(hid, weight(weights, p + "mlp.wproj"), weight(weights, p + "mlp.bproj")));
  }
  const hidden = layerNorm(x, weight(weights, "lnf.g"), weight(weights, "lnf.b"));
  return { hidden, cache: { keys, values } };
}

/** Vocabulary logits `hidden · W_head`, `hidden` `[N, d]` → `[N, V]` (untied head). */
export function vocabularyLogits(
  weights: ReadonlyMap<string, tf.Variable>,
  hidden: tf.Tensor2D,
): tf.Tensor2D {
  return tf.matMul(hidden, weight(weights, "head") as tf.Tensor2D);
}
