// hubFile against a fake Hub on 127.0.0.1: every test has its own Hub, cache and HF_* environment,
// and passes the fake endpoint (or sets HF_ENDPOINT to it), so that nothing reaches huggingface.co.
import assert from "node:assert/strict";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import { WeSpeakerError } from "../lib/errors.ts";
import { hubFile, type HubOptions, type HubProgress } from "../lib/hub/hub.ts";
import { type FakeHub, type FakeRepo, gitBlobSha1, sha256Hex, withIsolatedHub } from "./helpers/fake_hub.ts";

const REPO = "org/model";
const GATED = "org/gated";
const TOKEN = "hf_test_token";
const MAIN = "0123456789abcdef0123456789abcdef01234567";
const V1 = "89abcdef0123456789abcdef0123456789abcdef";
const NEXT = "fedcba9876543210fedcba9876543210fedcba98";

function bytes(length: number, seed: number): Uint8Array {
  let state = seed;
  return Uint8Array.from({ length }, () => (state = (state * 1103515245 + 12345) >>> 0) >>> 24);
}

const weights = bytes(300_000, 1);
const weightsV1 = bytes(200_000, 2);
const config = new TextEncoder().encode('{"embedding_dim": 256}\n');
const notes = new TextEncoder().encode("nested file\n");

function repos(): Record<string, FakeRepo> {
  const files = {
    "model.safetensors": { data: weights, lfs: true },
    "config.json": { data: config },
    "sub/dir/notes.txt": { data: notes },
  };
  return {
    [REPO]: {
      refs: { main: MAIN, v1: V1, "refs/pr/1": V1 },
      commits: {
        [MAIN]: files,
        [V1]: { "model.safetensors": { data: weightsV1, lfs: true } },
        [NEXT]: { ...files, "config.json": { data: new TextEncoder().encode("{}\n") } },
      },
    },
    [GATED]: { refs: { main: MAIN }, commits: { [MAIN]: files }, token: TOKEN },
  };
}

interface Context {
  hub: FakeHub;
  /** What the hub serves: tests may move a branch. */
  served: Record<string, FakeRepo>;
  /** The test's own scratch directory; HF_HOME is `home/hf`. */
  home: string;
  cacheDir: string;
  /** endpoint and cacheDir of this test. */
  options: HubOptions;
  /** The repo's folder in the cache. */
  storage: (repo?: string) => string;
}

// Each test gets a fresh Hub, cache and HF_* environment (HF_HOME in its scratch directory, so that no
// token of the machine's is read), all restored or removed afterwards.
function hubTest(name: string, fn: (context: Context) => Promise<void>): void {
  test(name, async () => {
    const served = repos();
    await withIsolatedHub(served, async (hub, home) => {
      const cacheDir = join(home, "cache");
      const storage = (repo = REPO) => join(cacheDir, `models--${repo.replace("/", "--")}`);
      await fn({ hub, served, home, cacheDir, options: { endpoint: hub.url, cacheDir }, storage });
    });
  });
}

