/**
 * Files from the Hugging Face Hub, kept in the very cache Python's `huggingface_hub` uses
 * (`models--{org}--{name}/blobs`, `snapshots/<commit>/<file>` linking to the blob, `refs/<revision>`),
 * so that a file either client downloaded is found by the other.
 *
 * From `@huggingface/hub` come the cache folder's name (`getRepoFolderName`), the commit-hash
 * pattern and the default endpoint and revision. Its downloader is not used because it does not lay the
 * cache out as Python does: `downloadFileToCacheDir` names the snapshot after the last commit that
 * touched the file (from the paths-info API) instead of the revision's commit, never writes
 * `refs/<revision>`, stores the blob without checking its size or sha256, and has no offline mode,
 * progress or cancellation; `fileDownloadInfo` drops the `X-Repo-Commit` header the snapshot is named
 * after; `getHFHubCachePath` reads the environment unguarded (Deno without `--allow-env` throws). So the
 * protocol here is Python's: a HEAD on the resolve URL for the commit, etag and size, then a GET on the
 * file or on the CDN address an LFS file redirects to.
 *
 * @module
 */
import { createHash, randomUUID } from "node:crypto";
import {
  copyFile,
  type FileHandle,
  mkdir,
  open,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, relative } from "node:path";
import process from "node:process";
// An npm: specifier, not a bare one: Deno then resolves it without an import map, so mod.ts also
// works imported by path or URL from another project. Bun maps it through tsconfig.json's paths,
// the npm build (scripts/build_js.mjs) rewrites it to the bare name.
// deno-lint-ignore no-import-prefix
import { DEFAULT_REVISION, getRepoFolderName, HUB_URL, REGEX_COMMIT_HASH } from "npm:@huggingface/hub@2.17.5";
import { WeSpeakerError, type WeSpeakerErrorCode } from "../errors.ts";

/** Progress of one download, reported by {@link HubOptions.onProgress}. */
export interface HubProgress {
  /** The file's path in the repo. */
  file: string;
  /** Bytes received so far. */
  downloaded: number;
  /** The file's size, when the Hub announced it. */
  total?: number;
}

/** Options of {@link hubFile}. Unset ones default from the environment as in Python's client. */
export interface HubOptions {
  /** A branch, tag or 40-hex commit sha (default `main`). */
  revision?: string;
  /** The Hub cache (default `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`). */
  cacheDir?: string;
  /** Access token for gated or private repos (default `HF_TOKEN`, else the file `$HF_HOME/token`). */
  token?: string;
  /** The Hub's URL (default `HF_ENDPOINT`, else `https://huggingface.co`). */
  endpoint?: string;
  /** Use the cache only, never the network (default: `HF_HUB_OFFLINE` is `1`, `true`, `yes` or `on`). */
  offline?: boolean;
  /**
   * Ask the Hub which commit a branch or tag is at even when a copy for it is cached, and fetch that
   * commit's file if it differs. The cached copy still serves when the Hub cannot be reached.
   * Without it, a cached file is returned without any request.
   */
  refresh?: boolean;
  /** Called as a download progresses: once with 0 bytes, then after every chunk received. */
  onProgress?: (progress: HubProgress) => void;
  /** Cancels the request or download; nothing partial is left in the cache. */
  signal?: AbortSignal;
}

// Python's defaults: how long the metadata request may take, and how long a download may go without
// receiving a byte (HF_HUB_ETAG_TIMEOUT, HF_HUB_DOWNLOAD_TIMEOUT, in seconds).
const ETAG_TIMEOUT_S = 10;
const DOWNLOAD_TIMEOUT_S = 10;
const MAX_REDIRECTS = 10;
const SHA256 = /^[0-9a-f]{64}$/;
// An etag names a blob file: anything that could climb out of blobs/ is refused.
const SAFE_ETAG = /^\w[\w.-]*$/;
// Python's validate_repo_id: word characters at both ends of each part.
const REPO_ID = /^(?:\w(?:[\w.-]*\w)?\/)?\w(?:[\w.-]*\w)?$/;

function env(name: string): string | undefined {
  try {
    return process.env[name] || undefined;
  } catch {
    return undefined; // Deno without --allow-env
  }
}

