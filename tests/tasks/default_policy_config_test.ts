import { defaultPolicyConfig } from "../../lib/tasks/default_policy_config.ts";
import { addition } from "../../lib/tasks/addition.ts";
import { sortDigits } from "../../lib/tasks/sort_digits.ts";
import { tokenRewardChain } from "../../lib/tasks/token_reward_chain.ts";
import { assertEquals } from "@std/assert";

Deno.test("defaultPolicyConfig: fits each task's vocabulary and longest sequence", () => {
  // "47+85=" (6) + "132" + EOS (4)
  assertEquals(defaultPolicyConfig(addition), {
    vocabSize: 13,
    dModel: 64,
    layers: 2,
    heads: 4,
    maxLength: 10,
    seed: 0,
  });
  // "31415=" (6) + five digits + EOS
  assertEquals(defaultPolicyConfig(sortDigits).maxLength, 12);
  assertEquals(defaultPolicyConfig(sortDigits).vocabSize, 12);
  // "abc>" (4) + six tokens
  assertEquals(defaultPolicyConfig(tokenRewardChain).maxLength, 10);
  assertEquals(defaultPolicyConfig(tokenRewardChain).vocabSize, 6);
  assertEquals(defaultPolicyConfig(addition, { seed: 7, dModel: 32 }).seed, 7);
  assertEquals(defaultPolicyConfig(addition, { seed: 7, dModel: 32 }).dModel, 32);
});
