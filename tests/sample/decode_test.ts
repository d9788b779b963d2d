import { assertEquals } from "@std/assert";
import { argmax, filteredWeights, leftPad, prefixSources } from "../../lib/sample/decode.ts";

Deno.test("prefixSources maps every context onto a longest sequence it prefixes", () => {
  const { sources, sourceOf } = prefixSources([[1, 2], [1, 2, 3], [4], [1, 2], [4, 5], [1, 3]]);
  assertEquals(sources, [[1, 2, 3], [4, 5], [1, 3]]);
  assertEquals(sourceOf, [0, 0, 1, 0, 1, 2]);
});

Deno.test("leftPad pads on the left and reports the pad counts", () => {
  const { ids, padCounts, length } = leftPad([[1, 2, 3], [4]], 0);
  assertEquals(Array.from(ids), [1, 2, 3, 0, 0, 4]);
  assertEquals(padCounts, [0, 2]);
  assertEquals(length, 3);
});

Deno.test("filteredWeights applies top-k and top-p; argmax takes the first maximum", () => {
  const lp = new Float32Array([0.1, 0.4, 0.2, 0.3].map(Math.log));
  const close = (w: Float64Array) => Array.from(w).map((v) => Math.round(v * 1000) / 1000);
  assertEquals(close(filteredWeights(lp)), [0.1, 0.4, 0.2, 0.3]);
  assertEquals(close(filteredWeights(lp, 2)), [0, 0.4, 0, 0.3]);
  assertEquals(close(filteredWeights(lp, undefined, 0.5)), [0, 0.4, 0, 0.3]);
  assertEquals(close(filteredWeights(lp, undefined, 0.35)), [0, 0.4, 0, 0]);
  assertEquals(close(filteredWeights(lp, 1, 0.9)), [0, 0.4, 0, 0]);
  assertEquals(argmax([1, 3, 3, 2]), 1);
});
