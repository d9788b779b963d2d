/**
 * The memory plan against hand arithmetic: a tiny shape item by item, SmolLM2-135M and
 * Qwen2.5-0.5B from their published parameter counts, the head chunk of `lm_head.ts`, and the
 * LoRA reference that allocates nothing.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import {
  assertFits,
  forwardBytes,
  HEAD_CHUNK_ELEMENTS,
  headBytes,
  kvCacheBytes,
  type ModelShape,
  planMemory,
} from "../../lib/policy/memory_plan.ts";
import { HEAD_CHUNK_FLOATS } from "../../lib/models/lm_head.ts";
import { hfModelShape } from "../../lib/models/model_shape.ts";
import { modelFamily } from "../../lib/models/pretrained.ts";
import { loadPretrainedFolder } from "../../lib/models/pretrained.ts";
import { adapterOffReference, loraPolicy } from "../../lib/models/lora.ts";
import { parseBytes } from "../../lib/policy/memory_limit.ts";

const NO_LIMIT = { bytes: Infinity, tensorBytes: Infinity, what: "no limit" };

const TINY: ModelShape = {
  parameters: 1000,
  trainableParameters: 1000,
  layers: 2,
  hidden: 4,
  heads: 2,
  queryWidth: 4,
  kvWidth: 2,
  intermediate: 8,
  vocab: 10,
  referenceParameters: 1000,
};

Deno.test("memory plan: a tiny shape, item by item, by hand", () => {
  const step = {
    rows: 4,
    minibatchRows: 4,
    microBatchSize: 2,
    promptTokens: 2,
    responseTokens: 1,
    prefillRows: 2,
    logProbRows: 4,
  };
  const plan = planMemory(TINY, step, NO_LIMIT);
  // Per token per layer: 10·4 + 9.5·4 + 9.5·2 + 5·8 = 137 floats; scores (h > g: 5 copies)
  // 5·2·3² = 90 per row; outside the layers 4·4 = 16 per token and 3² = 9 per row.
  // Forward of 2 rows × 3 tokens: 2 layers × (6·137 + 2·90) + 6·16 + 2·9 = 2118 floats.
  assertEquals(forwardBytes(TINY, 2, 3), 4 * 2118);
  // Head: R = min(6, ⌊2²³/10⌋) = 6 rows, 4 tensors [6, 10], three [10, 4] tables when trained.
  assertEquals(headBytes(TINY, 6, true), 4 * (4 * 60 + 3 * 40));
  assertEquals(plan.items, {
    weights: 4000,
    reference: 4000,
    valueModel: 0,
    gradients: 4000,
    accumulation: 4000, // micro-batch 2 < minibatch 4
    optimizer: 8000,
    kvCache: 2 * (2 * 2 * 4 * 3 * 2 * 4), // old + new cache: 2 × (K,V × L × rows × S × w × 4 B)
    activations: 2 * 4 * 2118,
    head: 4 * 360,
  });
  const persistent = 4000 + 4000 + 8000;
  assertEquals(plan.persistentBytes, persistent);
  assertEquals(plan.phases.update, persistent + 4000 + 4000 + 16944 + 1440);
  // Log-probs of 4 rows run in passes of the micro-batch, 2 rows × 3 tokens: forward 2118
  // floats, head over 6 rows without its backward 4·(4·60).
  assertEquals(plan.phases.logProbs, persistent + 4 * 2118 + 4 * 240);
  // Sampling: the larger of the KV cache (768 B) and the prefill of 2 rows × 2 tokens.
  assertEquals(plan.phases.sampling, persistent + Math.max(768, forwardBytes(TINY, 2, 2)));
  assertEquals(plan.peakPhase, "update");
  assert(plan.fits);
});

Deno.test("memory plan: micro-batch 0 takes the largest divisor that fits, ways out are real", () => {
  const step = {
    rows: 8,
    minibatchRows: 8,
    microBatchSize: 0,
    promptTokens: 4,
    responseTokens: 60,
    logProbRows: 0,
  };
  const at = (k: number) => planMemory(TINY, { ...step, microBatchSize: k }, NO_LIMIT).peakBytes;
  // A limit between the peaks of micro-batches 2 and 4 chooses 2.
  const limit = { ...NO_LIMIT, bytes: (at(2) + at(4)) / 2, what: "the test's limit" };
  const chosen = planMemory(TINY, step, limit);
  assertEquals(chosen.microBatchSize, 2);
  assert(chosen.fits);
  const refused = planMemory(TINY, { ...step, microBatchSize: 8 }, limit);
  assert(!refused.fits);
  assertEquals(refused.waysOut[0], "--micro-batch-size 2");
  const budget = Number(refused.waysOut.find((w) => w.startsWith("--max-tokens"))!.split(" ")[1]);
  assert(planMemory(TINY, { ...step, microBatchSize: 8, responseTokens: budget }, limit).fits);
  assert(!planMemory(TINY, { ...step, microBatchSize: 8, responseTokens: budget + 1 }, limit).fits);
  const error = assertThrows(
    () => assertFits(refused),
    RangeError,
    "Cannot start the run: it needs",
  );
  assertStringIncludes(error.message, "but the test's limit holds");
  assertStringIncludes(error.message, "use --micro-batch-size 2, or --max-tokens");
});

function smolConfig() {
  return {
    model_type: "llama",
    hidden_size: 576,
    intermediate_size: 1536,
    num_hidden_layers: 30,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    vocab_size: 49152,
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 100000,
    tie_word_embeddings: true,
  };
}

Deno.test("memory plan: SmolLM2-135M from its config.json, full fine-tuning against 4 GiB", () => {
  const config = smolConfig();
  const family = modelFamily(config);
  const shape = hfModelShape(config, family.weightShapes, family.architecture.projections!);
  assertEquals(shape.parameters, 134_515_008); // the published count
  assertEquals([shape.queryWidth, shape.kvWidth], [576, 192]);
  const plan = planMemory(
    { ...shape, referenceParameters: shape.parameters },
    {
      rows: 4,
      minibatchRows: 4,
      microBatchSize: 4,
      promptTokens: 128,
      responseTokens: 128,
      logProbRows: 0,
    },
    { bytes: 2 ** 32, tensorBytes: Infinity, what: "the wasm heap" },
  );
  assertEquals(plan.items.weights, 134_515_008 * 4); // 538,060,032
  // weights + gradients + Adam = 4 × 538 MB ≈ 2.2 GB (DESIGN §5), before activations.
  assertEquals(plan.items.weights + plan.items.gradients + plan.items.optimizer, 2_152_240_128);
  // KV cache of 4 rows × 256 positions: 2 × 30 × 4 × 256 × 192 × 4 B, held twice while decoding.
  assertEquals(plan.items.kvCache, 2 * 47_185_920);
  assertEquals(kvCacheBytes(shape, 4, 256), 47_185_920);
  assert(!plan.fits);
  assert(plan.waysOut.includes("--lora-rank 8"), plan.waysOut.join());
});

Deno.test("memory plan: with Adam's moments outside the heap, SmolLM2-135M's full GRPO with a reference fits 4 GiB", () => {
  const config = smolConfig();
  const family = modelFamily(config);
  const shape = hfModelShape(config, family.weightShapes, family.architecture.projections!);
  const step = {
    rows: 8,
    minibatchRows: 8,
    microBatchSize: 1,
    promptTokens: 64,
    responseTokens: 64,
  };
  const model = { ...shape, referenceParameters: shape.parameters };
  const heap = { bytes: 2 ** 32, tensorBytes: Infinity, what: "the wasm heap" };
  const inside = planMemory(model, step, heap);
  const outside = planMemory(model, step, { ...heap, optimizerOutside: true });
  // The same items; only the peak loses Adam's 2 × 538,060,032 bytes.
  assertEquals(outside.items, inside.items);
  assertEquals(inside.peakBytes - outside.peakBytes, 2 * 538_060_032);
  // Held in every phase: weights + reference = 2 × 538,060,032.
  assertEquals(outside.persistentBytes, 1_076_120_064);
  assert(!inside.fits && outside.fits, `${inside.peakBytes} / ${outside.peakBytes}`);
});

Deno.test("memory plan: Qwen2.5-0.5B fits 4 GiB only with LoRA", () => {
  const config = {
    model_type: "qwen2",
    hidden_size: 896,
    intermediate_size: 4864,
    num_hidden_layers: 24,
    num_attention_heads: 14,
    num_key_value_heads: 2,
    vocab_size: 151936,
    max_position_embeddings: 32768,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    tie_word_embeddings: true,
  };
  const family = modelFamily(config);
  const shape = hfModelShape(config, family.weightShapes, family.architecture.projections!);
  assertEquals(shape.parameters, 494_032_768); // the published count
  const step = {
    rows: 2,
    minibatchRows: 2,
    microBatchSize: 0,
    promptTokens: 32,
    responseTokens: 32,
  };
  const wasm = { bytes: 2 ** 32, tensorBytes: Infinity, what: "the wasm heap" };
  const full = planMemory({ ...shape, referenceParameters: shape.parameters }, step, wasm);
  assertEquals(full.items.weights, 1_976_131_072); // 2 GB in float32
  assert(!full.fits);
  assertEquals(full.waysOut, ["--lora-rank 8"]);
  // Rank-8 adapters on all 7 projections of 24 layers: 8·Σ(in + out).
  const adapters = 24 * 8 * ((896 + 896) + 2 * (896 + 128) + (896 + 896) + 3 * (896 + 4864));
  const lora = planMemory(
    {
      ...shape,
      parameters: shape.parameters + adapters,
      trainableParameters: adapters,
      headTrained: false,
    },
    step,
    wasm,
  );
  assert(lora.fits);
  assertEquals(lora.items.optimizer, 8 * adapters);
});

Deno.test("memory plan: the head chunk is lm_head's", () => {
  assertEquals(HEAD_CHUNK_ELEMENTS, HEAD_CHUNK_FLOATS);
});

Deno.test("memory limit: byte counts parse, nonsense is refused", () => {
  assertEquals(parseBytes("64MiB"), 2 ** 26);
  assertEquals(parseBytes("2g"), 2 ** 31);
  assertThrows(() => parseBytes("-1"), RangeError);
});

Deno.test("LoRA reference: the base with the adapter off allocates no tensor", async () => {
  await initBackend({ backend: "cpu" });
  const { policy: base } = await loadPretrainedFolder("tests/fixtures/hf/llama");
  const lora = loraPolicy(base, { rank: 2, alpha: 4, targetModules: ["q_proj"], seed: 0 });
  const memory = tf.memory();
  const reference = adapterOffReference(lora);
  assertEquals(tf.memory().numBytes, memory.numBytes);
  assertEquals(tf.memory().numTensors, memory.numTensors);
  assertEquals(reference.trainable, false);
  const tokens = tf.tensor2d([[1, 2, 3]], [1, 3], "int32");
  const [a, b] = [reference.logits(tokens), base.logits(tokens)];
  assertEquals(await a.data(), await b.data());
  tf.dispose([tokens, a, b]);
  reference.dispose(); // a no-op: the base stays usable
  assertEquals(base.weights.get("model.embed_tokens.weight")!.isDisposed, false);
  assertThrows(
    () => loraPolicy(base, { rank: 25, alpha: 1, targetModules: ["k_proj"], seed: 0 }),
    RangeError,
    "rank 25 exceeds min(in, out) = 24",
  );
  lora.dispose();
  base.dispose();
});
