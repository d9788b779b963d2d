/**
 * The decoder shared by Llama, Qwen2 and Qwen3: token embedding, pre-RMSNorm blocks of
 * grouped-query attention with RoPE and a SwiGLU MLP, final RMSNorm, tied or untied head.
 * The family files (`llama.ts`, `qwen2.ts`, `qwen3.ts`) read their `config.json` into a
 * {@linkcode RopeDecoderConfig} and differ only in it (q/k/v biases, q/k norms, head size).
 *
 * Weights keep the Hugging Face names and layouts (`nn.Linear` `[out, in]`), so saving back is
 * a copy.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Architecture, ProjectionLayout } from "../policy/architecture.ts";
import { embedRows, type KeyValueCache, positionIds, weight } from "../policy/layers.ts";
import { headLogits } from "./lm_head.ts";
import { cachedAttention, causalBias } from "./grouped_query_attention.ts";
import type { HfConfig, ModelFamily } from "./hf_config.ts";
import { rmsNorm } from "./rms_norm.ts";
import {
  applyRotary,
  type RopeConfig,
  ropeInverseFrequencies,
  rotaryTables,
} from "./rotary_embedding.ts";
import { gatedSilu } from "./swiglu.ts";
import { projection } from "./projection.ts";

/** The shape of a Llama-style decoder. */
export interface RopeDecoderConfig {
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  maxPositions: number;
  normEpsilon: number;
  tied: boolean;
  rope: RopeConfig;
  /** Biases on the q, k and v projections (Qwen2). */
  qkvBias: boolean;
  /** RMSNorm of each query and key head before RoPE (Qwen3). */
  qkNorm: boolean;
}

/** The linear modules of each block (`nn.Linear`), relative to `model.layers.<l>.`. */
const ROPE_DECODER_PROJECTIONS: readonly string[] = [
  "self_attn.q_proj",
  "self_attn.k_proj",
  "self_attn.v_proj",
  "self_attn.o_proj",
  "mlp.gate_proj",
  "mlp.up_proj",
  "mlp.down_proj",
];

/** Check the head counts of a config. */
export function checkHeads(c: RopeDecoderConfig): void {
  if (c.heads % c.kvHeads !== 0) {
    throw new RangeError(
      `Cannot read config.json: num_attention_heads (${c.heads}) must be a multiple of num_key_value_heads (${c.kvHeads})`,
    );
  }
  if (c.headDim % 2 !== 0) {
    throw new RangeError(`Cannot read config.json: head_dim must be even, got ${c.headDim}`);
  }
}

