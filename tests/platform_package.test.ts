// The prebuilt native library as npm ships it: which package fits which machine, where the library
// is looked for, the platform package fetched from an npm registry (a fake one here) into the
// cache, and Deno's permission errors.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { LIBRARY_ENV, libraryCandidates, loadNativeLibrary, WeSpeakerError } from "../mod.ts";
import {
  cachedPackageDir,
  fetchPlatformPackage,
  nativeCacheDir,
  platformPackages,
} from "../lib/native/platform_package.ts";
import { VERSION } from "../lib/version.ts";
import { repoRoot } from "./helpers/runtime.ts";
import { npmTarball, tar } from "./helpers/tar_writer.ts";

const PKG = "@x/wespeaker-linux-x64-gnu";

interface Route {
  status?: number;
  body: Uint8Array | string;
}

/** An npm registry on loopback serving `routes` (path → response); records the paths asked for. */
async function fakeRegistry(routes: (base: string) => Record<string, Route>) {
  const requests: string[] = [];
  let table: Record<string, Route> = {};
  const server: Server = createServer((req, res) => {
    requests.push(req.url!);
    const route = table[req.url!];
    res.statusCode = route?.status ?? (route ? 200 : 404);
    res.end(route?.body ?? "not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  table = routes(base);
  return {
    base,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A registry serving `tarball` as PKG at VERSION, with `integrity` (default: the tarball's own). */
function packageRoutes(tarball: Uint8Array, integrity?: string) {
  return (base: string): Record<string, Route> => ({
    [`/${PKG.replace("/", "%2f")}`]: {
      body: JSON.stringify({
        name: PKG,
        versions: {
          [VERSION]: {
            name: PKG,
            version: VERSION,
            dist: {
              tarball: `${base}tarballs/pkg.tgz`,
              integrity: integrity ?? `sha512-${createHash("sha512").update(tarball).digest("base64")}`,
            },
          },
        },
      }),
    },
    "/tarballs/pkg.tgz": { body: tarball },
  });
}

const freshCache = () => mkdtempSync(join(tmpdir(), "wespeaker-native-cache-"));

async function rejectsWith(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof WeSpeakerError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

describe("platform packages", () => {
  test("one default package per prebuilt target, CUDA opt-in first, none elsewhere", () => {
    assert.deepEqual(platformPackages("linux", "x64"), [
      "@x/wespeaker-linux-x64-gnu-cuda12",
      "@x/wespeaker-linux-x64-gnu",
    ]);
    assert.deepEqual(platformPackages("linux", "arm64"), ["@x/wespeaker-linux-arm64-gnu"]);
    assert.deepEqual(platformPackages("darwin", "arm64"), ["@x/wespeaker-darwin-arm64"]);
    assert.deepEqual(platformPackages("darwin", "x64"), []);
    assert.deepEqual(platformPackages("win32", "x64"), []);
  });

  test("WESPEAKER_LIB alone when set; else the checkout build first and the fetched cache last", async () => {
    const saved = process.env[LIBRARY_ENV];
    try {
      process.env[LIBRARY_ENV] = "/somewhere/libwespeaker.so";
      assert.deepEqual(libraryCandidates(), ["/somewhere/libwespeaker.so"]);
      delete process.env[LIBRARY_ENV];
      const candidates = libraryCandidates();
      assert.equal(candidates[0], join(repoRoot, "build", "libwespeaker.so"));
      assert.ok(candidates.includes("libwespeaker.so"), candidates.join());
      if (platformPackages().length > 0) {
        assert.equal(
          candidates.at(-1),
          join(cachedPackageDir(nativeCacheDir(), platformPackages().at(-1)!), "libwespeaker.so"),
        );
      }
      // This checkout has a build: that is what loads.
      assert.equal(await loadNativeLibrary(), candidates[0]);
    } finally {
      if (saved === undefined) delete process.env[LIBRARY_ENV];
      else process.env[LIBRARY_ENV] = saved;
    }
  });
});

describe("fetching the platform package from the npm registry", () => {
  const library = new Uint8Array(3000).map((_, i) => i * 7);
  const tarball = npmTarball(PKG, VERSION, { "libwespeaker.so": library, "docs/README.md": "hello" });

  test("fetched once, checked against the registry's sha512, unpacked in place, reused offline", async () => {
    const registry = await fakeRegistry(packageRoutes(tarball));
    const cacheDir = freshCache();
    let dir: string;
    try {
      dir = await fetchPlatformPackage(PKG, { registry: registry.base, cacheDir });
      assert.deepEqual(registry.requests, [`/${PKG.replace("/", "%2f")}`, "/tarballs/pkg.tgz"]);
    } finally {
      await registry.close();
    }
    assert.equal(dir, cachedPackageDir(cacheDir, PKG));
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, "libwespeaker.so"))), library);
    assert.equal(readFileSync(join(dir, "docs", "README.md"), "utf8"), "hello");
    assert.ok(statSync(join(dir, "libwespeaker.so")).mode & 0o400);
    // Nothing half-written beside it.
    assert.deepEqual(readdirSync(cacheDir), [`${PKG.replace("/", "+")}@${VERSION}`]);
    // The registry is gone: the cached copy is used without asking.
    assert.equal(await fetchPlatformPackage(PKG, { registry: registry.base, cacheDir }), dir);
  });

  test("a tarball that does not match the registry's integrity is refused, nothing is cached", async () => {
    const registry = await fakeRegistry(packageRoutes(tarball, `sha512-${"A".repeat(86)}==`));
    const cacheDir = freshCache();
    try {
      await rejectsWith(
        fetchPlatformPackage(PKG, { registry: registry.base, cacheDir }),
        "integrity",
        /pkg\.tgz \(\d+ bytes\) has integrity sha512-.*, the registry says sha512-AAAA/,
      );
    } finally {
      await registry.close();
    }
    assert.deepEqual(readdirSync(cacheDir), []);
  });

  test("no sha512 integrity, entries outside package/, or another package's manifest: refused", async () => {
    const cases: [Uint8Array, string | undefined, RegExp][] = [
      [tarball, "sha1-abc", /no sha512 integrity hash/],
      [
        npmTarball("@x/other", VERSION, {}),
        undefined,
        /package\.json of @x\/other@.*, not @x\/wespeaker-linux-x64-gnu@/,
      ],
      [
        gzipSync(tar([
          { name: "package/package.json", data: JSON.stringify({ name: PKG, version: VERSION }) },
          { name: "elsewhere/libwespeaker.so", data: "x" },
        ])),
        undefined,
        /entry elsewhere\/libwespeaker\.so lies outside package\//,
      ],
      [npmTarball(PKG, "0.0.0-old", {}), undefined, /package\.json of .*@0\.0\.0-old/],
    ];
    for (const [bytes, integrity, pattern] of cases) {
      const registry = await fakeRegistry(packageRoutes(bytes, integrity));
      const cacheDir = freshCache();
      try {
        await rejectsWith(
          fetchPlatformPackage(PKG, { registry: registry.base, cacheDir }),
          "integrity",
          pattern,
        );
      } finally {
        await registry.close();
      }
      assert.deepEqual(readdirSync(cacheDir), []);
    }
  });

  test("an unknown package or version is not-found; an unreachable registry is a network error", async () => {
    const registry = await fakeRegistry((base) => ({
      ...packageRoutes(tarball)(base),
      [`/${PKG.replace("/", "%2f")}`]: { body: JSON.stringify({ name: PKG, versions: { "9.9.9": {} } }) },
    }));
    try {
      await rejectsWith(
        fetchPlatformPackage(PKG, { registry: registry.base, cacheDir: freshCache() }),
        "not-found",
        new RegExp(`lists no version ${VERSION.replaceAll(".", "\\.")} of @x/wespeaker-linux-x64-gnu`),
      );
      await rejectsWith(
        fetchPlatformPackage("@x/wespeaker-nowhere", { registry: registry.base, cacheDir: freshCache() }),
        "not-found",
        /@x%2fwespeaker-nowhere answered 404/,
      );
    } finally {
      await registry.close();
    }
    await rejectsWith(
      fetchPlatformPackage(PKG, { registry: registry.base, cacheDir: freshCache() }),
      "network",
      new RegExp(`could not reach ${registry.base}`),
    );
  });

  test("concurrent fetches into one cache leave one complete package", async () => {
    const registry = await fakeRegistry(packageRoutes(tarball));
    const cacheDir = freshCache();
    try {
      const dirs = await Promise.all(
        [0, 1, 2].map(() => fetchPlatformPackage(PKG, { registry: registry.base, cacheDir })),
      );
      assert.deepEqual(new Set(dirs).size, 1);
    } finally {
      await registry.close();
    }
    assert.deepEqual(readdirSync(cacheDir), [`${PKG.replace("/", "+")}@${VERSION}`]);
    assert.ok(existsSync(join(cachedPackageDir(cacheDir, PKG), "libwespeaker.so")));
  });
});

describe("Deno permissions", () => {
  const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
  const probe = `import { loadNativeLibrary } from ${
    JSON.stringify(new URL("../mod.ts", import.meta.url).href)
  };
try { console.log("loaded " + await loadNativeLibrary()); } catch (e) { console.log(e.code + "\\n" + e.message); }`;
  const run = (...flags: string[]) =>
    spawnSync(process.execPath, ["run", ...flags, "-"], {
      input: probe,
      encoding: "utf8",
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: "1" },
    });

  test("without --allow-ffi: permission-denied naming the flag and why, not 'build it'", {
    skip: !isDeno && "Deno only",
  }, () => {
    const r = run("--allow-read", "--allow-env");
    assert.equal(r.status, 0, r.stderr);
    const [code, ...message] = r.stdout.trim().split("\n");
    assert.equal(code, "permission-denied", r.stdout);
    assert.match(message.join("\n"), /--allow-ffi: libwespeaker is native code/);
    assert.match(message.join("\n"), /Fix: run with --allow-ffi/);
    assert.doesNotMatch(message.join("\n"), /setup\.mjs/);
  });

  test("--allow-ffi alone loads a checkout's build (the environment is optional)", {
    skip: !isDeno && "Deno only",
  }, () => {
    const r = run("--allow-ffi");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^loaded .*build\/libwespeaker\.so$/m);
  });
});
