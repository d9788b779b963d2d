import { assertEquals } from "@std/assert";
import { defaultResultsPath, QUICK_RESULTS } from "../../lib/cli/results_path.ts";

Deno.test("--quick defaults go under the git-ignored results/quick/, full runs keep theirs", async () => {
  assertEquals(defaultResultsPath("results/compare", true), "results/quick/compare");
  assertEquals(defaultResultsPath("results/bench_lm.json", true), "results/quick/bench_lm.json");
  assertEquals(defaultResultsPath("./results/theorem", true), "results/quick/theorem");
  assertEquals(defaultResultsPath("results/bench.json", false), "results/bench.json");
  // The folder is ignored by git (so a quick run never shows up as a change to results/).
  const ignore = await Deno.readTextFile(new URL("../../.gitignore", import.meta.url));
  assertEquals(ignore.split("\n").includes(`${QUICK_RESULTS}/`), true);
  // Every quick-capable command uses it (before the fix they wrote the committed paths).
  for (const file of ["compare.ts", "theorem.ts", "bench.ts", "bench_lm.ts"]) {
    const source = await Deno.readTextFile(new URL(`../../lib/cli/${file}`, import.meta.url));
    assertEquals(source.includes("defaultResultsPath("), true, file);
  }
});
