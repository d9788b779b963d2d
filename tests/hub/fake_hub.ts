/**
 * A small Hugging Face Hub–compatible HTTP server for tests, listening on 127.0.0.1 only.
 *
 * It implements exactly the endpoints that `lib/hub/` reaches through `@huggingface/hub` 2.17.5:
 *
 * | request | used by |
 * |---|---|
 * | `POST /api/repos/create` | `createRepo` |
 * | `GET /api/{models,datasets}/{ns}/{name}/revision/{rev}` | `modelInfo` / `datasetInfo` (commit sha) |
 * | `POST /api/{type}s/{ns}/{name}/preupload/{branch}` | `commit` (regular vs LFS decision) |
 * | `POST /[datasets/]{ns}/{name}.git/info/lfs/objects/batch` | `commit` (LFS "basic" transfer) |
 * | `PUT /lfs-upload/{sha256}` | `commit` (LFS object upload) |
 * | `POST /api/{type}s/{ns}/{name}/commit/{branch}` (NDJSON) | `commit` |
 * | `GET /api/{type}s/{ns}/{name}/tree/{rev}[/{path}]` | `listFiles` |
 * | `GET/HEAD /[datasets/]{ns}/{name}/resolve/{rev}/{path}` (Range aware) | `fileDownloadInfo`, `downloadFile` |
 *
 * Files live in memory; every commit is a full snapshot with a SHA-1 id, branches point at
 * commits, and a new repo starts with one commit holding `.gitattributes`, as on the Hub.
 * Every request is recorded with its `Authorization` header. Switches make the next matching
 * requests fail with a chosen status ({@link FakeHub.failNext}) or cut a download body after
 * some bytes ({@link FakeHub.cutNext}).
 *
 * @module
 */

/** One request the server received. */
export interface RecordedRequest {
  method: string;
  /** Path and query string, e.g. `/api/models/org/name/tree/main?recursive=true&expand=false`. */
  path: string;
  /** The `Authorization` header as received, or null. */
  authorization: string | null;
}

/** A stored file of one commit. */
interface StoredFile {
  bytes: Uint8Array;
  /** Git blob id (SHA-1 hex) of the content as git would store it. */
  blobOid: string;
  /** SHA-256 hex when the file is stored through LFS. */
  lfsOid?: string;
}

interface Commit {
  oid: string;
  parent: string | null;
  title: string;
  date: string;
  files: Map<string, StoredFile>;
}

interface Repo {
  type: "model" | "dataset";
  name: string;
  isPrivate: boolean;
  commits: Map<string, Commit>;
  branches: Map<string, string>;
}

interface Failure {
  match: string;
  status: number;
  remaining: number;
  body?: string;
}

interface Cut {
  match: string;
  afterBytes: number;
  remaining: number;
}

/** Options of {@link startFakeHub}. */
export interface FakeHubOptions {
  /** Tokens and what they may do; writes need a "write" token. Default: `{ hf_test_write: "write" }`. */
  tokens?: Record<string, "read" | "write">;
  /** Files whose name matches this (or larger than `lfsThreshold`) go through LFS. Default `/\.safetensors$/`. */
  lfsPattern?: RegExp;
  /** Byte size from which files go through LFS. Default 10 MiB. */
  lfsThreshold?: number;
}

const encoder = new TextEncoder();

