/**
 * Defaults shared by the Hub functions: the Hub URL and the access token.
 *
 * @module
 */

/** The public Hugging Face Hub. */
export const DEFAULT_HUB_URL = "https://huggingface.co";

/** Reads an environment variable only when permission is already granted (never prompts). */
function envVar(name: string): string | undefined {
  try {
    const state = Deno.permissions.querySync({ name: "env", variable: name }).state;
    return state === "granted" ? Deno.env.get(name) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The Hub base URL: `hubUrl` if given, else `$HF_ENDPOINT`, else `https://huggingface.co`;
 * trailing slashes removed.
 *
 * @param hubUrl Explicit URL, e.g. `http://127.0.0.1:8080` for a local server.
 * @returns The base URL without a trailing slash.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { resolveHubUrl } from "./hub_config.ts";
 *
 * assertEquals(resolveHubUrl("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
 * ```
 */
export function resolveHubUrl(hubUrl?: string): string {
  const url = hubUrl ?? envVar("HF_ENDPOINT") ?? DEFAULT_HUB_URL;
  return url.replace(/\/+$/, "");
}

/**
 * The access token: `token` if given, else `$HF_TOKEN` (read only when env access is granted),
 * else undefined (anonymous). Tokens are sent only in the `Authorization` header.
 *
 * @param token Explicit token (`hf_…`).
 * @returns The token or undefined.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { resolveToken } from "./hub_config.ts";
 *
 * assertEquals(resolveToken("hf_abc"), "hf_abc");
 * ```
 */
export function resolveToken(token?: string): string | undefined {
  if (token !== undefined && token !== "") return token;
  const env = envVar("HF_TOKEN");
  return env === undefined || env === "" ? undefined : env;
}
