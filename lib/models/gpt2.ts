/**
 * The `gpt2` family: learned positions, pre-LayerNorm blocks, tanh-GELU MLP, fused `c_attn`;
 * the head is tied to `wte`. GPT-2 stores its linear layers as `Conv1D`, `[in, out]` (the
 * transpose of `nn.Linear`), so they are applied as `x·W + b`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Architecture, ProjectionLayout } from "../policy/architecture.ts";
import {
  embedRows,
  gelu,
  type KeyValueCache,
  layerNorm,
  positionIds,
  weight,
} from "../policy/layers.ts";
import { headLogits } from "./lm_head.ts";
import { cachedAttention, causalBias } from "./grouped_query_attention.ts";
import { projection } from "./projection.ts";
import { configInt, configNumber, type HfConfig, type ModelFamily } from "./hf_config.ts";

const PREFIX = "transformer.";

/** The `Conv1D` modules of each block, relative to `transformer.h.<l>.`. */
const GPT2_PROJECTIONS: readonly string[] = [
  "attn.c_attn",
  "attn.c_proj",
  "mlp.c_fc",
  "mlp.c_proj",
];

/**
 * A GPT-2 model from its `config.json`.
 *
 * @param config The parsed `config.json` (`model_type` `"gpt2"`).
 * @returns The family (architecture, policy shape, expected weights).
 */
export function gpt2Family(config: HfConfig): ModelFamily {
  const d = configInt(config, "n_embd");
  const h = configInt(config, "n_head");
  const layers = configInt(config, "n_layer");
  const vocab = configInt(config, "vocab_size");
  const positions = configInt(config, "n_positions");
  const inner = configInt(config, "n_inner", 4 * d);
  const eps = configNumber(config, "layer_norm_epsilon", 1e-5);
  const act = config.activation_function ?? "gelu_new";
  if (act !== "gelu_new") {
    throw new RangeError(
      `Cannot read config.json: activation_function ${
        JSON.stringify(act)
      } is not supported; supported: gelu_new`,
    );
  }
  if (d % h !== 0) {
    throw new RangeError(`Cannot read config.json: n_embd ${d} is not divisible by n_head ${h}`);
  }
  const dh = d / h;
  const shapes = new Map<string, number[]>();
  shapes.set(PREFIX + "wte.weight", [vocab, d]);
  shapes.set(PREFIX + "wpe.weight", [positions, d]);
  for (let l = 0; l < layers; l++) {
    const p = `${PREFIX}h.${l}.`;
    shapes.set(p + "ln_1.weight", [d]);
    shapes.set(p + "ln_1.bias", [d]);
    shapes.set(p + "attn.c_attn.weight", [d, 3 * d]);
    shapes.set(p + "attn.c_attn.bias", [3 * d]);
    shapes.set(p + "attn.c_proj.weight", [d, d]);
    shapes.set(p + "attn.c_proj.bias", [d]);
    shapes.set(p + "ln_2.weight", [d]);
    shapes.set(p + "ln_2.bias", [d]);
    shapes.set(p + "mlp.c_fc.weight", [d, inner]);
    shapes.set(p + "mlp.c_fc.bias", [inner]);
    shapes.set(p + "mlp.c_proj.weight", [inner, d]);
    shapes.set(p + "mlp.c_proj.bias", [d]);
  }
  shapes.set(PREFIX + "ln_f.weight", [d]);
  shapes.set(PREFIX + "ln_f.bias", [d]);

  function blocks(
    weights: ReadonlyMap<string, tf.Tensor>,
    x0: tf.Tensor2D,
    batch: number,
    length: number,
    bias: tf.Tensor4D,
    past: KeyValueCache | undefined,
  ): { hidden: tf.Tensor2D; cache: KeyValueCache } {
    const w = (name: string) => weight(weights, name);
    const keys: tf.Tensor3D[] = [];
    const values: tf.Tensor3D[] = [];
    let x = x0;
    for (let l = 0; l < layers; l++) {
      const p = `${PREFIX}h.${l}.`;
      const a = layerNorm(x, w(p + "ln_1.weight"), w(p + "ln_1.bias"), eps);
      const conv1d = (name: string, input: tf.Tensor2D) =>
        projection(weights, p + name, input, "conv1d");
      const qkv = conv1d("attn.c_attn", a);
      const [q, k, v] = tf.split(qkv, 3, 1) as tf.Tensor2D[];
      const att = cachedAttention(q, k, v, { past, layer: l, keys, values }, {
        batch,
        length,
        heads: h,
        kvHeads: h,
        headDim: dh,
      }, bias);
      x = tf.add(x, conv1d("attn.c_proj", att));
      const m = layerNorm(x, w(p + "ln_2.weight"), w(p + "ln_2.bias"), eps);
      const hid = gelu(conv1d("mlp.c_fc", m));
      x = tf.add(x, conv1d("mlp.c_proj", hid));
    }
    const hidden = layerNorm(x, w(PREFIX + "ln_f.weight"), w(PREFIX + "ln_f.bias"), eps);
    return { hidden, cache: { keys, values } };
  }

  const projections = new Map<string, ProjectionLayout>();
  for (let l = 0; l < layers; l++) {
    for (const name of GPT2_PROJECTIONS) projections.set(`${PREFIX}h.${l}.${name}`, "conv1d");
  }
  const architecture: Architecture = {
    modelType: "gpt2",
    hfConfig: config,
    projections,
    trunk(weights, tokens, options = {}) {
      const [batch, length] = tokens.shape;
      const ids = tf.reshape(tokens, [batch * length]) as tf.Tensor1D;
      const pos = tf.tensor1d(positionIds(batch, length, options.padCounts), "int32");
      const x = tf.add(
        embedRows(weight(weights, PREFIX + "wte.weight"), ids),
        embedRows(weight(weights, PREFIX + "wpe.weight"), pos),
      ) as tf.Tensor2D;
      const bias = causalBias(batch, length, options.padCounts);
      const out = blocks(weights, x, batch, length, bias, undefined);
      const hidden = tf.reshape(out.hidden, [batch, length, d]) as tf.Tensor3D;
      return options.collectCache ? { hidden, cache: out.cache } : { hidden };
    },
    decodeStep(weights, tokens, positionIds1, cache, keyBias) {
      const batch = tokens.shape[0];
      const x = tf.add(
        tf.gather(weight(weights, PREFIX + "wte.weight"), tokens),
        tf.gather(weight(weights, PREFIX + "wpe.weight"), positionIds1),
      ) as tf.Tensor2D;
      const bias = tf.reshape(keyBias, [batch, 1, 1, keyBias.shape[1]]) as tf.Tensor4D;
      return blocks(weights, x, batch, 1, bias, cache);
    },
    head(weights, hidden) {
      return headLogits(architecture.headWeight(weights), hidden);
    },
    headWeight(weights) {
      return { weight: weight(weights, PREFIX + "wte.weight"), layout: "linear" };
    },
  };
  return {
    architecture,
    policyConfig: { vocabSize: vocab, dModel: d, layers, heads: h, maxLength: positions, seed: 0 },
    weightShapes: shapes,
    weightName(name) {
      const full = name.startsWith(PREFIX) || name === "lm_head.weight" ? name : PREFIX + name;
      // Causal-mask buffers of old checkpoints, and the tied head.
      if (/\.attn\.(masked_)?bias$/.test(full) || full === "lm_head.weight") return undefined;
      return full;
    },
  };
}
