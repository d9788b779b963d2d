/**
 * The language-model head: vocabulary logits of hidden states, and the log-probabilities and
 * entropies of chosen tokens without ever holding the `[N, V]` logits of all rows.
 *
 * Every family's head is one bias-free linear map (`Architecture.headWeight`): a `"linear"`
 * weight `[V, d]` (Hugging Face `lm_head` or a tied embedding) or a `"conv1d"` weight `[d, V]`
 * (the built-in GPT's untied `head`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type LinearHead, policyHeadWeight } from "../policy/architecture.ts";
import type { Policy } from "../policy/transformer.ts";
import { nativeGemmActive } from "../native_gemm.ts";

/** Floats of one `[R, V]` chunk of logits (32 MiB), unless `chunkRows` says otherwise. */
export const HEAD_CHUNK_FLOATS = 2 ** 23;

/**
 * Vocabulary logits `z = h·Wᵀ` (`"linear"`, `W` `[V, d]`) or `z = h·W` (`"conv1d"`, `W` `[d, V]`),
 * never transposing `W` (on plain wasm `z = (W·hᵀ)ᵀ`, flag-free).
 *
 * @param head The head's weight and layout.
 * @param hidden Hidden states `[N, d]`.
 * @returns Logits `[N, V]`.
 */
export function headLogits(head: LinearHead, hidden: tf.Tensor2D): tf.Tensor2D {
  // Not `dense`: on plain wasm it would transpose the `[V, d]` table (and XNNPACK would pack the
  // copy), 1.1 GB more at Qwen2.5-0.5B's tied 151936 × 896 head, past the 4 GiB heap.
  return projectRows(hidden, head.weight as tf.Tensor2D, head.layout);
}

/** Options of {@linkcode headLogProbs}. */
export interface HeadLogProbsOptions {
  /** Softmax temperature τ > 0 (default 1): the distribution is `softmax(z/τ)`. */
  temperature?: number;
  /**
   * Whether the gradient reaches the head's weight (default: when it is a trainable variable).
   * A frozen head (the base model under LoRA) passes `false`, so no `[V, d]` gradient is made.
   */
  trainHead?: boolean;
  /**
   * Whether the entropy output carries a gradient (default false: it is then a constant, a
   * metric, and the backward pass skips its term).
   */
  entropyGradient?: boolean;
  /** Rows per chunk (default `⌊2²³ / V⌋`, at least 1): the head's peak holds a few `[R, V]`. */
  chunkRows?: number;
}

/** What {@linkcode headLogProbs} returns. */
export interface HeadLogProbs {
  /** `log softmax(z_n/τ)[y_n]`, `[N]`. */
  logProbs: tf.Tensor1D;
  /** `H_n = −Σ_v p_v log p_v` of `p = softmax(z_n/τ)`, `[N]`. */
  entropy: tf.Tensor1D;
}

