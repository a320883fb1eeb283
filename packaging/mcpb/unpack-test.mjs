// The bundle, started exactly as a host starts it: unpacks the .mcpb with `mcpb unpack`, turns
// its mcp_config into a command line with the MCPB library's own getMcpConfigForManifest (the
// reference substitution of ${__dirname} and ${user_config.*}, with the platform's overrides),
// spawns that, and checks over MCP that
//   - the manifest's tools and prompts are what the server lists (no drift);
//   - every user_config option reaches the server: folders (with spaces in their paths),
//     read-only folders, read-only and writable databases, the read-only switch;
//   - a file tool and SQL tools work, and the read-only settings hold;
//   - optional values left empty, or left as literal ${user_config.*} by a host without defaults,
//     start the server with nothing extra; a missing required folder starts nothing.
// Usage: node unpack-test.mjs BUNDLE.mcpb      (exit 0 when every check passes)
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { homedir, tmpdir } from "node:os";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { getMcpConfigForManifest } from "@anthropic-ai/mcpb";
import { StdioClient, manifestEntries } from "./client.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const bundle = process.argv[2];
if (!bundle) throw new Error("usage: node unpack-test.mjs BUNDLE.mcpb");
const cli = join(here, "node_modules/@anthropic-ai/mcpb/dist/cli/cli.js");
const work = mkdtempSync(join(tmpdir(), "mcpb unpack "));
let passed = 0;
const check = async (name, body) => {
  try {
    await body();
    passed++;
    console.log(`PASS ${name}`);
  } catch (error) {
    console.log(`FAIL ${name}\n${error.stack ?? error}`);
    process.exitCode = 1;
  }
};
const text = (result) => result.content.filter((c) => c.type === "text").map((c) => c.text).join("\n");

