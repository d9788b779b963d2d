/**
 * The `qwen2` family (Qwen2, Qwen2.5): Llama plus biases on the q, k and v projections.
 *
 * @module
 */
import type { HfConfig, ModelFamily } from "./hf_config.ts";
import { readLlamaConfig } from "./llama.ts";
import { ropeDecoderFamily } from "./rope_decoder.ts";

/**
 * A Qwen2 model from its `config.json`.
 *
 * @param config The parsed `config.json` (`model_type` `"qwen2"`).
 * @returns The family (architecture, policy shape, expected weights).
 */
export function qwen2Family(config: HfConfig): ModelFamily {
  return ropeDecoderFamily({ ...readLlamaConfig(config), qkvBias: true }, config);
}