/**
 * Log-probability and entropy of each row's chosen token under a linear head, computed over
 * chunks of rows with a hand-written gradient, so that no `[N, V]` tensor exists:
 * `s = (h/τ)·Wᵀ`, `ℓ = logsumexp(s)`, `log p_y = s_y − ℓ`, `H = ℓ − Σ_v p_v s_v`.
 *
 * The forward pass keeps only `ℓ` and `H` per row. The backward pass recomputes each chunk's
 * logits and uses `∂log p_y/∂s = e_y − p` and `∂H/∂s = −p ⊙ (log p + H)`: with
 * `q = p ⊙ (−g₁ − g₂(log p + H))`, `dh = (g₁·W_y + q·W)/τ` and `dW = Σ_rows qᵀ·(h/τ)` plus
 * `g₁·h/τ` scattered onto each chosen row (`g₁`, `g₂` the incoming gradients of the two outputs).
 * The chosen logit `s_y = (h/τ)·W_y` is a dot product with the chosen row of `W`, so the one-hot
 * of the targets is never built either. On plain wasm every product is a flag-free 2-D matmul
 * (DESIGN §5), with only chunk-sized transposes. This is the idea of TRL's
 * `selective_log_softmax` and Liger's fused linear cross-entropy.
 *
 * Used by `tokenLogProbs` (policy, reference and old log-probs of every algorithm).
 *
 * @see He et al., arXiv 2506.02553 — the `∇log π(w_t | W[0..t−1])` of Lemma 1 and Theorems 1–2.
 *
 * @param hidden Hidden states `[N, d]` (differentiable).
 * @param head The head's weight (`[V, d]` linear or `[d, V]` conv1d) and layout.
 * @param targets Chosen token ids, int32 `[N]`, each in `[0, V)`.
 * @param options Temperature, whether the head trains, chunk size.
 * @returns Log-probs `[N]` and entropies `[N]` (the caller disposes both).
 * @throws {TypeError} For wrong ranks, dtypes or mismatched sizes.
 * @throws {RangeError} For `temperature ≤ 0` or a non-positive `chunkRows`.
 *
 * @example Equal to the full log-softmax
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { headLogProbs } from "./lm_head.ts";
 * import { assertAlmostEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const hidden = tf.tensor2d([[1, 0], [0, 2]]);
 * const weight = tf.tensor2d([[1, 0], [0, 1], [1, 1]]); // [V = 3, d = 2]
 * const { logProbs, entropy } = headLogProbs(hidden, { weight, layout: "linear" }, tf.tensor1d([2, 1], "int32"));
 * // row 0: logits [1, 0, 1] → log p(2) = 1 − log(2e + 1)
 * assertAlmostEquals((await logProbs.data())[0], 1 - Math.log(2 * Math.E + 1), 1e-6);
 * const p = [Math.E, 1, Math.E].map((v) => v / (2 * Math.E + 1));
 * assertAlmostEquals((await entropy.data())[0], -p.reduce((a, v) => a + v * Math.log(v), 0), 1e-6);
 * ```
 */
