/**
 * The `qwen3` family: Llama plus an RMSNorm of each query and key head (before RoPE), and a
 * `head_dim` that need not be `hidden_size / num_attention_heads`.
 *
 * @module
 */
import { configBool, type HfConfig, type ModelFamily } from "./hf_config.ts";
import { readLlamaConfig } from "./llama.ts";
import { ropeDecoderFamily } from "./rope_decoder.ts";

/**
 * A Qwen3 model from its `config.json`.
 *
 * @param config The parsed `config.json` (`model_type` `"qwen3"`).
 * @returns The family (architecture, policy shape, expected weights).
 */
export function qwen3Family(config: HfConfig): ModelFamily {
  if (configBool(config, "use_sliding_window", false)) {
    throw new RangeError("Cannot read config.json: use_sliding_window true is not supported");
  }
  return ropeDecoderFamily(
    {
      ...readLlamaConfig(config),
      qkvBias: configBool(config, "attention_bias", false),
      qkNorm: true,
    },
    config,
  );
}
