#!/usr/bin/env node
// Interop scenario: the official TypeScript MCP SDK (@modelcontextprotocol/sdk@1.32.2) drives the
// real mcp-files-sqlite binary over stdio.
//
// The SDK 1.32.2 speaks only the handshake era (SUPPORTED_PROTOCOL_VERSIONS ends at 2025-11-25 in
// dist/esm/types.js; "2026" appears only as a draft in spec.types), so this run is legacy-only.
//
// Checks: connect (initialize) and capabilities; tools/list, with every input and output schema
// compiled by Ajv 2020-12 in strict mode with ajv-formats (unknown formats and keywords are
// errors; union types are allowed, they are plain JSON Schema); resources/list (every page) and
// resources/templates/list; a file tool and a SQL tool whose structuredContent is validated by
// the SDK's own validator and by Ajv against the outputSchema; resources/subscribe and a
// notifications/resources/updated after a change on disk; completion/complete; progress on an
// endless query, its cancellation, and that the server still answers; and that the SDK printed
// no "unknown format" warnings (it compiles every outputSchema with its own Ajv on tools/list).
//
// Every wait has a generous timeout; nothing asserts speed. Output: PASS/FAIL/INFO lines and a
// closing "N passed, M failed" line; exit status 1 if anything failed.
//
// Usage: node ts/scenario.mjs /path/to/mcp-files-sqlite

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Count what the SDK (and Ajv inside it) prints before anything of it is loaded. Our own report
// goes straight to process.stdout, so it is never counted.
const consoleLines = [];
for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
  const original = console[level].bind(console);
  console[level] = (...args) => {
    consoleLines.push(args.map(String).join(' '));
    original(...args);
  };
}

const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
const { ResourceUpdatedNotificationSchema, ResourceListChangedNotificationSchema, McpError } = await import(
  '@modelcontextprotocol/sdk/types.js'
);
const { default: Ajv2020 } = await import('ajv/dist/2020.js');
const { default: addFormats } = await import('ajv-formats');

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SAMPLE_DATA = path.resolve(HERE, '..', '..', 'sample-data');
const REQUEST_TIMEOUT_MS = 90_000;
const NOTIFY_TIMEOUT_MS = 80_000; // a change is repeated every 20s until notified
const PROGRESS_TIMEOUT_MS = 90_000;
const ENDLESS_QUERY = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c';
const TAG = 'ts legacy';

// ---- reporting ------------------------------------------------------------------------------

let passed = 0;
const failed = [];
const out = (line) => process.stdout.write(line + '\n');
const short = (v, n = 300) => {
  const s = typeof v === 'string' ? v : String(JSON.stringify(v));
  return s.length <= n ? s : `${s.slice(0, n)}... (${s.length} chars)`;
};
const info = (name, detail) => out(`INFO [${TAG}] ${name}: ${detail}`);

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${what} within ${ms / 1000}s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

let dead = null; // set when the server stopped answering: later checks fail at once

async function step(name, fn, ms = REQUEST_TIMEOUT_MS) {
  if (dead) {
    failed.push(name);
    out(`FAIL [${TAG}] ${name}: skipped: ${dead}`);
    return false;
  }
  try {
    const detail = await withTimeout(Promise.resolve().then(fn), ms, 'answer');
    passed += 1;
    out(`PASS [${TAG}] ${name}${detail ? ` (${String(detail).replace(/\n/g, ' | ')})` : ''}`);
    return true;
  } catch (e) {
    failed.push(name);
    const msg = e instanceof McpError ? `JSON-RPC error ${e.code}: ${e.message}` : e?.stack || String(e);
    out(`FAIL [${TAG}] ${name}: ${msg.replace(/\n/g, '\n      ')}`);
    if (/Connection closed|Not connected/.test(msg)) {
      dead = 'the server closed the connection (did it exit? see its stderr below)';
    } else if (/no answer within/.test(msg) && connected) {
      // A timeout: is the server still there at all?
      try {
        await client.listTools({}, opts);
      } catch (probe) {
        dead = `the server stopped answering (tools/list after the timeout: ${probe.message})`;
      }
    }
    return false;
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

// ---- setup ----------------------------------------------------------------------------------

const binary = process.argv[2] && path.resolve(process.argv[2]);
if (!binary) {
  process.stderr.write('usage: node ts/scenario.mjs /path/to/mcp-files-sqlite\n');
  process.exit(2);
}
const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-interop-ts-')));
const root = path.join(tmp, 'sample-data');
fs.cpSync(SAMPLE_DATA, root, { recursive: true });
const scratch = path.join(tmp, 'scratch.db');
execFileSync('python3', [
  '-c',
  'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); ' +
    'c.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL)"); ' +
    'c.execute("INSERT INTO notes(body) VALUES (\'first note\')"); c.commit()',
  scratch,
]);
const serverArgs = [
  root,
  '--db', `shop=${path.join(root, 'data', 'bookshop.db')}`,
  '--db-rw', `scratch=${scratch}`,
  '--debounce', '50ms',
  '--progress-after', '50ms',
  '--query-timeout', '300s',
  '--resource-page-size', '4',
  '--history', path.join(tmp, 'history'), // the change journal, never the user's own
];
const stderrPath = path.join(tmp, 'server-stderr.log');
const stderrFd = fs.openSync(stderrPath, 'w');
info('setup', `server ${binary} ${serverArgs.join(' ')}`);

const fileUri = (rel) => pathToFileURL(path.join(root, rel)).href;

// A fresh Ajv per schema, so one schema's failed compile cannot leak into another's report.
function strictAjv() {
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true, validateFormats: true });
  addFormats(ajv);
  return ajv;
}

