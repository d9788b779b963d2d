import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { HubError } from "../../lib/hub/hub_error.ts";
import { pushCheckpoint } from "../../lib/hub/push_checkpoint.ts";
import { startFakeHub } from "./fake_hub.ts";

const TOKEN = "hf_pushSecretToken0123456789";
const READ_TOKEN = "hf_readOnlyToken9876543210";

/** A fake checkpoint directory: JSON files plus deterministic pseudo-random binary files. */
async function makeCheckpoint(): Promise<{ dir: string; files: Record<string, Uint8Array> }> {
  const dir = await Deno.makeTempDir({ prefix: "trepo_ckpt_" });
  let x = 12345;
  const bytes = (n: number) =>
    Uint8Array.from({ length: n }, () => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return x >>> 16 & 255;
    });
  const files: Record<string, Uint8Array> = {
    "config.json": new TextEncoder().encode(
      JSON.stringify({ vocabSize: 14, dModel: 32, layers: 2, heads: 4, maxLength: 16, seed: 1 }),
    ),
    "trainer_state.json": new TextEncoder().encode(JSON.stringify({
      step: 250,
      config: { algorithm: "grpo", task: "addition", learningRate: 0.001, groupSize: 8 },
      metrics: { "reward/mean": 0.8125, kl: 0.0123456789 },
    })),
    "model.safetensors": bytes(5000),
    "optimizer.safetensors": bytes(777),
  };
  for (const [name, content] of Object.entries(files)) {
    await Deno.writeFile(`${dir}/${name}`, content);
  }
  await Deno.mkdir(`${dir}/subdir`); // not a regular file: skipped
  return { dir, files };
}

