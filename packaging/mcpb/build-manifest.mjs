// Writes the bundle's manifest.json: manifest.template.json, with
//   - version: what the server binary reports (`--version`, i.e. Cargo.toml's);
//   - server.entry_point, mcp_config.command and one platform_overrides entry per other platform
//     in the bundle (server/<platform>/mcp-files-sqlite[.exe]), and compatibility.platforms;
//   - tools and prompts: exactly what the server lists (tools/list, prompts/list) when it serves
//     a writable folder and a writable database, which is when it offers everything.
// The lists come from the server itself, so they cannot drift from it; unpack-test.mjs checks the
// packed bundle against the server again.
//
// Usage: node build-manifest.mjs --bin SERVER --platforms linux,win32 --out stage/manifest.json
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { StdioClient, manifestEntries } from "./client.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const option = (name) => {
  const at = argv.indexOf(name);
  if (at < 0 || at + 1 >= argv.length) throw new Error(`missing ${name}; usage: ${process.argv[1]} --bin SERVER --platforms linux,win32 --out FILE`);
  return argv[at + 1];
};
const bin = option("--bin");
const platforms = option("--platforms").split(",").filter(Boolean);
const out = option("--out");
const host = process.platform;
if (!platforms.includes(host)) throw new Error(`--platforms must include this platform (${host})`);

const binaryPath = (platform) => `server/${platform}/mcp-files-sqlite${platform === "win32" ? ".exe" : ""}`;

const template = JSON.parse(readFileSync(join(here, "manifest.template.json"), "utf8"));
const version = execFileSync(bin, ["--version"], { encoding: "utf8" }).trim().split(/\s+/).pop();

const work = mkdtempSync(join(tmpdir(), "mcpb-manifest-"));
let entries;
try {
  const db = join(work, "bookshop.db");
  copyFileSync(join(here, "../../sample-data/data/bookshop.db"), db);
  const server = new StdioClient(bin, [work, "--db-rw", db, "--watch", "off"]);
  await server.initialize();
  entries = manifestEntries(await server.listAll("tools/list", "tools"), await server.listAll("prompts/list", "prompts"));
  await server.close();
} finally {
  rmSync(work, { recursive: true, force: true });
}

const entry = binaryPath(host);
const overrides = Object.fromEntries(
  platforms.filter((p) => p !== host).map((p) => [p, { command: `\${__dirname}/${binaryPath(p)}` }]),
);
const mcpConfig = { ...template.server.mcp_config, command: `\${__dirname}/${entry}` };
if (Object.keys(overrides).length) mcpConfig.platform_overrides = overrides;
const manifest = {};
for (const [key, value] of Object.entries(template)) {
  if (key === "version") manifest.version = version;
  else if (key === "server") {
    manifest.server = { ...value, entry_point: entry, mcp_config: mcpConfig };
    manifest.compatibility = { platforms };
    manifest.tools = entries.tools;
    manifest.prompts = entries.prompts;
  } else manifest[key] = value;
}
writeFileSync(out, JSON.stringify(manifest, null, 2) + "\n");
console.log(`wrote ${out}: version ${version}, ${entries.tools.length} tools, ${entries.prompts.length} prompts, platforms ${platforms.join(", ")}`);
