// Bundle the consoles (and the browser extension) with esbuild into the gateway's static folder.
import { build, context } from "esbuild";
import { cp, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, "..", "gateway", "static", "app");
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

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
await cp(join(here, "src", "pages"), outdir, { recursive: true });

if (watch) {
  const ctx = await context(consoles);
  await ctx.watch();
} else {
  await build(consoles);
}
