import { assertEquals, assertMatch, assertStringIncludes } from "@std/assert";

const root = new URL("../", import.meta.url);

Deno.test("the README's quickstart is examples/quickstart.ts verbatim", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", root));
  const script = await Deno.readTextFile(new URL("examples/quickstart.ts", root));
  assertStringIncludes(readme, "```ts\n" + script + "```");
});

Deno.test("examples/quickstart.ts warms up a policy, samples a group and prints its rewards", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("examples/quickstart.ts", root).pathname],
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  const lines = text.trim().split("\n");
  // 2 prompts × 4 responses, each "a+b=completion  reward r" with r ∈ {0, 1}.
  assertEquals(lines.length, 8);
  for (const line of lines) assertMatch(line, /^\d\d\+\d\d=\S* {2}reward [01]$/);
});
