import { assert, assertEquals, assertRejects } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { loadPretrained } from "../../lib/hub/load_pretrained.ts";
import { startFakeHub } from "../hub/fake_hub.ts";

const FIXTURE = "tests/fixtures/hf/llama";

async function fixtureFiles(): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {};
  for await (const entry of Deno.readDir(FIXTURE)) {
    if (entry.isFile) files[entry.name] = await Deno.readFile(`${FIXTURE}/${entry.name}`);
  }
  return files;
}

Deno.test("loadPretrained: a Hub repo org/name[@revision] goes through the pull cache", async () => {
  await initBackend({ backend: "cpu" });
  const hub = startFakeHub(); // 127.0.0.1 only
  const cacheDir = await Deno.makeTempDir();
  try {
    const sha = await hub.seed("me/tiny-llama", await fixtureFiles());
    const local = await loadPretrained(FIXTURE);
    const remote = await loadPretrained("me/tiny-llama", { hubUrl: hub.url, cacheDir });
    assertEquals(remote.config, local.config);
    assertEquals([...remote.policy.weights.keys()], [...local.policy.weights.keys()]);
    for (const [name, w] of local.policy.weights) {
      assertEquals(await remote.policy.weights.get(name)!.data(), await w.data(), name);
    }
    const text = "hello world";
    assertEquals(remote.tokenizer.encode(text), local.tokenizer.encode(text));
    assertEquals(
      remote.tokenizer.applyChatTemplate([{ role: "user", content: "hi" }], {
        addGenerationPrompt: true,
      }),
      local.tokenizer.applyChatTemplate([{ role: "user", content: "hi" }], {
        addGenerationPrompt: true,
      }),
    );
    remote.policy.dispose();
    // Cached: no request for the same revision, and an @sha or offline load works.
    const before = hub.requests.length;
    const again = await loadPretrained("me/tiny-llama", { hubUrl: hub.url, cacheDir });
    assertEquals(hub.requests.length, before);
    again.policy.dispose();
    const pinned = await loadPretrained(`me/tiny-llama@${sha}`, {
      hubUrl: hub.url,
      cacheDir,
      offline: true,
    });
    assertEquals(pinned.config, local.config);
    pinned.policy.dispose();
    local.policy.dispose();
    // A missing repo is a Hub error that names it.
    const error = await assertRejects(() =>
      loadPretrained("me/absent", { hubUrl: hub.url, cacheDir })
    );
    assert(String((error as Error).message).includes("me/absent"));
  } finally {
    await hub.close();
    await Deno.remove(cacheDir, { recursive: true });
  }
});
