#!/usr/bin/env node
// Compiles the TypeScript sources to JavaScript + declarations with TypeScript's own compiler, for
// Node.js (which cannot run .ts) and for the npm package (so that strict `tsc` consumers check our
// .d.ts, not our sources). Whatever lib/, tests/ and scripts/ hold is compiled: no file list.
//
//   dist/node/          the whole checkout compiled (mod, lib, tests, scripts), laid out as the
//                       checkout is, with the files that are not TypeScript (fixtures, package.json,
//                       build/, ../shared) linked in: `node --test dist/node/tests/` runs the suite
//   dist/npm/wespeaker/ the npm package: mod.js, lib/ (.js + .d.ts), bin/wespeaker.js, README,
//                       LICENSE and its package.json (written here, from ours)
//
// The published code (mod.ts, lib/) is type-checked against Node's declarations and ES2023 only,
// so that nothing from Deno's namespace or the DOM reaches the .d.ts; tests and scripts are only
// transpiled (Deno's type check covers them). Emitting also rewrites, for Node:
//   - `npm:name@version/sub` import specifiers (Deno's, needed where no import map applies) to
//     `name/sub`; the version must be the one package.json depends on;
//   - string literals naming a .ts file of the checkout (`new URL("./worker.ts", import.meta.url)`,
//     a script path given to a child process) to the .js file;
//   - `import.meta.main`, which Node 20 lacks, to a check of the script Node was started with.
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const root = resolve(import.meta.dirname, "..");
const dist = join(root, "dist");
const nodeTree = join(dist, "node");
const npmDir = join(dist, "npm", "wespeaker");
const SOURCE_DIRS = ["lib", "tests", "scripts"];
const rootPackage = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

function log(msg) {
  process.stderr.write(`[build_js] ${msg}\n`);
}

/** Every .ts file under `dir` (recursively), and whether `dir` holds any. */
function tsFiles(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...tsFiles(path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) found.push(path);
  }
  return found;
}

const sources = [join(root, "mod.ts"), ...SOURCE_DIRS.flatMap((dir) => tsFiles(join(root, dir)))];
const sourceSet = new Set(sources);
const published = (file) => file === join(root, "mod.ts") || file.startsWith(join(root, "lib") + "/");

// `npm:` specifiers: name and version, checked against package.json's dependencies.
const NPM_SPECIFIER = /^npm:((?:@[^/@]+\/)?[^/@]+)@([^/]+)(\/.*)?$/;
const npmVersions = { ...rootPackage.devDependencies, ...rootPackage.dependencies };
const problems = [];

function rewriteSpecifier(specifier, file) {
  const m = NPM_SPECIFIER.exec(specifier);
  if (!m) return undefined;
  const [, name, version, sub = ""] = m;
  const wanted = published(file) ? rootPackage.dependencies?.[name] : npmVersions[name];
  if (wanted !== version) {
    problems.push(
      `${relative(root, file)}: ${specifier} but package.json ${
        published(file) ? "dependencies" : "lists"
      } ${name}@${wanted ?? "(none)"}`,
    );
  }
  return name + sub;
}

// A string naming a .ts file of the checkout, relative to the file or to the root: its .js name.
function jsPathFor(text, file) {
  if (!/\.ts$/.test(text) || text.startsWith("npm:") || text.includes("://")) return undefined;
  const base = text.startsWith("./") || text.startsWith("../") ? dirname(file) : root;
  return sourceSet.has(resolve(base, text)) ? text.replace(/\.ts$/, ".js") : undefined;
}

const MAIN_CHECK = "__wespeakerIsMain";
const usesMain = new Set();

function isImportMetaMain(node) {
  return ts.isPropertyAccessExpression(node) && node.name.text === "main" &&
    ts.isMetaProperty(node.expression) && node.expression.keywordToken === ts.SyntaxKind.ImportKeyword;
}

