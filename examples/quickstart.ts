import { addition, createPolicy, defaultPolicyConfig, initBackend, Random } from "@trepo/rl";
import { sample, score, supervisedFineTune } from "@trepo/rl";

await initBackend(); // wasm, the embedded default
const policy = createPolicy(defaultPolicyConfig(addition)); // 0.1 M-parameter GPT
await supervisedFineTune(policy, addition, { seed: 1 }); // the SFT warm start, ~20 s
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
