/**
 * Load prompt/answer pairs from a JSONL or Parquet file of a Hub dataset repo.
 *
 * @module
 */

import { downloadFile, listFiles } from "@huggingface/hub";
import { parquetMetadata, parquetReadObjects, parquetSchema } from "hyparquet";
import type { Example } from "../tasks/task.ts";
import { HubError, hubFailure, type HubFailureContext } from "./hub_error.ts";
import { resolveHubUrl, resolveToken } from "./hub_config.ts";
import { checkRepoName } from "./hub_ref.ts";

/** Which columns hold the prompt and the answer. */
export interface PromptFields {
  /** Column of the prompt text; default `"question"`. */
  promptField?: string;
  /** Column of the answer text; default `"answer"`. */
  answerField?: string;
}

/** Options of {@link loadPrompts}. */
export interface LoadPromptsOptions extends PromptFields {
  /** File in the repo (`.jsonl`, `.ndjson`, `.json`, `.parquet`, optionally `.gz` for JSON). */
  path?: string;
  /**
   * Split to load when `path` is not given: every data file whose name or folder starts with it
   * (`train.jsonl`, `data/train-00000-of-00001.parquet`, `train/0.parquet`), in path order.
   * Default `"train"`.
   */
  split?: string;
  /** Hub base URL; defaults to `$HF_ENDPOINT` or `https://huggingface.co`. */
  hubUrl?: string;
  /** Access token for private or gated repos (`hf_…`); defaults to `$HF_TOKEN`. */
  token?: string;
  /** Branch, tag or commit sha; default `"main"`. */
  revision?: string;
  /** Repo type; default `"dataset"`. */
  repoType?: "dataset" | "model";
  /** Custom fetch (proxies, tests). */
  fetch?: typeof fetch;
}

const DATA_FILE = /\.(jsonl|ndjson|json|parquet|jsonl\.gz|ndjson\.gz|json\.gz)$/i;

async function gunzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The text of a UTF-8 file; invalid UTF-8 throws, naming the first line (1-based) that holds a
 * bad byte, rather than being replaced by U+FFFD.
 */
function utf8Text(context: string, bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    let start = 0;
    for (let line = 1;; line++) {
      const end = bytes.indexOf(0x0a, start);
      const stop = end < 0 ? bytes.length : end + 1;
      try {
        UTF8.decode(bytes.subarray(start, stop));
      } catch {
        throw new TypeError(
          `${context}: line ${line} is not valid UTF-8; re-save the file as UTF-8`,
        );
      }
      if (end < 0) break;
      start = stop;
    }
    // A sequence cut by a line break decodes line by line as invalid too, so this is not reached.
    throw new TypeError(`${context}: the file is not valid UTF-8; re-save it as UTF-8`);
  }
}

function jsonRows(context: string, text: string, jsonLines: boolean): Record<string, unknown>[] {
  if (!jsonLines) {
    const trimmed = text.trimStart();
    if (trimmed.startsWith("[")) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (error) {
        throw new TypeError(`${context}: invalid JSON (${(error as Error).message})`);
      }
      return (parsed as unknown[]).map((row, i) => checkRow(context, row, i));
    }
  }
  const rows: Record<string, unknown>[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (error) {
      throw new TypeError(
        `${context}: line ${i + 1} is not valid JSON (${(error as Error).message})`,
      );
    }
    rows.push(checkRow(context, parsed, rows.length));
  });
  return rows;
}

function checkRow(context: string, row: unknown, index: number): Record<string, unknown> {
  if (typeof row !== "object" || row === null || Array.isArray(row)) {
    throw new TypeError(`${context}: row ${index} is not an object, got ${JSON.stringify(row)}`);
  }
  return row as Record<string, unknown>;
}

function fieldText(
  context: string,
  row: Record<string, unknown>,
  field: string,
  index: number,
  available: readonly string[],
): string {
  const value = row[field];
  if (value === undefined || value === null) {
    throw new TypeError(
      `${context}: field "${field}" is missing in row ${index}; available fields: ${
        available.join(", ")
      }`,
    );
  }
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") {
    return String(value);
  }
  if (value instanceof Uint8Array) {
    try {
      return UTF8.decode(value);
    } catch {
      throw new TypeError(
        `${context}: field "${field}" of row ${index} is not valid UTF-8; re-save the file as UTF-8`,
      );
    }
  }
  throw new TypeError(
    `${context}: field "${field}" of row ${index} must be text, got ${JSON.stringify(value)}`,
  );
}

