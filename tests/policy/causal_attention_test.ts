import * as tf from "@tensorflow/tfjs";
import { assertArrayAlmostEquals, assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { createPolicy, type PolicyConfig } from "../../lib/policy/transformer.ts";
import { setTypedKernels, useTypedKernels } from "../../lib/policy/causal_attention.ts";
import { trunk } from "../../lib/policy/layers.ts";
import { randomiseWeights, TEST_BACKENDS } from "./reference_forward.ts";

const CONFIG: PolicyConfig = {
  vocabSize: 9,
  dModel: 12,
  layers: 2,
  heads: 3,
  maxLength: 10,
  seed: 4,
};
const TOKENS = [[3, 1, 4, 1, 5, 8], [0, 0, 2, 7, 1, 8], [0, 0, 0, 0, 0, 6]];
const PADS = [0, 2, 5];

/** Hidden states (real positions only) and the gradient of a weighted sum of them. */
function run(mode: "on" | "off") {
  const previous = setTypedKernels(mode);
  try {
    const policy = createPolicy(CONFIG);
    randomiseWeights(policy.weights, 61, 0.5);
    const tokens = tf.tensor2d(TOKENS, [3, 6], "int32");
    const weights = tf.tidy(() => {
      const w = new Float32Array(3 * 6 * CONFIG.dModel).map((_, i) => Math.sin(i));
      const mask = new Float32Array(3 * 6 * CONFIG.dModel).map((_, i) => {
        const [b, j] = [Math.floor(i / (6 * CONFIG.dModel)), Math.floor(i / CONFIG.dModel) % 6];
        return j >= PADS[b] ? 1 : 0;
      });
      return tf.mul(
        tf.tensor3d(w, [3, 6, CONFIG.dModel]),
        tf.tensor3d(mask, [3, 6, CONFIG.dModel]),
      );
    });
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() =>
      tf.tidy(() => {
        const { hidden } = trunk(policy.weights, CONFIG, tokens, { padCounts: PADS });
        return tf.sum(tf.mul(tf.mul(hidden, hidden), weights)) as tf.Scalar;
      })
    );
    const out = {
      value: value.dataSync()[0],
      // Every trunk weight (the output head is not part of the trunk).
      grads: [...policy.weights].filter(([name]) => name !== "head").map(([name, w]) =>
        [name, grads[w.name].dataSync()] as const
      ),
    };
    tf.dispose([value, ...Object.values(grads)]);
    assertEquals(tf.memory().numTensors, before);
    tf.dispose([tokens, weights]);
    policy.dispose();
    return out;
  } finally {
    setTypedKernels(previous);
  }
}

for (const backend of TEST_BACKENDS) {
  Deno.test(`typed-array kernels give the tfjs-op forward and gradients on left-padded rows (${backend})`, async () => {
    await initBackend({ backend });
    assertEquals(useTypedKernels(), true);
    const typed = run("on");
    const reference = run("off");
    assertArrayAlmostEquals([typed.value], [reference.value], 1e-4 * Math.abs(reference.value));
    assertEquals(typed.grads.length, 2 + 12 * CONFIG.layers + 2);
    for (let i = 0; i < typed.grads.length; i++) {
      const [name, g] = typed.grads[i];
      const scale = Math.max(...reference.grads[i][1].map(Math.abs));
      assertEquals(name, reference.grads[i][0]);
      if (scale === 0) continue;
      assertArrayAlmostEquals(g, reference.grads[i][1], 1e-4 * scale, name);
    }
  });
}

Deno.test("setTypedKernels returns the previous mode", () => {
  assertEquals(setTypedKernels("off"), "auto");
  assertEquals(useTypedKernels(), false);
  assertEquals(setTypedKernels("auto"), "off");
});
