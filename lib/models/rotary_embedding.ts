/**
 * Rotary position embeddings (RoPE) as Hugging Face transformers computes them, with the
 * `default` and `llama3` frequency rules.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The RoPE frequency rule: `default`, or Llama 3.x's `llama3` scaling. */
export type RopeConfig =
  | { type: "default"; theta: number }
  | {
    type: "llama3";
    theta: number;
    factor: number;
    lowFreqFactor: number;
    highFreqFactor: number;
    originalMaxPositions: number;
  };

/**
 * Inverse frequencies `θ^(−2i/d_h)`, `i = 0 … d_h/2 − 1`, rounded to float32 as transformers
 * does. With `llama3`: wavelengths `λ = 2π/f` longer than `L/low` are divided by `factor`,
 * shorter than `L/high` kept, and in between interpolated:
 * `s = (L/λ − low)/(high − low)`, `f' = (1 − s)·f/factor + s·f` (`L` = original context).
 *
 * @param headDim The head size `d_h` (even).
 * @param rope The rule.
 * @returns `[d_h/2]` frequencies.
 *
 * @example d_h = 4, θ = 10000: `10000^0 = 1` and `10000^(−1/2) = 0.01`
 * ```ts
 * import { ropeInverseFrequencies } from "./rotary_embedding.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * const f = ropeInverseFrequencies(4, { type: "default", theta: 10000 });
 * assertAlmostEquals(f[0], 1, 1e-7);
 * assertAlmostEquals(f[1], 0.01, 1e-7);
 * ```
 */
export function ropeInverseFrequencies(headDim: number, rope: RopeConfig): Float32Array {
  const half = headDim / 2;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const exponent = Math.fround((2 * i) / headDim);
    out[i] = Math.fround(1 / Math.fround(Math.pow(rope.theta, exponent)));
  }
  if (rope.type === "llama3") {
    const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: l } = rope;
    const lowWavelen = l / low;
    const highWavelen = l / high;
    for (let i = 0; i < half; i++) {
      const f = out[i];
      const wavelen = (2 * Math.PI) / f;
      if (wavelen > lowWavelen) out[i] = Math.fround(f / factor);
      else if (wavelen >= highWavelen) {
        const s = (l / wavelen - low) / (high - low);
        out[i] = Math.fround((1 - s) * f / factor + s * f);
      }
    }
  }
  return out;
}

/**
 * The cos and sin tables of positions: angle `p·f_i`, repeated over both halves of the head.
 *
 * @param positions Position ids int32 `[N]`.
 * @param inverseFrequencies `[d_h/2]`.
 * @returns `cos`, `sin`, each `[N, 1, d_h]` (broadcast over heads).
 */
export function rotaryTables(
  positions: tf.Tensor1D,
  inverseFrequencies: Float32Array,
): { cos: tf.Tensor3D; sin: tf.Tensor3D } {
  const n = positions.shape[0];
  const half = inverseFrequencies.length;
  const angles = tf.mul(
    tf.reshape(tf.cast(positions, "float32"), [n, 1]),
    tf.tensor2d(inverseFrequencies, [1, half]),
  );
  const full = tf.concat([angles, angles], 1);
  return {
    cos: tf.reshape(tf.cos(full), [n, 1, 2 * half]),
    sin: tf.reshape(tf.sin(full), [n, 1, 2 * half]),
  };
}

/**
 * Rotate query or key heads: `x·cos + rotate_half(x)·sin`, `rotate_half([x₁, x₂]) = [−x₂, x₁]`
 * (the halves of each head).
 *
 * @param x Heads `[N, H, d_h]`.
 * @param cos `[N, 1, d_h]`.
 * @param sin `[N, 1, d_h]`.
 * @returns `[N, H, d_h]`.
 */
export function applyRotary(x: tf.Tensor3D, cos: tf.Tensor3D, sin: tf.Tensor3D): tf.Tensor3D {
  const [n, h, dh] = x.shape;
  const half = dh / 2;
  const x1 = tf.slice(x, [0, 0, 0], [n, h, half]);
  const x2 = tf.slice(x, [0, 0, half], [n, h, half]);
  const rotated = tf.concat([tf.neg(x2), x1], 2);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
}
