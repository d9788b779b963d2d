/**
 * An independent plain-JS forward pass of the GPT decoder (test reference only), written from
 * the math in transformer.ts's JSDoc, not from the tfjs code.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import * as tfRuntime from "@tensorflow/tfjs";
import { Random } from "../../lib/random.ts";
import type { PolicyConfig } from "../../lib/policy/transformer.ts";
import type { BackendName } from "../../lib/backend.ts";

/** The backends every model test runs on. */
export const TEST_BACKENDS: BackendName[] = ["cpu", "wasm"];

type Matrix = number[][];

function toMatrix(w: tf.Tensor): Matrix {
  const [rows, cols] = w.shape.length === 2 ? w.shape : [1, w.shape[0]];
  const data = w.dataSync();
  return Array.from(
    { length: rows },
    (_, r) => Array.from(data.subarray(r * cols, (r + 1) * cols)),
  );
}

function matVec(x: number[], w: Matrix, b?: number[]): number[] {
  const out = new Array<number>(w[0].length).fill(0);
  for (let i = 0; i < x.length; i++) for (let j = 0; j < out.length; j++) out[j] += x[i] * w[i][j];
  return b === undefined ? out : out.map((v, j) => v + b[j]);
}

function layerNorm(x: number[], g: number[], b: number[]): number[] {
  const mean = x.reduce((a, v) => a + v, 0) / x.length;
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
  return x.map((v, i) => ((v - mean) / Math.sqrt(variance + 1e-5)) * g[i] + b[i]);
}

function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

/** Logits `[L][V]` of one unpadded sequence, computed in plain JS (float64). */
export function referenceLogits(
  weights: ReadonlyMap<string, tf.Variable>,
  config: PolicyConfig,
  tokens: number[],
): Matrix {
  const w = (name: string) => toMatrix(weights.get(name)!);
  const vec = (name: string) => Array.from(weights.get(name)!.dataSync());
  const { dModel: d, heads, layers } = config;
  const dh = d / heads;
  const wte = w("wte");
  const wpe = w("wpe");
  let x: Matrix = tokens.map((tok, t) => wte[tok].map((v, i) => v + wpe[t][i]));
  for (let l = 0; l < layers; l++) {
    const p = `h${l}.`;
    const a = x.map((row) => layerNorm(row, vec(p + "ln1.g"), vec(p + "ln1.b")));
    const qkv = a.map((row) => matVec(row, w(p + "attn.wqkv"), vec(p + "attn.bqkv")));
    const att: Matrix = x.map(() => new Array<number>(d).fill(0));
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < x.length; i++) {
        const scores: number[] = [];
        for (let j = 0; j <= i; j++) {
          let s = 0;
          for (let e = 0; e < dh; e++) s += qkv[i][h * dh + e] * qkv[j][d + h * dh + e];
          scores.push(s / Math.sqrt(dh));
        }
        const m = Math.max(...scores);
        const exps = scores.map((s) => Math.exp(s - m));
        const z = exps.reduce((u, v) => u + v, 0);
        for (let j = 0; j <= i; j++) {
          for (let e = 0; e < dh; e++) {
            att[i][h * dh + e] += (exps[j] / z) * qkv[j][2 * d + h * dh + e];
          }
        }
      }
    }
    x = x.map((row, i) => {
      const o = matVec(att[i], w(p + "attn.wo"), vec(p + "attn.bo"));
      return row.map((v, k) => v + o[k]);
    });
    x = x.map((row) => {
      const m = layerNorm(row, vec(p + "ln2.g"), vec(p + "ln2.b"));
      const hid = matVec(m, w(p + "mlp.wfc"), vec(p + "mlp.bfc")).map(gelu);
      const o = matVec(hid, w(p + "mlp.wproj"), vec(p + "mlp.bproj"));
      return row.map((v, k) => v + o[k]);
    });
  }
  return x.map((row) => matVec(layerNorm(row, vec("lnf.g"), vec("lnf.b")), w("head")));
}

/** Log-softmax of a row. */
export function logSoftmax(row: number[]): number[] {
  const m = Math.max(...row);
  const z = Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0)) + m;
  return row.map((v) => v - z);
}

/** Replace every weight by normal(0, scale) draws (so biases and gains are non-trivial too). */
export function randomiseWeights(
  weights: ReadonlyMap<string, tf.Variable>,
  seed: number,
  scale = 0.4,
): void {
  const rng = new Random(seed);
  for (const w of weights.values()) {
    const data = new Float32Array(w.size).map(() => scale * rng.normal());
    const t = tfRuntime.tensor(data, w.shape);
    w.assign(t);
    t.dispose();
  }
}

/**
 * Make the policy's logits the same fixed vector at every position: the final LayerNorm outputs
 * all ones (gain 0, bias 1) and each head row is `logits / d`.
 */
export function fixLogits(
  weights: ReadonlyMap<string, tf.Variable>,
  logits: number[],
): void {
  const g = weights.get("lnf.g")!;
  const b = weights.get("lnf.b")!;
  const head = weights.get("head")!;
  const d = g.shape[0];
  const zeros = tfRuntime.zerosLike(g);
  const ones = tfRuntime.onesLike(b);
  const h = tfRuntime.tensor2d(
    Array.from({ length: d }, () => logits.map((v) => v / d)),
    [d, logits.length],
  );
  g.assign(zeros);
  b.assign(ones);
  head.assign(h);
  tfRuntime.dispose([zeros, ones, h]);
}