export function headLogProbs(
  hidden: tf.Tensor2D,
  head: LinearHead,
  targets: tf.Tensor1D,
  options: HeadLogProbsOptions = {},
): HeadLogProbs {
  const context = "Cannot compute the head's log-probs";
  const { n, vocab, rows } = checkInputs(context, hidden, head, targets, options);
  const temperature = options.temperature ?? 1;
  const weight = head.weight as tf.Tensor2D;
  const trainHead = options.trainHead ??
    (weight instanceof tf.Variable && weight.trainable);
  const entropyGradient = options.entropyGradient ?? false;
  const chunks: [number, number][] = [];
  for (let start = 0; start < n; start += rows) chunks.push([start, Math.min(rows, n - start)]);
  const scaled = (h: tf.Tensor2D, start: number, size: number) =>
    tf.tidy(() => {
      const x = tf.slice(h, [start, 0], [size, h.shape[1]]);
      return temperature === 1 ? x : tf.div(x, temperature);
    }) as tf.Tensor2D;

  const forward = (h: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const parts = chunks.map(([start, size]) =>
      tf.tidy(() => {
        const x = scaled(h, start, size);
        const ids = tf.slice(targets, [start], [size]);
        const s = projectRows(x, weight, head.layout);
        const m = tf.max(s, 1, true);
        const e = tf.exp(tf.sub(s, m));
        const z = tf.sum(e, 1, true);
        const lse = tf.add(m, tf.log(z));
        const mean = tf.div(tf.sum(tf.mul(e, s), 1, true), z);
        const picked = tf.sum(tf.mul(x, chosenRows(weight, head.layout, ids)), 1, true);
        return tf.concat([tf.sub(picked, lse), tf.sub(lse, mean), lse], 1);
      })
    );
    const out = parts.length === 1 ? parts[0] : tf.concat(parts, 0);
    if (parts.length > 1) tf.dispose(parts);
    const stats = tf.slice(out, [0, 1], [n, 2]); // [H, ℓ] per row
    save([h, weight, targets, stats]);
    const value = tf.slice(out, [0, 0], [n, 2]);
    out.dispose();
    return value;
  };

  const backward = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
    const [h, w, ids, stats] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D];
    const dh: tf.Tensor2D[] = [];
    let dw: tf.Tensor2D | undefined;
    for (const [start, size] of chunks) {
      const [dx, dwChunk] = tf.tidy(() => {
        const x = scaled(h, start, size);
        const y = tf.slice(ids, [start], [size]);
        const g = tf.slice(dy as tf.Tensor2D, [start, 0], [size, 2]);
        const g1 = tf.slice(g, [0, 0], [size, 1]);
        const st = tf.slice(stats, [start, 0], [size, 2]);
        const entropy = tf.slice(st, [0, 0], [size, 1]);
        const lse = tf.slice(st, [0, 1], [size, 1]);
        const logp = tf.sub(projectRows(x, w, head.layout), lse);
        const p = tf.exp(logp);
        let q: tf.Tensor2D;
        if (entropyGradient) {
          const g2 = tf.slice(g, [0, 1], [size, 1]);
          const a = tf.neg(tf.add(g1, tf.mul(g2, entropy)));
          q = tf.mul(p, tf.sub(a, tf.mul(g2, logp))) as tf.Tensor2D;
        } else {
          q = tf.mul(p, tf.neg(g1)) as tf.Tensor2D;
        }
        const wy = chosenRows(w, head.layout, y);
        let dxc = tf.add(tf.mul(g1, wy), backToHidden(q, w, head.layout)) as tf.Tensor2D;
        if (temperature !== 1) dxc = tf.div(dxc, temperature);
        if (!trainHead) return [dxc, undefined];
        const targetPart = tf.scatterND(
          tf.reshape(y, [size, 1]),
          tf.mul(g1, x),
          [vocab, x.shape[1]],
        ) as tf.Tensor2D;
        const full = tf.add(
          backToWeight(q, x, head.layout),
          head.layout === "linear" ? targetPart : tf.transpose(targetPart),
        ) as tf.Tensor2D;
        return [dxc, full];
      });
      dh.push(dx);
      if (dwChunk !== undefined) {
        if (dw === undefined) dw = dwChunk;
        else {
          const sum = tf.add(dw, dwChunk) as tf.Tensor2D;
          tf.dispose([dw, dwChunk]);
          dw = sum;
        }
      }
    }
    const dHidden = dh.length === 1 ? dh[0] : tf.concat(dh, 0);
    if (dh.length > 1) tf.dispose(dh);
    return trainHead ? [dHidden, dw!] : [dHidden];
  };

  const op = trainHead
    ? tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
      value: forward(args[0] as tf.Tensor2D, args[2] as tf.GradSaveFunc),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        backward(Array.isArray(dy) ? dy[0] : dy, saved),
    }))
    : tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
      value: forward(args[0] as tf.Tensor2D, args[1] as tf.GradSaveFunc),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        backward(Array.isArray(dy) ? dy[0] : dy, saved),
    }));
  return tf.tidy(() => {
    const both = (trainHead ? op(hidden, weight) : op(hidden)) as tf.Tensor2D;
    return {
      logProbs: tf.reshape(tf.slice(both, [0, 0], [n, 1]), [n]) as tf.Tensor1D,
      entropy: tf.reshape(tf.slice(both, [0, 1], [n, 1]), [n]) as tf.Tensor1D,
    };
  });
}

/**
 * {@linkcode headLogProbs} through a policy's own head. The head's weight gets a gradient only
 * when it is one of the policy's weights (its trained set): under LoRA the base's head is frozen.
 *
 * @param policy The policy (or a frozen reference).
 * @param hidden Hidden states `[N, d]` from the policy's trunk.
 * @param targets Chosen token ids, int32 `[N]`.
 * @param temperature Softmax temperature τ > 0 (default 1).
 * @returns Log-probs `[N]` and entropies `[N]`.
 */
export function policyHeadLogProbs(
  policy: Pick<Policy, "weights" | "architecture">,
  hidden: tf.Tensor2D,
  targets: tf.Tensor1D,
  temperature = 1,
): HeadLogProbs {
  const head = policyHeadWeight(policy);
  const trained = [...policy.weights.values()] as tf.Tensor[];
  return headLogProbs(hidden, head, targets, {
    temperature,
    trainHead: trained.includes(head.weight),
  });
}