/**
 * Parses the bytes of a JSONL/JSON/Parquet file into `{ prompt, answer }` examples.
 *
 * JSON Lines (`.jsonl`, `.ndjson`): one object per non-empty line. `.json`: an array of objects
 * (or JSON Lines). Parquet (`.parquet`, read with hyparquet): one row per example; only the two
 * columns are decoded. `.gz` after a JSON extension is gunzipped first. Numbers become text.
 *
 * Used by {@link loadPrompts}; call it directly for a local file.
 *
 * @param data The file's bytes.
 * @param path The file's name or path (its extension selects the format; named in errors).
 * @param fields Prompt and answer column names (default `question`, `answer`).
 * @returns One example per row, in file order.
 * @throws {RangeError} For an unsupported extension.
 * @throws {TypeError} For invalid JSON, invalid UTF-8 (naming the line, or the row of a Parquet
 *   file), a non-object row, or a missing field (the message names the field and the available
 *   ones).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parsePrompts } from "./load_prompts.ts";
 *
 * const jsonl = '{"question":"1+1?","answer":"#### 2"}\n{"question":"2+2?","answer":4}\n';
 * const examples = await parsePrompts(new TextEncoder().encode(jsonl), "train.jsonl");
 * assertEquals(examples, [
 *   { prompt: "1+1?", answer: "#### 2" },
 *   { prompt: "2+2?", answer: "4" },
 * ]);
 * ```
 */
export async function parsePrompts(
  data: Uint8Array,
  path: string,
  fields: PromptFields = {},
): Promise<Example[]> {
  return await parseRows(`Cannot load prompts from ${path}`, data, path, fields);
}

type Format = "parquet" | "json" | "jsonl";

/** The format selected by the file name; throws a RangeError for anything else. */
function formatOf(context: string, path: string): { format: Format; gzip: boolean } {
  const match = /\.(jsonl|ndjson|json|parquet)(\.gz)?$/i.exec(path);
  if (match === null || (match[1].toLowerCase() === "parquet" && match[2] !== undefined)) {
    const extension = /(\.[A-Za-z0-9]+)*$/.exec(path.split("/").pop() ?? "")?.[0] ?? "";
    throw new RangeError(
      `${context}: unsupported file extension "${extension || "(none)"}"; ` +
        `use .jsonl, .ndjson, .json (optionally .gz) or .parquet`,
    );
  }
  const kind = match[1].toLowerCase();
  return {
    format: kind === "parquet" ? "parquet" : kind === "json" ? "json" : "jsonl",
    gzip: match[2] !== undefined,
  };
}

async function parseRows(
  context: string,
  data: Uint8Array,
  path: string,
  fields: PromptFields,
): Promise<Example[]> {
  const promptField = fields.promptField ?? "question";
  const answerField = fields.answerField ?? "answer";
  if (!(data instanceof Uint8Array)) {
    throw new TypeError(`${context}: data must be a Uint8Array, got ${typeof data}`);
  }
  const { format, gzip } = formatOf(context, path);
  let rows: Record<string, unknown>[];
  let available: string[];
  if (format === "parquet") {
    let metadata;
    try {
      metadata = parquetMetadata(data);
    } catch (error) {
      throw new TypeError(`${context}: not a valid Parquet file (${(error as Error).message})`);
    }
    available = parquetSchema(metadata).children.map((c) => c.element.name);
    for (const field of [promptField, answerField]) {
      if (!available.includes(field)) {
        throw new TypeError(
          `${context}: field "${field}" is missing; available fields: ${available.join(", ")}`,
        );
      }
    }
    const buffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    rows = await parquetReadObjects({
      file: buffer as ArrayBuffer,
      metadata,
      columns: [...new Set([promptField, answerField])],
      // Keep text as bytes: fieldText decodes it strictly, so invalid UTF-8 names its row.
      parsers: { stringFromBytes: (bytes: Uint8Array) => bytes },
    }) as Record<string, unknown>[];
  } else {
    const text = utf8Text(context, gzip ? await gunzip(data) : data);
    rows = jsonRows(context, text, format === "jsonl");
    available = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  }
  return rows.map((row, i) => ({
    prompt: fieldText(context, row, promptField, i, available),
    answer: fieldText(context, row, answerField, i, available),
  }));
}