const transport = new StdioClientTransport({ command: binary, args: serverArgs, stderr: stderrFd });
// The client hands the negotiated version to transports that take it (HTTP ones); record it.
let negotiated;
transport.setProtocolVersion = (v) => {
  negotiated = v;
};
const sent = [];
const client = new Client({ name: 'mcp-files-sqlite-interop-ts', version: '1' }, { capabilities: {} });
const notifications = [];
let notify = () => {};
client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
  notifications.push(n);
  notify();
});
client.setNotificationHandler(ResourceListChangedNotificationSchema, (n) => {
  notifications.push(n);
  notify();
});

function waitNotification(pred, start, ms) {
  return withTimeout(
    new Promise((resolve) => {
      const check = () => {
        const hit = notifications.slice(start).find(pred);
        if (hit) resolve(hit);
      };
      notify = check;
      check();
    }),
    ms,
    'notification',
  );
}

const opts = { timeout: REQUEST_TIMEOUT_MS };
const tools = new Map();
const validators = new Map();

// ---- checks ---------------------------------------------------------------------------------

let connected = false;
async function connect() {
  await client.connect(transport, opts);
  connected = true;
  // Record what goes out (for the cancellation check): wrap after connect, the transport is started.
  const send = transport.send.bind(transport);
  transport.send = async (message, o) => {
    sent.push(message);
    return send(message, o);
  };
  const caps = client.getServerCapabilities();
  assert(negotiated === '2025-11-25', `negotiated protocol ${negotiated}, expected 2025-11-25`);
  assert(caps?.tools, `no tools capability: ${short(caps)}`);
  assert(caps?.resources?.subscribe && caps?.resources?.listChanged, `resources lacks subscribe/listChanged`);
  assert(caps?.completions, 'no completions capability');
  const v = client.getServerVersion();
  return `server ${v?.name} ${v?.version}, protocol ${negotiated}`;
}

async function listTools() {
  let cursor;
  let pages = 0;
  do {
    const page = await client.listTools(cursor ? { cursor } : {}, opts);
    for (const t of page.tools) tools.set(t.name, t);
    cursor = page.nextCursor;
    pages += 1;
  } while (cursor && pages < 100);
  const problems = [];
  for (const t of tools.values()) {
    for (const [kind, schema] of [['inputSchema', t.inputSchema], ['outputSchema', t.outputSchema]]) {
      if (!schema) continue;
      try {
        const validate = strictAjv().compile(schema);
        if (kind === 'outputSchema') validators.set(t.name, validate);
      } catch (e) {
        problems.push(`${t.name} ${kind}: ${e.message}`);
      }
    }
  }
  assert(problems.length === 0, `${problems.length} schemas rejected by Ajv 2020 strict:\n${problems.join('\n')}`);
  return `${tools.size} tools, all schemas compile`;
}

