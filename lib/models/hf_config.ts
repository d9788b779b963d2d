/**
 * Reading fields of a Hugging Face `config.json`, and the description of a loaded family that
 * every family file returns.
 *
 * @module
 */
import type { Architecture } from "../policy/architecture.ts";
import type { PolicyConfig } from "../policy/transformer.ts";
import type { RopeConfig } from "./rotary_embedding.ts";

/** A `config.json`, parsed. */
export type HfConfig = Readonly<Record<string, unknown>>;

/** What a family file builds from a `config.json`. */
export interface ModelFamily {
  /** The forward pass. */
  architecture: Architecture;
  /** The policy shape (`dModel` = hidden size, `maxLength` = max positions). */
  policyConfig: PolicyConfig;
  /** Every weight the model needs, Hugging Face names, in a stable order, with shapes. */
  weightShapes: ReadonlyMap<string, readonly number[]>;
  /**
   * The internal name of a checkpoint tensor, or `undefined` for tensors that are not weights
   * (buffers such as GPT-2's `attn.bias`, or `lm_head.weight` of a tied model).
   */
  weightName(checkpointName: string): string | undefined;
}

/** A positive integer field. */
export function configInt(config: HfConfig, key: string, fallback?: number): number {
  const value = config[key] ?? fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new TypeError(
      `Cannot read config.json: ${key} must be a positive integer, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** A positive number field. */
export function configNumber(config: HfConfig, key: string, fallback?: number): number {
  const value = config[key] ?? fallback;
  if (typeof value !== "number" || !(value > 0)) {
    throw new TypeError(
      `Cannot read config.json: ${key} must be a positive number, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** A boolean field. */
export function configBool(config: HfConfig, key: string, fallback: boolean): boolean {
  const value = config[key] ?? fallback;
  if (typeof value !== "boolean") {
    throw new TypeError(
      `Cannot read config.json: ${key} must be a boolean, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** The RoPE types supported here. */
export const SUPPORTED_ROPE_TYPES: readonly string[] = ["default", "llama3"];

/**
 * The RoPE rule of a config: transformers ≥ 5 writes `rope_parameters` (with `rope_theta` and
 * `rope_type` inside); earlier versions write `rope_theta` and `rope_scaling` (`type` or
 * `rope_type`). Anything but `default` and `llama3` is refused.
 */
export function readRope(config: HfConfig, fallbackTheta = 10000): RopeConfig {
  const params = (config.rope_parameters ?? config.rope_scaling ?? null) as
    | Record<string, unknown>
    | null;
  const theta = (params?.rope_theta ?? config.rope_theta ?? fallbackTheta) as number;
  if (typeof theta !== "number" || !(theta > 0)) {
    throw new TypeError(
      `Cannot read config.json: rope_theta must be a positive number, got ${JSON.stringify(theta)}`,
    );
  }
  const type = params === null ? "default" : String(params.rope_type ?? params.type ?? "default");
  if (type === "default") return { type: "default", theta };
  if (type === "llama3") {
    const p = params as Record<string, unknown>;
    return {
      type: "llama3",
      theta,
      factor: configNumber(p, "factor"),
      lowFreqFactor: configNumber(p, "low_freq_factor"),
      highFreqFactor: configNumber(p, "high_freq_factor"),
      originalMaxPositions: configInt(p, "original_max_position_embeddings"),
    };
  }
  throw new RangeError(
    `Cannot read config.json: rope scaling type ${
      JSON.stringify(type)
    } is not supported; supported: ${SUPPORTED_ROPE_TYPES.join(", ")}`,
  );
}
