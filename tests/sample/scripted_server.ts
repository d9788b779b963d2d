/**
 * A tiny OpenAI-compatible completions server on 127.0.0.1 for tests: every `POST /v1/completions`
 * is recorded and answered with the token ids a script chooses for the request (each followed by
 * its log-prob −0.5), in vLLM's shape (`return_tokens_as_token_ids`, one choice per prompt × n,
 * numbered prompt by prompt).
 *
 * @module
 */

/** The parsed body of one completions request. */
export type CompletionRequest = Record<string, unknown>;

/** A running scripted server. */
export interface ScriptedServer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The body of every completions request, in order. */
  readonly requests: CompletionRequest[];
  /** Stop the server and wait for it. */
  close(): Promise<void>;
}

/**
 * Start a server that answers each choice of a completions request with `script(request)`'s
 * tokens (the same tokens for every prompt and choice of that request).
 *
 * @param script The response tokens for a request (ending with the EOS id, or `max_tokens` long).
 * @param eosToken The id that ends a response: a choice ending with it is `"stop"`, else `"length"`.
 * @returns The running server.
 */
export function startScriptedServer(
  script: (request: CompletionRequest) => number[],
  eosToken: number,
): ScriptedServer {
  const requests: CompletionRequest[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const path = new URL(request.url).pathname;
      if (request.method !== "POST" || path !== "/v1/completions") {
        return new Response("not found", { status: 404 });
      }
      const body = await request.json() as CompletionRequest;
      requests.push(body);
      const tokens = script(body);
      const count = (body.prompt as unknown[]).length * ((body.n as number | undefined) ?? 1);
      const choices = Array.from({ length: count }, (_, index) => ({
        index,
        text: "",
        logprobs: {
          tokens: tokens.map((id) => `token_id:${id}`),
          token_logprobs: tokens.map(() => -0.5),
          top_logprobs: null,
          text_offset: tokens.map(() => 0),
        },
        finish_reason: tokens.at(-1) === eosToken ? "stop" : "length",
        stop_reason: null,
      }));
      return Response.json({ id: "cmpl-0", object: "text_completion", model: body.model, choices });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}