async function listResources() {
  const uris = [];
  let cursor;
  let pages = 0;
  do {
    const page = await client.listResources(cursor ? { cursor } : {}, opts);
    uris.push(...page.resources.map((r) => r.uri));
    cursor = page.nextCursor;
    pages += 1;
    assert(pages < 1000, 'more than 1000 pages: the cursor never ends');
  } while (cursor);
  assert(new Set(uris).size === uris.length, 'duplicate URIs across pages');
  for (const want of ['sqlite://shop/schema', 'sqlite://shop/table/books', fileUri('README.md')]) {
    assert(uris.includes(want), `${want} not listed`);
  }
  assert(pages > 1, `only one page with --resource-page-size 4 (${uris.length} resources)`);
  return `${uris.length} resources in ${pages} pages`;
}

async function listTemplates() {
  const res = await client.listResourceTemplates({}, opts);
  const templates = res.resourceTemplates.map((t) => t.uriTemplate);
  for (const want of ['file:///{+path}', 'sqlite://{db}/table/{table}']) {
    assert(templates.includes(want), `${want} missing from ${short(templates)}`);
  }
  return templates.join(', ');
}

async function callAndValidate(name, args) {
  assert(tools.has(name), `${name} is not listed`);
  // callTool validates structuredContent with the SDK's own Ajv and throws if it does not match.
  const result = await client.callTool({ name, arguments: args }, undefined, opts);
  assert(!result.isError, `isError: ${short(result.content)}`);
  const validate = validators.get(name);
  if (!tools.get(name).outputSchema) return 'no outputSchema';
  assert(validate, `${name} outputSchema did not compile (see tools/list)`);
  assert(result.structuredContent, 'no structuredContent');
  if (!validate(result.structuredContent)) {
    throw new Error(`Ajv 2020 strict: ${JSON.stringify(validate.errors)}`);
  }
  return `structuredContent valid: ${short(result.structuredContent, 120)}`;
}

// Make a change on disk and wait for its notification; if none came within a while, make another
// (a change made before the watcher was ready may go unseen), for at most NOTIFY_TIMEOUT_MS in all.
async function untilNotified(change, pred) {
  const start = notifications.length;
  const deadline = Date.now() + NOTIFY_TIMEOUT_MS;
  for (let attempt = 1; ; attempt++) {
    change(attempt);
    const left = deadline - Date.now();
    try {
      await waitNotification(pred, start, Math.min(NOTIFY_TIMEOUT_MS / 4, Math.max(left, 1)));
      return attempt;
    } catch (e) {
      if (Date.now() >= deadline) throw e;
    }
  }
}

async function subscribe() {
  const target = path.join(root, 'docs', 'ordering.md');
  const uri = pathToFileURL(target).href;
  await client.subscribeResource({ uri }, opts);
  const a = await untilNotified(
    (n) => fs.appendFileSync(target, `\nAppended by the TS interop scenario (${n}).\n`),
    (m) => m.method === 'notifications/resources/updated' && m.params.uri === uri,
  );
  const b = await untilNotified(
    (n) => fs.writeFileSync(path.join(root, 'docs', `new-from-ts-${n}.md`), '# new\n'),
    (m) => m.method === 'notifications/resources/list_changed',
  );
  await client.unsubscribeResource({ uri }, opts);
  return `updated for ${uri} (after ${a} change(s)), list_changed after a new file (${b})`;
}

