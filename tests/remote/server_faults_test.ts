import { initBackend } from "../../lib/backend.ts";
import { disposeRollout } from "../../lib/sample/rollout.ts";
import { remoteSampler } from "../../lib/sample/remote_sampler.ts";
import { serverClient, ServerError } from "../../lib/remote/server_client.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { TINY_EOS, TINY_MODEL, withTinyServer } from "./fake_server.ts";

await initBackend({ backend: "cpu" });
const EOS = TINY_EOS;
const MODEL = TINY_MODEL;
const withServer = withTinyServer;

const OPTIONS = { groupSize: 2, maxTokens: 4, eosToken: EOS, seed: 9 };

for (const status of [429, 500, 503]) {
  Deno.test(`HTTP ${status} is retried with backoff, then the sample succeeds`, async () => {
    await withServer(async (server, policy) => {
      const sampler = remoteSampler({
        baseUrl: server.url,
        model: MODEL,
        retries: 3,
        backoffMs: 1,
      });
      server.switches.failNext = 2;
      server.switches.failStatus = status;
      if (status === 429) server.switches.retryAfter = "0";
      const r = await sampler.sample(policy, [[1, 2]], OPTIONS);
      assertEquals(r.tokens.shape[0], 2);
      disposeRollout(r);
      assertEquals(server.requests.length, 3);
    });
  });
}

Deno.test("exhausted retries name the server, the request and the last cause", async () => {
  await withServer(async (server, policy) => {
    const sampler = remoteSampler({ baseUrl: server.url, model: MODEL, retries: 2, backoffMs: 1 });
    server.switches.failNext = 10;
    const e = await assertRejects(() =>
      sampler.sample(policy, [[1], [2], [3], [4]], {
        ...OPTIONS,
        groupSize: 8,
      }), ServerError);
    assertStringIncludes(e.message, server.url);
    assertStringIncludes(e.message, "POST /v1/completions");
    assertStringIncludes(e.message, "4 prompts, n=8");
    assertStringIncludes(e.message, "after 3 attempts");
    assertStringIncludes(e.message, "HTTP 503: The server is overloaded");
    assertEquals(server.requests.length, 3);
  });
});

Deno.test("a request that times out is retried, then reported as a timeout", async () => {
  await withServer(async (server, policy) => {
    const sampler = remoteSampler({
      baseUrl: server.url,
      model: MODEL,
      retries: 1,
      backoffMs: 1,
      timeoutMs: 50,
    });
    server.switches.hangNext = 1;
    const r = await sampler.sample(policy, [[1]], OPTIONS);
    disposeRollout(r);
    assertEquals(server.requests.length, 2);
    server.switches.hangNext = 2;
    const e = await assertRejects(() => sampler.sample(policy, [[1]], OPTIONS), ServerError);
    assertEquals(e.kind, "timeout");
    assertStringIncludes(e.message, "no response within 50 ms");
  });
});

Deno.test("a rejected API key gives a message without the key, and is not retried", async () => {
  const key = "sk-secret-123456";
  await withServer(async (server, policy) => {
    const wrong = remoteSampler({
      baseUrl: server.url,
      model: MODEL,
      apiKey: "sk-wrong-987",
      retries: 3,
    });
    const e = await assertRejects(() => wrong.sample(policy, [[1]], OPTIONS), ServerError);
    assertStringIncludes(e.message, "API key was rejected (HTTP 401)");
    assert(
      !e.message.includes("sk-wrong-987") && !e.message.includes(key),
      "no token in the message",
    );
    assertEquals(server.requests.length, 1);
    const right = remoteSampler({ baseUrl: server.url, model: MODEL, apiKey: key });
    disposeRollout(await right.sample(policy, [[1]], OPTIONS));
  }, { apiKey: key });
});

Deno.test("an unreachable base URL is named", async () => {
  // A port that was just free: bind, read the port, close.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const url = `http://127.0.0.1:${port}`;
  const client = serverClient({ baseUrl: url, retries: 1, backoffMs: 1 });
  const e = await assertRejects(
    () => client.request({ method: "GET", path: "/v1/models" }),
    ServerError,
  );
  assertEquals(e.kind, "unreachable");
  assertStringIncludes(e.message, `the server at ${url} is unreachable`);
});

Deno.test("a 4xx is not retried and carries the server's message", async () => {
  await withServer(async (server, policy) => {
    const sampler = remoteSampler({ baseUrl: server.url, model: MODEL, retries: 3, backoffMs: 1 });
    server.switches.maxN = 4;
    const e = await assertRejects(
      () => sampler.sample(policy, [[1]], { ...OPTIONS, groupSize: 8 }),
      ServerError,
    );
    assertEquals(e.status, 400);
    assertStringIncludes(e.message, "n must be at most 4, got 8");
    assertEquals(server.requests.length, 1);
  });
});

Deno.test("server error bodies: vLLM's nested and flat forms, FastAPI's detail", async () => {
  const { serverErrorMessage } = await import("../../lib/remote/server_client.ts");
  assertEquals(serverErrorMessage('{"error":{"message":"bad n","type":"x","code":400}}'), "bad n");
  assertEquals(serverErrorMessage('{"object":"error","message":"old form"}'), "old form");
  assertEquals(serverErrorMessage('{"detail":"Not Found"}'), "Not Found");
  assertEquals(serverErrorMessage('{"error":"Unauthorized"}'), "Unauthorized");
  assertEquals(serverErrorMessage("plain text"), "plain text");
});

Deno.test("each retry is told to onRetry with its number, wait and cause", async () => {
  await withServer(async (server, policy) => {
    const told: string[] = [];
    const sampler = remoteSampler({
      baseUrl: server.url,
      model: MODEL,
      retries: 3,
      backoffMs: 1,
      onRetry: (retry) => told.push(retry.message),
    });
    server.switches.failNext = 2;
    server.switches.failStatus = 429;
    server.switches.retryAfter = "0";
    disposeRollout(await sampler.sample(policy, [[1, 2]], OPTIONS));
    // Before the fix retries were silent (no onRetry option).
    assertEquals(told.length, 2);
    assert(told[0].startsWith("retry 2/4 in 0.0 s after HTTP 429"), told[0]);
    assert(told[1].startsWith("retry 3/4 in 0.0 s after HTTP 429"), told[1]);
    assertStringIncludes(told[1], "1 prompts, n=2, max_tokens=4) at " + server.url);
  });
});

Deno.test("a server that never answers fails at the total deadline, not after every timeout", async () => {
  await withServer(async (server, policy) => {
    const sampler = remoteSampler({
      baseUrl: server.url,
      model: MODEL,
      retries: 3,
      backoffMs: 1,
      timeoutMs: 10_000,
      deadlineMs: 150,
    });
    server.switches.hangNext = 10;
    const started = performance.now();
    // Before the fix this waited 4 × 10 s.
    const e = await assertRejects(() => sampler.sample(policy, [[1]], OPTIONS), ServerError);
    assert(performance.now() - started < 2_000, `${performance.now() - started} ms`);
    assertEquals(e.kind, "timeout");
    assertStringIncludes(e.message, "the deadline of 0.15 s was reached");
  });
});
