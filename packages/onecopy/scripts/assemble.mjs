#!/usr/bin/env node
// Assemble the one publishable `onecopy` package in packages/onecopy/publish/.
//
// onecopy ships as ONE package: the workspace packages @onecopy/cma, @onecopy/rendezvous and
// @onecopy/collectives are layers of one runtime, released together, so they travel as folders
// of it (dist/internal/<name>/) instead of as four registry packages whose versions could drift.
// `npm install onecopy` (or a single .tgz) then brings in everything; only the third-party
// dependencies of the layers (koffi, msgpackr) come from the registry.
//
// In the workspace the layers stay separate packages (tsc -b, tests importing @onecopy/*). This
// script copies their compiled output next to onecopy's, rewrites every `@onecopy/<layer>`
// specifier into a relative path, and writes a package.json without workspace: ranges. It
// then checks that every bare import left in the tree is a Node builtin or a declared dependency.
//
//   node scripts/assemble.mjs            build (tsc -b) and assemble publish/
//   node scripts/assemble.mjs --no-build assemble from the existing dist/ folders
//
// `pnpm pack` / `pnpm publish` in packages/onecopy run it as `prepack` and then pack publish/
// (publishConfig.directory). npm has no publishConfig.directory: under npm this prepack
// assembles and then stops npm from packing the workspace folder, saying what to run instead.
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { builtinModules, createRequire } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const PKG_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const ROOT = resolve(PKG_DIR, "../..");
const OUT = join(PKG_DIR, "publish");

/** The workspace layers bundled into the package, by package name → folder under dist/internal. */
const LAYERS = { "@onecopy/cma": "cma", "@onecopy/rendezvous": "rendezvous", "@onecopy/collectives": "collectives" };

/** Fields of the workspace manifest that the published one keeps, in this order. */
const KEPT_FIELDS = [
  "name", "version", "description", "keywords", "homepage", "bugs", "repository", "license", "author", "type",
  "engines", "os", "main", "types", "exports", "typesVersions", "bin", "files", "dependencies", "peerDependencies", "peerDependenciesMeta",
];

/** Type-declaration entry points that get `/// <reference types="node" />`. */
const TYPE_ENTRIES = ["dist/index.d.ts", "dist/launcher/index.d.ts", "dist/cma.d.ts"];

function fail(message) {
  process.stderr.write(`assemble: ${message}\n`);
  process.exit(1);
}

const readJson = (path) => JSON.parse(readFileSync(path, "utf8"));

function* walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}

/** Build artefacts that do not ship: source maps (their sources are not shipped) and tsc's build info. */
const shipped = (path) => /\.(js|d\.ts)$/.test(path) && !path.endsWith(".tsbuildinfo");