/** The JavaScript rewrites listed at the top. */
function jsTransformer(context) {
  const f = context.factory;
  return (sourceFile) => {
    const file = sourceFile.fileName;
    const visit = (node) => {
      if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))) {
        const replacement = rewriteSpecifier(node.text, file) ?? jsPathFor(node.text, file);
        if (replacement !== undefined) return f.createStringLiteral(replacement);
      }
      if (isImportMetaMain(node)) {
        usesMain.add(resolve(file));
        const url = f.createPropertyAccessExpression(
          f.createMetaProperty(ts.SyntaxKind.ImportKeyword, f.createIdentifier("meta")),
          "url",
        );
        return f.createParenthesizedExpression(
          f.createBinaryExpression(
            node,
            ts.SyntaxKind.QuestionQuestionToken,
            f.createCallExpression(f.createIdentifier(MAIN_CHECK), undefined, [url]),
          ),
        );
      }
      return ts.visitEachChild(node, visit, context);
    };
    return ts.visitNode(sourceFile, visit);
  };
}

/** Declarations: `npm:` specifiers in imports and `import("…")` types. */
function declarationTransformer(context) {
  const f = context.factory;
  return (sourceFile) => {
    const visit = (node) => {
      if (ts.isStringLiteral(node)) {
        const replacement = rewriteSpecifier(node.text, sourceFile.fileName);
        if (replacement !== undefined) return f.createStringLiteral(replacement);
      }
      return ts.visitEachChild(node, visit, context);
    };
    return ts.visitNode(sourceFile, visit);
  };
}

// Prepended to modules that use import.meta.main (after a shebang line, if any).
const MAIN_HELPER = `import { realpathSync as __wespeakerRealpath } from "node:fs";
import __wespeakerProcess from "node:process";
import { pathToFileURL as __wespeakerFileURL } from "node:url";
// Node before 24 has no import.meta.main: a module is the main one if Node was started with it.
function ${MAIN_CHECK}(url) {
  try {
    return url === __wespeakerFileURL(__wespeakerRealpath(__wespeakerProcess.argv[1])).href;
  } catch {
    return false;
  }
}
`;

function compile() {
  const options = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ["lib.es2023.d.ts", "lib.esnext.disposable.d.ts"],
    types: ["node"],
    strict: true,
    isolatedModules: true,
    skipLibCheck: true,
    declaration: true,
    allowImportingTsExtensions: true,
    rewriteRelativeImportExtensions: true,
    rootDir: root,
    outDir: nodeTree,
    newLine: ts.NewLineKind.LineFeed,
  };
  // `npm:` specifiers resolve to the installed packages, as the bare names they are rewritten to.
  const host = ts.createCompilerHost(options);
  host.resolveModuleNameLiterals = (
    literals,
    containingFile,
    redirectedReference,
    compilerOptions,
    sourceFile,
  ) =>
    literals.map((literal) => {
      const name = NPM_SPECIFIER.exec(literal.text)
        ? literal.text.replace(NPM_SPECIFIER, "$1$3")
        : literal.text;
      const mode = ts.getModeForUsageLocation(sourceFile, literal, compilerOptions);
      return ts.resolveModuleName(
        name,
        containingFile,
        compilerOptions,
        host,
        undefined,
        redirectedReference,
        mode,
      );
    });
  const program = ts.createProgram({ rootNames: sources, options, host });
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...sources.filter(published).flatMap((file) => {
      const sourceFile = program.getSourceFile(file);
      return [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)];
    }),
  ];
  if (diagnostics.length > 0) {
    const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => "\n" };
    process.stderr.write(ts.formatDiagnosticsWithColorAndContext(diagnostics, host));
    throw new Error(`${diagnostics.length} type error(s) in the published code (mod.ts, lib/)`);
  }
  const writeFile = (fileName, text) => {
    const source = resolve(root, relative(nodeTree, fileName)).replace(/\.js$/, ".ts");
    if (fileName.endsWith(".js") && usesMain.has(source)) {
      const shebang = text.startsWith("#!") ? text.slice(0, text.indexOf("\n") + 1) : "";
      text = shebang + MAIN_HELPER + text.slice(shebang.length);
    }
    mkdirSync(dirname(fileName), { recursive: true });
    writeFileSync(fileName, text);
  };
  const result = program.emit(undefined, writeFile, undefined, false, {
    before: [jsTransformer],
    afterDeclarations: [declarationTransformer],
  });
  if (result.emitSkipped) throw new Error("TypeScript skipped the emit");
  if (problems.length > 0) {
    throw new Error(`npm: specifiers out of step with package.json:\n  ${problems.join("\n  ")}`);
  }
}

function link(target, path) {
  if (existsSync(path) || isLink(path)) return;
  mkdirSync(dirname(path), { recursive: true });
  symlinkSync(relative(dirname(path), target), path);
}

