/**
 * A small JSON-over-HTTP client for an OpenAI-compatible inference server (vLLM, SGLang): base
 * URL, optional API key, per-request timeout, bounded retries with exponential backoff and
 * jitter, and errors that name the server and the request.
 *
 * @module
 */
import { checkInteger, describe } from "../validate.ts";

/** Options of {@linkcode serverClient}. */
export interface ServerClientOptions {
  /** The server's root URL, e.g. `http://127.0.0.1:8000` (no `/v1`: paths carry it). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; never appears in an error message. */
  apiKey?: string;
  /** Per-attempt timeout in milliseconds (default 60 000). */
  timeoutMs?: number;
  /**
   * Total deadline of one request, attempts and waits between them together, in milliseconds
   * (default 300 000): no attempt or wait goes past it.
   */
  deadlineMs?: number;
  /** Told of each retry before its wait (e.g. to print it); default none. */
  onRetry?: (retry: ServerRetry) => void;
  /** Retries after the first attempt, for network errors, timeouts, 429 and 5xx (default 3). */
  retries?: number;
  /** First backoff delay in milliseconds, doubled at each retry (default 500). */
  backoffMs?: number;
  /** Largest delay between attempts in milliseconds, `Retry-After` included (default 30 000). */
  maxBackoffMs?: number;
}

/** A retry about to happen, as told to {@linkcode ServerClientOptions.onRetry}. */
export interface ServerRetry {
  /** The attempt about to be made (2 for the first retry). */
  attempt: number;
  /** The most attempts (1 + retries). */
  attempts: number;
  /** The wait before it, in milliseconds. */
  waitMs: number;
  /** What failed, e.g. `HTTP 429: rate limited` or `no response within 60000 ms`. */
  reason: string;
  /** One line for a log: `retry 2/4 in 0.5 s after HTTP 429: … (POST /v1/completions at …)`. */
  message: string;
}

/** One request to the server. */
export interface ServerRequest {
  /** HTTP method. */
  method: "GET" | "POST";
  /** Path below the base URL, starting with `/` (e.g. `/v1/completions`). */
  path: string;
  /** JSON body (POST only). */
  body?: unknown;
  /** A short description for error messages, e.g. `"4 prompts, n=8"`. */
  summary?: string;
  /** What a successful response holds: JSON (default) or plain text (LoRA endpoints of vLLM). */
  expect?: "json" | "text";
}

/** What went wrong with a request, for callers that branch on it. */
export type ServerErrorKind =
  | "unreachable"
  | "timeout"
  | "unauthorized"
  | "rejected"
  | "server"
  | "malformed";

/**
 * A request that failed after its retries, or that the server refused. `status` is the last HTTP
 * status (absent when no response came back); `serverMessage` is the server's own error text.
 */
export class ServerError extends Error {
  /** What went wrong. */
  readonly kind: ServerErrorKind;
  /** The last HTTP status, when a response came back. */
  readonly status?: number;
  /** The server's error message, when it sent one. */
  readonly serverMessage?: string;
  /** Attempts made (1 + retries used). */
  readonly attempts: number;

  /**
   * Make the error (the client builds it; callers read `kind`, `status`, `serverMessage`).
   *
   * @param message The full message.
   * @param details Kind, status, server message, attempts and cause.
   */
  constructor(
    message: string,
    details: {
      kind: ServerErrorKind;
      status?: number;
      serverMessage?: string;
      attempts: number;
      cause?: unknown;
    },
  ) {
    super(message, { cause: details.cause });
    this.name = "ServerError";
    this.kind = details.kind;
    this.status = details.status;
    this.serverMessage = details.serverMessage;
    this.attempts = details.attempts;
  }
}

/** A client bound to one server. */
export interface ServerClient {
  /** The base URL, without a trailing slash. */
  readonly baseUrl: string;
  /**
   * Send a request; retry network errors, timeouts, 429 and 5xx; return the parsed JSON body (or
   * the text, with `expect: "text"`).
   *
   * @throws {ServerError} After the retries, on 4xx other than 429, or on a body that is not
   * valid JSON (cut off or malformed; such a body is never retried).
   */
  request(request: ServerRequest): Promise<unknown>;
}

