/**
 * A named linear projection of a pretrained family, with an optional low-rank (LoRA) term:
 * every linear layer of `gpt2.ts` and `rope_decoder.ts` goes through {@linkcode projection},
 * so an adapter in the weight map changes the forward pass without the family knowing.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ProjectionLayout } from "../policy/architecture.ts";
import { weight } from "../policy/layers.ts";
import { dense } from "./dense.ts";

/** Name of a module's LoRA down-projection `A` `[r, in]` (PEFT's key, without its prefix). */
export function loraAName(module: string): string {
  return `${module}.lora_A.weight`;
}

/** Name of a module's LoRA up-projection `B` `[out, r]` (PEFT's key, without its prefix). */
export function loraBName(module: string): string {
  return `${module}.lora_B.weight`;
}

/**
 * `y = x·Wᵀ + b` (`"linear"`, `W` `[out, in]`) or `y = x·W + b` (`"conv1d"`, `W` `[in, out]`),
 * plus `(x·Aᵀ)·B̃ᵀ` when the map holds the module's adapter, `A` `[r, in]` and `B̃` `[out, r]`,
 * where `B̃` is the adapter's `B` already multiplied by the scaling `α/r` (the map a LoRA
 * policy hands to its base's forward pass). Costs `N·r·(in + out)` multiply-adds on top of the
 * plain projection; the full `W + B̃·A` is never formed.
 *
 * Reads `<module>.weight`, `<module>.bias` (when present), `<module>.lora_A.weight` and
 * `<module>.lora_B.weight` (when present).
 *
 * @param weights The weight map (Hugging Face names).
 * @param module The module path, e.g. `model.layers.0.self_attn.q_proj`.
 * @param x Inputs `[N, in]`.
 * @param layout How `W` is stored.
 * @returns `[N, out]`.
 *
 * @example A 1×1 projection `y = 2x + 1` with an adapter `A = [3]`, `B̃ = [0.5]`: `2 + 1 + 1.5`
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { projection } from "./projection.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const m = (v: number) => tf.tensor2d([[v]]);
 * const weights = new Map<string, tf.Tensor>([
 *   ["p.weight", m(2)],
 *   ["p.bias", tf.tensor1d([1])],
 *   ["p.lora_A.weight", m(3)],
 *   ["p.lora_B.weight", m(0.5)],
 * ]);
 * const y = projection(weights, "p", m(1));
 * assertEquals(Array.from(await y.data()), [4.5]);
 * ```
 */
export function projection(
  weights: ReadonlyMap<string, tf.Tensor>,
  module: string,
  x: tf.Tensor2D,
  layout: ProjectionLayout = "linear",
): tf.Tensor2D {
  const w = weight(weights, `${module}.weight`);
  let y: tf.Tensor2D = layout === "linear" ? dense(x, w) : tf.matMul(x, w as tf.Tensor2D);
  const bias = weights.get(`${module}.bias`);
  if (bias !== undefined) y = tf.add(y, bias) as tf.Tensor2D;
  const a = weights.get(loraAName(module));
  if (a === undefined) return y;
  return tf.add(y, dense(dense(x, a), weight(weights, loraBName(module)))) as tf.Tensor2D;
}
