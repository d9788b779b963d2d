/**
 * A small command-line parser for the simple `deno task` entry points (bench, bench:rl,
 * theorem): `--name value`, `--name=value` and switches; `--help` prints the usage; an unknown
 * option or a missing value is an error that names it and lists the valid ones.
 *
 * @module
 */

/** One option: whether it takes a value, its default (as shown in `--help`) and what it does. */
export interface FlagSpec {
  /** `true` for `--name VALUE`, `false` for a switch. */
  value: boolean;
  /** The default as shown by `--help`. */
  default: string;
  /** One line of help. */
  help: string;
}

/**
 * Parse `argv` against `spec`. Returns the given options (switches as `"true"`), or `undefined`
 * after printing the usage when `--help` is among them.
 *
 * @param argv The arguments (`Deno.args`).
 * @param spec The options, by name without the dashes.
 * @param usage The first line(s) of the help text.
 * @returns The options given, by name, or `undefined` for `--help`.
 * @throws {RangeError} For an unknown option or a missing value.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./flags.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const spec = {
 *   quick: { value: false, default: "off", help: "fewer repetitions" },
 *   out: { value: true, default: "results/x.json", help: "where to write" },
 * };
 * assertEquals(parseFlags(["--quick", "--out=a.json"], spec, "Usage: x"), {
 *   quick: "true",
 *   out: "a.json",
 * });
 * ```
 */
export function parseFlags(
  argv: readonly string[],
  spec: Record<string, FlagSpec>,
  usage: string,
): Record<string, string> | undefined {
  const context = "Cannot parse the command line";
  const valid = Object.entries(spec).map(([name, s]) => `--${name}${s.value ? " VALUE" : ""}`);
  const given: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") {
      const width = Math.max(...valid.map((v) => v.length)) + 2;
      console.log(
        [
          usage,
          "",
          "Options:",
          ...Object.values(spec).map((s, k) =>
            `  ${valid[k].padEnd(width)}${s.help} (default: ${s.default})`
          ),
          `  ${"--help".padEnd(width)}this text`,
        ].join("\n"),
      );
      return undefined;
    }
    const [name, inline] = arg.startsWith("--")
      ? [
        arg.slice(2).split("=")[0],
        arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : undefined,
      ]
      : [undefined, undefined];
    const s = name === undefined ? undefined : spec[name];
    if (name === undefined || s === undefined) {
      throw new RangeError(`${context}: unknown option "${arg}", expected ${valid.join(", ")}`);
    }
    if (!s.value) {
      given[name] = "true";
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new RangeError(`${context}: --${name} needs a value`);
    given[name] = value;
  }
  return given;
}

/**
 * Run a command's `main`, printing a failure as one `error: <message>` line (no stack trace) and
 * exiting with status 1.
 *
 * @param main The command.
 * @returns When `main` has finished.
 */
export async function runCommand(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    Deno.exit(1);
  }
}
