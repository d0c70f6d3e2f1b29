// Bundles the dashboard into static/dashboard/ (git-ignored; `make setup` runs this).
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");

await build({
  entryPoints: {
    dashboard: path.join(here, "src/main.js"),
  },
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "iife",
  target: ["chrome110", "firefox110", "safari16"],
  outdir: path.join(root, "static/dashboard"),
  loader: { ".css": "css" },
  logLevel: "info",
});
await build({
  entryPoints: { dashboard: path.join(here, "src/dashboard.css") },
  bundle: true,
  minify: true,
  outdir: path.join(root, "static/dashboard"),
  logLevel: "info",
});
