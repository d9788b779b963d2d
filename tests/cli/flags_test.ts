import { parseFlags } from "../../lib/cli/flags.ts";
import { assertEquals, assertThrows } from "@std/assert";

const spec = {
  quick: { value: false, default: "off", help: "fewer repetitions" },
  steps: { value: true, default: "20", help: "steps" },
};

Deno.test("parseFlags reads switches, --name value and --name=value", () => {
  assertEquals(parseFlags([], spec, "u"), {});
  assertEquals(parseFlags(["--steps", "5", "--quick"], spec, "u"), { steps: "5", quick: "true" });
  assertEquals(parseFlags(["--steps=7"], spec, "u"), { steps: "7" });
});

Deno.test("parseFlags: --help prints the usage and returns undefined", () => {
  const lines: string[] = [];
  const log = console.log;
  console.log = (line: string) => void lines.push(line);
  try {
    assertEquals(parseFlags(["--quick", "--help"], spec, "Usage: x"), undefined);
  } finally {
    console.log = log;
  }
  assertEquals(lines.join("\n").split("\n"), [
    "Usage: x",
    "",
    "Options:",
    "  --quick        fewer repetitions (default: off)",
    "  --steps VALUE  steps (default: 20)",
    "  --help         this text",
  ]);
});

Deno.test("parseFlags rejects unknown options and missing values", () => {
  assertThrows(
    () => parseFlags(["--stpes", "5"], spec, "u"),
    RangeError,
    'Cannot parse the command line: unknown option "--stpes", expected --quick, --steps VALUE',
  );
  assertThrows(() => parseFlags(["5"], spec, "u"), RangeError, 'unknown option "5"');
  assertThrows(
    () => parseFlags(["--steps"], spec, "u"),
    RangeError,
    "Cannot parse the command line: --steps needs a value",
  );
});