function isLink(path) {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

// What the compiled tests read beside the code: everything in the source directories that is not
// TypeScript, the root's files (package.json, deno.json, …), build/ and the shared data beside
// the checkout (tests reach it as ../../shared from tests/).
function linkTheRest() {
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const out = join(nodeTree, relative(root, path));
      if (entry.isDirectory()) {
        if (tsFiles(path).length > 0) walk(path);
        else link(path, out);
      } else if (!entry.name.endsWith(".ts")) {
        link(path, out);
      }
    }
  };
  for (const dir of SOURCE_DIRS) walk(join(root, dir));
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (entry.isFile() && !entry.name.startsWith(".") && !entry.name.endsWith(".ts")) {
      link(join(root, entry.name), join(nodeTree, entry.name));
    }
  }
  link(join(root, "build"), join(nodeTree, "build"));
  const shared = resolve(root, "..", "shared");
  if (existsSync(shared)) link(shared, join(dist, "shared"));
}

const BIN = `#!/usr/bin/env node
// The wespeaker command for Node.js (and Bun through npm's bin links).
import process from "node:process";
import { main } from "../lib/cli.js";

process.exitCode = await main(process.argv.slice(2));
`;

// The targets with a prebuilt platform package; which package each gets is lib/native's to say.
const TARGETS = [["linux", "x64"], ["linux", "arm64"], ["darwin", "arm64"]];

/** The published package.json, from ours: what users install, and nothing for development. */
async function npmManifest() {
  const { platformPackages } = await import(join(nodeTree, "lib", "native", "platform_package.js"));
  // The default package of each target (the last one listed; a CUDA build is opt-in).
  const platform = TARGETS.map(([os, arch]) => platformPackages(os, arch).at(-1));
  const { name, version, description, license, type, engines, dependencies } = rootPackage;
  return {
    name,
    version,
    description,
    license,
    type,
    exports: {
      ".": { types: "./mod.d.ts", default: "./mod.js" },
      "./cli": { types: "./lib/cli.d.ts", default: "./lib/cli.js" },
      "./package.json": "./package.json",
    },
    main: "./mod.js",
    types: "./mod.d.ts",
    bin: { wespeaker: "bin/wespeaker.js" },
    files: ["mod.js", "mod.d.ts", "lib/", "bin/"],
    engines,
    dependencies,
    optionalDependencies: Object.fromEntries(platform.map((pkg) => [pkg, version])),
  };
}

async function assembleNpmPackage() {
  const copyTree = (from, to) => {
    for (const entry of readdirSync(from, { withFileTypes: true })) {
      const path = join(from, entry.name);
      if (entry.isDirectory()) copyTree(path, join(to, entry.name));
      else if (/\.(js|d\.ts)$/.test(entry.name)) {
        mkdirSync(to, { recursive: true });
        writeFileSync(join(to, entry.name), readFileSync(path));
      }
    }
  };
  copyTree(join(nodeTree, "lib"), join(npmDir, "lib"));
  for (const file of ["mod.js", "mod.d.ts"]) {
    writeFileSync(join(npmDir, file), readFileSync(join(nodeTree, file)));
  }
  for (const file of ["README.md", "LICENSE"]) {
    writeFileSync(join(npmDir, file), readFileSync(join(root, file)));
  }
  mkdirSync(join(npmDir, "bin"), { recursive: true });
  writeFileSync(join(npmDir, "bin", "wespeaker.js"), BIN, { mode: 0o755 });
  writeFileSync(join(npmDir, "package.json"), JSON.stringify(await npmManifest(), null, 2) + "\n");
}

if (import.meta.main ?? process.argv[1] === import.meta.filename) {
  const started = performance.now();
  rmSync(nodeTree, { recursive: true, force: true });
  rmSync(npmDir, { recursive: true, force: true });
  compile();
  linkTheRest();
  mkdirSync(join(nodeTree, "bin"), { recursive: true });
  writeFileSync(join(nodeTree, "bin", "wespeaker.js"), BIN, { mode: 0o755 });
  await assembleNpmPackage();
  log(
    `${sources.length} files compiled into ${relative(root, nodeTree)}/, npm package in ${
      relative(root, npmDir)
    }/ ` +
      `(${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
}