function hfHome(): string | undefined {
  const configured = env("HF_HOME");
  if (configured) return expandHome(configured);
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return join(expandHome(xdg), "huggingface");
  try {
    return join(homedir(), ".cache", "huggingface");
  } catch {
    return undefined; // Deno without --allow-sys
  }
}

// Python expands a leading ~ in these variables.
function expandHome(path: string): string {
  return path === "~" || path.startsWith("~/") ? homedir() + path.slice(1) : path;
}

function defaultCacheDir(): string {
  const configured = env("HF_HUB_CACHE") ?? env("HUGGINGFACE_HUB_CACHE");
  if (configured) return expandHome(configured);
  const home = hfHome();
  if (!home) {
    throw new WeSpeakerError("io", "cannot locate the Hugging Face cache: pass cacheDir or set HF_HUB_CACHE");
  }
  return join(home, "hub");
}

async function defaultToken(): Promise<string | undefined> {
  const fromEnv = env("HF_TOKEN");
  if (fromEnv) return fromEnv;
  const home = hfHome();
  const path = env("HF_TOKEN_PATH") ?? (home && join(home, "token"));
  if (!path) return undefined;
  return (await readFile(path, "utf8").catch(() => "")).trim() || undefined;
}

function isTrue(value: string | undefined): boolean {
  return ["1", "ON", "YES", "TRUE"].includes(value?.toUpperCase() ?? "");
}

function checkArguments(repo: string, filename: string, revision: string): void {
  const badPath = (path: string) =>
    path.includes("\\") || path.split("/").some((part) => part === "" || part === "." || part === "..");
  if (!REPO_ID.test(repo) || repo.includes("--") || repo.includes("..")) {
    throw new WeSpeakerError("invalid-argument", `"${repo}" is not a Hub repo id ("namespace/name")`);
  }
  if (badPath(filename)) {
    throw new WeSpeakerError("invalid-argument", `"${filename}" is not a relative file path in ${repo}`);
  }
  if (badPath(revision)) {
    throw new WeSpeakerError("invalid-argument", `"${revision}" is not a revision of ${repo}`);
  }
}

/** One request for one file: what it names, and where its cache is. */
interface Job {
  repo: string;
  filename: string;
  revision: string;
  cacheDir: string;
  endpoint: string;
  /** `<cacheDir>/models--{org}--{name}`. */
  storage: string;
  options: HubOptions;
}

/** What the Hub says about the file at the revision. */
interface Remote {
  commit: string;
  /** The blob's name: an LFS file's sha256, else its git blob id. */
  etag: string;
  size: number;
  /** Where the bytes are: the resolve URL, or the CDN an LFS file redirects to. */
  url: string;
  lfs: boolean;
}

/** The Hub could not say; `cacheMayServe` when a cached copy of the revision may stand in. */
interface Refusal {
  error: WeSpeakerError;
  cacheMayServe: boolean;
}

function failure(job: Job, code: WeSpeakerErrorCode, detail: string, cause?: unknown): WeSpeakerError {
  return new WeSpeakerError(
    code,
    `cannot fetch ${job.filename} from ${job.repo} at revision ${job.revision}: ${detail}`,
    { cause },
  );
}

// Runtimes put the useful part in the cause ("fetch failed" → "… Connection refused").
function messageOf(err: unknown): string {
  const parts: string[] = [];
  for (let e = err; e instanceof Error && parts.length < 4; e = e.cause) parts.push(e.message);
  return parts.join(": ") || String(err);
}

function notCached(job: Job): string {
  return `${job.filename} from ${job.repo} at revision ${job.revision} is not in the cache at ${job.cacheDir}`;
}

async function isFile(path: string): Promise<boolean> {
  return await stat(path).then((s) => s.isFile(), () => false);
}

async function readRef(path: string): Promise<string | undefined> {
  const commit = (await readFile(path, "utf8").catch(() => "")).trim();
  // A refs file cut short by a killed write is no ref at all.
  return REGEX_COMMIT_HASH.test(commit) ? commit : undefined;
}

/** The cached file for the revision: a commit sha names its snapshot, a branch or tag goes through refs/. */
async function cachedPointer(job: Job): Promise<string | undefined> {
  const commit = REGEX_COMMIT_HASH.test(job.revision)
    ? job.revision
    : await readRef(join(job.storage, "refs", job.revision));
  if (!commit) return undefined;
  const pointer = join(job.storage, "snapshots", commit, job.filename);
  return (await isFile(pointer)) ? pointer : undefined;
}