/**
 * Make a client for an OpenAI-compatible server.
 *
 * Retried: network errors (connection refused or reset), timeouts, HTTP 429 and 5xx, at most
 * `retries` times, waiting `min(maxBackoffMs, backoffMs·2^k)·u` with `u` uniform in [0.5, 1)
 * before retry `k` (or the server's `Retry-After`, when longer, capped at `maxBackoffMs`); each
 * retry is told to `onRetry` first. Each attempt waits at most `timeoutMs`, and the request as a
 * whole at most `deadlineMs`: an attempt is cut short at the deadline, and a retry whose wait
 * would reach it is not made (the error says the deadline was reached).
 * Not retried: 401/403 (the key was rejected; the message never contains it), other 4xx (the
 * server's message is included), a success whose body is not valid JSON (cut off or malformed).
 *
 * The jitter `u` comes from `Math.random`: it changes only *when* a retry is sent, never what a
 * request contains or what a call returns, so seeded training stays reproducible.
 *
 * @param options Base URL, API key, timeout and retry policy.
 * @returns The client.
 * @throws {TypeError} When `baseUrl` is not an http(s) URL.
 *
 * @example
 * ```ts
 * import { serverClient } from "./server_client.ts";
 * import { assertEquals } from "@std/assert";
 *
 * const client = serverClient({ baseUrl: "http://127.0.0.1:8000/", retries: 0 });
 * assertEquals(client.baseUrl, "http://127.0.0.1:8000");
 * ```
 */