async function digestHex(algorithm: "SHA-1" | "SHA-256", bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(algorithm, bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function gitBlobOid(bytes: Uint8Array): Promise<string> {
  const header = encoder.encode(`blob ${bytes.length}\0`);
  const all = new Uint8Array(header.length + bytes.length);
  all.set(header);
  all.set(bytes, header.length);
  return await digestHex("SHA-1", all);
}

function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function json(value: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

function hubError(status: number, message: string, code?: string): Response {
  return json({ error: message }, status, code ? { "X-Error-Code": code } : {});
}

/** A running fake Hub. Call {@link FakeHub.close} when done. */
export class FakeHub {
  /** Base URL to pass as `hubUrl`, e.g. `http://127.0.0.1:43117`. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #repos = new Map<string, Repo>();
  readonly #lfs = new Map<string, Uint8Array>();
  readonly #tokens: Record<string, "read" | "write">;
  readonly #lfsPattern: RegExp;
  readonly #lfsThreshold: number;
  #failures: Failure[] = [];
  #cuts: Cut[] = [];
  #commitCounter = 0;

  constructor(options: FakeHubOptions = {}) {
    this.#tokens = options.tokens ?? { hf_test_write: "write" };
    this.#lfsPattern = options.lfsPattern ?? /\.safetensors$/;
    this.#lfsThreshold = options.lfsThreshold ?? 10 * 1024 * 1024;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => this.#handle(req),
    );
    this.url = `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** Stops the server and waits for open connections to finish. */
  async close(): Promise<void> {
    await this.#server.shutdown();
  }

  /**
   * Makes the next `count` requests whose `"METHOD /path"` contains `match` answer `status`
   * (JSON body `{ error }`; `body` overrides the message).
   */
  failNext(match: string, status: number, options: { count?: number; body?: string } = {}): void {
    this.#failures.push({ match, status, remaining: options.count ?? 1, body: options.body });
  }

  /**
   * Makes the next `count` full-body downloads whose `"METHOD /path"` contains `match` send
   * only `afterBytes` bytes (with the full Content-Length) and then abort the connection.
   */
  cutNext(match: string, afterBytes: number, count = 1): void {
    this.#cuts.push({ match, afterBytes, remaining: count });
  }

  /** Number of requests whose `"METHOD /path"` contains `match` (all when omitted). */
  count(match = ""): number {
    return this.requests.filter((r) => `${r.method} ${r.path}`.includes(match)).length;
  }

  /** Commit ids of a branch, newest first (empty when the repo does not exist). */
  history(repo: string, type: "model" | "dataset" = "model", branch = "main"): string[] {
    const r = this.#repos.get(`${type}:${repo}`);
    const out: string[] = [];
    let oid = r?.branches.get(branch) ?? null;
    while (oid !== null && r) {
      out.push(oid);
      oid = r.commits.get(oid)?.parent ?? null;
    }
    return out;
  }

  /** The bytes of `path` at `revision` (branch or commit), or undefined. */
  file(repo: string, path: string, revision = "main", type: "model" | "dataset" = "model") {
    const r = this.#repos.get(`${type}:${repo}`);
    if (!r) return undefined;
    return this.#resolveCommit(r, revision)?.files.get(path)?.bytes;
  }

  /** Creates a repo directly (no HTTP) with the given files committed on main; returns the commit id. */
  async seed(
    repo: string,
    files: Record<string, string | Uint8Array>,
    type: "model" | "dataset" = "model",
  ): Promise<string> {
    const r = this.#repos.get(`${type}:${repo}`) ?? await this.#createRepo(type, repo, false);
    const changes = new Map<string, StoredFile>();
    for (const [path, content] of Object.entries(files)) {
      const bytes = typeof content === "string" ? encoder.encode(content) : content;
      changes.set(path, await this.#storedFile(path, bytes));
    }
    return await this.#commit(r, "main", "Seed files", changes, []);
  }

  // ---------------------------------------------------------------- internals

  async #storedFile(path: string, bytes: Uint8Array): Promise<StoredFile> {
    const lfs = this.#isLfs(path, bytes.length);
    return {
      bytes,
      blobOid: await gitBlobOid(bytes),
      lfsOid: lfs ? await digestHex("SHA-256", bytes) : undefined,
    };
  }

  #isLfs(path: string, size: number): boolean {
    return this.#lfsPattern.test(path) || size >= this.#lfsThreshold;
  }

  async #createRepo(type: "model" | "dataset", name: string, isPrivate: boolean): Promise<Repo> {
    const repo: Repo = { type, name, isPrivate, commits: new Map(), branches: new Map() };
    this.#repos.set(`${type}:${name}`, repo);
    const attributes = "*.safetensors filter=lfs diff=lfs merge=lfs -text\n";
    const initial = new Map([[
      ".gitattributes",
      await this.#storedFile(".gitattributes", encoder.encode(attributes)),
    ]]);
    await this.#commit(repo, "main", "initial commit", initial, []);
    return repo;
  }

  async #commit(
    repo: Repo,
    branch: string,
    title: string,
    changes: Map<string, StoredFile>,
    deletions: string[],
  ): Promise<string> {
    const parent = repo.branches.get(branch) ?? null;
    const files = new Map(parent ? repo.commits.get(parent)!.files : []);
    for (const path of deletions) files.delete(path);
    for (const [path, file] of changes) files.set(path, file);
    const counter = ++this.#commitCounter;
    const oid = await digestHex(
      "SHA-1",
      encoder.encode(`${repo.name}\n${parent}\n${title}\n${counter}\n${[...files.keys()]}`),
    );
    repo.commits.set(oid, { oid, parent, title, date: new Date().toISOString(), files });
    repo.branches.set(branch, oid);
    return oid;
  }

  #resolveCommit(repo: Repo, revision: string): Commit | undefined {
    const oid = repo.branches.get(revision) ?? (repo.commits.has(revision) ? revision : undefined);
    return oid === undefined ? undefined : repo.commits.get(oid);
  }

  #token(req: Request): string | undefined {
    const header = req.headers.get("Authorization");
    return header?.startsWith("Bearer ") ? header.slice("Bearer ".length) : undefined;
  }

  /** 401 unless the request carries a token with at least `need` rights. */
  #authorize(req: Request, need: "read" | "write"): Response | undefined {
    const token = this.#token(req);
    const role = token === undefined ? undefined : this.#tokens[token];
    if (role === undefined) {
      return hubError(401, "Invalid credentials in Authorization header");
    }
    if (need === "write" && role !== "write") {
      return hubError(403, "You don't have the rights to write to this repo");
    }
    return undefined;
  }

  #readableRepo(req: Request, type: "model" | "dataset", name: string): Repo | Response {
    const repo = this.#repos.get(`${type}:${name}`);
    if (!repo) return hubError(404, "Repository not found", "RepoNotFound");
    if (repo.isPrivate) {
      const denied = this.#authorize(req, "read");
      if (denied) return denied;
    }
    return repo;
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname + url.search;
    this.requests.push({
      method: req.method,
      path,
      authorization: req.headers.get("Authorization"),
    });
    const key = `${req.method} ${path}`;
    const failure = this.#failures.find((f) => f.remaining > 0 && key.includes(f.match));
    if (failure) {
      failure.remaining--;
      await req.body?.cancel();
      return hubError(failure.status, failure.body ?? `Simulated failure ${failure.status}`);
    }
    try {
      return await this.#route(req, url);
    } catch (error) {
      return hubError(500, `Fake hub crashed: ${(error as Error).message}`);
    }
  }

  async #route(req: Request, url: URL): Promise<Response> {
    const p = url.pathname;
    let m: RegExpMatchArray | null;
    if (req.method === "POST" && p === "/api/repos/create") return await this.#apiCreate(req);
    if ((m = p.match(/^\/api\/(models|datasets)\/([^/]+)\/([^/]+)\/(\w+)\/(.*)$/))) {
      const type = m[1] === "models" ? "model" : "dataset";
      const name = `${m[2]}/${m[3]}`;
      const rest = m[5];
      switch (`${req.method} ${m[4]}`) {
        case "GET revision":
          return this.#apiRevision(req, type, name, decodeURIComponent(rest));
        case "POST preupload":
          return await this.#apiPreupload(req, type, name);
        case "POST commit":
          return await this.#apiCommit(req, type, name, decodeURIComponent(rest));
        case "GET tree":
          return this.#apiTree(req, url, type, name, rest);
      }
    }
    if ((m = p.match(/^\/(datasets\/)?([^/]+)\/([^/]+)\.git\/info\/lfs\/objects\/batch$/))) {
      return await this.#lfsBatch(req, url);
    }
    if (req.method === "PUT" && (m = p.match(/^\/lfs-upload\/([0-9a-f]{64})$/))) {
      return await this.#lfsUpload(req, m[1]);
    }
    if ((m = p.match(/^\/(datasets\/)?([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/))) {
      if (req.method === "GET" || req.method === "HEAD") {
        const type = m[1] ? "dataset" : "model";
        const rev = decodeURIComponent(m[4]);
        return this.#resolve(req, type, `${m[2]}/${m[3]}`, rev, decodeURIComponent(m[5]));
      }
    }
    await req.body?.cancel();
    return hubError(404, `Fake hub has no route for ${req.method} ${p}`);
  }

  async #apiCreate(req: Request): Promise<Response> {
    const body = await req.json() as {
      name: string;
      organization: string;
      type?: string;
      visibility?: string;
    };
    const denied = this.#authorize(req, "write");
    if (denied) return denied;
    const type = body.type === "dataset" ? "dataset" : "model";
    const name = `${body.organization}/${body.name}`;
    if (this.#repos.has(`${type}:${name}`)) {
      return hubError(409, "You already created this model repo");
    }
    await this.#createRepo(type, name, body.visibility === "private");
    const prefix = type === "model" ? "" : "datasets/";
    return json({ url: `${this.url}/${prefix}${name}`, name, id: `fake-${name}` });
  }

  #apiRevision(req: Request, type: "model" | "dataset", name: string, rev: string): Response {
    const repo = this.#readableRepo(req, type, name);
    if (repo instanceof Response) return repo;
    const commit = this.#resolveCommit(repo, rev === "HEAD" ? "main" : rev);
    if (!commit) return hubError(404, `Invalid rev id: ${rev}`, "RevisionNotFound");
    return json({
      _id: `fake-${name}`,
      id: name,
      sha: commit.oid,
      private: repo.isPrivate,
      gated: false,
      downloads: 0,
      likes: 0,
      lastModified: commit.date,
      siblings: [...commit.files.keys()].map((rfilename) => ({ rfilename })),
    });
  }

  async #apiPreupload(req: Request, type: "model" | "dataset", name: string): Promise<Response> {
    const body = await req.json() as { files: { path: string; size: number }[] };
    const denied = this.#authorize(req, "write");
    if (denied) return denied;
    if (!this.#repos.has(`${type}:${name}`)) {
      return hubError(404, "Repository not found", "RepoNotFound");
    }
    return json({
      files: body.files.map((f) => ({
        path: f.path,
        uploadMode: this.#isLfs(f.path, f.size) ? "lfs" : "regular",
        shouldIgnore: false,
      })),
    });
  }

  async #lfsBatch(req: Request, url: URL): Promise<Response> {
    const body = await req.json() as { objects: { oid: string; size: number }[] };
    const denied = this.#authorize(req, "write");
    if (denied) return denied;
    return json(
      {
        transfer: "basic",
        objects: body.objects.map((o) => ({
          oid: o.oid,
          size: o.size,
          authenticated: true,
          ...(this.#lfs.has(o.oid)
            ? {}
            : { actions: { upload: { href: `${url.origin}/lfs-upload/${o.oid}` } } }),
        })),
      },
      200,
      { "Content-Type": "application/vnd.git-lfs+json" },
    );
  }

  async #lfsUpload(req: Request, oid: string): Promise<Response> {
    const bytes = new Uint8Array(await req.arrayBuffer());
    const actual = await digestHex("SHA-256", bytes);
    if (actual !== oid) return hubError(400, `LFS object sha256 mismatch: ${actual}`);
    this.#lfs.set(oid, bytes);
    return new Response(null, { status: 200 });
  }

  async #apiCommit(
    req: Request,
    type: "model" | "dataset",
    name: string,
    branch: string,
  ): Promise<Response> {
    const text = await req.text();
    const denied = this.#authorize(req, "write");
    if (denied) return denied;
    const repo = this.#repos.get(`${type}:${name}`);
    if (!repo) return hubError(404, "Repository not found", "RepoNotFound");
    let title = "";
    const changes = new Map<string, StoredFile>();
    const deletions: string[] = [];
    for (const line of text.split("\n").filter((l) => l.trim() !== "")) {
      const { key, value } = JSON.parse(line);
      if (key === "header") {
        title = value.summary;
        if (value.parentCommit && value.parentCommit !== repo.branches.get(branch)) {
          return hubError(412, "A commit has happened since. Please refresh and try again.");
        }
      } else if (key === "file") {
        if (value.encoding !== "base64") return hubError(400, "Only base64 files are supported");
        changes.set(value.path, await this.#storedFile(value.path, base64ToBytes(value.content)));
      } else if (key === "lfsFile") {
        const bytes = this.#lfs.get(value.oid);
        if (!bytes || bytes.length !== value.size) {
          return hubError(400, `LFS object ${value.oid} was not uploaded`);
        }
        changes.set(value.path, {
          bytes,
          blobOid: await gitBlobOid(bytes),
          lfsOid: value.oid,
        });
      } else if (key === "deletedFile") {
        deletions.push(value.path);
      } else {
        return hubError(400, `Unknown commit operation ${key}`);
      }
    }
    const oid = await this.#commit(repo, branch, title, changes, deletions);
    const prefix = type === "model" ? "" : "datasets/";
    return json({
      success: true,
      commitOid: oid,
      commitUrl: `${this.url}/${prefix}${name}/commit/${oid}`,
    });
  }

  #apiTree(
    req: Request,
    url: URL,
    type: "model" | "dataset",
    name: string,
    rest: string,
  ): Response {
    const repo = this.#readableRepo(req, type, name);
    if (repo instanceof Response) return repo;
    const slash = rest.indexOf("/");
    const rev = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash));
    const folder = slash < 0 ? "" : decodeURIComponent(rest.slice(slash + 1)).replace(/\/$/, "");
    const commit = this.#resolveCommit(repo, rev);
    if (!commit) return hubError(404, `Invalid rev id: ${rev}`, "RevisionNotFound");
    const recursive = url.searchParams.get("recursive") === "true";
    const prefix = folder === "" ? "" : `${folder}/`;
    const entries: unknown[] = [];
    const dirs = new Set<string>();
    for (const [path, file] of [...commit.files].sort(([a], [b]) => a < b ? -1 : 1)) {
      if (!path.startsWith(prefix)) continue;
      const parts = path.slice(prefix.length).split("/");
      for (let i = 1; i < parts.length && (recursive || i === 1); i++) {
        const dir = prefix + parts.slice(0, i).join("/");
        if (!dirs.has(dir)) {
          dirs.add(dir);
          entries.push({ type: "directory", oid: "0".repeat(40), size: 0, path: dir });
        }
      }
      if (!recursive && parts.length > 1) continue;
      entries.push({
        type: "file",
        oid: file.blobOid,
        size: file.bytes.length,
        path,
        ...(file.lfsOid
          ? { lfs: { oid: file.lfsOid, size: file.bytes.length, pointerSize: 134 } }
          : {}),
      });
    }
    if (folder !== "" && entries.length === 0) {
      return hubError(404, `Entry not found: ${folder}`, "EntryNotFound");
    }
    return json(entries);
  }

  #resolve(
    req: Request,
    type: "model" | "dataset",
    name: string,
    rev: string,
    path: string,
  ): Response {
    const repo = this.#readableRepo(req, type, name);
    if (repo instanceof Response) return repo;
    const commit = this.#resolveCommit(repo, rev);
    if (!commit) return hubError(404, `Invalid rev id: ${rev}`, "RevisionNotFound");
    const file = commit.files.get(path);
    if (!file) return hubError(404, `Entry not found: ${path}`, "EntryNotFound");
    const size = file.bytes.length;
    const headers: Record<string, string> = {
      "Accept-Ranges": "bytes",
      "Content-Type": "application/octet-stream",
      "ETag": `"${file.blobOid}"`,
      "X-Repo-Commit": commit.oid,
    };
    if (file.lfsOid) {
      headers["X-Linked-ETag"] = `"${file.lfsOid}"`;
      headers["X-Linked-Size"] = String(size);
    }
    let start = 0;
    let end = size; // exclusive
    let status = 200;
    const range = req.headers.get("Range")?.match(/^bytes=(\d+)-(\d*)$/);
    if (range) {
      start = Number(range[1]);
      end = range[2] === "" ? size : Math.min(size, Number(range[2]) + 1);
      if (start >= size && size > 0) {
        return new Response(null, {
          status: 416,
          headers: { "Content-Range": `bytes */${size}` },
        });
      }
      status = 206;
      headers["Content-Range"] = `bytes ${start}-${Math.max(start, end - 1)}/${size}`;
    }
    const body = file.bytes.slice(start, end);
    headers["Content-Length"] = String(body.length);
    if (req.method === "HEAD") return new Response(null, { status, headers });
    const key = `${req.method} ${new URL(req.url).pathname}`;
    const cut = this.#cuts.find((c) =>
      c.remaining > 0 && key.includes(c.match) && body.length > c.afterBytes
    );
    if (!cut) return new Response(body, { status, headers });
    cut.remaining--;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(body.slice(0, cut.afterBytes));
      },
      pull(controller) {
        controller.close(); // shorter than Content-Length: the connection is dropped
      },
    });
    return new Response(stream, { status, headers });
  }
}

/** Starts a {@link FakeHub} on 127.0.0.1 with an ephemeral port. */
export function startFakeHub(options: FakeHubOptions = {}): FakeHub {
  return new FakeHub(options);
}
