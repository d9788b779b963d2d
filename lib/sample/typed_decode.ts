/**
 * Incremental decoding over typed arrays: the KV-cached forward pass of the policy with the
 * attention, LayerNorms and log-softmax written as loops over `Float32Array`s, and only the weight
 * matmuls (`[rows, in]·[in, out]`, plain 2-D matmuls, which reach XNNPACK on wasm) and the MLP
 * (matmul, bias, GELU, matmul, bias: `gelu` of `layers.ts`, whose vectorised sigmoid is 3× faster
 * than a loop of `Math.exp`) left to tfjs. For the small batches of RL sampling the tfjs path spends
 * its time in per-op overhead (~110 ops per token step); this path issues ~25 small ones per step.
 * The keys and values live in the WebAssembly SIMD kernels' memory, where the attention's dot
 * products and weighted sums run as f32x4 loops (`attention_simd.ts`); without SIMD, plain loops.
 *
 * Same math as `trunk` / `decodeStep` in `lib/policy/layers.ts`, which stay the reference: the
 * tests check identical tokens and log-probs within 1e-5. Each row keeps its own cache, so no
 * left padding is needed; shared prompts are computed once and their cache copied.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Policy, PolicyConfig } from "../policy/transformer.ts";
import { gelu, weight } from "../policy/layers.ts";
import { simdHeap, type SimdKernels, simdKernels } from "../policy/attention_simd.ts";
import { prefixSources, stopSet } from "./decode.ts";

/** Per-call view of the weights: vectors and embedding tables read once, matrices kept as tensors. */
interface Snapshot {
  config: PolicyConfig;
  wte: Float32Array;
  wpe: Float32Array;
  layers: {
    ln1g: Float32Array;
    ln1b: Float32Array;
    wqkv: tf.Tensor2D;
    bqkv: Float32Array;
    wo: tf.Tensor2D;
    bo: Float32Array;
    ln2g: Float32Array;
    ln2b: Float32Array;
    wfc: tf.Tensor2D;
    bfc: tf.Tensor1D;
    wproj: tf.Tensor2D;
    bproj: tf.Tensor1D;
  }[];
  lnfg: Float32Array;
  lnfb: Float32Array;
  head: tf.Tensor2D;
}

function snapshot(policy: Policy): Snapshot {
  const { weights, config } = policy;
  const read = (name: string) => weight(weights, name).dataSync() as Float32Array;
  const get = <T extends tf.Tensor>(name: string) => weight(weights, name) as tf.Tensor as T;
  const layers: Snapshot["layers"] = [];
  for (let l = 0; l < config.layers; l++) {
    const p = `h${l}.`;
    layers.push({
      ln1g: read(p + "ln1.g"),
      ln1b: read(p + "ln1.b"),
      wqkv: get(p + "attn.wqkv"),
      bqkv: read(p + "attn.bqkv"),
      wo: get(p + "attn.wo"),
      bo: read(p + "attn.bo"),
      ln2g: read(p + "ln2.g"),
      ln2b: read(p + "ln2.b"),
      wfc: get(p + "mlp.wfc"),
      bfc: get(p + "mlp.bfc"),
      wproj: get(p + "mlp.wproj"),
      bproj: get(p + "mlp.bproj"),
    });
  }
  return {
    config,
    wte: read("wte"),
    wpe: read("wpe"),
    layers,
    lnfg: read("lnf.g"),
    lnfb: read("lnf.b"),
    head: get("head"),
  };
}

/**
 * `a·W (+ bias)` for `a` `[rows, in]`: one plain tfjs matmul (XNNPACK on wasm; `tf.fused.matMul`
 * with a bias measured 2.7× slower there), the bias added here.
 */
function affine(a: Float32Array, rows: number, w: tf.Tensor2D, bias?: Float32Array): Float32Array {
  const out = tf.tidy(() => tf.matMul(tf.tensor2d(a, [rows, w.shape[0]]), w));
  const data = out.dataSync() as Float32Array;
  out.dispose();
  if (bias !== undefined) {
    const m = bias.length;
    for (let r = 0; r < rows; r++) for (let j = 0; j < m; j++) data[r * m + j] += bias[j];
  }
  return data;
}