Deno.test("pushCheckpoint uploads every file bit-exactly plus a model card, in one commit", async () => {
  const hub = startFakeHub({ tokens: { [TOKEN]: "write" } });
  const { dir, files } = await makeCheckpoint();
  try {
    const result = await pushCheckpoint(dir, { repo: "org/tiny", token: TOKEN, hubUrl: hub.url });
    assertEquals(result.repo, "org/tiny");
    assertEquals(result.files, [
      "README.md",
      "config.json",
      "model.safetensors",
      "optimizer.safetensors",
      "trainer_state.json",
    ]);
    // initial commit (.gitattributes) + the upload
    assertEquals(hub.history("org/tiny").length, 2);
    assertEquals(hub.history("org/tiny")[0], result.commit);
    for (const [name, content] of Object.entries(files)) {
      assertEquals(hub.file("org/tiny", name), content, name);
    }
    // the safetensors files went through the LFS upload path
    assertEquals(hub.count("PUT /lfs-upload/"), 2);
    const card = new TextDecoder().decode(hub.file("org/tiny", "README.md"));
    assert(card.startsWith("---\nlibrary_name: trepo\ntags:\n- trepo\n"), card);
    assertStringIncludes(card, "- grpo\n- addition\n---");
    assertStringIncludes(card, "| reward/mean | 0.8125 |");
    assertStringIncludes(card, "| kl | 0.0123457 |");
    assertStringIncludes(card, "| dModel | 32 |");
    assertStringIncludes(card, "| learningRate | 0.001 |");
    assertStringIncludes(card, "| step | 250 |");
    assert(!card.includes(TOKEN));
  } finally {
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pushCheckpoint sends the token as a Bearer header on every request", async () => {
  const hub = startFakeHub({ tokens: { [TOKEN]: "write" } });
  const { dir } = await makeCheckpoint();
  try {
    await pushCheckpoint(dir, { repo: "org/tiny", token: TOKEN, hubUrl: hub.url });
    const apiRequests = hub.requests.filter((r) => !r.path.startsWith("/lfs-upload/"));
    assert(apiRequests.length >= 4);
    for (const r of apiRequests) assertEquals(r.authorization, `Bearer ${TOKEN}`, r.path);
    for (const r of hub.requests) assert(!r.path.includes(TOKEN), "token leaked into a URL");
  } finally {
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pushCheckpoint pushes again to an existing repo and keeps the old commit", async () => {
  const hub = startFakeHub({ tokens: { [TOKEN]: "write" } });
  const { dir } = await makeCheckpoint();
  try {
    const first = await pushCheckpoint(dir, { repo: "org/tiny", token: TOKEN, hubUrl: hub.url });
    await Deno.writeTextFile(`${dir}/config.json`, '{"changed":true}');
    const second = await pushCheckpoint(dir, {
      repo: "org/tiny",
      token: TOKEN,
      hubUrl: hub.url,
      commitMessage: "step 500",
    });
    assert(first.commit !== second.commit);
    assertEquals(hub.history("org/tiny").slice(0, 2), [second.commit, first.commit]);
    assertEquals(new TextDecoder().decode(hub.file("org/tiny", "config.json")), '{"changed":true}');
    assertEquals(
      new TextDecoder().decode(hub.file("org/tiny", "config.json", first.commit)),
      JSON.stringify({ vocabSize: 14, dModel: 32, layers: 2, heads: 4, maxLength: 16, seed: 1 }),
    );
    // the second push saw 409 on creation and went on
    assertEquals(hub.count("POST /api/repos/create"), 2);
  } finally {
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pushCheckpoint keeps a README.md of the directory instead of generating one", async () => {
  const hub = startFakeHub({ tokens: { [TOKEN]: "write" } });
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/README.md`, "# mine\n");
    await Deno.writeTextFile(`${dir}/config.json`, "{}");
    const result = await pushCheckpoint(dir, { repo: "org/own", token: TOKEN, hubUrl: hub.url });
    assertEquals(result.files, ["README.md", "config.json"]);
    assertEquals(new TextDecoder().decode(hub.file("org/own", "README.md")), "# mine\n");
  } finally {
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pushCheckpoint: a rejected token gives a 401 HubError that names the fix", async () => {
  const hub = startFakeHub({ tokens: { [TOKEN]: "write" } });
  const { dir } = await makeCheckpoint();
  try {
    const error = await assertRejects(
      () => pushCheckpoint(dir, { repo: "org/tiny", token: "hf_wrongToken", hubUrl: hub.url }),
      HubError,
      "Cannot push checkpoint to org/tiny: the Hub rejected the credentials (HTTP 401: " +
        "Invalid credentials in Authorization header); check the token is valid and has write " +
        "access to org/tiny",
    );
    assertEquals([error.kind, error.status], ["unauthorized", 401]);
    assertEquals(hub.history("org/tiny"), []);
  } finally {
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pushCheckpoint: a read-only token is refused with write-access advice", async () => {
  const hub = startFakeHub({ tokens: { [TOKEN]: "write", [READ_TOKEN]: "read" } });
  const { dir } = await makeCheckpoint();
  try {
    const error = await assertRejects(
      () => pushCheckpoint(dir, { repo: "org/tiny", token: READ_TOKEN, hubUrl: hub.url }),
      HubError,
      "(HTTP 403: You don't have the rights to write to this repo); check the token is valid and has write access to org/tiny",
    );
    assertEquals(error.kind, "unauthorized");
  } finally {
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pushCheckpoint: a 500 during the commit says retry later", async () => {
  const hub = startFakeHub({ tokens: { [TOKEN]: "write" } });
  const { dir } = await makeCheckpoint();
  try {
    hub.failNext("POST /api/models/org/tiny/commit/", 500);
    const error = await assertRejects(
      () => pushCheckpoint(dir, { repo: "org/tiny", token: TOKEN, hubUrl: hub.url }),
      HubError,
      "Cannot push checkpoint to org/tiny: the Hub returned 500; retry later",
    );
    assertEquals([error.kind, error.status], ["server", 500]);
    assertEquals(hub.history("org/tiny").length, 1); // only the initial commit
    // and a retry succeeds
    await pushCheckpoint(dir, { repo: "org/tiny", token: TOKEN, hubUrl: hub.url });
    assertEquals(hub.history("org/tiny").length, 2);
  } finally {
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pushCheckpoint: a 404 says to check the repo name", async () => {
  const hub = startFakeHub({ tokens: { [TOKEN]: "write" } });
  const { dir } = await makeCheckpoint();
  try {
    hub.failNext("POST /api/models/org/tiny/preupload/", 404);
    const error = await assertRejects(
      () => pushCheckpoint(dir, { repo: "org/tiny", token: TOKEN, hubUrl: hub.url }),
      HubError,
      'Cannot push checkpoint to org/tiny: not found (HTTP 404: Simulated failure 404); check the repo name "org/tiny"',
    );
    assertEquals(error.kind, "not-found");
  } finally {
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pushCheckpoint never prints the token, even when the server echoes it", async () => {
  const hub = startFakeHub({ tokens: { [TOKEN]: "write" } });
  const { dir } = await makeCheckpoint();
  const logged: string[] = [];
  const saved = { log: console.log, error: console.error, warn: console.warn, info: console.info };
  const capture = (...args: unknown[]) => logged.push(args.map((a) => Deno.inspect(a)).join(" "));
  Object.assign(console, { log: capture, error: capture, warn: capture, info: capture });
  try {
    const failures = [
      { at: "POST /api/repos/create", status: 401 },
      { at: "POST /api/models/org/tiny/preupload/", status: 500 },
      { at: "POST /api/models/org/tiny/commit/", status: 404 },
    ];
    for (const { at, status } of failures) {
      hub.failNext(at, status, { body: `Bad token ${TOKEN} for Bearer ${TOKEN}` });
      const error = await assertRejects(
        () => pushCheckpoint(dir, { repo: "org/tiny", token: TOKEN, hubUrl: hub.url }),
        HubError,
      );
      for (const text of [error.message, String(error), error.stack ?? "", Deno.inspect(error)]) {
        assert(!text.includes(TOKEN), `token printed (${status}): ${text}`);
      }
      assertStringIncludes(error.message, "hf_***"); // the echo was redacted, not dropped
    }
    await pushCheckpoint(dir, { repo: "org/tiny", token: TOKEN, hubUrl: hub.url });
  } finally {
    Object.assign(console, saved);
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
  assertEquals(logged, []);
});

Deno.test("pushCheckpoint rejects bad inputs before any request", async () => {
  const hub = startFakeHub();
  const { dir } = await makeCheckpoint();
  const empty = await Deno.makeTempDir();
  try {
    await assertRejects(
      () => pushCheckpoint(dir, { repo: "no-namespace", token: TOKEN, hubUrl: hub.url }),
      TypeError,
      'Cannot push checkpoint: repo must look like "namespace/name"',
    );
    await assertRejects(
      () =>
        pushCheckpoint(dir, { repo: "org/tiny", token: "secret-without-prefix", hubUrl: hub.url }),
      TypeError,
      'Cannot push checkpoint to org/tiny: the access token must start with "hf_"',
    );
    await assertRejects(
      () => pushCheckpoint(`${dir}/missing`, { repo: "org/tiny", token: TOKEN, hubUrl: hub.url }),
      HubError,
      `Cannot push checkpoint to org/tiny: cannot read checkpoint directory "${dir}/missing"`,
    );
    await assertRejects(
      () => pushCheckpoint(empty, { repo: "org/tiny", token: TOKEN, hubUrl: hub.url }),
      HubError,
      `checkpoint directory "${empty}" has no files`,
    );
    assertEquals(hub.requests.length, 0);
  } finally {
    await hub.close();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("pushCheckpoint: an unreachable Hub gives a network error naming the URL", async () => {
  const hub = startFakeHub();
  const url = hub.url;
  await hub.close(); // nothing listens there any more
  const { dir } = await makeCheckpoint();
  try {
    const error = await assertRejects(
      () => pushCheckpoint(dir, { repo: "org/tiny", token: TOKEN, hubUrl: url }),
      HubError,
      `Cannot push checkpoint to org/tiny: could not reach the Hub at ${url}`,
    );
    assertEquals(error.kind, "network");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
