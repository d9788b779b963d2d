/**
 * `deno doc --lint` for the package's entry point, with one known false positive removed.
 *
 * Deno 2.9 reports `private-type-ref` whenever a public signature mentions a type from an npm
 * package (denoland/deno#27364): every `tf.Tensor2D` in trepo's API would be an error, although
 * those types are public in tfjs. This script runs the real lint and drops exactly those
 * diagnostics: `private-type-ref` whose referenced type is not declared anywhere in trepo's own
 * sources (`mod.ts`, `lib/`). Every other diagnostic, including a private type of our own, fails.
 *
 * Usage: `deno run -A tools/doc_lint.ts mod.ts`
 *
 * @module
 */

const entry = Deno.args.length > 0 ? Deno.args : ["mod.ts"];
const out = await new Deno.Command(Deno.execPath(), {
  args: ["doc", "--lint", ...entry],
  env: { NO_COLOR: "1" },
  stdout: "piped",
  stderr: "piped",
}).output();
const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);

async function ownSourceLines(): Promise<Set<string>> {
  const lines = new Set<string>();
  const visit = async (path: string): Promise<void> => {
    const info = await Deno.stat(path);
    if (info.isDirectory) {
      for await (const entry of Deno.readDir(path)) await visit(`${path}/${entry.name}`);
    } else if (path.endsWith(".ts")) {
      for (const line of (await Deno.readTextFile(path)).split("\n")) lines.add(line.trim());
    }
  };
  await visit("mod.ts");
  await visit("lib");
  return lines;
}
const own = await ownSourceLines();

const blocks = text.split(/\n(?=error\[)/).filter((b) => b.startsWith("error["));
const kept = blocks.filter((block) => {
  if (!block.startsWith("error[private-type-ref]")) return true;
  const lines = block.split("\n");
  const marker = lines.findIndex((l) => l.includes("this is the referenced type"));
  if (marker < 1) return true;
  const referenced = lines[marker - 1].replace(/^\s*\d*\s*\|\s?/, "").trim();
  return own.has(referenced);
});
const ignored = blocks.length - kept.length;

if (kept.length > 0) {
  console.error(kept.join("\n"));
  console.error(`doc lint: ${kept.length} problem(s) (${ignored} npm-type references ignored)`);
  Deno.exit(1);
}
if (!out.success && blocks.length === 0) {
  console.error(text);
  Deno.exit(1);
}
console.log(`doc lint: clean (${ignored} references to tfjs types ignored, denoland/deno#27364)`);
