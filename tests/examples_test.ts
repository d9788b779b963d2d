import { assert, assertStringIncludes } from "@std/assert";

// `deno test --doc` type-checks and runs the README's code blocks, so the quickstart itself is
// executed by the suite; this test keeps the README and examples/quickstart.ts identical.

const root = new URL("../", import.meta.url);

Deno.test("the README's quickstart is examples/quickstart.ts verbatim", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", root));
  const script = await Deno.readTextFile(new URL("examples/quickstart.ts", root));
  assertStringIncludes(readme, "```ts\n" + script + "```");
});

Deno.test("the quickstart says what it is doing before the warm start", async () => {
  const script = await Deno.readTextFile(new URL("examples/quickstart.ts", root));
  const said = script.indexOf("console.log(");
  // Before the fix the first output came after the ~12 s warm start.
  assert(said >= 0 && said < script.indexOf("await supervisedFineTune("), script);
});
