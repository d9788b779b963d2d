import { addition, createPolicy, defaultPolicyConfig, initBackend, Random } from "@trepo/rl";
import { sample, score, supervisedFineTune } from "@trepo/rl";

await initBackend(); // wasm, the embedded default
const policy = createPolicy(defaultPolicyConfig(addition)); // 0.1 M-parameter GPT
console.log(
  "Warm start: supervised fine-tuning of a 0.1 M-parameter GPT on addition (~15 s when idle)…",
);
const sft = await supervisedFineTune(policy, addition, { seed: 1 }); // the SFT warm start
console.log(`  ${sft.steps} steps; now sampling 4 answers to each of 2 prompts and scoring them:`);
const { tokenizer } = addition;
const prompts = addition.prompts(new Random(7), 2).map((p) => tokenizer.encode(p));
const rollout = await sample(policy, prompts, {
  groupSize: 4,
  maxTokens: 4,
  eosToken: tokenizer.eos,
  seed: 3,
});
const scored = await score(rollout, tokenizer, { exact: addition.reward });
scored.completions.forEach((c, i) =>
  console.log(`${scored.prompts[i]}${c}  reward ${scored.values[i]}`)
);
