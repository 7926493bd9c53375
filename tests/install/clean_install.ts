// The install path, tested like code (issue 14): the packed npm packages served by a real npm
// registry (verdaccio, on loopback, started and stopped here), the JSR package served by a stand-in
// for jsr.io, and a clean temporary project per runtime with a fresh HOME and a PATH holding only
// node, npm, bun, deno and sh (no cmake, no C/C++ compiler, no python3). Each runtime installs the
// way the README says and runs the same script, which embeds a WAV file and diarizes it with
// generated weights; the output must be the source build's, bit for bit. Reinstalling (`npm ci`,
// `bun install --force`) must keep a working library; Deno must reuse its fetched library offline
// and name a missing permission. Install sizes and times to first embedding are reported.
//
// Run by `npm test` (`npm run test:install`) after `npm run build`; on its own:
//   npm run build && deno test --allow-all tests/install/clean_install.ts
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import process from "node:process";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { createHash } from "node:crypto";
import { writeConversationWav } from "../../scripts/bench/inputs.ts";
import { checkLinux } from "../../scripts/package_native.mjs";
import { repoRoot } from "../helpers/runtime.ts";

const root = repoRoot;
const npmDir = join(root, "dist", "npm");
const MAIN_PACKAGE = "wespeaker";
const PLATFORM_PACKAGE = "@x/wespeaker-linux-x64-gnu";
const skip = process.platform !== "linux" || process.arch !== "x64"
  ? "only linux-x64 has a platform package built here"
  : !existsSync(join(npmDir, "wespeaker", "package.json")) ||
      !existsSync(join(npmDir, "wespeaker-linux-x64-gnu", "package.json"))
  ? "the npm packages are not built: run `npm run build` first"
  : false;

/**
 * The install lines of the README's Install section, which are what this test runs: the commands
 * of its sh blocks (comments dropped) and the specifier its ts block imports.
 */
function readmeInstall() {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const start = readme.indexOf("\n## Install\n");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  const blocks = [...section.matchAll(/```(sh|ts)\n([\s\S]*?)```/g)];
  const commands = blocks.filter((b) => b[1] === "sh").flatMap((b) => b[2]!.split("\n"))
    .map((line) => line.replace(/#.*/, "").trim()).filter(Boolean).map((line) => line.split(/\s+/));
  const find = (first: string) => {
    const command = commands.find((c) => c[0] === first);
    assert.ok(command, `README's Install section has no ${first} command`);
    return command;
  };
  const specifier = /from "([^"]+)"/.exec(blocks.find((b) => b[1] === "ts")?.[2] ?? "")?.[1];
  assert.ok(specifier, "README's Install section imports nothing");
  const deno = find("deno");
  assert.deepEqual([deno[0], deno[1], deno.at(-1)], ["deno", "run", "main.ts"]);
  return { bun: find("bun"), npm: find("npm"), denoSpecifier: specifier, denoFlags: deno.slice(2, -1) };
}

const README = readmeInstall();
const DENO_FLAGS = README.denoFlags;

// The user's script, the same for every runtime but for where the package comes from. Plain
// JavaScript that Node 20 runs as is (so no `using`).
const userScript = (specifier: string) =>
  `import process from "node:process";
import { DiarizationPipeline, WeSpeakerModel } from ${JSON.stringify(specifier)};

const [weights, segmentation, wav] = process.argv.slice(2);
const hex = (a) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), (b) => b.toString(16).padStart(2, "0")).join("");
try {
  const model = await WeSpeakerModel.load(weights);
  const embedding = await model.embedFile(wav);
  const firstEmbeddingMs = performance.now();
  model.close();
  const pipeline = await DiarizationPipeline.load(segmentation, weights);
  const result = await pipeline.diarizeFile(wav);
  pipeline.close();
  console.log(JSON.stringify({
    embedding: hex(embedding),
    rttm: result.toRTTM("clip"),
    speakerEmbeddings: result.speakerEmbeddings.map((e) => e && hex(e)),
    firstEmbeddingMs,
  }));
} catch (err) {
  console.error(\`\${err.code}: \${err.message}\`);
  process.exit(3);
}
`;

