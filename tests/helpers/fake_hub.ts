// A stand-in for the Hugging Face Hub on 127.0.0.1, answering the routes lib/hub/hub.ts uses as the real
// Hub does, so that the tests never reach huggingface.co. Two servers on ephemeral ports: the Hub and a
// "CDN" that LFS files redirect to, so that the CDN is another origin, as cdn-lfs.hf.co is.
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** A file at one commit; `lfs` files are redirected to the CDN and named by their sha256. */
export interface FakeFile {
  data: Uint8Array;
  lfs?: boolean;
}

/** A repo: its branches and tags, the files at each commit, and who may read it. */
export interface FakeRepo {
  /** Branch or tag → commit sha. */
  refs: Record<string, string>;
  /** Commit sha → path → file. */
  commits: Record<string, Record<string, FakeFile>>;
  /** Gated: every request needs `Authorization: Bearer <token>`, else 401 `GatedRepo`. */
  token?: string;
}

/**
 * How file bodies (direct or from the CDN) are spoiled:
 * - `cut`: the full Content-Length is announced, half the bytes sent, then the connection is dropped;
 * - `short`: a consistent but short response (Content-Length and body half the file);
 * - `corrupt`: the right length, one byte flipped;
 * - `stall`: the full length announced, half sent, then nothing until the client gives up.
 */
export type Fault = "cut" | "short" | "corrupt" | "stall";

/** A running fake Hub. */
export interface FakeHub extends AsyncDisposable {
  /** The endpoint to pass as `endpoint` / `HF_ENDPOINT`. */
  readonly url: string;
  /** Every request received by the Hub or the CDN, as `METHOD /path`. */
  readonly requests: string[];
  /** Spoils file bodies while set. */
  fault?: Fault;
  /**
   * While set, a whole body is sent in two halves, the second once this settles: the client surely
   * sees the body in more than one piece, which the operating system would otherwise be free to merge.
   */
  pause?: Promise<void>;
  /** Old repo id → new one: answered with a relative 307, as the Hub does for renamed repos. */
  readonly moved: Map<string, string>;
  /** Stops both servers, dropping open connections. */
  close(): Promise<void>;
}

/** The sha256 of `data`, in hex: an LFS file's blob name. */
export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The git blob id of `data`: a regular file's ETag on the Hub. */
export function gitBlobSha1(data: Uint8Array): string {
  return createHash("sha1").update(`blob ${data.length}\0`).update(data).digest("hex");
}

const CHUNK = 16 * 1024;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("fake hub: no TCP address");
  return `http://127.0.0.1:${address.port}`;
}

