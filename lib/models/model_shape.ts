/**
 * The shape the memory plan (`lib/policy/memory_plan.ts`) needs, read from a Hugging Face
 * `config.json` before any weight is loaded, or from a policy in memory (built-in GPT,
 * pretrained, or LoRA over a pretrained base).
 *
 * @module
 */
import type { ModelShape } from "../policy/memory_plan.ts";
import type { Policy, PolicyConfig } from "../policy/transformer.ts";
import type { ProjectionLayout } from "../policy/architecture.ts";
import { configInt, type HfConfig } from "./hf_config.ts";
import { loraAdapterOf, projectionSize } from "./lora.ts";

/** The widths of a `config.json`: GPT-2's names or the Llama family's. */
function hfWidths(config: HfConfig): Omit<ModelShape, "parameters" | "trainableParameters"> {
  if (config.model_type === "gpt2") {
    const d = configInt(config, "n_embd");
    return {
      layers: configInt(config, "n_layer"),
      hidden: d,
      heads: configInt(config, "n_head"),
      queryWidth: d,
      kvWidth: d,
      intermediate: configInt(config, "n_inner", 4 * d),
      vocab: configInt(config, "vocab_size"),
    };
  }
  // The RoPE decoder families (llama, qwen2, qwen3) run each block in its own tidy.
  const d = configInt(config, "hidden_size");
  const heads = configInt(config, "num_attention_heads");
  const headDim = configInt(config, "head_dim", Math.floor(d / heads));
  return {
    layers: configInt(config, "num_hidden_layers"),
    hidden: d,
    heads,
    queryWidth: heads * headDim,
    kvWidth: configInt(config, "num_key_value_heads", heads) * headDim,
    intermediate: configInt(config, "intermediate_size"),
    vocab: configInt(config, "vocab_size"),
    blockByBlock: true,
  };
}

/** `[in, out]` of a projection from its weight's shape. */
function sizeOf(shape: readonly number[], layout: ProjectionLayout): [number, number] {
  return layout === "linear" ? [shape[1], shape[0]] : [shape[0], shape[1]];
}

/**
 * The model shape of a pretrained model from its `config.json` and the weight shapes its family
 * expects (`modelFamily(config).weightShapes`): every weight trainable (full fine-tuning), no
 * reference or value model yet, every projection adaptable.
 *
 * @param config The parsed `config.json`.
 * @param weightShapes The family's weight shapes (Hugging Face names).
 * @param projections The family's projections (module path → layout).
 * @returns The shape.
 * @throws {TypeError} When a width is missing from `config.json`.
 *
 * @example The llama fixture's shape (hidden 48, 4 heads of 12, 2 KV heads, MLP 80)
 * ```ts
 * import { hfModelShape } from "./model_shape.ts";
 * import { modelFamily } from "./pretrained.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const config = JSON.parse(await Deno.readTextFile("tests/fixtures/hf/llama/config.json"));
 * const family = modelFamily(config);
 * const shape = hfModelShape(config, family.weightShapes, family.architecture.projections!);
 * assertEquals([shape.hidden, shape.queryWidth, shape.kvWidth, shape.intermediate], [48, 48, 24, 80]);
 * assertEquals(shape.adaptable!.length, 2 * 7);
 * ```
 */
export function hfModelShape(
  config: HfConfig,
  weightShapes: ReadonlyMap<string, readonly number[]>,
  projections: ReadonlyMap<string, ProjectionLayout>,
): ModelShape {
  let parameters = 0;
  for (const shape of weightShapes.values()) parameters += shape.reduce((a, b) => a * b, 1);
  const adaptable: [number, number][] = [];
  for (const [module, layout] of projections) {
    const shape = weightShapes.get(`${module}.weight`);
    if (shape !== undefined) adaptable.push(sizeOf(shape, layout));
  }
  return { ...hfWidths(config), parameters, trainableParameters: parameters, adaptable };
}

/**
 * The model shape of a policy in memory: a LoRA policy counts its base's weights and its adapters
 * (only the adapters trained, the head frozen); a pretrained policy reads its `config.json`; the
 * built-in GPT has `q = w = d` and an MLP of `4d`. No reference or value model is included (set
 * `referenceParameters` and `valueParameters` for the run).
 *
 * @param policy The policy.
 * @returns The shape.
 *
 * @example The built-in GPT
 * ```ts
 * import { initBackend } from "../backend.ts";
 * import { createPolicy } from "../policy/transformer.ts";
 * import { policyModelShape } from "./model_shape.ts";
 * import { assertEquals } from "@std/assert";
 *
 * await initBackend({ backend: "cpu" });
 * const policy = createPolicy({ vocabSize: 8, dModel: 8, layers: 1, heads: 2, maxLength: 8, seed: 0 });
 * const shape = policyModelShape(policy);
 * assertEquals([shape.parameters, shape.intermediate, shape.kvWidth], [policy.parameterCount, 32, 8]);
 * policy.dispose();
 * ```
 */
export function policyModelShape(policy: Policy): ModelShape {
  const adapter = loraAdapterOf(policy);
  if (adapter !== undefined) {
    const base = policyModelShape(adapter.base);
    return {
      ...base,
      parameters: base.parameters + policy.parameterCount,
      trainableParameters: policy.parameterCount,
      headTrained: false,
      adaptable: undefined,
    };
  }
  const { architecture, config, parameterCount } = policy;
  if (architecture !== undefined) {
    const adaptable: [number, number][] = [];
    for (const [module, layout] of architecture.projections ?? []) {
      adaptable.push(projectionSize(policy, module, layout));
    }
    return {
      ...hfWidths(architecture.hfConfig),
      parameters: parameterCount,
      trainableParameters: policy.trainable ? parameterCount : 0,
      adaptable,
    };
  }
  return builtInModelShape(config, parameterCount, policy.trainable ? parameterCount : 0);
}

/**
 * The shape of the built-in GPT (full attention, MLP width 4d) with these parameter counts.
 *
 * @param config The policy config.
 * @param parameters Every weight.
 * @param trainableParameters The weights Adam trains.
 * @returns The shape.
 */
export function builtInModelShape(
  config: Pick<PolicyConfig, "layers" | "dModel" | "heads" | "vocabSize">,
  parameters: number,
  trainableParameters: number,
): ModelShape {
  return {
    parameters,
    trainableParameters,
    layers: config.layers,
    hidden: config.dModel,
    heads: config.heads,
    queryWidth: config.dModel,
    kvWidth: config.dModel,
    intermediate: 4 * config.dModel,
    vocab: config.vocabSize,
  };
}