async function complete() {
  const tables = await client.complete(
    {
      ref: { type: 'ref/resource', uri: 'sqlite://{db}/table/{table}' },
      argument: { name: 'table', value: 'b' },
      context: { arguments: { db: 'shop' } },
    },
    opts,
  );
  const values = tables.completion.values;
  assert(values.includes('books') && values.includes('book_sales'), `table completion for 'b': ${short(values)}`);
  const prefix = path.join(root, 'do').replace(/^\//, '');
  const files = await client.complete(
    { ref: { type: 'ref/resource', uri: 'file:///{+path}' }, argument: { name: 'path', value: prefix } },
    opts,
  );
  const fv = files.completion.values;
  assert(fv.length && fv.every((v) => v.startsWith(prefix)) && fv.some((v) => v.includes('docs')),
    `path completion for ${prefix}: ${short(fv)}`);
  return `table 'b' -> ${short(values)}; path -> ${short(fv)}`;
}

async function progressAndCancel() {
  const progress = [];
  const controller = new AbortController();
  let gotTwo;
  const twoProgress = new Promise((r) => (gotTwo = r));
  const sentBefore = sent.length;
  const call = client
    .callTool({ name: 'read_query', arguments: { db: 'scratch', query: ENDLESS_QUERY } }, undefined, {
      timeout: PROGRESS_TIMEOUT_MS + REQUEST_TIMEOUT_MS,
      signal: controller.signal,
      onprogress: (p) => {
        progress.push(p);
        if (progress.length >= 2) gotTwo();
      },
    })
    .then((r) => ({ result: r }), (e) => ({ error: e }));
  // Wait for two progress notifications, or for the call to end (it must not, it is endless).
  const first = await withTimeout(Promise.race([twoProgress, call]), PROGRESS_TIMEOUT_MS, 'two progress notifications')
    .catch((e) => {
      controller.abort('interop: no progress');
      throw e;
    });
  if (first?.error) throw first.error;
  assert(!first?.result, `the endless query returned: ${short(first?.result)}`);
  controller.abort('interop: cancel the endless query');
  const outcome = await withTimeout(call, REQUEST_TIMEOUT_MS, 'rejection of the aborted call');
  assert(!outcome.result, `the endless query returned: ${short(outcome.result)}`);
  const cancels = sent.slice(sentBefore).filter((m) => m.method === 'notifications/cancelled');
  assert(cancels.length === 1, `expected one notifications/cancelled, sent ${cancels.length}`);
  const values = progress.map((p) => p.progress);
  assert(values.every((v, i) => i === 0 || v > values[i - 1]), `progress not increasing: ${values}`);
  // Same database again: its worker is free only if the query really stopped (timeout is 300s).
  const after = await client.callTool(
    { name: 'read_query', arguments: { db: 'scratch', query: 'SELECT count(*) AS n FROM notes' } },
    undefined,
    opts,
  );
  assert(!after.isError, `scratch after cancel: ${short(after.content)}`);
  return `${progress.length} progress notifications, cancelled, scratch answers again`;
}

async function noUnknownFormatWarnings() {
  const hits = consoleLines.filter((l) => /unknown format/i.test(l));
  assert(hits.length === 0, `${hits.length} "unknown format" warnings printed by the SDK, e.g.:\n${hits.slice(0, 5).join('\n')}`);
  return `${consoleLines.length} console lines, none about unknown formats`;
}

// ---- run ------------------------------------------------------------------------------------

const started = Date.now();
if (await step('connect (initialize)', connect)) {
  await step('tools/list: schemas compile with Ajv 2020 strict + formats', listTools);
  await step('resources/list: every page via nextCursor', listResources);
  await step('resources/templates/list', listTemplates);
  await step('tools/call read_text_file', () => callAndValidate('read_text_file', { path: 'README.md', head: 2 }));
  await step('tools/call list_directory (structuredContent vs outputSchema)', () =>
    callAndValidate('list_directory', { path: root }));
  await step('tools/call read_query (structuredContent vs outputSchema)', () =>
    callAndValidate('read_query', { db: 'shop', query: 'SELECT id, title FROM books ORDER BY id LIMIT ?1', params: [3] }));
  await step('tools/call describe_table (structuredContent vs outputSchema)', () =>
    callAndValidate('describe_table', { db: 'shop', table_name: 'books' }));
  await step('resources/subscribe: updated + list_changed', subscribe, 3 * NOTIFY_TIMEOUT_MS);
  await step('completion/complete', complete);
  await step('progress on a slow call, cancel it, server still answers', progressAndCancel,
    PROGRESS_TIMEOUT_MS + 2 * REQUEST_TIMEOUT_MS);
}
dead = null; // a local check: it runs even if the server went away
await step('no "unknown format" warnings from the SDK', noUnknownFormatWarnings);
try {
  await withTimeout(client.close(), 30_000, 'close');
} catch (e) {
  info('close', String(e));
}
fs.closeSync(stderrFd);
if (failed.length) {
  const tail = fs.readFileSync(stderrPath, 'utf8').split('\n').filter(Boolean).slice(-10);
  info('server stderr (last lines)', '\n      ' + tail.join('\n      '));
  info('kept', tmp);
} else {
  fs.rmSync(tmp, { recursive: true, force: true });
}
out(`ts-legacy: ${passed} passed, ${failed.length} failed`);
info('took', `${((Date.now() - started) / 1000).toFixed(1)}s`);
process.exit(failed.length ? 1 : 0);