// Servers that can be stopped at once: close() alone would wait for keep-alive connections.
function tracked(handler: (req: IncomingMessage, res: ServerResponse) => void): {
  server: Server;
  stop: () => Promise<void>;
} {
  const server = createServer(handler);
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  return {
    server,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** Starts a fake Hub serving `repos` (repo id → repo). */
export async function startFakeHub(repos: Record<string, FakeRepo>): Promise<FakeHub> {
  const requests: string[] = [];
  const moved = new Map<string, string>();
  const blobs = new Map<string, Uint8Array>();
  for (const repo of Object.values(repos)) {
    for (const files of Object.values(repo.commits)) {
      for (const file of Object.values(files)) if (file.lfs) blobs.set(sha256Hex(file.data), file.data);
    }
  }

  const hub = {} as FakeHub;

  function sendBody(res: ServerResponse, headers: Record<string, string>, data: Uint8Array): void {
    const fault = hub.fault;
    const half = data.subarray(0, data.length >> 1);
    let body = data;
    if (fault === "corrupt") {
      body = data.slice();
      body[body.length >> 1] ^= 0xff;
    }
    const length = fault === "short" ? half.length : data.length;
    res.writeHead(200, { ...headers, "Content-Length": String(length) });
    const spoilt = fault === "cut" || fault === "short" || fault === "stall";
    const sent = spoilt ? half : body;
    const write = (part: Uint8Array) => {
      for (let at = 0; at < part.length; at += CHUNK) res.write(part.subarray(at, at + CHUNK));
    };
    if (!spoilt && hub.pause) {
      write(sent.subarray(0, half.length));
      hub.pause.then(() => {
        write(sent.subarray(half.length));
        res.end();
      });
      return;
    }
    write(sent);
    if (fault === "cut") setTimeout(() => res.socket?.destroy(), 20);
    else if (fault !== "stall") res.end();
  }

  function error(res: ServerResponse, status: number, code: string, message: string): void {
    const body = JSON.stringify({ error: message });
    res.writeHead(status, {
      "Content-Type": "application/json",
      "Content-Length": String(Buffer.byteLength(body)),
      "X-Error-Code": code,
      "X-Error-Message": message,
    });
    res.end(body);
  }

  const cdn = tracked((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const sha = /^\/cdn\/([0-9a-f]{64})\?/.exec(req.url ?? "")?.[1];
    const data = sha && blobs.get(sha);
    // A presigned URL carries its own credentials: S3 refuses a request with a second mechanism.
    if (req.headers.authorization) {
      return error(res, 400, "InvalidArgument", "Only one auth mechanism allowed");
    }
    if (!data) return error(res, 404, "NoSuchKey", "no such object");
    sendBody(res, { "Content-Type": "application/octet-stream" }, data);
  });
  const cdnUrl = await listen(cdn.server);

  const main = tracked((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const route = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(req.url ?? "");
    if (!route || (req.method !== "HEAD" && req.method !== "GET")) {
      return error(res, 404, "", "no such route");
    }
    const [repoId, revision, path] = route.slice(1).map(decodeURIComponent);
    const target = moved.get(repoId);
    if (target) {
      res.writeHead(307, { Location: `/${target}/resolve/${route[2]}/${route[3]}`, "Content-Length": "0" });
      return res.end();
    }
    const repo = repos[repoId];
    if (!repo) return error(res, 404, "RepoNotFound", `Repository not found: ${repoId}`);
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) {
      return error(res, 401, "GatedRepo", `Access to model ${repoId} is restricted.`);
    }
    const commit = repo.commits[revision] ? revision : repo.refs[revision];
    if (!commit) return error(res, 404, "RevisionNotFound", `Invalid rev id: ${revision}`);
    const file = repo.commits[commit][path];
    if (!file) return error(res, 404, "EntryNotFound", `${path} does not exist on "${revision}"`);

    if (file.lfs) {
      const sha = sha256Hex(file.data);
      const body = `Found. Redirecting to ${cdnUrl}/cdn/${sha}`;
      res.writeHead(302, {
        Location: `${cdnUrl}/cdn/${sha}?Signature=fake`,
        "X-Repo-Commit": commit,
        // The redirect's own ETag and Content-Length describe the redirect, not the file.
        ETag: `W/"${createHash("sha1").update(body).digest("hex")}"`,
        "X-Linked-Etag": `"${sha}"`,
        "X-Linked-Size": String(file.data.length),
        "Content-Length": String(Buffer.byteLength(body)),
      });
      return res.end(req.method === "GET" ? body : undefined);
    }
    const headers = { "X-Repo-Commit": commit, ETag: `"${gitBlobSha1(file.data)}"` };
    if (req.method === "HEAD") {
      res.writeHead(200, { ...headers, "Content-Length": String(file.data.length) });
      return res.end();
    }
    sendBody(res, headers, file.data);
  });

  Object.assign(hub, {
    url: await listen(main.server),
    requests,
    moved,
    close: () => Promise.all([main.stop(), cdn.stop()]).then(() => {}),
    [Symbol.asyncDispose]: () => hub.close(),
  });
  return hub;
}

/** Every environment variable that steers the Hub client or the caches. */
const HUB_ENVIRONMENT = [
  "HF_HOME",
  "HF_HUB_CACHE",
  "HUGGINGFACE_HUB_CACHE",
  "HF_TOKEN",
  "HF_TOKEN_PATH",
  "HF_ENDPOINT",
  "HF_HUB_OFFLINE",
  "HF_HUB_ETAG_TIMEOUT",
  "HF_HUB_DOWNLOAD_TIMEOUT",
  "XDG_CACHE_HOME",
  "WESPEAKER_CACHE",
];

/**
 * Runs `body` against a fresh fake Hub serving `repos`, in a scratch directory `home`, with every Hub
 * and cache variable cleared and HF_HOME at `home/hf` (so no token or cache of the machine's is read);
 * the Hub is closed, the environment restored and `home` removed afterwards.
 */
export async function withIsolatedHub<T>(
  repos: Record<string, FakeRepo>,
  body: (hub: FakeHub, home: string) => Promise<T>,
): Promise<T> {
  const saved = HUB_ENVIRONMENT.map((variable) => [variable, process.env[variable]] as const);
  const home = mkdtempSync(join(tmpdir(), "wespeaker-hub-"));
  const hub = await startFakeHub(repos);
  try {
    for (const variable of HUB_ENVIRONMENT) delete process.env[variable];
    process.env.HF_HOME = join(home, "hf");
    return await body(hub, home);
  } finally {
    await hub.close();
    for (const [variable, value] of saved) {
      if (value === undefined) delete process.env[variable];
      else process.env[variable] = value;
    }
    rmSync(home, { recursive: true, force: true });
  }
}
