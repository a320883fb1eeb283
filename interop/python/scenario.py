#!/usr/bin/env python3
"""Interop scenario: the official Python MCP SDK (mcp==2.3.0) drives the real mcp-files-sqlite binary.

Run once per protocol era (`--era legacy` = `initialize` handshake at 2025-11-25, `--era modern` =
2026-07-28: `server/discover`, `_meta` on every request, `subscriptions/listen`). It checks:

- the handshake / discovery and the negotiated version, and (by tapping the stdio wire) that the
  modern run never sends `initialize` and stamps `_meta` on every request;
- legacy only: the client declares `roots` and answers `roots/list` with `[]`; the configured
  directories must stay usable;
- tools/list: every input and output schema is valid Draft 2020-12 and uses only formats the
  2020-12 spec defines; resources/list (every page, following nextCursor), templates, prompts
  (a "method not found" error is accepted and recorded);
- every listed tool is called with valid arguments (no isError; structuredContent validated
  against its outputSchema by the SDK and by `jsonschema` with format checking) and with invalid
  ones (each must be an isError result or a JSON-RPC -32602 error, never a crash or a hang);
- resources/read of files, a binary file, sqlite:// resources; a directory URI and a missing
  file are resource-not-found (-32002 legacy, -32602 modern); a bad cursor is -32602;
- completion/complete on both resource templates;
- subscriptions: a file change gives `notifications/resources/updated`, a new file gives
  `notifications/resources/list_changed` (legacy: resources/subscribe; modern:
  subscriptions/listen, with the subscription id on each notification);
- progress notifications on an endless SQL query sent with a progress token, its cancellation,
  and that the server (and that database) still answers afterwards.

Every wait has a generous timeout; nothing asserts speed. Output: one PASS/FAIL/INFO line per
check and a closing "N passed, M failed" line; exit status 1 if anything failed.

Usage: scenario.py --era legacy|modern /path/to/mcp-files-sqlite
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import mcp_types as types
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage

warnings.filterwarnings("ignore", category=DeprecationWarning)
try:  # the SDK's own deprecation category (roots, resources/subscribe are deprecated in 2026-07-28)
    from mcp.shared.exceptions import MCPDeprecationWarning

    warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
except ImportError:  # pragma: no cover
    pass

HERE = Path(__file__).resolve().parent
SAMPLE_DATA = HERE.parent.parent / "sample-data"

LEGACY_VERSION = "2025-11-25"
MODERN_VERSION = "2026-07-28"
PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion"
SUBSCRIPTION_ID_META_KEY = "io.modelcontextprotocol/subscriptionId"
INVALID_PARAMS = -32602
CONNECTION_CLOSED = -32000  # the SDK's code for a transport that closed
METHOD_NOT_FOUND = -32601

# Generous bounds: a loaded 2-core CI machine must never make these flake.
REQUEST_TIMEOUT = 90.0  # one request/response
NOTIFY_TIMEOUT = 80.0  # a change on disk -> its notification (a change is repeated every 20s)
PROGRESS_TIMEOUT = 90.0  # first progress notification of the endless query
AFTER_CANCEL_TIMEOUT = 90.0  # the cancelled query's database answers again (query timeout is 300s)
QUERY_TIMEOUT = "300s"

ENDLESS_QUERY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"

# Formats defined by JSON Schema Draft 2020-12 (Validation, section 7.3). Anything else (e.g. the
# "uint64"/"uint" that schemars emits) is an unknown format that strict validators reject.
SPEC_FORMATS = {
    "date-time", "date", "time", "duration", "email", "idn-email", "hostname", "idn-hostname",
    "ipv4", "ipv6", "uri", "uri-reference", "iri", "iri-reference", "uuid", "uri-template",
    "json-pointer", "relative-json-pointer", "regex",
}  # fmt: skip

# The tools the README documents; every one must be listed with this configuration.
DOCUMENTED_TOOLS = {
    "read_text_file", "read_media_file", "read_multiple_files", "write_file", "edit_file",
    "create_directory", "list_directory", "list_directory_with_sizes", "directory_tree", "move_file",
    "search_files", "get_file_info", "list_allowed_directories", "copy_file", "delete_file",
    "grep_files", "list_tables", "describe_table", "read_query", "write_query", "create_table",
    "list_databases", "explain_query", "list_changes", "show_change", "undo_change",
}  # fmt: skip


# --------------------------------------------------------------------------------------------
# Reporting


class Report:
    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.passed = 0
        self.failed: list[str] = []
        self.dead: str | None = None  # set when the server stopped answering: later checks fail at once
        self.probe: Callable[[], Awaitable[None]] | None = None  # a quick request, run after a timeout

    def ok(self, name: str, detail: str = "") -> None:
        self.passed += 1
        detail = " | ".join(line for line in detail.splitlines() if line.strip())
        print(f"PASS [{self.tag}] {name}" + (f" ({detail})" if detail else ""), flush=True)

    def fail(self, name: str, detail: str) -> None:
        self.failed.append(name)
        detail = detail.strip().replace("\n", "\n      ")
        print(f"FAIL [{self.tag}] {name}: {detail}", flush=True)

    def info(self, name: str, detail: str) -> None:
        print(f"INFO [{self.tag}] {name}: {detail}", flush=True)

    async def step(self, name: str, fn: Callable[[], Awaitable[str | None]], timeout: float = REQUEST_TIMEOUT) -> bool:
        """Run one check: PASS if `fn` returns, FAIL on an exception or after `timeout` seconds."""
        if self.dead:
            self.fail(name, f"skipped: {self.dead}")
            return False
        try:
            with anyio.fail_after(timeout):
                detail = await fn()
        except TimeoutError:
            self.fail(name, f"no answer within {timeout:.0f}s")
            if self.probe is not None:
                try:
                    with anyio.fail_after(REQUEST_TIMEOUT):
                        await self.probe()
                except Exception as e:  # noqa: BLE001
                    self.dead = f"the server stopped answering (tools/list after the timeout: {type(e).__name__} {e})"
            return False
        except AssertionError as e:
            self.fail(name, str(e) or "assertion failed")
            return False
        except MCPError as e:
            self.fail(name, f"JSON-RPC error {e.code}: {e.message}" + (f" data={e.data}" if e.data else ""))
            if e.code == CONNECTION_CLOSED:
                self.dead = "the server closed the connection (did it exit? see its stderr below)"
            return False
        except Exception as e:  # noqa: BLE001 - any other failure is this check's failure
            self.fail(name, f"{type(e).__name__}: {e}\n{''.join(traceback.format_exc(limit=3))}")
            return False
        self.ok(name, detail or "")
        return True


def describe(e: BaseException) -> str:
    """One line per leaf exception (task groups wrap the real cause in ExceptionGroups)."""
    if isinstance(e, BaseExceptionGroup):
        return "; ".join(describe(x) for x in e.exceptions)
    if isinstance(e, MCPError):
        return f"JSON-RPC error {e.code}: {e.message}"
    return f"{type(e).__name__}: {e}"


def short(value: Any, limit: int = 300) -> str:
    s = value if isinstance(value, str) else json.dumps(value, default=str)
    return s if len(s) <= limit else s[:limit] + f"... ({len(s)} chars)"


def result_text(result: types.CallToolResult) -> str:
    return " ".join(getattr(c, "text", f"<{c.type}>") for c in result.content)


# --------------------------------------------------------------------------------------------
# A stdio transport that records every JSON-RPC message in both directions (for wire assertions).


class Wire:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.changed = anyio.Event()

    def _note(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], start: int = 0) -> dict[str, Any]:
        """Wait (the caller bounds the time) for a received message matching `predicate`."""
        i = start
        while True:
            while i < len(self.received):
                if predicate(self.received[i]):
                    return self.received[i]
                i += 1
            await self.changed.wait()


def dump(message: Any) -> dict[str, Any]:
    return types.jsonrpc_message_adapter.dump_python(message, by_alias=True, exclude_unset=True, mode="json")


@asynccontextmanager
async def tapped_stdio(params: StdioServerParameters, errlog: Any, wire: Wire):
    async with stdio_client(params, errlog=errlog) as (server_read, server_write):
        to_session_send, to_session_recv = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        from_session_send, from_session_recv = anyio.create_memory_object_stream[SessionMessage](0)

        async def pump_out() -> None:
            async with from_session_recv, server_write:
                async for m in from_session_recv:
                    wire.sent.append(dump(m.message))
                    await server_write.send(m)

        async def pump_in() -> None:
            async with to_session_send:
                async for m in server_read:
                    if not isinstance(m, Exception):
                        wire.received.append(dump(m.message))
                        wire._note()
                    try:
                        await to_session_send.send(m)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        return

        async with anyio.create_task_group() as tg:
            tg.start_soon(pump_out)
            tg.start_soon(pump_in)
            try:
                yield to_session_recv, from_session_send
            finally:
                await from_session_send.aclose()
                tg.cancel_scope.cancel()


# --------------------------------------------------------------------------------------------
# JSON Schema helpers


def walk_schema(schema: Any, path: str = "#"):
    """Yield (path, subschema) for every subschema (only schema positions, not property names)."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for key in ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas"):
        if isinstance(schema.get(key), dict):
            for name, sub in schema[key].items():
                yield from walk_schema(sub, f"{path}/{key}/{name}")
    for key in ("items", "additionalProperties", "contains", "propertyNames", "not", "if", "then", "else",
                "unevaluatedItems", "unevaluatedProperties", "additionalItems"):  # fmt: skip
        if key in schema:
            yield from walk_schema(schema[key], f"{path}/{key}")
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        if isinstance(schema.get(key), list):
            for i, sub in enumerate(schema[key]):
                yield from walk_schema(sub, f"{path}/{key}/{i}")


