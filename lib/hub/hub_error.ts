/**
 * Errors of the Hub integration: what failed, why, and what to do — never the token.
 *
 * @module
 */

/** Why a Hub operation failed, for programs that want to react (retry on `"server"`, …). */
export type HubErrorKind =
  | "unauthorized"
  | "not-found"
  | "server"
  | "network"
  | "interrupted"
  | "integrity"
  | "offline"
  | "other";

/**
 * A failed Hub operation. The message says what failed and what to do about it, e.g.
 * `Cannot push checkpoint to org/name: the Hub rejected the credentials (HTTP 401); check the
 * token is valid and has write access to org/name`. Messages never contain the access token.
 *
 * Used by `pushCheckpoint`, `pullCheckpoint` and `loadPrompts`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { HubError } from "./hub_error.ts";
 *
 * const error = new HubError("Cannot pull checkpoint a/b: the Hub returned 500; retry later", {
 *   kind: "server",
 *   status: 500,
 * });
 * assertEquals([error.name, error.kind, error.status], ["HubError", "server", 500]);
 * ```
 */
export class HubError extends Error {
  /** Failure class. */
  readonly kind: HubErrorKind;
  /** HTTP status of the failed request, when there was one. */
  readonly status: number | undefined;

  /**
   * Creates the error.
   *
   * @param message What failed, a colon, then why and what to do (token-free).
   * @param options `kind` of failure and the HTTP `status` if any.
   */
  constructor(message: string, options: { kind: HubErrorKind; status?: number }) {
    super(message);
    this.name = "HubError";
    this.kind = options.kind;
    this.status = options.status;
  }
}

/** Replaces every occurrence of `token` in `text` with `hf_***`. */
export function redactToken(text: string, token: string | undefined): string {
  if (!token) return text;
  return text.split(token).join("hf_***");
}

/** What the failing operation needed, to phrase the advice. */
export interface HubFailureContext {
  /** Start of the message, e.g. `Cannot push checkpoint to org/name`. */
  action: string;
  /** `org/name` of the repo. */
  repo: string;
  /** The revision involved, when relevant. */
  revision?: string;
  /** Whether the operation writes (advice: write access) or reads. */
  write: boolean;
  /** The token that was used (only to redact it) or undefined when none was given. */
  token: string | undefined;
  /** Base URL of the Hub, to name it in network errors. */
  hubUrl: string;
}

function statusOf(error: unknown): number | undefined {
  if (typeof error === "object" && error !== null && "statusCode" in error) {
    const status = (error as { statusCode: unknown }).statusCode;
    if (typeof status === "number") return status;
  }
  return undefined;
}

/** The server's own words, cut to one short line, without the URL trailer the client adds. */
function serverDetail(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const line = message.split("\n")[0].replace(/\.? ?URL: .*$/, "").trim();
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/**
 * Converts any error thrown while talking to the Hub into a {@link HubError} with advice.
 *
 * 401/403 → check the token (and write access for writes); 404 → check the repo name and
 * revision; 5xx/429 → retry later; fetch failures → check the network or `hubUrl`.
 * The token is redacted from everything that is kept.
 *
 * @param error What was thrown (a `HubApiError` from `@huggingface/hub`, a fetch `TypeError`, …).
 * @param context What was being done.
 * @returns A token-free {@link HubError} (returned unchanged if it already is one).
 */
export function hubFailure(error: unknown, context: HubFailureContext): HubError {
  if (error instanceof HubError) return error;
  const status = statusOf(error);
  const detail = redactToken(serverDetail(error), context.token);
  const { action, repo, token } = context;
  let message: string;
  let kind: HubErrorKind;
  if (status === 401 || status === 403) {
    kind = "unauthorized";
    const access = context.write ? "write" : "read";
    message = token === undefined
      ? `${action}: the Hub requires authentication (HTTP ${status}: ${detail}) and no token was given; ` +
        `pass a token with ${access} access or set HF_TOKEN`
      : `${action}: the Hub rejected the credentials (HTTP ${status}: ${detail}); check the token is valid ` +
        `and has ${access} access to ${repo}`;
  } else if (status === 404) {
    kind = "not-found";
    const revision = context.revision === undefined ? "" : ` and revision "${context.revision}"`;
    message = `${action}: not found (HTTP 404: ${detail}); check the repo name "${repo}"` +
      `${revision} exist and that the token can see it`;
  } else if (status !== undefined && (status >= 500 || status === 429)) {
    kind = "server";
    message = `${action}: the Hub returned ${status}; retry later (${detail})`;
  } else if (status !== undefined) {
    kind = "other";
    message = `${action}: the Hub answered HTTP ${status}: ${detail}`;
  } else if (error instanceof TypeError && /fetch|connect|network|dns/i.test(error.message)) {
    kind = "network";
    message = `${action}: could not reach the Hub at ${context.hubUrl} (${detail}); ` +
      `check the network connection and hubUrl`;
  } else {
    kind = "other";
    message = `${action}: ${detail}`;
  }
  return new HubError(redactToken(message, token), { kind, status });
}
