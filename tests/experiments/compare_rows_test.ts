import { assertEquals, assertThrows } from "@std/assert";
import {
  compareRowByLabel,
  compareRowConfig,
  evaluatesEveryPosition,
  EVERY_POSITION,
} from "../../lib/experiments/compare_rows.ts";
import { resolveConfig } from "../../lib/algorithms/step.ts";
import { trepo } from "../../lib/algorithms/trepo.ts";

Deno.test("compareRowByLabel: trepo-every is TRePO with every position; names are rows as shipped", () => {
  const every = compareRowByLabel("trepo-every");
  assertEquals([every.label, every.algorithm], ["trepo-every", "trepo"]);
  assertEquals(every.overrides, { positions: EVERY_POSITION });
  const plain = compareRowByLabel("trepo");
  assertEquals([plain.label, plain.algorithm, plain.overrides], ["trepo", "trepo", {}]);
  // The alias of an algorithm is labelled by the algorithm's own name.
  assertEquals(compareRowByLabel("dr-grpo").label, "dr_grpo");
  assertThrows(
    () => compareRowByLabel("trepo-all"),
    RangeError,
    'Cannot find the comparison row: "trepo-all" is neither a named row (trepo-every) nor an algorithm',
  );
});

Deno.test("compareRowConfig: every position is maxTokens − 1, so nothing is interpolated", () => {
  const shared = { promptsPerStep: 16, groupSize: 4 };
  // vigenereCipher of 16 letters: responses of at most 17 tokens, interior positions 1..16.
  const every = compareRowConfig(compareRowByLabel("trepo-every"), shared, 17);
  assertEquals(every, { promptsPerStep: 16, groupSize: 4, positions: 16 });
  const full = resolveConfig(trepo, every);
  assertEquals([full.positions, full.continuations], [16, 4]);
  assertEquals(evaluatesEveryPosition(full, 17), true);
  // The default TRePO evaluates m = 4 of the 16 interior positions: it interpolates.
  const plain = resolveConfig(trepo, compareRowConfig(compareRowByLabel("trepo"), shared, 17));
  assertEquals(plain.positions, 4);
  assertEquals(evaluatesEveryPosition(plain, 17), false);
  // On addition (at most 4 tokens) m = 4 already covers the 3 interior positions.
  assertEquals(evaluatesEveryPosition(plain, 4), true);
  // A response cap in the shared settings wins over the task's.
  assertEquals(
    compareRowConfig(compareRowByLabel("trepo-every"), { maxTokens: 6 }, 17).positions,
    5,
  );
  // Rows that are not TRePO keep the shared settings as they are.
  assertEquals(compareRowConfig(compareRowByLabel("grpo"), shared, 17), shared);
});

Deno.test("compareRowConfig: bad input", () => {
  assertThrows(
    () => compareRowConfig(compareRowByLabel("trepo-every"), {}, 0),
    RangeError,
    "Cannot configure the comparison row trepo-every: maxResponseTokens must be",
  );
  assertThrows(
    () => compareRowConfig(compareRowByLabel("grpo"), { positions: 3 }, 17),
    RangeError,
    'Cannot configure grpo: unknown key "positions"',
  );
});
