/**
 * Parsing of `org/name[@revision]` references, as given to `--push-to-hub` and `--from-hub`.
 *
 * @module
 */

/** A repo plus revision, e.g. `{ repo: "org/name", revision: "main" }`. */
export interface HubRef {
  /** `namespace/name`. */
  repo: string;
  /** Branch, tag or commit sha; `"main"` when the reference names none. */
  revision: string;
}

const NAME_PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Checks that `repo` is a fully qualified `namespace/name` repo id.
 *
 * @param context Start of the error message, e.g. `Cannot pull checkpoint`.
 * @param repo The repo id to check.
 * @returns `repo` unchanged.
 * @throws {TypeError} When `repo` is not a string of the form `namespace/name`.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { checkRepoName } from "./hub_ref.ts";
 *
 * assertEquals(checkRepoName("Cannot pull", "org/model"), "org/model");
 * assertThrows(() => checkRepoName("Cannot pull", "model"), TypeError, "namespace/name");
 * ```
 */
export function checkRepoName(context: string, repo: unknown): string {
  if (typeof repo !== "string") {
    throw new TypeError(`${context}: repo must be a string "namespace/name", got ${typeof repo}`);
  }
  const parts = repo.split("/");
  if (parts.length !== 2 || !parts.every((p) => NAME_PART.test(p) && !p.includes(".."))) {
    throw new TypeError(
      `${context}: repo must look like "namespace/name" (letters, digits, "-", "_", "."), got "${repo}"`,
    );
  }
  return repo;
}

/**
 * Splits `"org/name@revision"` into repo and revision; the revision defaults to `"main"`.
 *
 * Used by the `--push-to-hub org/name` and `--from-hub org/name[@revision]` flags of
 * `deno task train`.
 *
 * @param ref `namespace/name`, optionally followed by `@` and a branch, tag or commit sha.
 * @returns `{ repo, revision }`.
 * @throws {TypeError} When the repo part is not `namespace/name` or the revision is empty.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseHubRef } from "./hub_ref.ts";
 *
 * assertEquals(parseHubRef("org/name@v1"), { repo: "org/name", revision: "v1" });
 * assertEquals(parseHubRef("org/name"), { repo: "org/name", revision: "main" });
 * ```
 */
export function parseHubRef(ref: string): HubRef {
  const context = "Cannot parse Hub reference";
  if (typeof ref !== "string") {
    throw new TypeError(`${context}: expected a string "org/name[@revision]", got ${typeof ref}`);
  }
  const at = ref.indexOf("@");
  const repo = at < 0 ? ref : ref.slice(0, at);
  const revision = at < 0 ? "main" : ref.slice(at + 1);
  checkRepoName(context, repo);
  if (revision === "" || /\s/.test(revision) || revision.includes("..")) {
    throw new TypeError(
      `${context}: the revision after "@" must be a branch, tag or commit sha, got "${ref}"`,
    );
  }
  return { repo, revision };
}

/** A file of a Hub repo at a revision, e.g. `{ repo: "openai/gsm8k", revision: "main", path: "main/train-00000-of-00001.parquet" }`. */
export interface HubFileRef extends HubRef {
  /** The file's path inside the repo. */
  path: string;
}

/**
 * Splits `"org/name[@revision]:path"` (the `--data` form of a Hub dataset file) into repo,
 * revision and path; the revision defaults to `"main"`.
 *
 * @param ref `namespace/name`, optionally `@revision`, then `:` and the file's path in the repo.
 * @returns `{ repo, revision, path }`.
 * @throws {TypeError} When there is no `:path`, the path is empty, absolute or has `..`, or the
 * part before `:` is not a valid `org/name[@revision]`.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { parseHubFileRef } from "./hub_ref.ts";
 *
 * assertEquals(parseHubFileRef("openai/gsm8k@v2:main/train.parquet"), {
 *   repo: "openai/gsm8k",
 *   revision: "v2",
 *   path: "main/train.parquet",
 * });
 * assertThrows(() => parseHubFileRef("openai/gsm8k"), TypeError, "org/dataset[@revision]:path");
 * ```
 */
export function parseHubFileRef(ref: string): HubFileRef {
  const context = "Cannot parse Hub file reference";
  const colon = typeof ref === "string" ? ref.indexOf(":") : -1;
  const path = colon < 0 ? "" : ref.slice(colon + 1);
  if (path === "" || path.startsWith("/") || path.split("/").includes("..")) {
    throw new TypeError(
      `${context}: expected "org/dataset[@revision]:path/in/repo", got ${JSON.stringify(ref)}`,
    );
  }
  try {
    return { ...parseHubRef(ref.slice(0, colon)), path };
  } catch (error) {
    throw new TypeError(
      `${context}: expected "org/dataset[@revision]:path/in/repo", got ${JSON.stringify(ref)} (${
        (error as Error).message.replace(/^Cannot parse Hub reference: /, "")
      })`,
    );
  }
}
