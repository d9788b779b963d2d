import { TASK_NAMES, taskByName } from "../../lib/tasks/task_by_name.ts";
import { addition } from "../../lib/tasks/addition.ts";
import { sortDigits } from "../../lib/tasks/sort_digits.ts";
import { tokenRewardChain } from "../../lib/tasks/token_reward_chain.ts";
import { vigenereCipher } from "../../lib/tasks/vigenere_cipher.ts";
import { assertEquals, assertStrictEquals, assertThrows } from "@std/assert";

Deno.test("taskByName: finds each task by its name and snake_case spelling", () => {
  assertStrictEquals(taskByName("addition"), addition);
  assertStrictEquals(taskByName("sortDigits"), sortDigits);
  assertStrictEquals(taskByName("sort_digits"), sortDigits);
  assertStrictEquals(taskByName("token_reward_chain"), tokenRewardChain);
  assertStrictEquals(taskByName("vigenere_cipher"), vigenereCipher);
  for (const name of TASK_NAMES) assertEquals(taskByName(name).name, name);
});

Deno.test("taskByName: unknown names list the valid ones", () => {
  assertThrows(
    () => taskByName("multiplication"),
    RangeError,
    `Cannot find the task: unknown task "multiplication", expected one of "addition", "sortDigits", "tokenRewardChain", "vigenereCipher"`,
  );
});