const SPECIFIER = /(["'])(@onecopy\/(?:cma|rendezvous|collectives))\1/g;

/** Rewrite `@onecopy/<layer>` string literals in `text` (a file that will live at `dest`) to relative paths. */
function rewrite(text, dest) {
  return text
    .replace(SPECIFIER, (_, quote, name) => {
      let rel = relative(dirname(dest), join(OUT, "dist", "internal", LAYERS[name], "index.js")).split(sep).join("/");
      if (!rel.startsWith(".")) rel = `./${rel}`;
      return `${quote}${rel}${quote}`;
    })
    .replace(/^\/\/# sourceMappingURL=.*$/m, "")
    .trimEnd()
    .concat("\n");
}

function copyTree(from, to) {
  let files = 0;
  for (const src of walk(from)) {
    if (!shipped(src)) continue;
    const dest = join(to, relative(from, src));
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, rewrite(readFileSync(src, "utf8"), dest));
    files++;
  }
  if (files === 0) fail(`no compiled files in ${relative(ROOT, from)}: run tsc -b first`);
}

/** Third-party dependencies: the workspace manifest's and each layer's, without workspace: ranges. */
function dependencies(manifest) {
  const deps = {};
  const add = (from, name, range) => {
    if (range.startsWith("workspace:")) {
      if (!(name in LAYERS)) fail(`${from} depends on workspace package ${name}, which is not bundled`);
      return;
    }
    if (deps[name] !== undefined && deps[name] !== range) fail(`${name} is wanted as ${deps[name]} and as ${range} (${from}): align them`);
    deps[name] = range;
  };
  for (const [name, range] of Object.entries(manifest.dependencies ?? {})) add("onecopy", name, range);
  for (const [layer, folder] of Object.entries(LAYERS)) {
    const m = readJson(join(ROOT, "packages", folder, "package.json"));
    if (m.name !== layer) fail(`packages/${folder} is ${m.name}, expected ${layer}`);
    for (const [name, range] of Object.entries(m.dependencies ?? {})) add(layer, name, range);
  }
  return Object.fromEntries(Object.entries(deps).sort(([a], [b]) => a.localeCompare(b)));
}

/** Every bare specifier imported anywhere in the assembled tree must be a builtin or declared. */
function checkImports(manifest) {
  const declared = new Set([manifest.name, ...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
  const builtins = new Set(builtinModules);
  // tsc's output spells them `from "x"`, `import "x"`, `import("x")`, `require.resolve("x")`
  const pattern = /(?<![\w"'.])(?:from\s+|import\s*\(\s*|import\s+|require(?:\.resolve)?\s*\(\s*)(["'])([^"'\n]+)\1/g;
  const problems = [];
  for (const file of walk(join(OUT, "dist"))) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(pattern)) {
      const spec = m[2];
      if (spec.startsWith(".") || spec.startsWith("node:") || spec.startsWith("file:")) continue;
      const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0];
      if (builtins.has(name) || declared.has(name)) continue;
      problems.push(`${relative(OUT, file)} imports '${spec}', which is not a dependency`);
    }
    if (/["']@onecopy\//.test(text)) problems.push(`${relative(OUT, file)} still names an @onecopy/ package`);
  }
  if (problems.length) fail(problems.join("\n"));
}

function assemble() {
  const manifest = readJson(join(PKG_DIR, "package.json"));
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });

  copyTree(join(PKG_DIR, "dist"), join(OUT, "dist"));
  for (const folder of Object.values(LAYERS)) copyTree(join(ROOT, "packages", folder, "dist"), join(OUT, "dist", "internal", folder));
  for (const entry of TYPE_ENTRIES) {
    const path = join(OUT, entry);
    writeFileSync(path, `/// <reference types="node" />\n${readFileSync(path, "utf8")}`);
  }

  const published = {};
  for (const field of KEPT_FIELDS) if (manifest[field] !== undefined) published[field] = manifest[field];
  published.dependencies = dependencies(manifest);
  writeFileSync(join(OUT, "package.json"), JSON.stringify(published, null, 2) + "\n");
  copyFileSync(join(PKG_DIR, "README.md"), join(OUT, "README.md"));
  copyFileSync(join(ROOT, "LICENSE"), join(OUT, "LICENSE"));
  for (const bin of Object.values(published.bin ?? {})) chmodSync(join(OUT, bin), 0o755);

  checkImports(published);
  return published;
}

const args = process.argv.slice(2);
if (!args.includes("--no-build")) {
  const tsc = createRequire(join(ROOT, "package.json")).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-b", ROOT], { stdio: "inherit" });
}
const published = assemble();
const files = [...walk(OUT)].length;
process.stdout.write(`assemble: ${published.name}@${published.version} in ${relative(process.cwd(), OUT) || "."} (${files} files)\n`);

const agent = process.env.npm_config_user_agent ?? "";
if (process.env.npm_lifecycle_event === "prepack" && agent.startsWith("npm/")) {
  const where = `./${relative(process.cwd(), OUT)}`; // a bare name would be looked up on the registry
  fail(
    "npm packs this workspace folder, not the assembled package (npm has no publishConfig.directory).\n" +
      `  Pack or publish the assembled folder instead: npm pack ${where}  /  npm publish ${where}\n` +
      "  (or run pnpm pack / pnpm publish here, which do that).",
  );
}