def schema_problems(schema: dict[str, Any]) -> list[str]:
    """Metaschema errors and unknown formats of one tool schema."""
    problems = []
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as e:
        problems.append(f"not a valid 2020-12 schema: {e.message} at {'/'.join(map(str, e.path))}")
    for path, sub in walk_schema(schema):
        fmt = sub.get("format")
        if isinstance(fmt, str) and fmt not in SPEC_FORMATS:
            problems.append(f'unknown format "{fmt}" at {path}')
    return problems


def validation_errors(schema: dict[str, Any], instance: Any) -> list[str]:
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]


# --------------------------------------------------------------------------------------------
# The scenario


class Scenario:
    def __init__(self, binary: str, era: str, declare_roots: bool = True) -> None:
        self.binary = binary
        self.era = era
        self.declare_roots = declare_roots and era == "legacy"
        self.r = Report(f"python {era}")
        self.wire = Wire()
        self.notifications: list[Any] = []  # typed, via message_handler
        self.logs: list[types.LoggingMessageNotificationParams] = []  # via logging_callback
        self.notified = anyio.Event()
        self.roots_asked = 0
        self.tools: dict[str, types.Tool] = {}
        self.client: Client | None = None

    # ---- setup ------------------------------------------------------------------------------

    def prepare_data(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"mcp-interop-py-{self.era}-")).resolve()
        self.root = self.tmp / "sample-data"
        shutil.copytree(SAMPLE_DATA, self.root)
        self.scratch = self.tmp / "scratch.db"
        with sqlite3.connect(self.scratch) as conn:
            conn.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
            conn.execute("INSERT INTO notes(body) VALUES ('first note')")
        conn.close()
        self.stderr_path = self.tmp / "server-stderr.log"
        self.server_args = [
            str(self.root),
            "--db", f"shop={self.root / 'data' / 'bookshop.db'}",
            "--db-rw", f"scratch={self.scratch}",
            "--debounce", "50ms",
            "--progress-after", "50ms",
            "--query-timeout", QUERY_TIMEOUT,
            "--resource-page-size", "4",  # small pages, so resources/list pagination is exercised
            "--history", str(self.tmp / "history"),  # the change journal, never the user's own
        ]  # fmt: skip

    def uri(self, rel: str) -> str:
        return (self.root / rel).as_uri()

    @property
    def not_found_code(self) -> int:
        return -32002 if self.era == "legacy" else INVALID_PARAMS

    async def on_message(self, message: Any) -> None:
        if isinstance(message, Exception):
            self.r.info("transport exception", repr(message))
            return
        self.notifications.append(message)
        self.notified.set()
        self.notified = anyio.Event()

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params)

    async def on_list_roots(self, _ctx: Any) -> types.ListRootsResult:
        self.roots_asked += 1
        return types.ListRootsResult(roots=[])

    async def wait_notification(self, predicate: Callable[[Any], bool], start: int) -> Any:
        i = start
        while True:
            while i < len(self.notifications):
                if predicate(self.notifications[i]):
                    return self.notifications[i]
                i += 1
            await self.notified.wait()

    async def raw_request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send a request the typed API cannot express (e.g. non-object tool arguments),
        stamped for the negotiated era like every SDK request."""
        session = self.client.session
        data = {"method": method, "params": params}
        opts: dict[str, Any] = {"timeout": REQUEST_TIMEOUT}
        session._stamp(data, opts)  # the SDK's own era stamp (_meta on 2026-07-28)
        return await session._dispatcher.send_raw_request(method, data["params"], opts)

    async def call(self, name: str, arguments: Any, **kw: Any) -> types.CallToolResult:
        """tools/call without the SDK's own output validation, so the result can be inspected."""
        session = self.client.session
        return await session.send_request(
            types.CallToolRequest(params=types.CallToolRequestParams(name=name, arguments=arguments)),
            types.CallToolResult,
            request_read_timeout_seconds=kw.get("timeout", REQUEST_TIMEOUT),
            progress_callback=kw.get("progress_callback"),
        )

    # ---- run --------------------------------------------------------------------------------

    async def run(self) -> int:
        self.prepare_data()
        self.r.info("setup", f"server {self.binary} {' '.join(self.server_args)}")
        params = StdioServerParameters(command=self.binary, args=self.server_args, env={"RUST_LOG": "info"})
        client_kw: dict[str, Any] = {
            "read_timeout_seconds": REQUEST_TIMEOUT,
            "message_handler": self.on_message,
            "cache": None,  # every list/read must reach the server
            "client_info": types.Implementation(name="mcp-files-sqlite-interop-python", version="1"),
        }
        if self.era == "legacy":
            client_kw["mode"] = "legacy"
        # Log messages: legacy sessions ask with logging/setLevel (check_logging); modern requests
        # carry io.modelcontextprotocol/logLevel in their _meta, which log_level stamps on each.
        client_kw["logging_callback"] = self.on_log
        if self.era == "modern":
            client_kw["log_level"] = "warning"
        if self.declare_roots:
            # Declare the roots capability and answer roots/list with [] (a host with no workspace
            # open does this). The configured directories must stay usable.
            client_kw["list_roots_callback"] = self.on_list_roots
        if self.era == "modern":
            # 'auto' probes server/discover at 2026-07-28 and adopts it when the server offers it
            # (and would fall back to initialize otherwise, which the checks below reject).
            client_kw["mode"] = "auto"

        with open(self.stderr_path, "w") as errlog:  # noqa: ASYNC230 - once, before the session starts
            # The connect itself is bounded by read_timeout_seconds (initialize / server/discover).
            connected = False
            try:
                async with Client(tapped_stdio(params, errlog, self.wire), **client_kw) as client:
                    connected = True
                    self.client = client
                    self.r.probe = lambda: client.list_tools()
                    await self.scenario()
            except Exception as e:  # noqa: BLE001
                self.r.fail("connect" if not connected else "session", describe(e))
        return self.finish()

    def finish(self) -> int:
        if self.r.failed and self.stderr_path.exists():
            tail = self.stderr_path.read_text(errors="replace").splitlines()[-15:]
            self.r.info("server stderr (last lines)", "\n      " + "\n      ".join(tail))
        total_failed = len(self.r.failed)
        print(f"python-{self.era}: {self.r.passed} passed, {total_failed} failed", flush=True)
        if total_failed == 0:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            print(f"INFO [{self.r.tag}] kept {self.tmp} for inspection", flush=True)
        return 1 if total_failed else 0

    async def scenario(self) -> None:
        r = self.r
        await r.step("handshake/discovery", self.check_connect)
        await r.step("tools/list: schemas valid Draft 2020-12, only spec formats", self.check_tools_list)
        if self.declare_roots:
            await r.step("roots=[] keeps the configured directories usable", self.check_roots_empty)
        await r.step("resources/list: every page via nextCursor", self.check_resources_list)
        await r.step("resources/templates/list", self.check_templates)
        await r.step("prompts/list and prompts/get with an embedded schema", self.check_prompts)
        await r.step("prompts/get with a bad argument: -32602", self.check_prompt_bad_argument)
        await self.check_all_tools()
        await r.step("resources/read: text, binary, sqlite schema and table", self.check_read_resources)
        await r.step("resources/read directory URI: resource not found", self.check_read_directory)
        await r.step("resources/read missing file: resource not found", self.check_read_missing)
        await r.step("resources/list bad cursor: -32602", self.check_bad_cursor)
        await r.step("completion/complete sqlite://{db}/table/{table}", self.check_complete_sqlite)
        await r.step("completion/complete file:///{+path}", self.check_complete_file)
        if self.era == "legacy":
            await r.step("resources/subscribe: updated + list_changed", self.check_subscribe_legacy,
                         timeout=3 * NOTIFY_TIMEOUT)  # fmt: skip
        else:
            await r.step("subscriptions/listen: updated + list_changed", self.check_listen_modern,
                         timeout=3 * NOTIFY_TIMEOUT)  # fmt: skip
        await r.step("progress on a slow call, cancel it, server still answers", self.check_progress_cancel,
                     timeout=PROGRESS_TIMEOUT + AFTER_CANCEL_TIMEOUT + 30)  # fmt: skip
        await r.step("logging: a replaced database is said as notifications/message", self.check_logging)
        await r.step("wire: era-correct framing on every message", self.check_wire)

    # ---- checks -----------------------------------------------------------------------------

    async def check_connect(self) -> str:
        c = self.client
        assert c is not None
        version = c.protocol_version
        caps = c.session.server_capabilities
        if self.era == "legacy":
            assert c.session.initialize_result is not None, "no initialize result"
            assert version == LEGACY_VERSION, f"negotiated {version!r}, expected {LEGACY_VERSION}"
        else:
            assert c.session.discover_result is not None, (
                f"server/discover was not adopted (negotiated {version!r} via initialize fallback)"
            )
            assert version == MODERN_VERSION, f"negotiated {version!r}, expected {MODERN_VERSION}"
            supported = c.session.discover_result.supported_versions
            assert LEGACY_VERSION in supported, f"discover supportedVersions lacks {LEGACY_VERSION}: {supported}"
        assert caps is not None and caps.tools is not None, f"no tools capability: {caps}"
        assert caps.resources is not None and caps.resources.subscribe and caps.resources.list_changed, (
            f"resources capability lacks subscribe/listChanged: {caps.resources}"
        )
        assert caps.completions is not None, "no completions capability"
        info = c.server_info
        return f"protocol {version}, server {info.name if info else '?'} {info.version if info else ''}"

    async def check_tools_list(self) -> str:
        tools: list[types.Tool] = []
        cursor = None
        for _ in range(100):
            page = await self.client.list_tools(cursor=cursor)
            tools += page.tools
            cursor = page.next_cursor
            if not cursor:
                break
        self.tools = {t.name: t for t in tools}
        missing = DOCUMENTED_TOOLS - set(self.tools)
        problems = []
        if missing:
            problems.append(f"documented tools not listed: {sorted(missing)}")
        for t in tools:
            if not t.description:
                problems.append(f"{t.name}: no description")
            for kind, schema in (("inputSchema", t.input_schema), ("outputSchema", t.output_schema)):
                if schema is None:
                    continue
                for p in schema_problems(schema):
                    problems.append(f"{t.name} {kind}: {p}")
        assert not problems, f"{len(problems)} schema problems:\n" + "\n".join(problems)
        return f"{len(tools)} tools"

    async def check_roots_empty(self) -> str:
        r = await self.call("list_allowed_directories", {})
        assert not r.is_error, f"list_allowed_directories isError: {result_text(r)}"
        dirs = [d.get("path") for d in (r.structured_content or {}).get("directories", [])]
        assert str(self.root) in dirs, f"configured root {self.root} not among allowed directories {dirs}"
        r = await self.call("read_text_file", {"path": str(self.root / "README.md"), "head": 1})
        assert not r.is_error, f"read_text_file refused after roots/list answered []: {result_text(r)}"
        return f"server asked roots/list {self.roots_asked}x, got []; files still readable"

    async def check_resources_list(self) -> str:
        uris: list[str] = []
        resources: list[types.Resource] = []
        cursor = None
        pages = 0
        while True:
            page = await self.client.list_resources(cursor=cursor)
            pages += 1
            resources += page.resources
            uris += [str(res.uri) for res in page.resources]
            cursor = page.next_cursor
            if not cursor:
                break
            assert pages < 1000, "more than 1000 pages: the cursor never ends"
        assert len(uris) == len(set(uris)), f"duplicate URIs across pages: {[u for u in uris if uris.count(u) > 1]}"
        expected = {
            "sqlite://shop/schema", "sqlite://shop/table/books", "sqlite://scratch/schema",
            "sqlite://scratch/table/notes", self.uri("README.md"), self.uri("docs/ordering.md"),
            self.uri("assets/logo.png"),
        }  # fmt: skip
        missing = expected - set(uris)
        assert not missing, f"missing resources: {sorted(missing)}"
        ignored = self.uri("build/bundle.js")
        assert ignored not in uris, f".gitignored {ignored} is listed"
        first_file = next(i for i, u in enumerate(uris) if u.startswith("file:"))
        assert all(u.startswith("sqlite:") for u in uris[:first_file]) and not any(
            u.startswith("sqlite:") for u in uris[first_file:]
        ), "sqlite:// resources do not all come first"
        no_mime = [str(x.uri) for x in resources if str(x.uri).startswith("file:") and not x.mime_type]
        assert not no_mime, f"file resources without mimeType: {no_mime}"
        assert pages > 1, f"only {pages} page with --resource-page-size 4 and {len(uris)} resources"
        return f"{len(uris)} resources in {pages} pages"

    async def check_templates(self) -> str:
        res = await self.client.list_resource_templates()
        templates = {t.uri_template for t in res.resource_templates}
        for want in ("file:///{+path}", "sqlite://{db}/table/{table}"):
            assert want in templates, f"template {want} missing from {sorted(templates)}"
        return ", ".join(sorted(templates))

    async def check_prompts(self) -> str:
        res = await self.client.list_prompts()
        names = [p.name for p in res.prompts]
        assert names == ["explore_database", "ask_database", "summarize_directory", "find_and_fix"], names
        got = await self.client.get_prompt("ask_database", {"db": "shop", "question": "How many books?"})
        first = got.messages[0].content
        assert first.type == "resource" and str(first.resource.uri) == "sqlite://shop/schema", first
        assert "CREATE TABLE" in first.resource.text, first.resource.text[:200]
        assert "How many books?" in got.messages[1].content.text
        tree = await self.client.get_prompt("summarize_directory", {"path": str(self.root)})
        kinds = [m.content.type for m in tree.messages]
        assert kinds == ["text", "resource", "text"], kinds
        dbs = (await self.client.complete(
            types.PromptReference(name="explore_database"), {"name": "db", "value": "s"}
        )).completion.values
        assert set(dbs) == {"shop", "scratch"}, dbs
        return f"{names}; summarize_directory: {kinds}; db 's' -> {dbs}"

    async def check_prompt_bad_argument(self) -> str:
        try:
            await self.client.get_prompt("ask_database", {"db": "nope", "question": "q"})
        except MCPError as e:
            if e.code == CONNECTION_CLOSED:
                raise
            assert e.code == INVALID_PARAMS, f"expected -32602, got {e.code} {e.message}"
            return f"{e.code}: {e.message}"
        raise AssertionError("an unknown database was accepted")

    async def check_logging(self) -> str:
        if self.era == "legacy":
            await self.client.set_logging_level("warning")
        self.logs.clear()
        # Another program swaps the writable database for a new file; the next query reopens it
        # and the server warns (before the query's answer).
        replacement = self.tmp / "replacement.db"
        with sqlite3.connect(replacement) as conn:
            conn.execute("CREATE TABLE replaced(x)")
        conn.close()
        os.replace(replacement, self.scratch)
        res = await self.client.call_tool("read_query", {"db": "scratch", "query": "SELECT count(*) FROM replaced"})
        assert not res.is_error, res
        with anyio.fail_after(NOTIFY_TIMEOUT):
            while not any("replaced on disk" in str(m.data) for m in self.logs):
                await anyio.sleep(0.05)
        said = next(m for m in self.logs if "replaced on disk" in str(m.data))
        assert said.level == "warning" and said.logger == "mcp-files-sqlite", said
        return f"{said.level}: {said.data}"

    # ---- tools --------------------------------------------------------------------------------

    def tool_cases(self) -> dict[str, tuple[dict[str, Any], list[Any]]]:
        """name -> (valid arguments, [invalid arguments...]); calls run in this order."""
        root = str(self.root)
        out = "interop-out"
        return {
            "list_allowed_directories": ({}, ["NON-OBJECT"]),
            "list_directory": ({"path": root}, [{}, {"path": "/etc"}]),
            "list_directory_with_sizes": ({"path": root, "sortBy": "size"},
                                          [{"path": root, "sortBy": "colour"}]),
            "directory_tree": ({"path": root, "maxDepth": 2}, [{"path": root, "maxDepth": "deep"},
                                                               {"path": "../.."}]),
            "search_files": ({"path": root, "pattern": "*.py"}, [{"path": root}, {"path": "/", "pattern": "*"}]),
            "grep_files": ({"path": root, "pattern": "def ", "glob": "*.py", "contextLines": 1},
                           [{"path": root, "pattern": "("}, {"path": root}]),
            "get_file_info": ({"path": "README.md"}, [{"path": "no/such/file"}, {"path": 7}]),
            "read_text_file": ({"path": "README.md", "head": 3},
                               [{}, {"path": "/etc/passwd"}, {"path": "README.md", "head": -1}]),
            "read_media_file": ({"path": "assets/logo.png"}, [{"path": 5}, {"path": "../outside.png"}]),
            "read_multiple_files": ({"paths": ["README.md", "docs/ordering.md"]}, [{"paths": "README.md"}]),
            "create_directory": ({"path": f"{out}/sub"}, [{"path": ["a"]}, {"path": "../escape"}]),
            "write_file": ({"path": f"{out}/note.txt", "content": "hello\nworld\n"},
                           [{"path": f"{out}/x.txt"}, {"path": "/etc/interop.txt", "content": "x"}]),
            "edit_file": ({"path": f"{out}/note.txt", "edits": [{"oldText": "world", "newText": "there"}]},
                          [{"path": f"{out}/note.txt", "edits": [{"oldText": "no such text", "newText": "y"}]},
                           {"path": f"{out}/note.txt", "edits": "world"}]),
            "copy_file": ({"source": f"{out}/note.txt", "destination": f"{out}/copy.txt"},
                          [{"source": "README.md", "destination": "docs/ordering.md"}, {"source": "README.md"}]),
            "move_file": ({"source": f"{out}/copy.txt", "destination": f"{out}/moved.txt"},
                          [{"source": "no-such.txt", "destination": f"{out}/y.txt"}, {"source": "README.md"}]),
            "delete_file": ({"path": f"{out}/moved.txt"}, [{"path": "docs"}, {"path": "no-such.txt"}]),
            "list_databases": ({}, ["NON-OBJECT"]),
            "list_tables": ({"db": "shop"}, [{"db": "nope"}, {"db": 42}]),
            "describe_table": ({"db": "shop", "table_name": "books"},
                               [{"db": "shop", "table_name": "nope"}, {"db": "shop"}]),
            "read_query": ({"db": "shop", "query": "SELECT id, title FROM books ORDER BY id LIMIT ?1", "params": [3]},
                           [{"db": "shop", "query": "DELETE FROM books"},
                            {"db": "shop", "query": "SELECT 1; DROP TABLE books"}, {"query": 1}]),
            "explain_query": ({"db": "shop", "query": "SELECT * FROM books WHERE id = ?1", "params": [1]},
                              [{"db": "shop", "query": "SELECT * FROM nope"}, {"db": "shop"}]),
            "write_query": ({"db": "scratch", "query": "INSERT INTO notes(body) VALUES (?1) RETURNING id",
                             "params": ["from python"]},
                            [{"db": "shop", "query": "DELETE FROM books"},
                             {"db": "scratch", "query": "SELEC nonsense"}]),
            "create_table": ({"db": "scratch", "query": "CREATE TABLE interop_t(id INTEGER PRIMARY KEY, v TEXT)"},
                             [{"db": "scratch", "query": "DROP TABLE notes"}, {"db": "scratch"}]),
            # The change journal: the newest change (delete_file's, above) shown, then undone.
            "list_changes": ({"path": out, "limit": 5}, [{"limit": "ten"}, {"path": "/etc"}]),
            "show_change": (self.newest_change, [{"id": "one"}, {"id": 999999999}]),
            "undo_change": (self.newest_change, [{"id": 999999999}, {"force": True}]),
        }  # fmt: skip

    async def newest_change(self) -> dict[str, Any]:
        """Arguments naming the newest recorded change (known only once the writes ran)."""
        listed = await self.call("list_changes", {"limit": 1})
        return {"id": listed.structured_content["changes"][0]["id"]}

    async def check_all_tools(self) -> None:
        r = self.r
        cases = self.tool_cases()
        if not self.tools:
            r.fail("tools/call", "no tools listed, nothing to call")
            return
        unknown = [name for name in self.tools if name not in cases]
        if unknown:
            r.fail("every listed tool has a scenario", f"no valid/invalid arguments known for {unknown}")
        for name, (valid, invalid) in cases.items():
            if name not in self.tools:
                continue
            await r.step(f"tools/call {name} (valid)", lambda n=name, a=valid: self.call_valid(n, a))
            for i, bad in enumerate(invalid):
                label = "arguments is a JSON array, not an object" if bad == "NON-OBJECT" else short(bad, 80)
                await r.step(f"tools/call {name} (invalid #{i + 1}: {label})",
                             lambda n=name, a=bad: self.call_invalid(n, a))  # fmt: skip
        await r.step("tools/call unknown tool: -32602", self.call_unknown_tool)
        await r.step("server alive after invalid calls", self.check_alive)

    async def call_valid(self, name: str, args: Any) -> str:
        if callable(args):
            args = await args()
        tool = self.tools[name]
        arg_errors = validation_errors(tool.input_schema, args)
        assert not arg_errors, f"(suite bug) our arguments do not match the inputSchema: {arg_errors}"
        result = await self.call(name, args)
        assert not result.is_error, f"isError: {short(result_text(result), 600)}"
        assert result.content, "no content blocks"
        if tool.output_schema is None:
            return "no outputSchema"
        assert result.structured_content is not None, "tool declares an outputSchema but sent no structuredContent"
        problems = []
        try:
            await self.client.session.validate_tool_result(name, result)
        except RuntimeError as e:
            problems.append(f"SDK validation: {e}")
        errors = validation_errors(tool.output_schema, result.structured_content)
        problems += [f"jsonschema 2020-12 (formats on): {e}" for e in errors]
        unknown = [p for p in schema_problems(tool.output_schema) if p.startswith("unknown format")]
        problems += [f"outputSchema {p}" for p in unknown]
        assert not problems, "structuredContent not validated against outputSchema:\n" + "\n".join(problems)
        return f"structuredContent valid: {short(result.structured_content, 120)}"

    async def call_invalid(self, name: str, args: Any) -> str:
        try:
            if args == "NON-OBJECT":
                raw = await self.raw_request("tools/call", {"name": name, "arguments": ["not", "an", "object"]})
                result = types.CallToolResult.model_validate(raw, by_name=False)
            else:
                result = await self.call(name, args)
        except MCPError as e:
            if e.code == CONNECTION_CLOSED:
                raise
            assert e.code == INVALID_PARAMS, f"JSON-RPC error {e.code} {e.message!r}, expected isError or -32602"
            return f"-32602: {short(e.message, 120)}"
        assert result.is_error, f"not refused: isError={result.is_error} {short(result_text(result), 300)}"
        return f"isError: {short(result_text(result), 120)}"

    async def call_unknown_tool(self) -> str:
        try:
            result = await self.call("no_such_tool", {})
        except MCPError as e:
            if e.code == CONNECTION_CLOSED:
                raise
            assert e.code == INVALID_PARAMS, f"{e.code} {e.message}"
            return e.message
        raise AssertionError(f"unknown tool gave a result: {short(result.model_dump(), 300)}")

    async def check_alive(self) -> str:
        result = await self.call("list_allowed_directories", {})
        assert not result.is_error, result_text(result)
        assert (self.root / "docs" / "ordering.md").exists(), "an invalid call deleted docs/ordering.md"
        return "list_allowed_directories answers; docs/ still there"

    # ---- resources ----------------------------------------------------------------------------

    async def check_read_resources(self) -> str:
        c = self.client
        res = await c.read_resource(self.uri("README.md"))
        text = res.contents[0]
        assert getattr(text, "text", None), f"README.md read has no text: {short(text.model_dump(), 200)}"
        assert text.text == (self.root / "README.md").read_text(), "README.md text differs from the file"
        res = await c.read_resource(self.uri("assets/logo.png"))
        blob = getattr(res.contents[0], "blob", None)
        assert blob, "logo.png read has no blob"
        assert base64.b64decode(blob) == (self.root / "assets" / "logo.png").read_bytes(), "logo.png bytes differ"
        res = await c.read_resource("sqlite://shop/schema")
        assert "CREATE TABLE" in getattr(res.contents[0], "text", ""), "sqlite://shop/schema lacks CREATE TABLE"
        res = await c.read_resource("sqlite://shop/table/books")
        body = getattr(res.contents[0], "text", "")
        json.loads(body)  # JSON per the README
        return "README.md, logo.png, sqlite://shop/schema, sqlite://shop/table/books"

    async def expect_not_found(self, uri: str) -> str:
        try:
            res = await self.client.read_resource(uri)
        except MCPError as e:
            if e.code == CONNECTION_CLOSED:
                raise
            assert e.code == self.not_found_code, (
                f"error {e.code} {e.message!r}, expected resource-not-found {self.not_found_code}"
            )
            return f"{e.code}: {short(e.message, 120)}"
        raise AssertionError(f"read succeeded: {short(res.model_dump(mode='json'), 300)}")

    async def check_read_directory(self) -> str:
        return await self.expect_not_found(self.uri("docs"))

    async def check_read_missing(self) -> str:
        return await self.expect_not_found(self.uri("docs/no-such-file.md"))

    async def check_bad_cursor(self) -> str:
        try:
            res = await self.client.list_resources(cursor="!!not-a-cursor!!")
        except MCPError as e:
            if e.code == CONNECTION_CLOSED:
                raise
            assert e.code == INVALID_PARAMS, f"{e.code} {e.message}"
            return e.message
        raise AssertionError(f"bad cursor accepted: {len(res.resources)} resources")

    # ---- completion ---------------------------------------------------------------------------

    async def complete(self, template: str, arg: str, value: str, context: dict[str, str] | None = None):
        res = await self.client.complete(
            types.ResourceTemplateReference(uri=template), {"name": arg, "value": value}, context_arguments=context
        )
        return res.completion.values

    async def check_complete_sqlite(self) -> str:
        tables = await self.complete("sqlite://{db}/table/{table}", "table", "b", {"db": "shop"})
        assert {"books", "book_sales"} <= set(tables), f"table completion for 'b' in shop: {tables}"
        assert all(t.startswith("b") for t in tables), f"non-prefix matches: {tables}"
        dbs = await self.complete("sqlite://{db}/table/{table}", "db", "s")
        assert {"shop", "scratch"} <= set(dbs), f"db completion for 's': {dbs}"
        return f"table 'b' -> {tables}; db 's' -> {dbs}"

    async def check_complete_file(self) -> str:
        # {+path} is everything after "file:///", i.e. the absolute path without its leading "/".
        prefix = str(self.root / "do").lstrip("/")
        values = await self.complete("file:///{+path}", "path", prefix)
        assert values, f"no completions for {prefix!r}"
        assert all(v.startswith(prefix) for v in values), f"non-prefix completions: {values}"
        assert any("docs" in v for v in values), f"docs not offered: {values}"
        return f"{prefix!r} -> {values}"

    # ---- subscriptions ------------------------------------------------------------------------

    async def until_notified(self, change: Callable[[int], None], wait: Callable[[], Awaitable[Any]]) -> int:
        """Make a change on disk and wait for its notification; if none came within a while, make
        another one (a change made before the watcher was ready may go unseen), for at most
        NOTIFY_TIMEOUT in all. Returns how many changes it took."""
        attempts = 0
        with anyio.fail_after(NOTIFY_TIMEOUT):
            while True:
                attempts += 1
                change(attempts)
                with anyio.move_on_after(NOTIFY_TIMEOUT / 4):
                    await wait()
                    return attempts

    def append_to(self, target: Path) -> Callable[[int], None]:
        def change(n: int) -> None:
            with target.open("a") as f:
                f.write(f"\nAppended by the interop suite ({n}).\n")

        return change

    def create_file(self, n: int) -> None:
        (self.root / "docs" / f"new-from-interop-{n}.md").write_text("# new\n")

    def insert_row(self, n: int) -> None:
        with sqlite3.connect(self.scratch) as conn:  # another process's commit
            conn.execute("INSERT INTO notes(body) VALUES (?)", (f"written by another process ({n})",))
        conn.close()

    async def check_subscribe_legacy(self) -> str:
        c = self.client
        target = self.root / "docs" / "ordering.md"
        uri = target.as_uri()
        db_uri = "sqlite://scratch/table/notes"
        await c.subscribe_resource(uri)
        await c.subscribe_resource(db_uri)

        def updated(u: str) -> Callable[[Any], bool]:
            return lambda n: isinstance(n, types.ResourceUpdatedNotification) and str(n.params.uri) == u

        start = len(self.notifications)
        a = await self.until_notified(self.append_to(target), lambda: self.wait_notification(updated(uri), start))
        start = len(self.notifications)
        b = await self.until_notified(
            self.create_file,
            lambda: self.wait_notification(lambda n: isinstance(n, types.ResourceListChangedNotification), start),
        )
        start = len(self.notifications)
        d = await self.until_notified(self.insert_row, lambda: self.wait_notification(updated(db_uri), start))
        await c.unsubscribe_resource(uri)
        await c.unsubscribe_resource(db_uri)
        return (
            f"updated for {uri} (after {a} change(s)), list_changed after a new file ({b}), "
            f"updated for {db_uri} after another process's commit ({d})"
        )

    async def check_listen_modern(self) -> str:
        from mcp.client.subscriptions import ResourcesListChanged, ResourceUpdated

        target = self.root / "docs" / "ordering.md"
        uri = target.as_uri()
        db_uri = "sqlite://scratch/table/notes"
        outside = "file:///etc/passwd"
        wire_start = len(self.wire.received)
        async with self.client.listen(
            resources_list_changed=True, resource_subscriptions=[uri, db_uri, outside]
        ) as sub:
            honored = sub.honored
            accepted = set(honored.resource_subscriptions or [])
            assert {uri, db_uri} <= accepted, f"acknowledgment did not accept {uri} and {db_uri}: {honored}"
            assert outside not in accepted, f"acknowledgment accepted {outside} outside the allowed directories"
            assert honored.resources_list_changed, f"resourcesListChanged not acknowledged: {honored}"
            events: list[Any] = []

            async def next_matching(pred: Callable[[Any], bool]) -> Any:
                for e in events:
                    if pred(e):
                        return e
                async for e in sub:
                    events.append(e)
                    if pred(e):
                        return e
                raise AssertionError(f"subscription ended; events so far: {events}")

            a = await self.until_notified(
                self.append_to(target), lambda: next_matching(lambda e: isinstance(e, ResourceUpdated) and e.uri == uri)
            )
            b = await self.until_notified(
                self.create_file, lambda: next_matching(lambda e: isinstance(e, ResourcesListChanged))
            )
            d = await self.until_notified(
                self.insert_row, lambda: next_matching(lambda e: isinstance(e, ResourceUpdated) and e.uri == db_uri)
            )
            sub_id = sub.subscription_id
        # Every change notification on the wire must carry this subscription's id.
        untagged = [
            m for m in self.wire.received[wire_start:]
            if m.get("method", "").startswith("notifications/resources/")
            and (m.get("params") or {}).get("_meta", {}).get(SUBSCRIPTION_ID_META_KEY) != sub_id
        ]  # fmt: skip
        assert not untagged, f"notifications without subscription id {sub_id!r}: {short(untagged, 600)}"
        ack = short(honored.model_dump(by_alias=True, exclude_none=True), 200)
        return f"ack {ack}; updated ({a} change(s)), list_changed ({b}), db updated ({d}), all tagged {sub_id!r}"

    # ---- progress and cancellation ------------------------------------------------------------

    async def check_progress_cancel(self) -> str:
        progress: list[tuple[float, float | None, str | None]] = []
        got_progress = anyio.Event()
        outcome: dict[str, Any] = {}

        async def on_progress(p: float, total: float | None, message: str | None) -> None:
            progress.append((p, total, message))
            if len(progress) >= 2:  # two, so that "strictly increasing" means something
                got_progress.set()

        async def slow_call(scope: anyio.CancelScope) -> None:
            with scope:
                try:
                    outcome["result"] = await self.call(
                        "read_query", {"db": "scratch", "query": ENDLESS_QUERY},
                        progress_callback=on_progress, timeout=PROGRESS_TIMEOUT + AFTER_CANCEL_TIMEOUT,
                    )  # fmt: skip
                except Exception as e:  # noqa: BLE001
                    outcome["error"] = e
                finally:
                    got_progress.set()  # the call ended (it should not): stop waiting for progress

        sent_before = len(self.wire.sent)
        scope = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            tg.start_soon(slow_call, scope)
            with anyio.move_on_after(PROGRESS_TIMEOUT):
                await got_progress.wait()
            # Cancelling the caller makes the SDK send notifications/cancelled for the request.
            scope.cancel()
        if "error" in outcome:
            raise outcome["error"]
        assert "result" not in outcome, f"the endless query returned: {short(outcome['result'].model_dump(), 300)}"
        assert len(progress) >= 2, f"{len(progress)} notifications/progress within {PROGRESS_TIMEOUT:.0f}s"
        request = next(m for m in self.wire.sent[sent_before:] if m.get("method") == "tools/call")
        rid = request["id"]
        token = request["params"]["_meta"].get("progressToken")
        await anyio.lowlevel.checkpoint()  # let the courtesy cancel reach the wire
        cancels = [m for m in self.wire.sent[sent_before:] if m.get("method") == "notifications/cancelled"]
        assert any(m["params"].get("requestId") == rid for m in cancels), "the SDK sent no notifications/cancelled"
        values = [p for p, _, _ in progress]
        assert all(a < b for a, b in itertools.pairwise(values)), f"progress does not strictly increase: {values}"
        tokens = {
            m["params"]["progressToken"] for m in self.wire.received if m.get("method") == "notifications/progress"
        }
        assert tokens <= {token}, f"progress with foreign tokens {tokens}, ours is {token!r}"
        # The same database answers again: its worker is free only if the query was really stopped
        # (the query timeout is 300s, far beyond this wait).
        with anyio.fail_after(AFTER_CANCEL_TIMEOUT):
            after = await self.call("read_query", {"db": "scratch", "query": "SELECT count(*) AS n FROM notes"})
        assert not after.is_error, f"scratch query after cancel failed: {result_text(after)}"
        self.cancelled_id = rid
        return f"{len(progress)} progress notifications (last {progress[-1]}), cancelled, scratch answers again"

    # ---- wire ---------------------------------------------------------------------------------

    async def check_wire(self) -> str:
        sent = [m for m in self.wire.sent if "method" in m and "id" in m]
        methods = [m["method"] for m in sent]
        problems = []
        if self.era == "legacy":
            if methods[:1] != ["initialize"]:
                problems.append(f"first request is {methods[:1]}, not initialize")
            elif sent[0]["params"].get("protocolVersion") != LEGACY_VERSION:
                problems.append(f"initialize offered {sent[0]['params'].get('protocolVersion')}")
            if self.declare_roots and "roots" not in sent[0]["params"].get("capabilities", {}):
                problems.append("initialize did not declare the roots capability")
        else:
            if "initialize" in methods:
                problems.append("initialize was sent in the modern era")
            if methods[:1] != ["server/discover"]:
                problems.append(f"first request is {methods[:1]}, not server/discover")
            unstamped = [m["method"] for m in sent
                         if (m.get("params") or {}).get("_meta", {}).get(PROTOCOL_VERSION_META_KEY) != MODERN_VERSION]  # fmt: skip
            if unstamped:
                problems.append(f"requests without _meta protocolVersion {MODERN_VERSION}: {unstamped}")
            server_requests = [m for m in self.wire.received if "method" in m and "id" in m]
            if server_requests:
                problems.append(f"server sent requests to a modern client: {short(server_requests, 300)}")
        rid = getattr(self, "cancelled_id", None)
        if rid is not None:
            late = [m for m in self.wire.received if m.get("id") == rid and "method" not in m]
            if late:
                problems.append(f"a response to the cancelled request {rid} was sent: {short(late, 300)}")
        non_jsonrpc = [m for m in self.wire.received if m.get("jsonrpc") != "2.0"]
        if non_jsonrpc:
            problems.append(f"non JSON-RPC 2.0 messages: {short(non_jsonrpc, 300)}")
        assert not problems, "\n".join(problems)
        server_reqs = sorted({m["method"] for m in self.wire.received if "method" in m and "id" in m})
        return f"{len(self.wire.sent)} sent, {len(self.wire.received)} received; server requests: {server_reqs}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--era", choices=["legacy", "modern"], required=True)
    parser.add_argument(
        "--no-roots",
        action="store_true",
        help="legacy: do not declare the roots capability (for diagnosing roots problems)",
    )
    parser.add_argument("binary")
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    started = time.monotonic()
    code = anyio.run(Scenario(binary, args.era, declare_roots=not args.no_roots).run)
    print(f"INFO [python {args.era}] took {time.monotonic() - started:.1f}s", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
