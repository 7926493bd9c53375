/**
 * The prebuilt native library as npm ships it: one package per target (`@x/wespeaker-linux-x64-gnu`,
 * …) holding libwespeaker and every library it loads beyond the C and C++ runtimes. The npm package
 * lists them as optional dependencies, so npm, Bun and pnpm install the one that fits; where there is
 * no node_modules (Deno importing from JSR or a URL) the same package is fetched from the npm
 * registry into a cache directory, checked against the registry's integrity hash.
 *
 * @module
 */
import { createHash, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { gunzipSync } from "node:zlib";
import { WeSpeakerError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { permissionDenial } from "./runtime.ts";
import { readTar } from "./tar.ts";

/** The npm scope of the platform packages. */
export const PLATFORM_SCOPE = "@x";

/** Registry used when `NPM_CONFIG_REGISTRY` is not set (npm, Bun and Deno honour that variable too). */
export const DEFAULT_REGISTRY = "https://registry.npmjs.org/";

/**
 * The platform packages that fit this machine, preferred first; the last one is the default that
 * npm installs and that is fetched where nothing is installed. Empty where none is published.
 * A CUDA build is opt-in (`npm i @x/wespeaker-linux-x64-gnu-cuda12`), so it comes first.
 */
export function platformPackages(platform: string = process.platform, arch: string = process.arch): string[] {
  const base = `${PLATFORM_SCOPE}/wespeaker`;
  if (platform === "linux" && arch === "x64") {
    return [`${base}-linux-x64-gnu-cuda12`, `${base}-linux-x64-gnu`];
  }
  if (platform === "linux" && arch === "arm64") return [`${base}-linux-arm64-gnu`];
  if (platform === "darwin" && arch === "arm64") return [`${base}-darwin-arm64`];
  return [];
}

/**
 * Where `pkg` is installed as seen from this module (node_modules, or Deno's npm cache for an
 * `npm:` import); `undefined` if it is not, or if this module was not loaded from a file.
 * Errors other than "not installed" (a Deno permission denial above all) are thrown.
 */
export function installedPackageDir(pkg: string): string | undefined {
  if (!import.meta.url.startsWith("file:")) return undefined;
  try {
    return dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`));
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === "MODULE_NOT_FOUND" || code === "ERR_MODULE_NOT_FOUND") return undefined;
    throw err;
  }
}

/**
 * The cache directory of fetched platform packages: `$WESPEAKER_CACHE/native`, else
 * `$XDG_CACHE_HOME/wespeaker/native`, else `~/.cache/wespeaker/native`. Reading the environment
 * may throw Deno's permission errors.
 */
export function nativeCacheDir(): string {
  const env = process.env;
  const root = env.WESPEAKER_CACHE || join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "wespeaker");
  return join(root, "native");
}

/** The registry platform packages are fetched from: `NPM_CONFIG_REGISTRY`, else npmjs.org. */
export function registryUrl(): string {
  const configured = process.env.NPM_CONFIG_REGISTRY || process.env.npm_config_registry || DEFAULT_REGISTRY;
  return configured.endsWith("/") ? configured : `${configured}/`;
}

/** The directory a fetched `pkg` (of this package's version) is unpacked to. */
export function cachedPackageDir(cacheDir: string, pkg: string): string {
  return join(cacheDir, `${pkg.replace("/", "+")}@${VERSION}`);
}

interface VersionMetadata {
  name?: unknown;
  version?: unknown;
  dist?: { integrity?: unknown; tarball?: unknown };
}

async function get(url: string, accept: string, signal?: AbortSignal): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept }, signal });
  } catch (err) {
    if ((err as { name?: unknown }).name === "AbortError") {
      throw new WeSpeakerError("aborted", `fetching ${url} was aborted`, { cause: err });
    }
    if (permissionDenial(err)) throw err;
    throw new WeSpeakerError("network", `could not reach ${url}: ${(err as Error).message}`, { cause: err });
  }
  if (response.status === 404) {
    await response.body?.cancel();
    throw new WeSpeakerError("not-found", `${url} answered 404 Not Found`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new WeSpeakerError("network", `${url} answered HTTP ${response.status}`);
  }
  return response;
}

/** The registry's record of `pkg` at this package's version. */
async function versionMetadata(
  registry: string,
  pkg: string,
  signal?: AbortSignal,
): Promise<VersionMetadata> {
  const url = new URL(pkg.replace("/", "%2f"), registry).href;
  // The abbreviated document is what npm itself asks for; it carries dist.integrity.
  const doc =
    await (await get(url, "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8", signal))
      .json() as { versions?: Record<string, VersionMetadata> };
  const meta = doc.versions?.[VERSION];
  if (!meta) throw new WeSpeakerError("not-found", `${url} lists no version ${VERSION} of ${pkg}`);
  return meta;
}

/**
 * Fetches `pkg` (at this package's version) from the npm registry into `cacheDir`, unless it is
 * there already, and returns its directory. The tarball must match the registry's sha512
 * integrity; it is unpacked beside its destination and renamed into place, so an interrupted or
 * concurrent fetch never leaves a partial package where a later run would load it.
 *
 * @throws {WeSpeakerError} `network`, `not-found`, `integrity`, `io`, `aborted`
 */
export async function fetchPlatformPackage(
  pkg: string,
  options: { registry: string; cacheDir: string; signal?: AbortSignal },
): Promise<string> {
  const dest = cachedPackageDir(options.cacheDir, pkg);
  if (existsSync(join(dest, "package.json"))) return dest;
  const meta = await versionMetadata(options.registry, pkg, options.signal);
  const integrity = typeof meta.dist?.integrity === "string" ? meta.dist.integrity : "";
  const tarball = typeof meta.dist?.tarball === "string" ? meta.dist.tarball : "";
  if (!integrity.startsWith("sha512-") || !tarball) {
    throw new WeSpeakerError(
      "integrity",
      `${options.registry} gives ${pkg}@${VERSION} no sha512 integrity hash or tarball URL: refusing to load it`,
    );
  }
  const bytes = new Uint8Array(
    await (await get(tarball, "application/octet-stream", options.signal)).arrayBuffer(),
  );
  const digest = `sha512-${createHash("sha512").update(bytes).digest("base64")}`;
  if (digest !== integrity) {
    throw new WeSpeakerError(
      "integrity",
      `${tarball} (${bytes.length} bytes) has integrity ${digest}, the registry says ${integrity}`,
    );
  }
  const what = `${pkg}@${VERSION} (${tarball})`;
  let tar: Uint8Array;
  try {
    tar = gunzipSync(bytes);
  } catch (err) {
    throw new WeSpeakerError("integrity", `${what} is not a gzip file: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const files = readTar(tar, what).map((file) => {
    if (!file.name.startsWith("package/")) {
      throw new WeSpeakerError("integrity", `${what}: entry ${file.name} lies outside package/`);
    }
    return { ...file, name: file.name.slice("package/".length) };
  });
  const manifest = files.find((file) => file.name === "package.json");
  let name: unknown, version: unknown;
  try {
    ({ name, version } = JSON.parse(new TextDecoder().decode(manifest?.data)) as VersionMetadata);
  } catch {
    // reported below
  }
  if (name !== pkg || version !== VERSION) {
    throw new WeSpeakerError(
      "integrity",
      `${what} holds package.json of ${name}@${version}, not ${pkg}@${VERSION}`,
    );
  }

  const partial = `${dest}.partial-${randomUUID()}`;
  try {
    for (const file of files) {
      const path = join(partial, file.name);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, file.data, { mode: file.mode | 0o600 });
    }
    await rename(partial, dest);
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    // Another process may have put the same package there first: theirs is as good as ours.
    if (existsSync(join(dest, "package.json"))) return dest;
    if (permissionDenial(err)) throw err;
    throw new WeSpeakerError("io", `could not unpack ${what} into ${dest}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return dest;
}