/** LayerNorm of every row of `x` `[rows, d]` (ε = 1e-5, as `layerNorm`). */
function layerNormRows(
  x: Float32Array,
  rows: number,
  d: number,
  g: Float32Array,
  b: Float32Array,
): Float32Array {
  const out = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let mean = 0;
    for (let e = 0; e < d; e++) mean += x[o + e];
    mean /= d;
    let v = 0;
    for (let e = 0; e < d; e++) {
      const c = x[o + e] - mean;
      v += c * c;
    }
    const rs = 1 / Math.sqrt(v / d + 1e-5);
    for (let e = 0; e < d; e++) out[o + e] = (x[o + e] - mean) * rs * g[e] + b[e];
  }
  return out;
}

/** The MLP of every row of `x` `[rows, d]` (its LayerNorm applied): `gelu(x·W_fc + b_fc)·W_proj + b_proj`. */
function mlpRows(x: Float32Array, rows: number, w: Snapshot["layers"][number]): Float32Array {
  const out = tf.tidy(() => {
    const hidden = gelu(tf.add(tf.matMul(tf.tensor2d(x, [rows, w.wfc.shape[0]]), w.wfc), w.bfc));
    return tf.add(tf.matMul(hidden, w.wproj), w.bproj);
  });
  const data = out.dataSync() as Float32Array;
  out.dispose();
  return data;
}

/**
 * The floats one call works in, cut into views from one block: the SIMD kernels' memory (so the
 * kernels can address every view by its byte offset), or a plain array without SIMD or when the
 * block would not fit in a WebAssembly memory. Nothing is zeroed: every float is written before
 * it is read.
 */
interface Arena {
  kernels: SimdKernels | null;
  take(floats: number): Float32Array;
}

function newArena(floats: number): Arena {
  let kernels = simdKernels();
  let heap: Float32Array;
  try {
    heap = kernels === null ? new Float32Array(floats) : simdHeap(kernels, floats);
  } catch (error) {
    // A WebAssembly memory stops at 4 GiB; past it, plain arrays and plain loops.
    if (kernels === null || !(error instanceof RangeError)) throw error;
    kernels = null;
    heap = new Float32Array(floats);
  }
  let used = 0;
  return {
    kernels,
    take(n: number) {
      if (used + n > floats) throw new Error(`typed decoding: arena of ${floats} floats exhausted`);
      used += n;
      return heap.subarray(used - n, used);
    },
  };
}

/** Keys and values of every row and layer: `[rows, capacity, d]` each, filled up to `length[row]`. */
interface Cache {
  keys: Float32Array[];
  values: Float32Array[];
  capacity: number;
}

function cacheFloats(rows: number, capacity: number, config: PolicyConfig): number {
  return 2 * config.layers * rows * capacity * config.dModel;
}

function newCache(arena: Arena, rows: number, capacity: number, config: PolicyConfig): Cache {
  const size = rows * capacity * config.dModel;
  return {
    keys: Array.from({ length: config.layers }, () => arena.take(size)),
    values: Array.from({ length: config.layers }, () => arena.take(size)),
    capacity,
  };
}

/** `forward`'s scratch views: queries/keys/values, attention outputs and one row of scores. */
interface Scratch {
  /** The SIMD kernels, whose memory holds every view (null: plain loops). */
  kernels: SimdKernels | null;
  qkv: Float32Array;
  att: Float32Array;
  scores: Float32Array;
}

/** Scratch for up to `n` positions per `forward` call, attending over at most `capacity`. */
function newScratch(arena: Arena, n: number, capacity: number, config: PolicyConfig): Scratch {
  const d = config.dModel;
  const { kernels } = arena;
  return {
    kernels,
    qkv: arena.take(3 * n * d),
    att: arena.take(n * d),
    scores: arena.take(capacity),
  };
}

function scratchFloats(n: number, capacity: number, config: PolicyConfig): number {
  return 4 * n * config.dModel + capacity;
}

/** Byte offset of float `i` of view `a` in its block (what the SIMD kernels address). */
function byteAt(a: Float32Array, i: number): number {
  return a.byteOffset + 4 * i;
}

/**
 * One query's attention over positions `0 … last` of one cache row and head: the query at
 * `qkv[qo …]`, key/value `j` at `keys/values[ko + j·d …]`, `dh` floats each, the result written
 * to `out[oo …]`. The dot products and the weighted sum run in the SIMD kernels where available,
 * else in plain loops; the softmax is in JS either way.
 */
