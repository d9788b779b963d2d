/**
 * Look a task up by name (for command lines and configs).
 *
 * @module
 */
import { addition } from "./addition.ts";
import { sortDigits } from "./sort_digits.ts";
import type { Task } from "./task.ts";
import { tokenRewardChain } from "./token_reward_chain.ts";
import { vigenereCipher } from "./vigenere_cipher.ts";

/** The names {@linkcode taskByName} accepts (snake_case spellings are accepted too). */
export const TASK_NAMES: readonly string[] = Object.freeze([
  "addition",
  "sortDigits",
  "tokenRewardChain",
  "vigenereCipher",
]);

/**
 * The built-in task with the given name: `"addition"`, `"sortDigits"`, `"tokenRewardChain"` or
 * `"vigenereCipher"` (also spelled `"sort_digits"`, `"token_reward_chain"`, `"vigenere_cipher"`).
 *
 * @param name The task's name.
 * @returns The task.
 * @throws {RangeError} For an unknown name; the message lists the valid names.
 *
 * @example
 * ```ts
 * import { taskByName } from "./task_by_name.ts";
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * assertEquals(taskByName("sort_digits").name, "sortDigits");
 * assertThrows(() => taskByName("chess"), RangeError, "expected one of");
 * ```
 */
export function taskByName(name: string): Task {
  const camel = typeof name === "string"
    ? name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())
    : name;
  switch (camel) {
    case "addition":
      return addition;
    case "sortDigits":
      return sortDigits;
    case "tokenRewardChain":
      return tokenRewardChain;
    case "vigenereCipher":
      return vigenereCipher;
  }
  throw new RangeError(
    `Cannot find the task: unknown task ${JSON.stringify(name)}, expected one of ${
      TASK_NAMES.map((n) => `"${n}"`).join(", ")
    }`,
  );
}
