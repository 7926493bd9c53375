#!/usr/bin/env node
// One-time (idempotent) set-up: fetch the pinned MLX wheel and build libwespeaker.
// Runs under plain Node so that a fresh machine needs nothing but node, python3,
// cmake and a C++ compiler. Everything it writes stays in .cache/ and build/.
//
// Environment:
//   MLX_DIR              use this MLX install (a prefix holding share/cmake/MLX, or that folder)
//   WESPEAKER_MLX_PACKAGE  MLX wheel to fetch (default mlx-cpu on Linux, mlx-metal on macOS)
//   WESPEAKER_PYPI_SIMPLE  PEP 691 simple index to fetch the wheel from (default: PyPI)
//   WESPEAKER_BUILD_TYPE   CMake build type (default: Release)
//   WESPEAKER_BLAS         auto | openblas | bundled (Linux): see CMakeLists.txt
//
// Flags: --tests also builds the C test programs of tests/c; --sanitize builds library and tests
// with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan/ instead of build/.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { arch, platform, release } from "node:os";
import { fileURLToPath } from "node:url";

const MLX_VERSION = "0.32.4";
const root = resolve(import.meta.dirname, "..");
const cacheDir = join(root, ".cache");
const sanitize = process.argv.includes("--sanitize");
const buildDir = join(root, sanitize ? "build-asan" : "build");