function attendOne(
  { kernels, qkv, scores }: Scratch,
  qo: number,
  keys: Float32Array,
  values: Float32Array,
  ko: number,
  last: number,
  out: Float32Array,
  oo: number,
  d: number,
  dh: number,
  scale: number,
): void {
  if (kernels !== null) {
    kernels.dot(
      byteAt(qkv, qo),
      byteAt(keys, ko),
      4 * d,
      4 * dh,
      0,
      last,
      byteAt(scores, 0),
      scale,
    );
  } else {
    for (let j = 0; j <= last; j++) {
      let dot = 0;
      for (let e = 0; e < dh; e++) dot += qkv[qo + e] * keys[ko + j * d + e];
      scores[j] = dot * scale;
    }
  }
  let max = -Infinity;
  for (let j = 0; j <= last; j++) if (scores[j] > max) max = scores[j];
  let z = 0;
  for (let j = 0; j <= last; j++) {
    const p = Math.exp(scores[j] - max);
    scores[j] = p;
    z += p;
  }
  const inv = 1 / z;
  for (let j = 0; j <= last; j++) scores[j] *= inv;
  if (kernels !== null) {
    kernels.comb(byteAt(scores, 0), 4, byteAt(values, ko), 4 * d, 4 * dh, 0, last, byteAt(out, oo));
  } else {
    for (let e = 0; e < dh; e++) out[oo + e] = 0;
    for (let j = 0; j <= last; j++) {
      const p = scores[j];
      for (let e = 0; e < dh; e++) out[oo + e] += p * values[ko + j * d + e];
    }
  }
}

/**
 * Run new positions through the model. Item `i` is token `tokens[i]` at position `positions[i]`
 * of cache row `rows[i]`; it attends to that row's positions `0 … positions[i]` (earlier ones
 * must be in the cache or in this call). Returns the final-LayerNorm hidden states `[N, d]`.
 */
function forward(
  s: Snapshot,
  cache: Cache,
  scratch: Scratch,
  rows: readonly number[],
  positions: readonly number[],
  tokens: readonly number[],
): Float32Array {
  const { dModel: d, heads } = s.config;
  const n = tokens.length;
  const dh = d / heads;
  const scale = 1 / Math.sqrt(dh);
  const cap = cache.capacity;
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const t = tokens[i] * d;
    const p = positions[i] * d;
    for (let e = 0; e < d; e++) x[i * d + e] = s.wte[t + e] + s.wpe[p + e];
  }
  const { qkv } = scratch;
  const att = scratch.att.subarray(0, n * d);
  for (let l = 0; l < s.layers.length; l++) {
    const w = s.layers[l];
    const keys = cache.keys[l];
    const values = cache.values[l];
    qkv.set(affine(layerNormRows(x, n, d, w.ln1g, w.ln1b), n, w.wqkv, w.bqkv));
    for (let i = 0; i < n; i++) {
      const c = (rows[i] * cap + positions[i]) * d;
      keys.set(qkv.subarray(i * 3 * d + d, i * 3 * d + 2 * d), c);
      values.set(qkv.subarray(i * 3 * d + 2 * d, i * 3 * d + 3 * d), c);
    }
    for (let i = 0; i < n; i++) {
      const base = rows[i] * cap * d;
      for (let h = 0; h < heads; h++) {
        attendOne(
          scratch,
          i * 3 * d + h * dh,
          keys,
          values,
          base + h * dh,
          positions[i],
          att,
          i * d + h * dh,
          d,
          dh,
          scale,
        );
      }
    }
    const proj = affine(att, n, w.wo, w.bo);
    for (let i = 0; i < x.length; i++) x[i] += proj[i];
    const mlp = mlpRows(layerNormRows(x, n, d, w.ln2g, w.ln2b), n, w);
    for (let i = 0; i < x.length; i++) x[i] += mlp[i];
  }
  return layerNormRows(x, n, d, s.lnfg, s.lnfb);
}

/** Log-softmax of `logits / temperature`, row by row, `[rows, V]`. */
function logSoftmaxRows(logits: Float32Array, rows: number, v: number, temperature: number) {
  const out = new Float32Array(rows * v);
  for (let r = 0; r < rows; r++) {
    const o = r * v;
    let max = -Infinity;
    for (let k = 0; k < v; k++) max = Math.max(max, logits[o + k] / temperature);
    let z = 0;
    for (let k = 0; k < v; k++) z += Math.exp(logits[o + k] / temperature - max);
    const lz = max + Math.log(z);
    for (let k = 0; k < v; k++) out[o + k] = logits[o + k] / temperature - lz;
  }
  return out;
}