try {
  const extension = join(work, "extension");
  execFileSync(process.execPath, [cli, "unpack", bundle, extension], { stdio: "inherit" });
  const manifest = JSON.parse(readFileSync(join(extension, "manifest.json"), "utf8"));

  await check("the manifest version is the one `mcpb init` writes", async () => {
    const init = join(work, "init");
    mkdirSync(init);
    execFileSync(process.execPath, [cli, "init", "--yes", init], { stdio: "ignore" });
    const emitted = JSON.parse(readFileSync(join(init, "manifest.json"), "utf8")).manifest_version;
    assert.equal(manifest.manifest_version, emitted);
  });

  // The user's choices, in folders whose names have spaces, as a folder picker gives them.
  const project = join(work, "My Project");
  const notes = join(work, "More notes");
  const reference = join(work, "Reference (read-only)");
  cpSync(join(here, "../../sample-data"), project, { recursive: true });
  mkdirSync(notes);
  writeFileSync(join(notes, "todo.txt"), "call the printer\n");
  mkdirSync(reference);
  writeFileSync(join(reference, "spec.md"), "# Spec\n");
  const shop = join(work, "Shop data", "shop.db");
  const scratch = join(work, "Shop data", "scratch.db");
  mkdirSync(dirname(shop));
  cpSync(join(here, "../../sample-data/data/bookshop.db"), shop);
  cpSync(join(here, "../../sample-data/data/bookshop.db"), scratch);

  const start = async (userConfig, theManifest = manifest) => {
    const config = await getMcpConfigForManifest({
      manifest: theManifest,
      extensionPath: extension,
      systemDirs: { HOME: homedir() },
      userConfig,
      pathSeparator: sep,
    });
    if (!config) return undefined;
    // The change journal goes under the test's own directory, not this user's state directory.
    const state = { XDG_STATE_HOME: join(work, "state"), LOCALAPPDATA: join(work, "state") };
    const server = new StdioClient(config.command, config.args, { env: { ...process.env, ...state, ...config.env } });
    server.commandLine = [config.command, ...config.args];
    await server.initialize();
    return server;
  };
  const call = async (server, name, args) => server.result("tools/call", { name, arguments: args });

  await check("the server binary keeps its executable bit", async () => {
    const command = manifest.server.mcp_config.command.replace("${__dirname}", extension);
    if (process.platform !== "win32") assert.ok(statSync(command).mode & 0o100, `${command} is not executable`);
  });

  await check("everything configured: lists match the manifest, files and SQL work, read-only holds", async () => {
    const server = await start({
      allowed_directories: [project, notes],
      read_only_directories: [reference],
      databases: [shop],
      writable_databases: [scratch],
      read_only: false,
    });
    try {
      const listed = manifestEntries(await server.listAll("tools/list", "tools"), await server.listAll("prompts/list", "prompts"));
      assert.deepEqual(manifest.tools, listed.tools, "the manifest's tools drifted from the server's");
      assert.deepEqual(manifest.prompts, listed.prompts, "the manifest's prompts drifted from the server's");

      const allowed = text(await call(server, "list_allowed_directories", {}));
      for (const dir of [project, notes, reference]) assert.ok(allowed.includes(dir), `${dir} missing from:\n${allowed}`);
      const readme = await call(server, "read_text_file", { path: join(project, "README.md") });
      assert.equal(text(readme), readFileSync(join(project, "README.md"), "utf8"));
      const todo = await call(server, "read_text_file", { path: join(notes, "todo.txt") });
      assert.equal(text(todo), "call the printer\n");
      const refused = await call(server, "write_file", { path: join(reference, "spec.md"), content: "changed" });
      assert.equal(refused.isError, true, "a read-only folder was written");
      assert.equal(readFileSync(join(reference, "spec.md"), "utf8"), "# Spec\n");

      const count = await call(server, "read_query", { db: "shop", query: "SELECT count(*) AS n FROM books" });
      assert.ok(!count.isError, JSON.stringify(count));
      assert.deepEqual(count.structuredContent.columns, ["n"], JSON.stringify(count));
      const denied = await call(server, "write_query", { db: "shop", query: "DELETE FROM books" });
      assert.equal(denied.isError, true, "the read-only database was written");
      const insert = await call(server, "write_query", {
        db: "scratch",
        query: "INSERT INTO authors(name, country) VALUES (?1, ?2)",
        params: ["A. N. Author of the bundle test", "US"],
      });
      assert.ok(!insert.isError, JSON.stringify(insert));
      const back = await call(server, "read_query", {
        db: "scratch",
        query: "SELECT country FROM authors WHERE name = ?1",
        params: ["A. N. Author of the bundle test"],
      });
      assert.ok(text(back).includes("US"), JSON.stringify(back));
      const prompt = await server.result("prompts/get", { name: "explore_database", arguments: { db: "shop" } });
      assert.equal(prompt.messages[0].content.resource.uri, "sqlite://shop/schema");
    } finally {
      await server.close();
    }
  });

  // Only `project` is served, read-only or not; no database.
  const minimal = async (theManifest, userConfig, readOnly) => {
    const server = await start(userConfig, theManifest);
    try {
      const tools = (await server.listAll("tools/list", "tools")).map((t) => t.name);
      assert.ok(tools.includes("read_text_file"), tools.join(", "));
      assert.equal(tools.includes("write_file"), !readOnly, tools.join(", "));
      assert.ok(!tools.includes("read_query"), `read_query offered: ${tools}`);
      const allowed = text(await call(server, "list_allowed_directories", {}));
      assert.ok(allowed.includes(project), allowed);
      assert.equal(allowed.includes("read-only"), readOnly, allowed);
      assert.ok(!allowed.includes(notes), allowed);
    } finally {
      await server.close();
    }
  };

  await check("only the required folder and the read-only switch: nothing else is served", async () => {
    await minimal(manifest, { allowed_directories: [project], read_only: true }, true);
    await minimal(manifest, { allowed_directories: [project], read_only: true, databases: [], writable_databases: [] }, true);
    await minimal(manifest, { allowed_directories: [project] }, false);
  });

  await check("a host that leaves unset optional values as literal ${user_config.*}", async () => {
    const withoutDefaults = structuredClone(manifest);
    for (const option of Object.values(withoutDefaults.user_config)) delete option.default;
    const config = await getMcpConfigForManifest({
      manifest: withoutDefaults,
      extensionPath: extension,
      systemDirs: {},
      userConfig: { allowed_directories: [project] },
      pathSeparator: sep,
    });
    for (const literal of ["${user_config.databases}", "--read-only=${user_config.read_only}"]) {
      assert.ok(config.args.includes(literal), `expected ${literal} left as it is: ${config.args}`);
    }
    await minimal(withoutDefaults, { allowed_directories: [project] }, false);
    await minimal(withoutDefaults, { allowed_directories: [project], read_only: true }, true);
  });

  await check("no folder chosen: the host does not start the server", async () => {
    assert.equal(await start({ allowed_directories: [] }), undefined);
    assert.equal(await start({}), undefined);
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(`unpack-test: ${passed} passed${process.exitCode ? ", some failed" : ""}`);
