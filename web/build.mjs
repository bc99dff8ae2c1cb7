// Bundle the consoles (and the browser extension) with esbuild into the gateway's static folder.
import { build, context } from "esbuild";
import { cp, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, "..", "gateway", "static", "app");
const extdir = join(here, "..", "extension");
const watch = process.argv.includes("--watch");

const consoles = {
  entryPoints: {
    agent: join(here, "src", "agent", "main.js"),
    manager: join(here, "src", "manager", "main.js"),
  },
  outdir,
  bundle: true,
  format: "esm",
  target: ["chrome110", "firefox115", "safari16"],
  minify: !watch,
  sourcemap: true,
  logLevel: process.argv.includes("--quiet") ? "warning" : "info",
};

// The MV3 extension: content scripts cannot be modules, so every part is a plain script.
const extension = {
  entryPoints: ["background", "content", "popup", "options"].map((name) => join(extdir, "src", `${name}.js`)),
  outdir: join(extdir, "dist"),
  // The extension's sources live outside web/ but use its npm packages.
  nodePaths: [join(here, "node_modules")],
  bundle: true,
  format: "iife",
  target: ["chrome110"],
  minify: !watch,
  logLevel: consoles.logLevel,
};

for (const [dir, pages] of [
  [outdir, join(here, "src", "pages")],
  [extension.outdir, join(extdir, "static")],
]) {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await cp(pages, dir, { recursive: true });
}

if (watch) {
  await (await context(consoles)).watch();
  await (await context(extension)).watch();
} else {
  await Promise.all([build(consoles), build(extension)]);
}