/** One typed-array decoding request (see `DecodeRequest` in `decode.ts`). */
export interface TypedDecodeRequest {
  /** Each row's context, at least one token. */
  contexts: readonly (readonly number[])[];
  /** Each row's maximum number of new tokens, at least 1. */
  budgets: readonly number[];
  /** The EOS token id. */
  eosToken: number;
  /** More ids that end a row as EOS does; default none. */
  stopTokens?: readonly number[];
  /** Logits are divided by this before the softmax. */
  temperature: number;
  /** The token choice (sampling or argmax), given the row's log-probs. */
  choose: (logProbs: Float32Array, row: number) => number;
}

/**
 * The KV-cached decoding loop of `decode` over typed arrays (same prefill sharing, same order of
 * token choices, so the same random stream gives the same tokens).
 *
 * @param policy The policy (its weights are read once per call).
 * @param request Contexts, budgets (each ≥ 1), EOS, temperature and token choice.
 * @returns New tokens (EOS included when drawn) and their log-probs, per row.
 */
export function decodeTyped(
  policy: Policy,
  request: TypedDecodeRequest,
): { tokens: number[][]; logProbs: number[][] } {
  const { contexts, budgets, eosToken: eos, temperature, choose } = request;
  const stops = stopSet(eos, request.stopTokens);
  const s = snapshot(policy);
  const { dModel: d, vocabSize: vocab } = s.config;
  const batch = contexts.length;
  const capacity = Math.max(...contexts.map((c, b) => c.length + budgets[b]));
  // 1. Prefill the distinct longest contexts once, then copy each row's prefix of its source.
  const { sources, sourceOf } = prefixSources(contexts);
  const prefillTokens = sources.reduce((n, src) => n + src.length, 0);
  const positionsPerCall = Math.max(prefillTokens, batch);
  const arena = newArena(
    cacheFloats(sources.length + batch, capacity, s.config) +
      scratchFloats(positionsPerCall, capacity, s.config),
  );
  const scratch = newScratch(arena, positionsPerCall, capacity, s.config);
  const srcCache = newCache(arena, sources.length, capacity, s.config);
  const srcRows: number[] = [];
  const srcPositions: number[] = [];
  const srcTokens: number[] = [];
  const offsets: number[] = [];
  sources.forEach((src, u) => {
    offsets.push(srcTokens.length);
    src.forEach((token, j) => {
      srcRows.push(u);
      srcPositions.push(j);
      srcTokens.push(token);
    });
  });
  const srcHidden = forward(s, srcCache, scratch, srcRows, srcPositions, srcTokens);
  const cache = newCache(arena, batch, capacity, s.config);
  const hidden = new Float32Array(batch * d);
  for (let b = 0; b < batch; b++) {
    const u = sourceOf[b];
    const n = contexts[b].length;
    for (let l = 0; l < s.config.layers; l++) {
      const from = u * capacity * d;
      cache.keys[l].set(srcCache.keys[l].subarray(from, from + n * d), b * capacity * d);
      cache.values[l].set(srcCache.values[l].subarray(from, from + n * d), b * capacity * d);
    }
    const row = offsets[u] + n - 1;
    hidden.set(srcHidden.subarray(row * d, (row + 1) * d), b * d);
  }
  // 2. One position per active row per step.
  const tokens: number[][] = contexts.map(() => []);
  const logProbs: number[][] = contexts.map(() => []);
  const lengths = contexts.map((c) => c.length);
  let live = contexts.map((_, b) => b);
  let liveHidden: Float32Array = hidden;
  while (live.length > 0) {
    const logits = affine(liveHidden, live.length, s.head);
    const lp = logSoftmaxRows(logits, live.length, vocab, temperature);
    const next: number[] = [];
    const nextTokens: number[] = [];
    live.forEach((b, r) => {
      const row = lp.subarray(r * vocab, (r + 1) * vocab);
      const token = choose(row, b);
      tokens[b].push(token);
      logProbs[b].push(row[token]);
      if (!stops.has(token) && tokens[b].length < budgets[b]) {
        next.push(b);
        nextTokens.push(token);
      }
    });
    if (next.length === 0) break;
    const positions = next.map((b) => lengths[b]++);
    liveHidden = forward(s, cache, scratch, next, positions, nextTokens);
    live = next;
  }
  return { tokens, logProbs };
}