export function serverClient(options: ServerClientOptions): ServerClient {
  const context = "Cannot create a server client";
  const baseUrl = checkBaseUrl(context, options?.baseUrl);
  const timeoutMs = checkInteger(context, "timeoutMs", options.timeoutMs ?? 60_000, 1);
  const deadlineMs = checkInteger(context, "deadlineMs", options.deadlineMs ?? 300_000, 1);
  const onRetry = options.onRetry;
  if (onRetry !== undefined && typeof onRetry !== "function") {
    throw new TypeError(`${context}: onRetry must be a function, got ${describe(onRetry)}`);
  }
  const retries = checkInteger(context, "retries", options.retries ?? 3, 0);
  const backoffMs = checkInteger(context, "backoffMs", options.backoffMs ?? 500, 0);
  const maxBackoffMs = checkInteger(context, "maxBackoffMs", options.maxBackoffMs ?? 30_000, 0);
  const apiKey = options.apiKey;
  if (apiKey !== undefined && typeof apiKey !== "string") {
    throw new TypeError(`${context}: apiKey must be a string, got ${typeof apiKey}`);
  }
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;

  // A server may echo the key in its error text: it never reaches a message.
  const scrub = (text: string) => apiKey ? text.split(apiKey).join("<api key>") : text;

  async function request(req: ServerRequest): Promise<unknown> {
    const what = `${req.method} ${req.path}${req.summary ? ` (${req.summary})` : ""}`;
    const where = `Request to ${baseUrl} failed: ${what}`;
    const deadline = performance.now() + deadlineMs;
    let attempts = 0;
    let wait = 0;
    for (;;) {
      attempts++;
      const left = Math.max(1, Math.round(deadline - performance.now()));
      const outcome = await attempt(req, headers, baseUrl, Math.min(timeoutMs, left));
      if (outcome.ok) return outcome.value;
      const failure = outcome.failure;
      if (failure.retryable && attempts <= retries) {
        const exponential = Math.min(maxBackoffMs, backoffMs * 2 ** (attempts - 1));
        const jittered = exponential * (0.5 + 0.5 * Math.random());
        wait = Math.min(maxBackoffMs, Math.max(jittered, failure.retryAfterMs ?? 0));
      }
      const pastDeadline = failure.retryable && attempts <= retries &&
        performance.now() + wait >= deadline;
      if (!failure.retryable || attempts > retries || pastDeadline) {
        const tries = failure.retryable ? ` after ${attempts} attempts` : "";
        const late = pastDeadline
          ? ` (the deadline of ${deadlineMs / 1000} s was reached; raise it or check the server)`
          : "";
        throw new ServerError(scrub(`${where}${tries}: ${failure.message}${late}`), {
          kind: failure.kind,
          status: failure.status,
          serverMessage: failure.serverMessage && scrub(failure.serverMessage),
          attempts,
          cause: failure.cause,
        });
      }
      onRetry?.({
        attempt: attempts + 1,
        attempts: retries + 1,
        waitMs: wait,
        reason: scrub(failure.message),
        message: scrub(
          `retry ${attempts + 1}/${retries + 1} in ${
            (wait / 1000).toFixed(1)
          } s after ${failure.message} (${what} at ${baseUrl})`,
        ),
      });
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
  return { baseUrl, request };
}

interface Failure {
  kind: ServerErrorKind;
  retryable: boolean;
  message: string;
  status?: number;
  serverMessage?: string;
  retryAfterMs?: number;
  cause?: unknown;
}

type Outcome = { ok: true; value: unknown } | { ok: false; failure: Failure };

async function attempt(
  req: ServerRequest,
  headers: Record<string, string>,
  baseUrl: string,
  timeoutMs: number,
): Promise<Outcome> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(`${baseUrl}${req.path}`, {
      method: req.method,
      headers,
      body: req.method === "POST" ? JSON.stringify(req.body ?? {}) : undefined,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (cause) {
    return { ok: false, failure: transportFailure(cause, timeoutMs, baseUrl) };
  }
  try {
    text = await response.text();
  } catch (cause) {
    if (isTimeout(cause)) {
      return { ok: false, failure: transportFailure(cause, timeoutMs, baseUrl) };
    }
    return {
      ok: false,
      failure: {
        kind: "malformed",
        retryable: false,
        status: response.status,
        message: `the response body was cut off (HTTP ${response.status}): ${errorText(cause)}`,
        cause,
      },
    };
  }
  if (response.ok) return parseSuccess(req, response.status, text);
  return { ok: false, failure: httpFailure(response, text) };
}

function parseSuccess(req: ServerRequest, status: number, text: string): Outcome {
  if (req.expect === "text") return { ok: true, value: text };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (cause) {
    return {
      ok: false,
      failure: {
        kind: "malformed",
        retryable: false,
        status,
        message:
          `the response body is not valid JSON (cut off or malformed, ${text.length} characters, ends with ${
            JSON.stringify(text.slice(-40))
          })`,
        cause,
      },
    };
  }
}

function transportFailure(cause: unknown, timeoutMs: number, baseUrl: string): Failure {
  if (isTimeout(cause)) {
    return {
      kind: "timeout",
      retryable: true,
      message: `no response within ${timeoutMs} ms`,
      cause,
    };
  }
  return {
    kind: "unreachable",
    retryable: true,
    message: `the server at ${baseUrl} is unreachable: ${errorText(cause)}`,
    cause,
  };
}

function httpFailure(response: Response, text: string): Failure {
  const status = response.status;
  const serverMessage = serverErrorMessage(text);
  const said = serverMessage ? `: ${serverMessage}` : "";
  if (status === 401 || status === 403) {
    return {
      kind: "unauthorized",
      retryable: false,
      status,
      serverMessage,
      message: `the API key was rejected (HTTP ${status}); check the apiKey option`,
    };
  }
  if (status === 429 || status >= 500) {
    return {
      kind: "server",
      retryable: true,
      status,
      serverMessage,
      retryAfterMs: retryAfterMs(response.headers.get("retry-after")),
      message: `HTTP ${status}${said}`,
    };
  }
  return {
    kind: "rejected",
    retryable: false,
    status,
    serverMessage,
    message: `HTTP ${status}${said}`,
  };
}

/**
 * The server's error message from an error body: vLLM's `{"error": {"message"}}` (current),
 * `{"message"}` (older vLLM, `object: "error"`), FastAPI's `{"detail"}`, or the raw text.
 */
export function serverErrorMessage(text: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    const trimmed = text.trim();
    return trimmed ? shorten(trimmed) : undefined;
  }
  if (typeof body === "object" && body !== null) {
    const record = body as Record<string, unknown>;
    const error = record.error;
    if (typeof error === "object" && error !== null) {
      const message = (error as Record<string, unknown>).message;
      if (typeof message === "string") return shorten(message);
    }
    if (typeof error === "string") return shorten(error);
    if (typeof record.message === "string") return shorten(record.message);
    if (record.detail !== undefined) {
      return shorten(
        typeof record.detail === "string" ? record.detail : JSON.stringify(record.detail),
      );
    }
  }
  return shorten(text.trim());
}

function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

function isTimeout(cause: unknown): boolean {
  return cause instanceof DOMException &&
    (cause.name === "TimeoutError" || cause.name === "AbortError");
}

function errorText(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

function shorten(text: string): string {
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

function checkBaseUrl(context: string, value: unknown): string {
  if (typeof value !== "string") {
    throw new TypeError(`${context}: baseUrl must be a string, got ${describe(value)}`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`${context}: baseUrl must be an http(s) URL, got ${describe(value)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`${context}: baseUrl must be an http(s) URL, got ${describe(value)}`);
  }
  if (url.username || url.password) {
    throw new TypeError(`${context}: baseUrl must not carry credentials; use the apiKey option`);
  }
  return value.replace(/\/+$/, "");
}
