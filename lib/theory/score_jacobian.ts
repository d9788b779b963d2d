/**
 * The score-function Jacobian: `∇_θ log π(a | s)` for every context `s` and token `a` of a space.
 *
 * Every estimator of the theory lab is a score-function estimator
 * `ĝ = Σ_{s,a} C[s,a] ∇_θ log π(a | s)` with sample-dependent coefficients `C` (`S × V`), so its
 * parameter-space value is `Cᵀ·Jac` and squared norms are `Cᵀ·M·C` with the Gram matrix
 * `M = Jac·Jacᵀ`. This makes exact per-sample gradients cheap for any differentiable policy.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ResponseSpace } from "./enumerate_responses.ts";
import { flattenGradient, type SequencePolicy } from "./sequence_policy.ts";

/** `∇_θ log π(a | s)` for all `S·V` (context, token) pairs, and their Gram matrix. */
export interface ScoreJacobian {
  /** Number of rows, `S·V` (row `s·V + a`). */
  rows: number;
  /** Number of parameters. */
  columns: number;
  /** `rows × columns` row-major. */
  data: Float64Array;
  /** `rows × rows` row-major Gram matrix `M = Jac·Jacᵀ`. */
  gram: Float64Array;
}

/**
 * Compute `∇_θ log π(a | s)` row by row with `tf.variableGrads` (one backward pass per
 * (context, token) pair; fine for the few hundred pairs of an enumerable space), then its Gram matrix.
 *
 * @param policy The policy.
 * @param space The enumerated space.
 * @returns The Jacobian and Gram matrix.
 *
 * @example A uniform 2-token tabular policy: ∇log π(a) = e_a − π
 * ```ts
 * import { enumerateResponses } from "./enumerate_responses.ts";
 * import { createTabularPolicy } from "./tabular_policy.ts";
 * import { scoreJacobian } from "./score_jacobian.ts";
 * import { assertArrayAlmostEquals } from "@std/assert";
 *
 * const space = enumerateResponses({ vocabSize: 2, eosToken: 1, maxTokens: 1, prompts: [[0]] });
 * const policy = createTabularPolicy({ vocabSize: 2, contexts: space.contexts, seed: 0, scale: 0 });
 * const jac = await scoreJacobian(policy, space);
 * assertArrayAlmostEquals(jac.data, [0.5, -0.5, -0.5, 0.5], 1e-6);
 * policy.dispose();
 * ```
 */
export async function scoreJacobian(
  policy: SequencePolicy,
  space: ResponseSpace,
): Promise<ScoreJacobian> {
  const V = space.vocabSize;
  const rows = space.contexts.length * V;
  const columns = policy.parameterCount;
  const data = new Float64Array(rows * columns);
  const vars = [...policy.variables];
  for (let s = 0; s < space.contexts.length; s++) {
    const c = space.contexts[s];
    for (let a = 0; a < V; a++) {
      const { value, grads } = tf.variableGrads(
        () => tf.tidy(() => tf.sum(tf.slice(policy.logProbs([c]), [0, a], [1, 1]))) as tf.Scalar,
        vars,
      );
      try {
        data.set(await flattenGradient(policy, grads), (s * V + a) * columns);
      } finally {
        tf.dispose([value, ...Object.values(grads)]);
      }
    }
  }
  return { rows, columns, data, gram: gramMatrix(data, rows, columns) };
}

/** `M = A·Aᵀ` for a row-major `rows × columns` matrix, skipping all-zero rows. */
function gramMatrix(data: Float64Array, rows: number, columns: number): Float64Array {
  const gram = new Float64Array(rows * rows);
  const nonzero: number[][] = [];
  for (let i = 0; i < rows; i++) {
    const idx: number[] = [];
    for (let k = 0; k < columns; k++) if (data[i * columns + k] !== 0) idx.push(k);
    nonzero.push(idx);
  }
  for (let i = 0; i < rows; i++) {
    const ri = i * columns;
    for (let j = i; j < rows; j++) {
      const rj = j * columns;
      let acc = 0;
      // Iterate the sparser row's non-zeros (tabular rows have V of them).
      const idx = nonzero[i].length <= nonzero[j].length ? nonzero[i] : nonzero[j];
      for (const k of idx) acc += data[ri + k] * data[rj + k];
      gram[i * rows + j] = acc;
      gram[j * rows + i] = acc;
    }
  }
  return gram;
}

/**
 * Map score-function coefficients to a parameter-space gradient: `ĝ = Σ_k C_k·Jac_k`.
 *
 * @param jacobian The score Jacobian.
 * @param coefficients `S·V` coefficients.
 * @returns `[columns]` gradient.
 *
 * @example
 * ```ts
 * import { projectCoefficients } from "./score_jacobian.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const jac = { rows: 2, columns: 2, data: Float64Array.from([1, 2, 3, 4]), gram: new Float64Array(4) };
 * assertEquals(Array.from(projectCoefficients(jac, Float64Array.from([1, 10]))), [31, 42]);
 * ```
 */
export function projectCoefficients(
  jacobian: ScoreJacobian,
  coefficients: Float64Array,
): Float64Array {
  const { rows, columns, data } = jacobian;
  const out = new Float64Array(columns);
  for (let i = 0; i < rows; i++) {
    const c = coefficients[i];
    if (c === 0) continue;
    for (let k = 0; k < columns; k++) out[k] += c * data[i * columns + k];
  }
  return out;
}
