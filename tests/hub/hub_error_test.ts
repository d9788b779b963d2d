import { assertEquals } from "@std/assert";
import { HubApiError } from "@huggingface/hub";
import { HubError, hubFailure, redactToken } from "../../lib/hub/hub_error.ts";

const TOKEN = "hf_errorSecret42";
const base = {
  action: "Cannot do it",
  repo: "o/r",
  revision: "dev",
  write: true,
  token: TOKEN,
  hubUrl: "http://127.0.0.1:1",
};

function apiError(status: number, message: string): HubApiError {
  const e = new HubApiError("http://127.0.0.1:1/api/x", status);
  e.message = `${message}. URL: http://127.0.0.1:1/api/x`;
  return e;
}

Deno.test("hubFailure maps statuses to advice and keeps the status", () => {
  const cases: [number, string, string][] = [
    [
      401,
      "unauthorized",
      "Cannot do it: the Hub rejected the credentials (HTTP 401: Bad); check the token is valid and has write access to o/r",
    ],
    [
      404,
      "not-found",
      'Cannot do it: not found (HTTP 404: Bad); check the repo name "o/r" and revision "dev" exist and that the token can see it',
    ],
    [500, "server", "Cannot do it: the Hub returned 500; retry later (Bad)"],
    [429, "server", "Cannot do it: the Hub returned 429; retry later (Bad)"],
    [418, "other", "Cannot do it: the Hub answered HTTP 418: Bad"],
  ];
  for (const [status, kind, message] of cases) {
    const e = hubFailure(apiError(status, "Bad"), base);
    assertEquals([e.message, e.kind, e.status], [message, kind, status]);
  }
});

Deno.test("hubFailure redacts the token everywhere and passes HubErrors through", () => {
  const e = hubFailure(apiError(500, `token ${TOKEN} invalid`), base);
  assertEquals(e.message, "Cannot do it: the Hub returned 500; retry later (token hf_*** invalid)");
  assertEquals(redactToken(`a${TOKEN}b${TOKEN}`, TOKEN), "ahf_***bhf_***");
  assertEquals(redactToken("abc", undefined), "abc");
  const own = new HubError("x", { kind: "offline" });
  assertEquals(hubFailure(own, base), own);
  const plain = hubFailure(new Error(`boom ${TOKEN}`), base);
  assertEquals([plain.message, plain.kind], ["Cannot do it: boom hf_***", "other"]);
  const net = hubFailure(new TypeError("error sending request: Connection refused"), base);
  assertEquals(net.kind, "network");
});