interface Output {
  embedding: string;
  rttm: string;
  speakerEmbeddings: (string | null)[];
  firstEmbeddingMs: number;
}

/** The first executable called `name` on this process's PATH. */
function onPath(name: string): string {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const path = join(dir, name);
    if (dir && existsSync(path) && statSync(path).isFile()) return realpathSync(path);
  }
  throw new Error(`${name} is not on PATH`);
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function sizeOf(path: string): number {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, entry) => sum + sizeOf(join(path, entry)), 0);
}

// Bounds every install and run; generous for this shared 2-core machine.
const COMMAND_TIMEOUT_MS = 5 * 60_000;

const MiB = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

describe("clean-environment install from a local registry", { skip, timeout: 40 * 60_000 }, () => {
  let work: string;
  let env: Record<string, string>;
  let verdaccio: ChildProcess | undefined;
  let jsr: Server | undefined;
  let registry: string;
  let jsrUrl: string;
  let reference: Output;
  let args: string[];
  const report: string[] = [];

  /**
   * Runs a command in the clean environment (asynchronously: this process serves the JSR stand-in)
   * and fails the test with its output unless it exits 0 (or `ok` is false).
   */
  async function sh(
    cwd: string,
    cmd: string,
    cmdArgs: string[],
    extraEnv: Record<string, string> = {},
    ok = true,
  ) {
    const started = performance.now();
    const child = spawn(cmd.includes("/") ? cmd : join(work, "bin", cmd), cmdArgs, {
      cwd,
      env: { ...env, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "", stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => stdout += d);
    child.stderr.setEncoding("utf8").on("data", (d: string) => stderr += d);
    const timer = setTimeout(() => child.kill("SIGKILL"), COMMAND_TIMEOUT_MS);
    const status = await new Promise<number | null>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", resolve);
    }).finally(() => clearTimeout(timer));
    const seconds = (performance.now() - started) / 1000;
    if (ok) {
      assert.equal(
        status,
        0,
        `${cmd} ${cmdArgs.join(" ")} in ${cwd} (${seconds.toFixed(0)} s):\n${stdout}\n${stderr}`,
      );
    }
    return { status, stdout, stderr, seconds };
  }

  async function runScript(
    cwd: string,
    cmd: string,
    cmdArgs: string[],
    extraEnv: Record<string, string> = {},
  ) {
    const r = await sh(cwd, cmd, [...cmdArgs, ...args], extraEnv);
    return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Output;
  }

  function sameAsSource(out: Output, what: string): void {
    assert.equal(out.embedding, reference.embedding, `${what}: embedding differs from the source build's`);
    assert.equal(out.rttm, reference.rttm, `${what}: RTTM differs`);
    assert.deepEqual(
      out.speakerEmbeddings,
      reference.speakerEmbeddings,
      `${what}: speaker embeddings differ`,
    );
  }

  function project(name: string, files: Record<string, string>): string {
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
    return dir;
  }

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "wespeaker-install-"));
    const bin = join(work, "bin");
    mkdirSync(bin);
    const tools: Record<string, string> = {
      node: onPath("node"),
      npm: onPath("npm"),
      npx: onPath("npx"),
      bun: realpathSync(join(root, "node_modules", ".bin", "bun")),
      deno: realpathSync(join(root, "node_modules", ".bin", "deno")),
      sh: "/bin/sh",
    };
    for (const [name, target] of Object.entries(tools)) symlinkSync(target, join(bin, name));
    mkdirSync(join(work, "home"));
    // OpenBLAS's kernel choice (OPENBLAS_CORETYPE, set on some machines) is the machine's, not the install's:
    // it changes float32 roundings, so the clean runs keep it as the reference run has it.
    const openblas = Object.fromEntries(
      Object.entries(process.env).filter(([k, v]) => k.startsWith("OPENBLAS_") && v !== undefined),
    ) as Record<string, string>;
    env = { HOME: join(work, "home"), PATH: bin, NO_COLOR: "1", ...openblas };

    // Inputs: the generated weights the tests use, and a generated 3-speaker conversation.
    const data = join(work, "data");
    mkdirSync(data);
    for (const file of ["test-weights.safetensors", "test-segmentation.safetensors"]) {
      cpSync(join(root, "build", file), join(data, file));
    }
    writeConversationWav(join(data, "conversation.wav"), 20);
    args = ["test-weights.safetensors", "test-segmentation.safetensors", "conversation.wav"].map((f) =>
      join(data, f)
    );

    // The registry: verdaccio with our two packages published, the rest proxied to the usual one.
    const upstream =
      spawnSync(onPath("npm"), ["config", "get", "registry"], { encoding: "utf8", cwd: work }).stdout
        .trim() || "https://registry.npmjs.org/";
    const port = await freePort();
    registry = `http://127.0.0.1:${port}/`;
    const vd = join(work, "verdaccio");
    mkdirSync(vd);
    writeFileSync(
      join(vd, "config.yaml"),
      `storage: ${join(vd, "storage")}
auth:
  htpasswd:
    file: ${join(vd, "htpasswd")}
uplinks:
  upstream:
    url: ${upstream}
packages:
  "${MAIN_PACKAGE}":
    access: $all
    publish: $authenticated
  "@x/*":
    access: $all
    publish: $authenticated
  "**":
    access: $all
    proxy: upstream
max_body_size: 200mb
log: { type: stdout, format: pretty, level: error }
`,
    );
    verdaccio = spawn(
      tools.node,
      [
        join(root, "node_modules", "verdaccio", "bin", "verdaccio"),
        "--config",
        join(vd, "config.yaml"),
        "--listen",
        `127.0.0.1:${port}`,
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } },
    );
    // Never left behind, even if this process ends without running the after hook.
    process.once("exit", () => verdaccio?.kill());
    let log = "";
    verdaccio.stdout!.on("data", (d) => log += d);
    verdaccio.stderr!.on("data", (d) => log += d);
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        if ((await fetch(`${registry}-/ping`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline || verdaccio.exitCode !== null) {
        throw new Error(`verdaccio did not start:\n${log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const login = await fetch(`${registry}-/user/org.couchdb.user:ci`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "ci", password: "ci-password" }),
    });
    const { token } = await login.json() as { token: string };
    const publishConfig = join(vd, "publish.npmrc");
    writeFileSync(publishConfig, `registry=${registry}\n//127.0.0.1:${port}/:_authToken=${token}\n`);

    // npm pack, as the release would: the tarballs and what they hold.
    const packs = join(work, "packs");
    mkdirSync(packs);
    const packed = JSON.parse(
      (await sh(root, "npm", [
        "pack",
        "--json",
        "--pack-destination",
        packs,
        join(npmDir, "wespeaker"),
        join(npmDir, "wespeaker-linux-x64-gnu"),
      ]))
        .stdout,
    ) as { name: string; filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
    for (const pack of packed) {
      report.push(
        `${pack.name}: ${MiB(pack.size)} packed, ${
          MiB(pack.unpackedSize)
        } unpacked, ${pack.files.length} files`,
      );
      await sh(work, "npm", ["publish", "--userconfig", publishConfig, join(packs, pack.filename)]);
    }
    // The other targets' platform packages cannot be built here. A release publishes them all
    // before the main package (npm ci refuses a lockfile missing an optional dependency that the
    // registry lacks), so the registry gets placeholders for them: a manifest with their os and
    // cpu, which npm and Bun record in the lockfile and never install on this machine.
    const mainManifest = JSON.parse(readFileSync(join(npmDir, "wespeaker", "package.json"), "utf8"));
    for (
      const [pkg, version] of Object.entries(mainManifest.optionalDependencies as Record<string, string>)
    ) {
      if (pkg === PLATFORM_PACKAGE) continue;
      const [, os, cpu] = /-(linux|darwin)-(x64|arm64)/.exec(pkg)!;
      const dir = join(packs, "placeholders", pkg);
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, "package.json"),
        JSON.stringify({
          name: pkg,
          version,
          os: [os],
          cpu: [cpu],
          description: "test-registry placeholder",
        }),
      );
      await sh(dir, "npm", ["publish", "--userconfig", publishConfig]);
    }
    const main = packed.find((p) => p.name === MAIN_PACKAGE)!;
    const stray = main.files.map((f) => f.path).filter((path) =>
      !/^(mod\.(js|d\.ts)|lib\/.+\.(js|d\.ts)|bin\/wespeaker\.js|README\.md|LICENSE|package\.json)$/.test(
        path,
      )
    );
    assert.deepEqual(
      stray,
      [],
      "the npm package holds only the compiled module, its types, the bin and docs",
    );

    // The JSR package: what `deno publish` uploads, served the way jsr.io serves it (JSR_URL).
    const dryRun = spawnSync(tools.deno, ["publish", "--dry-run", "--allow-dirty"], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
    assert.equal(dryRun.status, 0, dryRun.stderr);
    const published = [...(dryRun.stdout + dryRun.stderr).matchAll(/file:\/\/(\S+) \(/g)].map((m) =>
      relative(root, m[1]!)
    );
    assert.ok(published.includes("mod.ts") && published.length > 20, published.join());
    const jsrFiles = join(work, "jsr-files");
    for (const file of published) cpSync(join(root, file), join(jsrFiles, file));
    const denoJson = JSON.parse(readFileSync(join(root, "deno.json"), "utf8"));
    const manifest = Object.fromEntries(published.map((file) => {
      const bytes = readFileSync(join(jsrFiles, file));
      return [`/${file}`, {
        size: bytes.length,
        checksum: `sha256-${createHash("sha256").update(bytes).digest("hex")}`,
      }];
    }));
    const [scope, name] = denoJson.name.slice(1).split("/");
    const prefix = `/@${scope}/${name}/`;
    jsr = createServer((req, res) => {
      const path = decodeURIComponent(req.url!);
      if (path === `${prefix}meta.json`) {
        res.end(
          JSON.stringify({ scope, name, latest: denoJson.version, versions: { [denoJson.version]: {} } }),
        );
      } else if (path === `${prefix}${denoJson.version}_meta.json`) {
        res.end(JSON.stringify({ manifest, exports: denoJson.exports }));
      } else if (
        path.startsWith(`${prefix}${denoJson.version}/`) &&
        manifest[path.slice(prefix.length + denoJson.version.length)]
      ) {
        res.end(readFileSync(join(jsrFiles, path.slice(prefix.length + denoJson.version.length))));
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve) => jsr!.listen(0, "127.0.0.1", resolve));
    jsrUrl = `http://127.0.0.1:${(jsr.address() as { port: number }).port}/`;

    // The source build's output, by the same script importing the checkout's mod.ts.
    const ref = project("reference", { "main.mjs": userScript(pathToFileURL(join(root, "mod.ts")).href) });
    const r = spawnSync(tools.deno, ["run", "--allow-all", join(ref, "main.mjs"), ...args], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
    assert.equal(r.status, 0, r.stderr);
    reference = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.match(reference.rttm, /^SPEAKER clip 1 /);
  });

  after(async () => {
    verdaccio?.kill();
    await new Promise<void>((resolve) => jsr ? jsr.close(() => resolve()) : resolve());
    process.stderr.write(`\nclean install report:\n  ${report.join("\n  ")}\n`);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("the clean PATH has no compiler, cmake or python3", async () => {
    for (const tool of ["cc", "gcc", "c++", "g++", "clang", "cmake", "python3", "python", "make"]) {
      const r = await sh(work, "sh", ["-c", `command -v ${tool}`], {}, false);
      assert.notEqual(r.status, 0, `${tool} is reachable: ${r.stdout}`);
    }
  });

  test("npm + Node: `npm i wespeaker`, then embed and diarize exactly as the source build", async () => {
    const app = project("npm-app", {
      ".npmrc": `registry=${registry}\n`,
      "package.json": JSON.stringify({ name: "npm-app", private: true, type: "module" }),
      "main.mjs": userScript(MAIN_PACKAGE),
    });
    assert.deepEqual(README.npm, ["npm", "i", MAIN_PACKAGE]);
    const install = await sh(app, "npm", README.npm.slice(1));
    const modules = join(app, "node_modules");
    for (const dev of ["onnxruntime-node", "sherpa-onnx-node", "deno", "bun", "typescript", "verdaccio"]) {
      assert.ok(!existsSync(join(modules, dev)), `${dev} was installed with the package`);
    }
    const platformDir = join(modules, PLATFORM_PACKAGE);
    checkLinux(platformDir);
    const out = await runScript(app, "node", ["main.mjs"]);
    sameAsSource(out, "npm + Node");
    const again = await runScript(app, "node", ["main.mjs"]);
    report.push(
      `npm i wespeaker: ${install.seconds.toFixed(1)} s, node_modules ${MiB(sizeOf(modules))} ` +
        `(${PLATFORM_PACKAGE} ${MiB(sizeOf(platformDir))}); first embedding at ${
          out.firstEmbeddingMs.toFixed(0)
        } ms ` +
        `from process start (${again.firstEmbeddingMs.toFixed(0)} ms on a second run)`,
    );
    // The bin, as `npx wespeaker` finds it.
    assert.match(
      (await sh(app, "npx", ["wespeaker", "version"])).stdout,
      /^\d+\.\d+\.\d+ \(mlx \d+\.\d+\.\d+\)\n$/,
    );

    // The platform package records what it needs from the system; this system has it.
    const minimum = JSON.parse(readFileSync(join(platformDir, "package.json"), "utf8")).wespeaker.minimum;
    assert.match(minimum.GLIBC, /^2\.\d+$/);
    report.push(
      `${PLATFORM_PACKAGE} needs glibc >= ${minimum.GLIBC}, libstdc++ with GLIBCXX_${minimum.GLIBCXX}`,
    );

    const reinstall = await sh(app, "npm", ["ci"]);
    sameAsSource(await runScript(app, "node", ["main.mjs"]), "npm + Node after npm ci");
    report.push(`npm ci: ${reinstall.seconds.toFixed(1)} s, library still loads`);
  });

  test("strict TypeScript consumers type-check the published declarations", async () => {
    const app = join(work, "npm-app");
    writeFileSync(
      join(app, "consumer.ts"),
      `import { DiarizationPipeline, type DiarizeOptions, WeSpeakerError, WeSpeakerModel } from "wespeaker";
const model = await WeSpeakerModel.load("w.safetensors");
const embedding: Float32Array = await model.embedFile("a.wav");
const options: DiarizeOptions = { maxSpeakers: 2 };
const pipeline = await DiarizationPipeline.load("s.safetensors", "w.safetensors");
const first = (await pipeline.diarizeFile("a.wav", options)).segments[0];
console.log(first?.speaker, embedding[0]);
try {
  model.close();
} catch (err) {
  if (err instanceof WeSpeakerError) console.log(err.code);
}
`,
    );
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          // No DOM, no Deno: only the language and Node's declarations.
          lib: ["es2022"],
          types: ["node"],
          typeRoots: [join(root, "node_modules", "@types")],
          skipLibCheck: false,
          noEmit: true,
        },
        files: ["consumer.ts"],
      }),
    );
    const r = await sh(
      app,
      "node",
      [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "."],
      {},
      false,
    );
    assert.equal(r.status, 0, `tsc reported:\n${r.stdout}${r.stderr}`);
    const declarations = readdirSync(join(app, "node_modules", MAIN_PACKAGE), { recursive: true })
      .filter((f) => String(f).endsWith(".d.ts"))
      .map((f) => readFileSync(join(app, "node_modules", MAIN_PACKAGE, String(f)), "utf8"))
      .join("\n");
    assert.doesNotMatch(declarations, /\bDeno\.|reference lib="(dom|deno)/);
  });

  test("Bun: `bun add wespeaker`, the same output, and after `bun install --force`", async () => {
    const app = project("bun-app", {
      ".npmrc": `registry=${registry}\n`,
      "package.json": JSON.stringify({ name: "bun-app", private: true, type: "module" }),
      "main.ts": userScript(MAIN_PACKAGE),
    });
    assert.deepEqual(README.bun, ["bun", "add", MAIN_PACKAGE]);
    const install = await sh(app, "bun", README.bun.slice(1));
    const out = await runScript(app, "bun", ["main.ts"]);
    sameAsSource(out, "Bun");
    report.push(
      `bun add wespeaker: ${install.seconds.toFixed(1)} s, node_modules ${
        MiB(sizeOf(join(app, "node_modules")))
      }; ` +
        `first embedding at ${out.firstEmbeddingMs.toFixed(0)} ms`,
    );
    const reinstall = await sh(app, "bun", ["install", "--force"]);
    sameAsSource(await runScript(app, "bun", ["main.ts"]), "Bun after bun install --force");
    report.push(`bun install --force: ${reinstall.seconds.toFixed(1)} s, library still loads`);
  });

  test("Deno: the README's `jsr:` import and permissions; offline reuse; permission and not-found errors", async () => {
    const app = project("deno-app", { "main.ts": userScript(README.denoSpecifier) });
    const online = { JSR_URL: jsrUrl, NPM_CONFIG_REGISTRY: registry };
    const first = await sh(app, "deno", ["run", ...DENO_FLAGS, "main.ts", ...args], online);
    const out: Output = JSON.parse(first.stdout.trim().split("\n").at(-1)!);
    sameAsSource(out, "Deno (JSR)");
    const native = join(env.HOME!, ".cache", "wespeaker", "native");
    assert.deepEqual(readdirSync(native), [
      `${PLATFORM_PACKAGE.replace("/", "+")}@${
        JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version
      }`,
    ]);
    checkLinux(join(native, readdirSync(native)[0]!));
    report.push(
      `deno run (JSR, first run, fetching ${PLATFORM_PACKAGE} from the registry): ${
        first.seconds.toFixed(1)
      } s, ` +
        `first embedding at ${out.firstEmbeddingMs.toFixed(0)} ms; Deno's cache ${
          MiB(sizeOf(join(env.HOME!, ".cache", "deno")))
        }, ` +
        `wespeaker's ${MiB(sizeOf(native))}`,
    );

    // A missing --allow-ffi is its own error, not "build it".
    const noFfi = await sh(
      app,
      "deno",
      ["run", ...DENO_FLAGS.filter((f) => f !== "--allow-ffi"), "main.ts", ...args],
      online,
      false,
    );
    assert.equal(noFfi.status, 3, noFfi.stderr);
    assert.match(noFfi.stderr, /^permission-denied: .*\n {2}--allow-ffi: libwespeaker is native code/m);

    // Both servers gone: the module and the library come from the caches.
    verdaccio!.kill();
    await new Promise<void>((resolve) => jsr!.close(() => resolve()));
    jsr = undefined;
    const offline = await runScript(app, "deno", ["run", ...DENO_FLAGS, "main.ts"], online);
    sameAsSource(offline, "Deno offline");
    report.push(
      `deno run offline (both servers stopped): first embedding at ${offline.firstEmbeddingMs.toFixed(0)} ms`,
    );

    // mod.ts imported by path from a project without any import map.
    const byPath = project("deno-by-path", {
      "main.ts": userScript(pathToFileURL(join(work, "jsr-files", "mod.ts")).href),
    });
    sameAsSource(
      await runScript(byPath, "deno", ["run", ...DENO_FLAGS, "main.ts"], online),
      "Deno, mod.ts by path",
    );

    // Nothing installed, nothing cached, no registry: every place tried, and the fix.
    const nowhere = await sh(app, "deno", ["run", ...DENO_FLAGS, "main.ts", ...args], {
      ...online,
      WESPEAKER_CACHE: join(work, "empty-cache"),
    }, false);
    assert.equal(nowhere.status, 3, nowhere.stderr);
    assert.match(
      nowhere.stderr,
      /^library-not-found: libwespeaker could not be loaded\.\nTried, in order:\n/,
    );
    assert.match(nowhere.stderr, /@x\/wespeaker-linux-x64-gnu \(installed\): not installed/);
    assert.match(nowhere.stderr, /system loader: libwespeaker\.so: /);
    assert.match(nowhere.stderr, /@x\/wespeaker-linux-x64-gnu from the npm registry: could not reach/);
    assert.match(nowhere.stderr, /\nFix: let this run reach http:\/\/127\.0\.0\.1:\d+\/ once/);
  });
});
