import { assertEquals } from "@std/assert";
import {
  correctnessReward,
  extractFinalNumber,
  formatReward,
  parseNumber,
  sameNumber,
} from "../../lib/score/math_reward.ts";

Deno.test("parseNumber: numeric equivalence of written forms", () => {
  for (const text of ["1,000", "1000", "1000.0", "$1,000", "1000.", " 1 000 "]) {
    assertEquals(parseNumber(text), 1000, text);
  }
  assertEquals(parseNumber("-0.5"), -0.5);
  assertEquals(parseNumber(".5"), 0.5);
  assertEquals(parseNumber("12%"), 12);
  assertEquals(parseNumber("1,00"), undefined); // not a thousands separator
  assertEquals(parseNumber("12 apples"), undefined);
  assertEquals(parseNumber(""), undefined);
});

Deno.test("extractFinalNumber: #### first, then \\boxed{}, then the last number", () => {
  assertEquals(extractFinalNumber("3 + 4 = 7\n#### 7"), 7);
  assertEquals(extractFinalNumber("#### 1,234 apples\nmore 99"), 1234);
  assertEquals(extractFinalNumber("#### none"), undefined);
  assertEquals(extractFinalNumber("so 5 + 6 = \\boxed{11} and 12"), 11);
  assertEquals(extractFinalNumber("\\boxed{x} then 8"), 8);
  assertEquals(extractFinalNumber("2 then 3 then -4.5."), -4.5);
  assertEquals(extractFinalNumber(""), undefined);
});

Deno.test("sameNumber: relative tolerance 1e-6", () => {
  assertEquals(sameNumber(1e6, 1e6 + 0.5), true);
  assertEquals(sameNumber(1e6, 1e6 + 2), false);
  assertEquals(sameNumber(0, 1e-7), true);
});

Deno.test("correctnessReward and formatReward, hand-computed", () => {
  const correctness = correctnessReward(
    new Map([["q1", "4 * 250 = 1000\n#### 1,000"], ["q2", "no number"]]),
  );
  const cases: [string, string, number, number][] = [
    ["q1", "#### 1000", 1, 1],
    ["q1", "\\boxed{1000.0}", 1, 1],
    ["q1", "it is 1,000", 1, 0],
    ["q1", "#### 999", 0, 1],
    ["q2", "#### 3", 0, 1],
    ["q3", "#### 1000", 0, 1],
  ];
  for (const [prompt, completion, right, formatted] of cases) {
    assertEquals(correctness(prompt, completion), right, completion);
    assertEquals(formatReward(prompt, completion), formatted, completion);
  }
  assertEquals(correctness.name, "correctness");
  assertEquals(formatReward.name, "formatReward");
});