function checkInputs(
  context: string,
  hidden: tf.Tensor2D,
  head: LinearHead,
  targets: tf.Tensor1D,
  options: HeadLogProbsOptions,
): { n: number; vocab: number; rows: number } {
  if (hidden.rank !== 2 || hidden.dtype !== "float32") {
    throw new TypeError(
      `${context}: hidden must be float32 [N, d], got ${hidden.dtype} [${hidden.shape}]`,
    );
  }
  const w = head.weight as tf.Tensor2D;
  const [n, d] = hidden.shape;
  if (w.rank !== 2 || w.dtype !== "float32") {
    throw new TypeError(
      `${context}: the head weight must be float32 2-D, got ${w.dtype} [${w.shape}]`,
    );
  }
  const width = head.layout === "linear" ? w.shape[1] : w.shape[0];
  const vocab = head.layout === "linear" ? w.shape[0] : w.shape[1];
  if (width !== d) {
    throw new TypeError(
      `${context}: the ${head.layout} head weight [${w.shape}] does not match hidden [${hidden.shape}]`,
    );
  }
  if (targets.rank !== 1 || targets.dtype !== "int32" || targets.shape[0] !== n) {
    throw new TypeError(
      `${context}: targets must be int32 [${n}], got ${targets.dtype} [${targets.shape}]`,
    );
  }
  const temperature = options.temperature ?? 1;
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new RangeError(
      `${context}: temperature must be a finite number above 0, got ${temperature}`,
    );
  }
  const rows = options.chunkRows ?? Math.max(1, Math.floor(HEAD_CHUNK_FLOATS / vocab));
  if (!Number.isInteger(rows) || rows < 1) {
    throw new RangeError(`${context}: chunkRows must be an integer of at least 1, got ${rows}`);
  }
  return { n, vocab, rows: Math.min(rows, Math.max(1, n)) };
}

/** Plain wasm: only flag-free 2-D matmuls reach XNNPACK (DESIGN §5). */
function flagFree(): boolean {
  return tf.getBackend() === "wasm" && !nativeGemmActive();
}

/** Logits of a chunk, `[R, V]`: `x·Wᵀ` (linear) or `x·W` (conv1d), never transposing `W`. */
function projectRows(x: tf.Tensor2D, w: tf.Tensor2D, layout: LinearHead["layout"]): tf.Tensor2D {
  if (layout === "conv1d") return tf.matMul(x, w);
  return flagFree() ? tf.transpose(tf.matMul(w, tf.transpose(x))) : tf.matMul(x, w, false, true);
}

/** The chosen rows of the head, `[R, d]`: `W[y]` (linear) or `W[:, y]ᵀ` (conv1d). */
function chosenRows(w: tf.Tensor2D, layout: LinearHead["layout"], ids: tf.Tensor1D): tf.Tensor2D {
  return layout === "linear" ? tf.gather(w, ids) : tf.transpose(tf.gather(w, ids, 1));
}

/** `q·W` (linear) or `q·Wᵀ` (conv1d), `[R, d]`. */
function backToHidden(q: tf.Tensor2D, w: tf.Tensor2D, layout: LinearHead["layout"]): tf.Tensor2D {
  if (layout === "linear") return tf.matMul(q, w);
  return flagFree() ? tf.transpose(tf.matMul(w, tf.transpose(q))) : tf.matMul(q, w, false, true);
}

/** The head's weight gradient of a chunk: `qᵀ·x` `[V, d]` (linear) or `xᵀ·q` `[d, V]` (conv1d). */
function backToWeight(q: tf.Tensor2D, x: tf.Tensor2D, layout: LinearHead["layout"]): tf.Tensor2D {
  const [a, b] = layout === "linear" ? [q, x] : [x, q];
  return flagFree() ? tf.matMul(tf.transpose(a), b) : tf.matMul(a, b, true, false);
}