/**
 * Loads `{ prompt, answer }` examples from a JSONL or Parquet file of a Hub dataset repo, ready
 * for `promptTask` (train on your own data, e.g. a GSM8K-style question/answer set).
 *
 * With `path`, that file is read; otherwise every data file of `split` (default `"train"`) is
 * found through the repo listing and read in path order. Downloads are in memory (no cache).
 *
 * @param repo Dataset repo `namespace/name` (or a model repo with `repoType: "model"`).
 * @param options File or split, column names, revision, token, hubUrl.
 * @returns The examples, in file order.
 * @throws {TypeError} When `repo` is not `namespace/name`, or a field is missing (the message
 *   lists the available fields).
 * @throws {RangeError} For an unsupported file extension.
 * @throws {HubError} When no data file matches the split, or the Hub refuses (401: check the
 *   token; 404: check the repo name, revision and path; 5xx: retry later).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadPrompts } from "./load_prompts.ts";
 * import { startFakeHub } from "../../tests/hub/fake_hub.ts";
 *
 * const hub = startFakeHub(); // a local Hub-compatible server
 * await hub.seed("me/math", {
 *   "data/train.jsonl": '{"question":"What is 2+3?","answer":"2+3=5 #### 5"}\n',
 * }, "dataset");
 * const examples = await loadPrompts("me/math", { hubUrl: hub.url });
 * assertEquals(examples, [{ prompt: "What is 2+3?", answer: "2+3=5 #### 5" }]);
 * await hub.close();
 * ```
 */
export async function loadPrompts(
  repo: string,
  options: LoadPromptsOptions = {},
): Promise<Example[]> {
  checkRepoName("Cannot load prompts", repo);
  const repoType = options.repoType ?? "dataset";
  const revision = options.revision ?? "main";
  const action = `Cannot load prompts from ${repoType} ${repo}`;
  const hubUrl = resolveHubUrl(options.hubUrl);
  const token = resolveToken(options.token);
  if (token !== undefined && !token.startsWith("hf_")) {
    throw new TypeError(`${action}: the access token must start with "hf_"`);
  }
  const context: HubFailureContext = { action, repo, revision, write: false, token, hubUrl };
  const access = {
    repo: { type: repoType, name: repo },
    hubUrl,
    revision,
    fetch: options.fetch,
    ...(token === undefined ? {} : { accessToken: token }),
  };

  let paths: string[];
  if (options.path !== undefined) {
    formatOf(action, options.path); // fail before any request: the name gives the format
    paths = [options.path];
  } else {
    const split = options.split ?? "train";
    const pattern = new RegExp(`(^|/)${split.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}([-_./]|$)`);
    const dataFiles: string[] = [];
    try {
      for await (const entry of listFiles({ ...access, recursive: true })) {
        if (entry.type === "file" && DATA_FILE.test(entry.path)) dataFiles.push(entry.path);
      }
    } catch (error) {
      throw hubFailure(error, context);
    }
    paths = dataFiles.filter((p) => pattern.test(p)).sort();
    if (paths.length === 0) {
      throw new HubError(
        `${action}: no data file of split "${split}" at revision "${revision}"; data files: ${
          dataFiles.length === 0 ? "none" : dataFiles.join(", ")
        }; pass path or another split`,
        { kind: "not-found" },
      );
    }
  }

  const examples: Example[] = [];
  for (const path of paths) {
    let bytes: Uint8Array;
    try {
      const blob = await downloadFile({ ...access, path, xet: false });
      if (blob === null) {
        throw new HubError(
          `${action}: file "${path}" not found (HTTP 404); check the path and revision "${revision}"`,
          { kind: "not-found", status: 404 },
        );
      }
      bytes = new Uint8Array(await blob.arrayBuffer());
    } catch (error) {
      throw hubFailure(error, { ...context, action: `${action} (${path})` });
    }
    examples.push(...await parseRows(`${action} (${path})`, bytes, path, options));
  }
  return examples;
}
