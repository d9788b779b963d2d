import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { HubError } from "../../lib/hub/hub_error.ts";
import { pullCheckpoint } from "../../lib/hub/pull_checkpoint.ts";
import { pushCheckpoint } from "../../lib/hub/push_checkpoint.ts";
import { type FakeHub, startFakeHub } from "./fake_hub.ts";

const TOKEN = "hf_pullSecretToken0123456789";

function pseudoRandomBytes(n: number, seed: number): Uint8Array {
  let x = seed;
  return Uint8Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x >>> 16 & 255;
  });
}

async function writeCheckpoint(dir: string, version: number): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {
    "config.json": new TextEncoder().encode(`{"vocabSize":14,"version":${version}}`),
    "model.safetensors": pseudoRandomBytes(4096 + version, 7 + version),
    "value_model.safetensors": pseudoRandomBytes(1500, 99 + version),
    "trainer_state.json": new TextEncoder().encode(`{"step":${100 * version}}`),
  };
  for (const [name, bytes] of Object.entries(files)) await Deno.writeFile(`${dir}/${name}`, bytes);
  return files;
}

/** A hub with org/model pushed once; returns the files and commit. */
async function setup(): Promise<{
  hub: FakeHub;
  src: string;
  cacheDir: string;
  files: Record<string, Uint8Array>;
  commit: string;
  cleanup: () => Promise<void>;
}> {
  const hub = startFakeHub({ tokens: { [TOKEN]: "write" } });
  const src = await Deno.makeTempDir({ prefix: "trepo_src_" });
  const cacheDir = await Deno.makeTempDir({ prefix: "trepo_cache_" });
  const files = await writeCheckpoint(src, 1);
  const { commit } = await pushCheckpoint(src, {
    repo: "org/model",
    token: TOKEN,
    hubUrl: hub.url,
  });
  const cleanup = async () => {
    await hub.close();
    await Deno.remove(src, { recursive: true });
    await Deno.remove(cacheDir, { recursive: true });
  };
  return { hub, src, cacheDir, files, commit, cleanup };
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("pullCheckpoint: upload then download is bit-exact", async () => {
  const { hub, cacheDir, files, commit, cleanup } = await setup();
  try {
    const dir = await pullCheckpoint("org/model", { cacheDir, hubUrl: hub.url });
    assert(dir.endsWith(`/models--org--model/snapshots/${commit}`), dir);
    for (const [name, bytes] of Object.entries(files)) {
      assertEquals(await Deno.readFile(`${dir}/${name}`), bytes, name);
    }
    assertEquals(await listDir(dir), [
      ".gitattributes",
      "README.md",
      "config.json",
      "model.safetensors",
      "trainer_state.json",
      "value_model.safetensors",
    ]);
    // nothing left behind in the temp area
    assertEquals(await listDir(`${cacheDir}/models--org--model/tmp`), []);
  } finally {
    await cleanup();
  }
});

Deno.test("pullCheckpoint: a second call is served from the cache without any request", async () => {
  const { hub, cacheDir, commit, cleanup } = await setup();
  try {
    const first = await pullCheckpoint("org/model", { cacheDir, hubUrl: hub.url });
    const before = hub.requests.length;
    const second = await pullCheckpoint("org/model", { cacheDir, hubUrl: hub.url });
    const bySha = await pullCheckpoint("org/model", {
      cacheDir,
      hubUrl: hub.url,
      revision: commit,
    });
    assertEquals(second, first);
    assertEquals(bySha, first);
    assertEquals(hub.requests.length, before);
  } finally {
    await cleanup();
  }
});

Deno.test("pullCheckpoint: pinning the first commit's sha returns the old bytes", async () => {
  const { hub, src, cacheDir, files, commit, cleanup } = await setup();
  try {
    const newer = await writeCheckpoint(src, 2);
    const second = await pushCheckpoint(src, { repo: "org/model", token: TOKEN, hubUrl: hub.url });
    assert(second.commit !== commit);
    const oldDir = await pullCheckpoint("org/model", {
      cacheDir,
      hubUrl: hub.url,
      revision: commit,
    });
    const newDir = await pullCheckpoint("org/model", { cacheDir, hubUrl: hub.url });
    assert(oldDir !== newDir);
    assert(newDir.endsWith(second.commit));
    for (const name of Object.keys(files)) {
      assertEquals(await Deno.readFile(`${oldDir}/${name}`), files[name], `old ${name}`);
      assertEquals(await Deno.readFile(`${newDir}/${name}`), newer[name], `new ${name}`);
    }
    // the pinned download asked for the sha, never for main
    assert(hub.requests.some((r) => r.path.includes(`/resolve/${commit}/model.safetensors`)));
  } finally {
    await cleanup();
  }
});

Deno.test("pullCheckpoint: a cached branch stays put until refresh: true", async () => {
  const { hub, src, cacheDir, commit, cleanup } = await setup();
  try {
    const first = await pullCheckpoint("org/model", { cacheDir, hubUrl: hub.url });
    assert(first.endsWith(commit));
    const newer = await writeCheckpoint(src, 3);
    const second = await pushCheckpoint(src, { repo: "org/model", token: TOKEN, hubUrl: hub.url });
    assertEquals(await pullCheckpoint("org/model", { cacheDir, hubUrl: hub.url }), first);
    const refreshed = await pullCheckpoint("org/model", {
      cacheDir,
      hubUrl: hub.url,
      refresh: true,
    });
    assert(refreshed.endsWith(second.commit));
    assertEquals(await Deno.readFile(`${refreshed}/model.safetensors`), newer["model.safetensors"]);
    // and the ref now points at the new commit, offline too
    assertEquals(await pullCheckpoint("org/model", { cacheDir, offline: true }), refreshed);
  } finally {
    await cleanup();
  }
});

Deno.test("pullCheckpoint: offline uses only the cache and fails clearly when absent", async () => {
  const { hub, cacheDir, cleanup } = await setup();
  try {
    const error = await assertRejects(
      () => pullCheckpoint("org/model", { cacheDir, hubUrl: hub.url, offline: true }),
      HubError,
      "Cannot pull checkpoint org/model@main: offline and not in the cache at",
    );
    assertEquals(error.kind, "offline");
    assertStringIncludes(error.message, "run once without offline to download it");
    assertEquals(hub.count("GET"), 0);
    const dir = await pullCheckpoint("org/model", { cacheDir, hubUrl: hub.url });
    const before = hub.requests.length;
    await hub.close();
    assertEquals(
      await pullCheckpoint("org/model", { cacheDir, hubUrl: "http://127.0.0.1:9", offline: true }),
      dir,
    );
    assertEquals(hub.requests.length, before);
  } finally {
    await Deno.remove(cacheDir, { recursive: true }).catch(() => {});
    await cleanup().catch(() => {});
  }
});

Deno.test("pullCheckpoint: an interrupted download leaves no corrupt entry and the next call recovers", async () => {
  const { hub, cacheDir, files, commit, cleanup } = await setup();
  try {
    hub.cutNext("/resolve/", 1000); // the first body longer than 1000 bytes: model.safetensors
    const error = await assertRejects(
      () => pullCheckpoint("org/model", { cacheDir, hubUrl: hub.url }),
      HubError,
      "Cannot pull checkpoint org/model@main: the download of model.safetensors was interrupted",
    );
    assertEquals(error.kind, "interrupted");
    const repoDir = `${cacheDir}/models--org--model`;
    const snapshot = `${repoDir}/snapshots/${commit}`;
    // files finished before the cut are in place; the cut one is not, nor any marker or ref
    assertEquals(await listDir(snapshot), [".gitattributes", "README.md", "config.json"]);
    assertEquals(await listDir(`${repoDir}/tmp`), []);
    assertEquals(await listDir(repoDir), ["snapshots", "tmp"]);
    await assertRejects(
      () => pullCheckpoint("org/model", { cacheDir, offline: true }),
      HubError,
      "offline and not in the cache",
    );

    const before = hub.count("/resolve/");
    const dir = await pullCheckpoint("org/model", { cacheDir, hubUrl: hub.url });
    for (const [name, bytes] of Object.entries(files)) {
      assertEquals(await Deno.readFile(`${dir}/${name}`), bytes, name);
    }
    // only the three missing files were fetched again (two GETs each: size probe + body)
    assertEquals(hub.count("/resolve/") - before, 6);
    assertEquals(await pullCheckpoint("org/model", { cacheDir, offline: true }), dir);
  } finally {
    await cleanup();
  }
});

Deno.test("pullCheckpoint: a wrong revision or repo gives a 404 with what to check", async () => {
  const { hub, cacheDir, cleanup } = await setup();
  try {
    const error = await assertRejects(
      () => pullCheckpoint("org/model", { cacheDir, hubUrl: hub.url, revision: "nope" }),
      HubError,
      'Cannot pull checkpoint org/model@nope: not found (HTTP 404: Invalid rev id: nope); check the repo name "org/model" and revision "nope" exist',
    );
    assertEquals([error.kind, error.status], ["not-found", 404]);
    await assertRejects(
      () => pullCheckpoint("org/missing", { cacheDir, hubUrl: hub.url }),
      HubError,
      'Cannot pull checkpoint org/missing@main: not found (HTTP 404: Repository not found); check the repo name "org/missing"',
    );
    const sha = "0123456789abcdef0123456789abcdef01234567";
    await assertRejects(
      () => pullCheckpoint("org/model", { cacheDir, hubUrl: hub.url, revision: sha }),
      HubError,
      `Cannot pull checkpoint org/model@${sha}: not found (HTTP 404`,
    );
  } finally {
    await cleanup();
  }
});

Deno.test("pullCheckpoint: 500 says retry later; 401 says check the token; neither prints it", async () => {
  const { hub, cacheDir, cleanup } = await setup();
  try {
    hub.failNext("/tree/", 500, { body: `oops ${TOKEN}` });
    const server = await assertRejects(
      () => pullCheckpoint("org/model", { cacheDir, hubUrl: hub.url, token: TOKEN }),
      HubError,
      "Cannot pull checkpoint org/model@main: the Hub returned 500; retry later",
    );
    assertEquals(server.kind, "server");
    hub.failNext("/revision/main", 401);
    const denied = await assertRejects(
      () => pullCheckpoint("org/model", { cacheDir, hubUrl: hub.url, token: TOKEN }),
      HubError,
      "the Hub rejected the credentials (HTTP 401: Simulated failure 401); check the token is valid and has read access to org/model",
    );
    hub.failNext("/revision/main", 401);
    await assertRejects(
      () => pullCheckpoint("org/model", { cacheDir, hubUrl: hub.url }),
      HubError,
      "the Hub requires authentication (HTTP 401: Simulated failure 401) and no token was given; pass a token with read access or set HF_TOKEN",
    );
    for (const e of [server, denied]) {
      assert(!Deno.inspect(e).includes(TOKEN));
      assert(!(e.stack ?? "").includes(TOKEN));
    }
    // after the failures the pull works, and it sent the token as a header
    await pullCheckpoint("org/model", { cacheDir, hubUrl: hub.url, token: TOKEN });
    assertEquals(hub.requests.at(-1)!.authorization, `Bearer ${TOKEN}`);
  } finally {
    await cleanup();
  }
});

Deno.test("pullCheckpoint rejects a malformed repo name", async () => {
  await assertRejects(
    () => pullCheckpoint("../etc", { offline: true }),
    TypeError,
    'Cannot pull checkpoint: repo must look like "namespace/name"',
  );
  await assertRejects(
    () => pullCheckpoint("org/x", { offline: true, revision: "" }),
    TypeError,
    "Cannot pull checkpoint org/x: revision must be a non-empty string",
  );
});