async function rejects(promise: Promise<unknown>, message: RegExp, code: string): Promise<WeSpeakerError> {
  let error: unknown;
  await assert.rejects(promise, (err: unknown) => {
    error = err;
    assert.ok(err instanceof WeSpeakerError, `expected WeSpeakerError, got ${err}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
  return error as WeSpeakerError;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Every file under `dir`, relative to it (symlinks included). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? filesUnder(join(dir, entry.name)).map((name) => `${entry.name}/${name}`)
      : [entry.name]
  ).sort();
}

function snapshot(storage: string, commit: string, file: string): string {
  return join(storage, "snapshots", commit, file);
}

describe("hubFile", () => {
  hubTest(
    "a first download lays the cache out as huggingface_hub does",
    async ({ hub, options, storage }) => {
      const path = await hubFile(REPO, "model.safetensors", options);
      assert.equal(path, snapshot(storage(), MAIN, "model.safetensors"));
      assert.deepEqual(new Uint8Array(readFileSync(path)), weights);
      // An LFS file: fetched from the CDN it redirects to, named by its sha256.
      assert.deepEqual(hub.requests.map((r) => r.split("?")[0]), [
        `HEAD /${REPO}/resolve/main/model.safetensors`,
        `GET /cdn/${sha256Hex(weights)}`,
      ]);
      assert.ok(lstatSync(path).isSymbolicLink());
      assert.equal(readlinkSync(path), `../../blobs/${sha256Hex(weights)}`);
      assert.equal(readFileSync(join(storage(), "refs", "main"), "utf8"), MAIN);

      // Regular files are named by their git blob id; a nested file's link climbs out of its folders.
      await hubFile(REPO, "config.json", options);
      await hubFile(REPO, "sub/dir/notes.txt", options);
      assert.equal(
        readlinkSync(snapshot(storage(), MAIN, "config.json")),
        `../../blobs/${gitBlobSha1(config)}`,
      );
      const nested = snapshot(storage(), MAIN, "sub/dir/notes.txt");
      assert.equal(readlinkSync(nested), `../../../../blobs/${gitBlobSha1(notes)}`);
      assert.deepEqual(new Uint8Array(readFileSync(nested)), notes);
      assert.deepEqual(
        filesUnder(storage()),
        [
          `blobs/${gitBlobSha1(config)}`,
          `blobs/${gitBlobSha1(notes)}`,
          `blobs/${sha256Hex(weights)}`,
          "refs/main",
          `snapshots/${MAIN}/config.json`,
          `snapshots/${MAIN}/model.safetensors`,
          `snapshots/${MAIN}/sub/dir/notes.txt`,
        ].sort(),
      );
    },
  );

  hubTest("a cached file is returned without any request, even with the Hub stopped", async (context) => {
    const { hub, options } = context;
    const path = await hubFile(REPO, "model.safetensors", options);
    await hub.close();
    hub.requests.length = 0;
    assert.equal(await hubFile(REPO, "model.safetensors", options), path);
    // Asked to refresh, the Hub is out of reach: the cached copy of the revision serves, as in Python.
    assert.equal(await hubFile(REPO, "model.safetensors", { ...options, refresh: true }), path);
    assert.deepEqual(hub.requests, []);

    const error = await rejects(
      hubFile(REPO, "config.json", options),
      new RegExp(
        `^config\\.json from org/model at revision main is not in the cache at ${escape(context.cacheDir)} ` +
          `and the Hub at ${escape(hub.url)} could not be reached: .+`,
      ),
      "network",
    );
    assert.ok(error.cause instanceof Error);
  });

  hubTest("refresh follows a branch to its new commit, reusing blobs", async (context) => {
    const { hub, options, storage } = context;
    const old = await hubFile(REPO, "model.safetensors", options);
    context.served[REPO].refs.main = NEXT;
    hub.requests.length = 0;
    assert.equal(await hubFile(REPO, "model.safetensors", options), old);
    assert.deepEqual(hub.requests, []);

    const path = await hubFile(REPO, "model.safetensors", { ...options, refresh: true });
    assert.equal(path, snapshot(storage(), NEXT, "model.safetensors"));
    assert.equal(readFileSync(join(storage(), "refs", "main"), "utf8"), NEXT);
    // Same bytes at the new commit: one HEAD, no download, one blob for both snapshots.
    assert.deepEqual(hub.requests, [`HEAD /${REPO}/resolve/main/model.safetensors`]);
    assert.deepEqual(filesUnder(join(storage(), "blobs")), [sha256Hex(weights)]);
    assert.deepEqual(new Uint8Array(readFileSync(path)), weights);
  });

  hubTest("offline mode (HF_HUB_OFFLINE or offline: true) uses the cache only", async (context) => {
    const { hub, options, storage } = context;
    const path = await hubFile(REPO, "model.safetensors", options);
    hub.requests.length = 0;
    const miss = new RegExp(
      `^config\\.json from org/model at revision main is not in the cache at ${escape(context.cacheDir)}, ` +
        "and offline mode \\(HF_HUB_OFFLINE=1 or offline: true\\) forbids downloading it$",
    );
    assert.equal(await hubFile(REPO, "model.safetensors", { ...options, offline: true }), path);
    await rejects(hubFile(REPO, "config.json", { ...options, offline: true }), miss, "network");
    process.env.HF_HUB_OFFLINE = "1";
    assert.equal(await hubFile(REPO, "model.safetensors", { ...options, refresh: true }), path);
    await rejects(hubFile(REPO, "config.json", options), miss, "network");
    const configPath = await hubFile(REPO, "config.json", { ...options, offline: false });
    assert.equal(configPath, snapshot(storage(), MAIN, "config.json"));
    assert.deepEqual(hub.requests.map((r) => r.split(" ")[0]), ["HEAD", "GET"]);
  });

  hubTest("a branch, a tag-like ref and a commit sha are pinned", async ({ hub, options, storage }) => {
    const v1 = await hubFile(REPO, "model.safetensors", { ...options, revision: "v1" });
    assert.equal(v1, snapshot(storage(), V1, "model.safetensors"));
    assert.deepEqual(new Uint8Array(readFileSync(v1)), weightsV1);
    assert.equal(readFileSync(join(storage(), "refs", "v1"), "utf8"), V1);
    // A ref with slashes is a nested refs file, as Python writes it.
    assert.equal(await hubFile(REPO, "model.safetensors", { ...options, revision: "refs/pr/1" }), v1);
    assert.equal(readFileSync(join(storage(), "refs", "refs", "pr", "1"), "utf8"), V1);

    // A commit sha names its snapshot directly: cached, no request; not cached, no refs file.
    hub.requests.length = 0;
    assert.equal(await hubFile(REPO, "model.safetensors", { ...options, revision: V1, refresh: true }), v1);
    assert.deepEqual(hub.requests, []);
    const atMain = await hubFile(REPO, "config.json", { ...options, revision: MAIN });
    assert.equal(atMain, snapshot(storage(), MAIN, "config.json"));
    assert.deepEqual(filesUnder(join(storage(), "refs")), ["refs/pr/1", "v1"]);
  });

  hubTest("a cache left by Python's huggingface_hub is used without any request", async (context) => {
    const { hub, home } = context;
    // As hf_hub_download leaves it (refs without a newline, lock files), plus a file copied instead of
    // linked, as on Windows without symlinks; HF_HUB_CACHE names it.
    const cache = join(home, "python-cache");
    const storage = join(cache, "models--org--model");
    mkdirSync(join(storage, "blobs"), { recursive: true });
    mkdirSync(join(storage, "refs"));
    mkdirSync(join(storage, "snapshots", MAIN), { recursive: true });
    writeFileSync(join(storage, "blobs", sha256Hex(weights)), weights);
    symlinkSync(`../../blobs/${sha256Hex(weights)}`, snapshot(storage, MAIN, "model.safetensors"));
    writeFileSync(snapshot(storage, MAIN, "config.json"), config);
    writeFileSync(join(storage, "refs", "main"), MAIN);
    mkdirSync(join(cache, ".locks", "models--org--model"), { recursive: true });
    writeFileSync(join(cache, ".locks", "models--org--model", `${sha256Hex(weights)}.lock`), "");
    process.env.HF_HUB_CACHE = cache;

    const options = { endpoint: hub.url };
    const path = await hubFile(REPO, "model.safetensors", options);
    assert.equal(path, snapshot(storage, MAIN, "model.safetensors"));
    assert.deepEqual(new Uint8Array(readFileSync(path)), weights);
    assert.equal(await hubFile(REPO, "config.json", options), snapshot(storage, MAIN, "config.json"));
    assert.equal(
      await hubFile(REPO, "config.json", { ...options, revision: MAIN }),
      snapshot(storage, MAIN, "config.json"),
    );
    assert.deepEqual(hub.requests, []);

    // Without HF_HUB_CACHE, the cache is $HF_HOME/hub.
    delete process.env.HF_HUB_CACHE;
    await hubFile(REPO, "config.json", options);
    assert.ok(existsSync(join(home, "hf", "hub", "models--org--model", "snapshots", MAIN, "config.json")));
  });

  hubTest("a gated repo answers 401 until a token is given", async (context) => {
    const { options, storage } = context;
    await rejects(
      hubFile(GATED, "model.safetensors", options),
      /^cannot fetch model\.safetensors from org\/gated at revision main: .*refused access \(HTTP 401 GatedRepo\): the repo may be gated or private: accept its conditions on the Hub and set HF_TOKEN$/,
      "unauthorized",
    );
    // The token goes to the Hub but not to the CDN, which would refuse a second credential.
    const path = await hubFile(GATED, "model.safetensors", { ...options, token: TOKEN });
    assert.deepEqual(new Uint8Array(readFileSync(path)), weights);

    process.env.HF_TOKEN = TOKEN;
    await hubFile(GATED, "config.json", options);
    delete process.env.HF_TOKEN;
    mkdirSync(join(context.home, "hf"), { recursive: true });
    writeFileSync(join(context.home, "hf", "token"), `${TOKEN}\n`);
    await hubFile(GATED, "sub/dir/notes.txt", options);
    assert.ok(existsSync(snapshot(storage(GATED), MAIN, "sub/dir/notes.txt")));
  });

  hubTest("404s name the missing repo, revision or file", async ({ options }) => {
    await rejects(
      hubFile("org/nope", "model.safetensors", options),
      /^cannot fetch model\.safetensors from org\/nope at revision main: the repository does not exist on http:\/\/127\.0\.0\.1:\d+, or it is private or gated \(HTTP 404 RepoNotFound\): if so, set HF_TOKEN/,
      "not-found",
    );
    await rejects(
      hubFile(REPO, "model.safetensors", { ...options, revision: "v9" }),
      /^cannot fetch model\.safetensors from org\/model at revision v9: the revision does not exist in org\/model \(HTTP 404 RevisionNotFound\)$/,
      "not-found",
    );
    await rejects(
      hubFile(REPO, "missing.bin", options),
      /^cannot fetch missing\.bin from org\/model at revision main: org\/model has no file missing\.bin at that revision \(HTTP 404 EntryNotFound\)$/,
      "not-found",
    );
  });

  for (
    const [fault, file, size] of [
      ["cut", "model.safetensors", weights.length],
      ["short", "model.safetensors", weights.length],
      ["cut", "config.json", config.length],
    ] as const
  ) {
    hubTest(`a truncated transfer (${fault}, ${file}) leaves nothing in the cache`, async (context) => {
      const { hub, options, storage } = context;
      hub.fault = fault;
      const truncated = new RegExp(
        `^cannot fetch ${escape(file)} from org/model at revision main: ` +
          `transfer truncated after \\d+ of ${size} bytes.*; the download was discarded$`,
      );
      for (let attempt = 0; attempt < 2; attempt++) {
        await rejects(hubFile(REPO, file, options), truncated, "integrity");
      }
      assert.deepEqual(filesUnder(storage()), []);
      hub.fault = undefined;
      const path = await hubFile(REPO, file, options);
      assert.equal(readFileSync(path).length, size);
    });
  }

  hubTest("a checksum mismatch leaves nothing in the cache", async ({ hub, options, storage }) => {
    hub.fault = "corrupt";
    const error = await rejects(
      hubFile(REPO, "model.safetensors", options),
      new RegExp(
        `^cannot fetch model\\.safetensors from org/model at revision main: checksum mismatch: expected sha256 ${
          sha256Hex(weights)
        }, got [0-9a-f]{64}; the download was discarded$`,
      ),
      "integrity",
    );
    assert.ok(!error.message.includes(`got ${sha256Hex(weights)}`));
    assert.deepEqual(filesUnder(storage()), []);
    hub.fault = undefined;
    assert.deepEqual(
      new Uint8Array(readFileSync(await hubFile(REPO, "model.safetensors", options))),
      weights,
    );
  });

  hubTest("progress goes up by chunks to the total", async ({ hub, options }) => {
    const seen: HubProgress[] = [];
    let resume!: () => void;
    hub.pause = new Promise<void>((resolve) => resume = resolve);
    // Without a progress call mid-body the download would wait forever; let it finish and fail below.
    const fallback = setTimeout(() => resume(), 2000);
    await hubFile(REPO, "model.safetensors", {
      ...options,
      onProgress: (p) => {
        seen.push(p);
        if (p.downloaded > 0) resume();
      },
    });
    clearTimeout(fallback);
    hub.pause = undefined;
    assert.ok(seen.length > 2, `${seen.length} progress calls`);
    assert.equal(seen[0].downloaded, 0);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].downloaded > seen[i - 1].downloaded);
    assert.ok(seen.every((p) => p.file === "model.safetensors" && p.total === weights.length));
    assert.equal(seen.at(-1)!.downloaded, weights.length);
    seen.length = 0;
    await hubFile(REPO, "model.safetensors", { ...options, onProgress: (p) => seen.push(p) });
    assert.deepEqual(seen, []);
  });

  hubTest(
    "an AbortSignal cancels a download and leaves nothing behind",
    async ({ hub, options, storage }) => {
      const aborted = /^cannot fetch model\.safetensors from org\/model at revision main: aborted$/;
      await rejects(
        hubFile(REPO, "model.safetensors", { ...options, signal: AbortSignal.abort() }),
        aborted,
        "aborted",
      );
      assert.deepEqual(hub.requests, []);

      hub.fault = "stall";
      const controller = new AbortController();
      const error = await rejects(
        hubFile(REPO, "model.safetensors", {
          ...options,
          signal: controller.signal,
          onProgress: (p) => p.downloaded > 0 && controller.abort(),
        }),
        aborted,
        "aborted",
      );
      assert.equal(error.cause, controller.signal.reason);
      assert.deepEqual(filesUnder(storage()), []);
    },
  );

  hubTest("a download that stalls times out (HF_HUB_DOWNLOAD_TIMEOUT)", async ({ hub, options, storage }) => {
    hub.fault = "stall";
    process.env.HF_HUB_DOWNLOAD_TIMEOUT = "0.5";
    await rejects(
      hubFile(REPO, "model.safetensors", options),
      /transfer truncated after 150000 of 300000 bytes \(no answer for 0\.5 s\); the download was discarded$/,
      "integrity",
    );
    assert.deepEqual(filesUnder(storage()), []);
  });

  hubTest("HF_ENDPOINT, and a renamed repo's relative redirect", async ({ hub, cacheDir, storage }) => {
    process.env.HF_ENDPOINT = `${hub.url}/`;
    hub.moved.set("org/old-name", REPO);
    const path = await hubFile("org/old-name", "model.safetensors", { cacheDir });
    // Cached under the name asked for, as Python does.
    assert.equal(path, snapshot(storage("org/old-name"), MAIN, "model.safetensors"));
    assert.deepEqual(new Uint8Array(readFileSync(path)), weights);
  });

  hubTest(
    "malformed repo ids, paths and revisions are refused before any request",
    async ({ hub, options }) => {
      for (const repo of ["../x", "a/b/c", "a--b/c", ""]) {
        await rejects(
          hubFile(repo, "model.safetensors", options),
          /is not a Hub repo id/,
          "invalid-argument",
        );
      }
      for (const file of ["../x", "/etc/passwd", "a//b", "a\\b", ""]) {
        await rejects(hubFile(REPO, file, options), /is not a relative file path/, "invalid-argument");
      }
      await rejects(
        hubFile(REPO, "x", { ...options, revision: "../main" }),
        /is not a revision/,
        "invalid-argument",
      );
      assert.deepEqual(hub.requests, []);
    },
  );
});