function weightShapes(c: RopeDecoderConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const { hiddenSize: d, heads, kvHeads, headDim: dh, intermediateSize: m } = c;
  shapes.set("model.embed_tokens.weight", [c.vocabSize, d]);
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}.`;
    shapes.set(p + "input_layernorm.weight", [d]);
    for (const [name, rows] of [["q", heads * dh], ["k", kvHeads * dh], ["v", kvHeads * dh]]) {
      shapes.set(`${p}self_attn.${name}_proj.weight`, [rows as number, d]);
      if (c.qkvBias) shapes.set(`${p}self_attn.${name}_proj.bias`, [rows as number]);
    }
    if (c.qkNorm) {
      shapes.set(p + "self_attn.q_norm.weight", [dh]);
      shapes.set(p + "self_attn.k_norm.weight", [dh]);
    }
    shapes.set(p + "self_attn.o_proj.weight", [d, heads * dh]);
    shapes.set(p + "post_attention_layernorm.weight", [d]);
    shapes.set(p + "mlp.gate_proj.weight", [m, d]);
    shapes.set(p + "mlp.up_proj.weight", [m, d]);
    shapes.set(p + "mlp.down_proj.weight", [d, m]);
  }
  shapes.set("model.norm.weight", [d]);
  if (!c.tied) shapes.set("lm_head.weight", [c.vocabSize, d]);
  return shapes;
}

/**
 * The blocks over `n` new positions of `B` rows, given the input embeddings, the positions,
 * the attention bias over (cached + new) keys and the cache so far (or none).
 *
 * Each block runs in its own `tf.tidy` that keeps only the block's output and its keys and
 * values, and the previous block's output is disposed once used: a prefill of 16 × 64 tokens at
 * SmolLM2-135M's 30 layers otherwise holds every block's intermediates (q, k, v, rotary copies,
 * scores, the `[B·L, I]` MLP activations) until the caller's tidy ends, which overran the 4 GiB
 * wasm heap. Under a gradient tape this changes nothing the backward pass needs (tfjs keeps its
 * own references to the tensors a gradient reads).
 */
function blocks(
  c: RopeDecoderConfig,
  weights: ReadonlyMap<string, tf.Tensor>,
  x0: tf.Tensor2D,
  batch: number,
  length: number,
  positions: tf.Tensor1D,
  bias: tf.Tensor4D,
  inverseFrequencies: Float32Array,
  past: KeyValueCache | undefined,
): { hidden: tf.Tensor2D; cache: KeyValueCache } {
  const { heads: h, kvHeads: g, headDim: dh, normEpsilon: eps } = c;
  const n = batch * length;
  const { cos, sin } = rotaryTables(positions, inverseFrequencies);
  const w = (name: string) => weight(weights, name);
  const keys: tf.Tensor3D[] = [];
  const values: tf.Tensor3D[] = [];
  let x = x0;
  for (let l = 0; l < c.layers; l++) {
    const input = x;
    const out = tf.tidy(() => {
      const p = `model.layers.${l}.`;
      const a = rmsNorm(input, w(p + "input_layernorm.weight"), eps);
      const linear = (name: string, t: tf.Tensor2D) => projection(weights, p + name, t);
      let q = linear("self_attn.q_proj", a);
      let k = linear("self_attn.k_proj", a);
      const v = linear("self_attn.v_proj", a);
      if (c.qkNorm) {
        q = rmsNorm(tf.reshape(q, [n * h, dh]), w(p + "self_attn.q_norm.weight"), eps);
        k = rmsNorm(tf.reshape(k, [n * g, dh]), w(p + "self_attn.k_norm.weight"), eps);
      }
      const qr = applyRotary(tf.reshape(q, [n, h, dh]), cos, sin);
      const kr = applyRotary(tf.reshape(k, [n, g, dh]), cos, sin);
      const cache = { past, layer: l, keys: [] as tf.Tensor3D[], values: [] as tf.Tensor3D[] };
      const att = cachedAttention(qr, kr, v, cache, {
        batch,
        length,
        heads: h,
        kvHeads: g,
        headDim: dh,
      }, bias);
      const mid = tf.add(input, linear("self_attn.o_proj", att)) as tf.Tensor2D;
      const m = rmsNorm(mid, w(p + "post_attention_layernorm.weight"), eps);
      const gated = gatedSilu(linear("mlp.gate_proj", m), linear("mlp.up_proj", m));
      const next = tf.add(mid, linear("mlp.down_proj", gated)) as tf.Tensor2D;
      return { next, key: cache.keys[0], value: cache.values[0] };
    });
    keys.push(out.key);
    values.push(out.value);
    x = out.next;
    if (input !== x0) input.dispose();
  }
  const hidden = rmsNorm(x, w("model.norm.weight"), eps);
  if (x !== x0) x.dispose();
  return { hidden, cache: { keys, values } };
}

/**
 * The model family of a Llama-style config.
 *
 * @param c The decoder shape.
 * @param hfConfig The `config.json` it was read from.
 * @returns The architecture, policy shape and expected weights.
 */
export function ropeDecoderFamily(c: RopeDecoderConfig, hfConfig: HfConfig): ModelFamily {
  checkHeads(c);
  const inverseFrequencies = ropeInverseFrequencies(c.headDim, c.rope);
  const d = c.hiddenSize;
  const projections = new Map<string, ProjectionLayout>();
  for (let l = 0; l < c.layers; l++) {
    for (const name of ROPE_DECODER_PROJECTIONS) {
      projections.set(`model.layers.${l}.${name}`, "linear");
    }
  }
  const architecture: Architecture = {
    modelType: c.modelType,
    hfConfig,
    projections,
    trunk(weights, tokens, options = {}) {
      const [batch, length] = tokens.shape;
      const ids = tf.reshape(tokens, [batch * length]) as tf.Tensor1D;
      const x = embedRows(weight(weights, "model.embed_tokens.weight"), ids);
      const positions = tf.tensor1d(positionIds(batch, length, options.padCounts), "int32");
      const bias = causalBias(batch, length, options.padCounts);
      const out = blocks(
        c,
        weights,
        x,
        batch,
        length,
        positions,
        bias,
        inverseFrequencies,
        undefined,
      );
      const hidden = tf.reshape(out.hidden, [batch, length, d]) as tf.Tensor3D;
      return options.collectCache ? { hidden, cache: out.cache } : { hidden };
    },
    decodeStep(weights, tokens, positions, cache, keyBias) {
      const batch = tokens.shape[0];
      const x = tf.gather(weight(weights, "model.embed_tokens.weight"), tokens) as tf.Tensor2D;
      const bias = tf.reshape(keyBias, [batch, 1, 1, keyBias.shape[1]]) as tf.Tensor4D;
      return blocks(c, weights, x, batch, 1, positions, bias, inverseFrequencies, cache);
    },
    head(weights, hidden) {
      return headLogits(architecture.headWeight(weights), hidden);
    },
    headWeight(weights) {
      const table = c.tied ? "model.embed_tokens.weight" : "lm_head.weight";
      return { weight: weight(weights, table), layout: "linear" };
    },
  };
  return {
    architecture,
    policyConfig: {
      vocabSize: c.vocabSize,
      dModel: d,
      layers: c.layers,
      heads: c.heads,
      maxLength: c.maxPositions,
      seed: 0,
    },
    weightShapes: weightShapes(c),
    weightName: (name) => (c.tied && name === "lm_head.weight") ? undefined : name,
  };
}