/**
 * A signal that fires when `touch` has not been called for `seconds` (a read timeout, as Python's, not
 * a limit on the whole download), or when the caller's signal does.
 */
function idleSignal(seconds: number, outer?: AbortSignal) {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Error(`no answer for ${seconds} s`)), seconds * 1000);
  };
  touch();
  return {
    signal: outer ? AbortSignal.any([outer, controller.signal]) : controller.signal,
    touch,
    stop: () => clearTimeout(timer),
  };
}

/**
 * One request, redirects followed by hand: the token goes only to the endpoint's origin (a CDN's
 * presigned URL must not see it), and a HEAD follows only relative redirects (a renamed repo), as
 * Python's client does: the Hub's redirect of an LFS file to its CDN carries the file's metadata.
 */
async function request(
  job: Job,
  url: string,
  method: "HEAD" | "GET",
  token: string | undefined,
  signal: AbortSignal,
): Promise<Response> {
  const origin = new URL(job.endpoint).origin;
  for (let hops = 0;; hops++) {
    const headers: Record<string, string> = { "Accept-Encoding": "identity" };
    if (token && new URL(url).origin === origin) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(url, { method, headers, redirect: "manual", signal });
    const location = response.headers.get("Location");
    if (response.status < 300 || response.status >= 400 || !location) return response;
    const isRelative = !/^([a-z][a-z\d+.-]*:)?\/\//i.test(location);
    if (method === "HEAD" && !isRelative) return response;
    await response.body?.cancel();
    if (hops === MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects from ${url}`);
    url = new URL(location, url).href;
  }
}

function httpFailure(job: Job, response: Response): WeSpeakerError {
  const code = response.headers.get("X-Error-Code");
  const status = `HTTP ${response.status}${code ? ` ${code}` : ""}`;
  switch (code) {
    case "RepoNotFound":
      return failure(
        job,
        "not-found",
        `the repository does not exist on ${job.endpoint}, or it is private or gated (${status}): ` +
          "if so, set HF_TOKEN to a token with access",
      );
    case "RevisionNotFound":
      return failure(job, "not-found", `the revision does not exist in ${job.repo} (${status})`);
    case "EntryNotFound":
      return failure(
        job,
        "not-found",
        `${job.repo} has no file ${job.filename} at that revision (${status})`,
      );
  }
  if (response.status === 401 || response.status === 403) {
    return failure(
      job,
      "unauthorized",
      `${job.endpoint} refused access (${status}): the repo may be gated or private: ` +
        "accept its conditions on the Hub and set HF_TOKEN",
    );
  }
  const message = response.headers.get("X-Error-Message");
  return failure(
    job,
    "network",
    `${response.url || job.endpoint} answered ${status}${message ? `: ${message}` : ""}`,
  );
}

function resolveUrl(job: Job): string {
  const path = job.filename.split("/").map(encodeURIComponent).join("/");
  return `${job.endpoint}/${job.repo}/resolve/${encodeURIComponent(job.revision)}/${path}`;
}

async function askHub(job: Job, token: string | undefined): Promise<Remote | Refusal> {
  const url = resolveUrl(job);
  const timeout = idleSignal(Number(env("HF_HUB_ETAG_TIMEOUT")) || ETAG_TIMEOUT_S, job.options.signal);
  let response: Response;
  try {
    response = await request(job, url, "HEAD", token, timeout.signal);
  } catch (err) {
    if (job.options.signal?.aborted) throw err;
    const reason = timeout.signal.aborted ? timeout.signal.reason : err;
    return {
      error: new WeSpeakerError(
        "network",
        `${notCached(job)} and the Hub at ${job.endpoint} could not be reached: ${messageOf(reason)}`,
        { cause: reason },
      ),
      cacheMayServe: true,
    };
  } finally {
    timeout.stop();
  }
  await response.body?.cancel();
  if (response.status >= 400) {
    // Like Python: a missing revision or file is definite; anything else (access refused, the Hub
    // down) says nothing about the cached copy, which may then serve.
    const code = response.headers.get("X-Error-Code");
    return {
      error: httpFailure(job, response),
      cacheMayServe: code !== "RevisionNotFound" && code !== "EntryNotFound",
    };
  }
  const headers = response.headers;
  const commit = headers.get("X-Repo-Commit") ?? "";
  const linkedEtag = headers.get("X-Linked-Etag");
  const etag = (linkedEtag ?? headers.get("ETag") ?? "").replace(/^W\//, "").replaceAll('"', "");
  const redirect = response.status >= 300 ? headers.get("Location") : null;
  // A redirect's own Content-Length is the redirect's, not the file's.
  const size = Number(headers.get("X-Linked-Size") ?? (redirect ? NaN : headers.get("Content-Length")));
  if (!REGEX_COMMIT_HASH.test(commit) || !SAFE_ETAG.test(etag) || !Number.isSafeInteger(size) || size < 0) {
    throw failure(
      job,
      "network",
      `${url} answered without a valid X-Repo-Commit, ETag and size: is ${job.endpoint} a Hugging Face Hub?`,
    );
  }
  return {
    commit,
    etag,
    size,
    url: redirect ? new URL(redirect, response.url || url).href : url,
    lfs: linkedEtag !== null,
  };
}

/**
 * Downloads into a temporary file next to the blob, checks its size (and, for LFS files, its sha256),
 * flushes it and only then renames it to the blob: a download killed at any point leaves no file the
 * cache would accept. The temporary name is unique rather than Python's `<etag>.incomplete`, which
 * Python resumes under a lock of its own that this process cannot take.
 */
async function download(job: Job, remote: Remote, token: string | undefined, blob: string): Promise<void> {
  const { onProgress, signal } = job.options;
  const partial = `${blob}.${randomUUID()}.incomplete`;
  const timeout = idleSignal(Number(env("HF_HUB_DOWNLOAD_TIMEOUT")) || DOWNLOAD_TIMEOUT_S, signal);
  let file: FileHandle | undefined;
  try {
    let response: Response;
    try {
      response = await request(job, remote.url, "GET", token, timeout.signal);
    } catch (err) {
      if (signal?.aborted) throw err;
      throw failure(job, "network", `downloading ${remote.url} failed: ${messageOf(err)}`, err);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw httpFailure(job, response);
    }
    await mkdir(dirname(blob), { recursive: true });
    file = await open(partial, "wx");
    const hash = createHash("sha256");
    let downloaded = 0;
    onProgress?.({ file: job.filename, downloaded, total: remote.size });
    const reader = response.body?.getReader();
    while (reader) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (err) {
        if (signal?.aborted) throw err;
        const reason = timeout.signal.aborted ? timeout.signal.reason : err;
        throw failure(
          job,
          "integrity",
          `transfer truncated after ${downloaded} of ${remote.size} bytes (${messageOf(reason)}); ` +
            "the download was discarded",
          reason,
        );
      }
      if (chunk.done) break;
      timeout.touch();
      downloaded += chunk.value.length;
      if (downloaded > remote.size) {
        await reader.cancel();
        throw failure(job, "integrity", `the server sent more than the ${remote.size} bytes announced`);
      }
      hash.update(chunk.value);
      await file.writeFile(chunk.value); // unlike write(), loops until every byte is written
      if (chunk.value.length) onProgress?.({ file: job.filename, downloaded, total: remote.size });
    }
    if (downloaded < remote.size) {
      throw failure(
        job,
        "integrity",
        `transfer truncated after ${downloaded} of ${remote.size} bytes; the download was discarded`,
      );
    }
    const actual = hash.digest("hex");
    // X-Linked-Etag is the LFS object id, the file's sha256; a regular file's etag is a git blob id,
    // which only the size vouches for here.
    if (remote.lfs && SHA256.test(remote.etag) && actual !== remote.etag) {
      throw failure(
        job,
        "integrity",
        `checksum mismatch: expected sha256 ${remote.etag}, got ${actual}; the download was discarded`,
      );
    }
    // Flushed before the rename, so that a crash cannot leave a blob with its name but not its bytes.
    await file.sync();
    await file.close();
    file = undefined;
    await rename(partial, blob);
  } finally {
    timeout.stop();
    await file?.close();
    await rm(partial, { force: true });
  }
}

/**
 * Points `snapshots/<commit>/<file>` at the blob with a relative symlink, as Python does, or a copy
 * where symlinks are refused (Windows without developer mode). Made under a temporary name and
 * renamed, which also replaces a link left dangling by a deleted blob.
 */
async function linkPointer(blob: string, pointer: string): Promise<void> {
  await mkdir(dirname(pointer), { recursive: true });
  const temporary = `${pointer}.${randomUUID()}.incomplete`;
  try {
    try {
      await symlink(relative(dirname(pointer), blob), temporary);
    } catch {
      await copyFile(blob, temporary);
    }
    await rename(temporary, pointer);
  } finally {
    await rm(temporary, { force: true });
  }
}

async function fromHub(job: Job, cached: string | undefined): Promise<string> {
  const token = job.options.token ?? await defaultToken();
  const remote = await askHub(job, token);
  if ("error" in remote) {
    if (cached && remote.cacheMayServe) return cached;
    throw remote.error;
  }
  const pointer = join(job.storage, "snapshots", remote.commit, job.filename);
  if (!(await isFile(pointer))) {
    const blob = join(job.storage, "blobs", remote.etag);
    if (!(await isFile(blob))) await download(job, remote, token, blob);
    await linkPointer(blob, pointer);
  }
  // Written once the file is in place (Python writes it first): a failed download must not move a
  // branch away from the commit whose file is cached.
  if (job.revision !== remote.commit) {
    const ref = join(job.storage, "refs", job.revision);
    if ((await readRef(ref)) !== remote.commit) {
      await mkdir(dirname(ref), { recursive: true });
      await writeFile(ref, remote.commit);
    }
  }
  return pointer;
}

/**
 * Returns the local path of `filename` from the Hub model repo `repo` at `options.revision`, downloading
 * it into the Hugging Face cache if it is not there yet. The path is inside the cache snapshot
 * (`…/models--{org}--{name}/snapshots/<commit>/<filename>`), exactly where Python's `hf_hub_download`
 * puts and finds it, so files either one fetched are shared.
 *
 * A cached file is returned without any request (see {@link HubOptions.refresh}). A download is
 * checked against the size the Hub announces and, for LFS files, the sha256 it names, before it
 * enters the cache.
 *
 * ```ts
 * const path = await hubFile("aufklarer/WeSpeaker-ResNet34-LM-MLX", "model.safetensors");
 * ```
 *
 * @param repo a model repo id, `namespace/name`
 * @param filename the file's path in the repo
 * @throws {WeSpeakerError} `invalid-argument` for a malformed repo, file or revision; `io` naming the
 * repo, file and revision when the file is not cached and cannot be downloaded: offline mode, the Hub
 * unreachable, access refused (gated or private repo), no such repo, revision or file, a truncated or
 * corrupt transfer, cancellation, or a cache that cannot be written.
 */
export async function hubFile(repo: string, filename: string, options: HubOptions = {}): Promise<string> {
  const revision = options.revision ?? DEFAULT_REVISION;
  checkArguments(repo, filename, revision);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const job: Job = {
    repo,
    filename,
    revision,
    cacheDir,
    endpoint: (options.endpoint ?? env("HF_ENDPOINT") ?? HUB_URL).replace(/\/+$/, ""),
    storage: join(cacheDir, getRepoFolderName({ name: repo, type: "model" })),
    options,
  };
  const offline = options.offline ?? isTrue(env("HF_HUB_OFFLINE"));
  const cached = await cachedPointer(job);
  // A commit's files never change, so only a branch or tag is worth refreshing.
  if (cached && (offline || !options.refresh || REGEX_COMMIT_HASH.test(revision))) return cached;
  if (offline) {
    throw new WeSpeakerError(
      "network",
      `${notCached(job)}, and offline mode (HF_HUB_OFFLINE=1 or offline: true) forbids downloading it`,
    );
  }
  try {
    options.signal?.throwIfAborted();
    return await fromHub(job, cached);
  } catch (err) {
    if (options.signal?.aborted) throw failure(job, "aborted", "aborted", options.signal.reason);
    if (err instanceof WeSpeakerError) throw err;
    throw failure(job, "network", messageOf(err), err);
  }
}
