/**
 * The `llama` family (Llama 2/3.x, SmolLM2, TinyLlama, …): RMSNorm, RoPE (`rope_theta`, and
 * `rope_scaling` of type `llama3`), SwiGLU, grouped-query attention, tied or untied head.
 *
 * @module
 */
import {
  configBool,
  configInt,
  configNumber,
  type HfConfig,
  type ModelFamily,
  readRope,
} from "./hf_config.ts";
import { type RopeDecoderConfig, ropeDecoderFamily } from "./rope_decoder.ts";

/** The decoder shape of a Llama `config.json` (shared with Qwen2 and Qwen3, which add to it). */
export function readLlamaConfig(config: HfConfig): RopeDecoderConfig {
  const hiddenSize = configInt(config, "hidden_size");
  const heads = configInt(config, "num_attention_heads");
  if (configBool(config, "mlp_bias", false)) {
    throw new RangeError("Cannot read config.json: mlp_bias true is not supported");
  }
  return {
    modelType: String(config.model_type),
    vocabSize: configInt(config, "vocab_size"),
    hiddenSize,
    intermediateSize: configInt(config, "intermediate_size"),
    layers: configInt(config, "num_hidden_layers"),
    heads,
    kvHeads: configInt(config, "num_key_value_heads", heads),
    headDim: configInt(config, "head_dim", Math.floor(hiddenSize / heads)),
    maxPositions: configInt(config, "max_position_embeddings"),
    normEpsilon: configNumber(config, "rms_norm_eps", 1e-6),
    tied: configBool(config, "tie_word_embeddings", false),
    rope: readRope(config),
    qkvBias: configBool(config, "attention_bias", false),
    qkNorm: false,
  };
}

/**
 * A Llama model from its `config.json`.
 *
 * @param config The parsed `config.json` (`model_type` `"llama"`).
 * @returns The family (architecture, policy shape, expected weights).
 */
export function llamaFamily(config: HfConfig): ModelFamily {
  return ropeDecoderFamily(readLlamaConfig(config), config);
}