function log(msg) {
  process.stderr.write(`[setup] ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  log(`${cmd} ${args.join(" ")}`);
  // The child's stdout goes to our stderr: `npm start -- diarize a.wav > a.rttm` must get only the RTTM.
  execFileSync(cmd, args, { stdio: ["inherit", 2, "inherit"], cwd: root, ...opts });
}

/**
 * Which wheel holds libmlx for this machine: the CPU build on Linux, Metal on macOS, or the
 * package named by WESPEAKER_MLX_PACKAGE (e.g. mlx-cuda-12 for NVIDIA GPUs).
 * Returns the package and a test for the wheel's platform tag.
 */
function wheelSpec() {
  const cpu = { x64: "x86_64", arm64: "aarch64" }[arch()];
  if (platform() === "linux" && cpu) {
    return {
      pkg: process.env.WESPEAKER_MLX_PACKAGE ?? "mlx-cpu",
      fits: (tag) => tag === `manylinux_2_35_${cpu}`,
    };
  }
  if (platform() === "darwin" && arch() === "arm64") {
    // Darwin 25 is macOS 26; before that, Darwin N is macOS N - 9.
    const darwin = Number(release().split(".")[0]);
    const macos = darwin >= 25 ? darwin + 1 : darwin - 9;
    return {
      pkg: process.env.WESPEAKER_MLX_PACKAGE ?? "mlx-metal",
      fits: (tag) => /^macosx_(\d+)_0_arm64$/.test(tag) && Number(tag.split("_")[1]) <= macos,
      // Prefer the wheel built for the newest macOS this machine runs.
      rank: (tag) => Number(tag.split("_")[1]),
    };
  }
  throw new Error(
    `no MLX wheel for ${platform()}/${arch()}: build MLX yourself and set MLX_DIR to its install prefix`,
  );
}

/**
 * Fetches a wheel from the PyPI simple index into .cache/<pkg>-<version>/ (unless `marker`, a path
 * inside it, exists already), checking its sha256 against the index. `fits` tests a wheel's
 * platform tag; `rank` orders the fitting ones (highest first). Returns the unpacked directory.
 */
export async function fetchWheel({ pkg, version, fits, rank = () => 0, marker }) {
  const dest = join(cacheDir, `${pkg}-${version}`);
  if (existsSync(join(dest, marker))) return dest;

  const index = process.env.WESPEAKER_PYPI_SIMPLE ?? "https://pypi.org/simple";
  const listing = await fetch(`${index}/${pkg}/`, {
    headers: { Accept: "application/vnd.pypi.simple.v1+json" },
  });
  if (!listing.ok) throw new Error(`${index}/${pkg}/ answered HTTP ${listing.status}`);
  const { files } = await listing.json();
  const prefix = new RegExp(
    `^${pkg.replaceAll("-", "_")}-${version.replaceAll(".", "\\.")}-(py3|py2\\.py3)-none-`,
  );
  const tagOf = (f) => f.filename.replace(prefix, "").slice(0, -".whl".length);
  const file = files
    .filter((f) => prefix.test(f.filename) && f.filename.endsWith(".whl") && fits(tagOf(f)))
    .sort((a, b) => rank(tagOf(b)) - rank(tagOf(a)))[0];
  if (!file) throw new Error(`${pkg}==${version} has no wheel for ${platform()}/${arch()} on ${index}`);

  log(`downloading ${file.filename}`);
  const res = await fetch(file.url);
  if (!res.ok) throw new Error(`${file.url} answered HTTP ${res.status}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  const sha = createHash("sha256").update(bytes).digest("hex");
  if (sha !== file.hashes.sha256) {
    throw new Error(`${file.filename}: sha256 ${sha} does not match the index's ${file.hashes.sha256}`);
  }
  mkdirSync(cacheDir, { recursive: true });
  const whl = join(cacheDir, file.filename);
  writeFileSync(whl, bytes);
  // Unpack next to the destination and rename, so an interrupted set-up never leaves half a tree.
  const tmp = `${dest}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  run("python3", ["-m", "zipfile", "-e", whl, tmp]);
  rmSync(dest, { recursive: true, force: true });
  renameSync(tmp, dest);
  rmSync(whl);
  return dest;
}

function fetchMlxWheel() {
  return fetchWheel({
    ...wheelSpec(),
    version: MLX_VERSION,
    marker: join("mlx", "share", "cmake", "MLX", "MLXConfig.cmake"),
  });
}

// MLX's Linux wheel calls BLAS through the reference implementation it bundles; OpenBLAS is ~30x
// faster at the matrix products that dominate the network. On Debian/Ubuntu as root we install
// it (the one system package the build wants); elsewhere we say how.
function hasOpenBlas() {
  try {
    if (execFileSync("ldconfig", ["-p"], { encoding: "utf8" }).includes("libopenblas")) return true;
  } catch {
    // no ldconfig on PATH: fall back to the usual locations
  }
  const multiarch = { x64: "x86_64-linux-gnu", arm64: "aarch64-linux-gnu" }[arch()];
  return [
    `/usr/lib/${multiarch}/libopenblas.so.0`,
    `/usr/lib/${multiarch}/openblas-pthread/libopenblas.so.0`,
    "/usr/lib64/libopenblas.so.0",
    "/usr/lib64/libopenblasp.so.0",
    "/usr/lib/libopenblas.so.0",
  ].some((p) => existsSync(p));
}

function ensureOpenBlas() {
  if (platform() !== "linux" || process.env.WESPEAKER_BLAS === "bundled" || hasOpenBlas()) return;
  const canApt = process.getuid?.() === 0 && existsSync("/usr/bin/apt-get");
  if (!canApt) {
    log("OpenBLAS not found: embeddings will use MLX's bundled reference BLAS (much slower).");
    log(
      "Install it (Debian/Ubuntu: apt-get install libopenblas0-pthread; Fedora: dnf install openblas) and rerun.",
    );
    return;
  }
  aptInstall("libopenblas0-pthread");
}

function aptInstall(pkg) {
  const install = ["install", "-y", "-q", "--no-install-recommends", pkg];
  try {
    run("apt-get", install, { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  } catch {
    run("apt-get", ["update", "-q"]);
    run("apt-get", install, { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  }
}

// The SVG tests render pictures with a real renderer, rsvg-convert (Debian's librsvg2-bin): installed as
// root on Debian/Ubuntu; elsewhere those tests skip and say why.
function ensureSvgRenderer() {
  try {
    execFileSync("rsvg-convert", ["--version"], { stdio: "ignore" });
    return;
  } catch {
    // absent: install it if we can
  }
  if (platform() !== "linux" || process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) {
    log(
      "rsvg-convert not found: the SVG rendering tests will be skipped (Debian/Ubuntu: apt-get install librsvg2-bin).",
    );
    return;
  }
  try {
    aptInstall("librsvg2-bin");
  } catch (err) {
    log(`could not install librsvg2-bin (${err.message}): the SVG rendering tests will be skipped.`);
  }
}

function mlxCmakeDir(prefix) {
  for (
    const dir of [prefix, join(prefix, "share", "cmake", "MLX"), join(prefix, "mlx", "share", "cmake", "MLX")]
  ) {
    if (existsSync(join(dir, "MLXConfig.cmake"))) return dir;
  }
  throw new Error(
    `MLX_DIR=${prefix} holds no MLXConfig.cmake (looked in it, share/cmake/MLX and mlx/share/cmake/MLX)`,
  );
}

// The tests compare our decoders with ffmpeg and decode AAC through it: as root on Debian/Ubuntu
// `--tests` installs it; elsewhere those tests skip and say why.
function ensureFfmpeg() {
  const found = process.env.PATH?.split(":").some((dir) => dir && existsSync(join(dir, "ffmpeg")));
  if (found || platform() !== "linux" || process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) return;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = ["install", "-y", "-q", "--no-install-recommends", "ffmpeg"];
  try {
    run("apt-get", install, { env });
  } catch {
    run("apt-get", ["update", "-q"]);
    run("apt-get", install, { env });
  }
}

async function main() {
  const mlxDir = mlxCmakeDir(process.env.MLX_DIR ?? (await fetchMlxWheel()));
  ensureOpenBlas();
  if (process.argv.includes("--tests")) ensureFfmpeg();
  const buildType = process.env.WESPEAKER_BUILD_TYPE ?? "Release";
  const blas = process.env.WESPEAKER_BLAS ?? "auto";
  const tests = process.argv.includes("--tests") ? "ON" : "OFF";
  if (tests === "ON" && !sanitize) ensureSvgRenderer();
  const configure = [
    "-S",
    root,
    "-B",
    buildDir,
    `-DCMAKE_BUILD_TYPE=${buildType}`,
    `-DMLX_DIR=${mlxDir}`,
    `-DWESPEAKER_BLAS=${blas}`,
    `-DWESPEAKER_BUILD_TESTS=${tests}`,
    `-DWESPEAKER_SANITIZE=${sanitize ? "ON" : "OFF"}`,
    `-DWESPEAKER_TEST_WEIGHTS=${join(root, "build", "test-weights.safetensors")}`,
    `-DWESPEAKER_TEST_SEGMENTATION=${join(root, "build", "test-segmentation.safetensors")}`,
    "-UWESPEAKER_OPENBLAS",
  ];
  // Reconfigure whenever the configuration would differ, new options included.
  const stamp = JSON.stringify({ configure, openblas: hasOpenBlas() });
  const stampFile = join(buildDir, ".setup-stamp");
  if (!existsSync(stampFile) || readFileSync(stampFile, "utf8") !== stamp) {
    run("cmake", configure);
    writeFileSync(stampFile, stamp);
  }
  run("cmake", ["--build", buildDir, "--parallel"]);
}

// Run as a script (scripts/package_native.mjs imports fetchWheel from here).
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`[setup] failed: ${err.message}\n`);
    process.exit(1);
  });
}
