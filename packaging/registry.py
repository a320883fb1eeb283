#!/usr/bin/env python3
"""Writes and checks server.json, this server's entry for the MCP registry.

    registry.py --bundle dist/mcp-files-sqlite.mcpb --repo OWNER/REPO --version V --out FILE

fills server.template.json in: the name io.github.OWNER/mcp-files-sqlite, the repository, the
version, and the bundle as an "mcpb" package (its GitHub release download URL and the SHA-256 of
the file as built), then checks the result:

- against the registry's published schema (2025-12-11, JSON Schema draft-07). The registry serves
  it from static.modelcontextprotocol.io, which this machine cannot reach; the same file, byte for
  byte (its SHA-256 pinned below), ships in the PyPI package skillsaw 0.22.0, which pip fetches;
- and against the registry's rules for MCPB packages that the schema does not hold: fileSha256
  present and equal to the bundle's, the identifier a URL containing "mcp", the description at most
  100 characters.

Runs with any Python 3 that has jsonschema (packaging/mcpb.sh gives it a venv of its own).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zipfile
from pathlib import Path

import jsonschema

SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
SCHEMA_IN_WHEEL = "skillsaw/schemas/mcp_registry/v2025_12_11/server.schema.json"
SCHEMA_SHA256 = "3fba09590c99f61735d234822279f4223fab9e300c0a81e81c91ab62a4114de0"
HERE = Path(__file__).resolve().parent


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def published_schema(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as z:
        data = z.read(SCHEMA_IN_WHEEL)
    got = hashlib.sha256(data).hexdigest()
    if got != SCHEMA_SHA256:
        sys.exit(f"registry.py: the schema in {wheel} has SHA-256 {got}, not the pinned {SCHEMA_SHA256}")
    schema = json.loads(data)
    assert schema["$id"] == SCHEMA_URL, schema["$id"]
    return schema


def fill(template: dict, repo: str, version: str, bundle: Path) -> dict:
    owner, _, name = repo.partition("/")
    server = json.loads(json.dumps(template))
    server["name"] = f"io.github.{owner}/mcp-files-sqlite"
    server["version"] = version
    server["repository"]["url"] = f"https://github.com/{owner}/{name}"
    package = server["packages"][0]
    package["identifier"] = f"https://github.com/{owner}/{name}/releases/download/v{version}/{bundle.name}"
    package["version"] = version
    package["fileSha256"] = sha256(bundle)
    return server


def check(server: dict, schema: dict, bundle: Path) -> list[str]:
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in validator.iter_errors(server)]
    if server["$schema"] != SCHEMA_URL:
        problems.append(f"$schema is {server['$schema']}, not {SCHEMA_URL}")
    if len(server["description"]) > 100:
        problems.append("description is over 100 characters")
    for package in server.get("packages", []):
        if package["registryType"] != "mcpb":
            continue
        if "mcp" not in package["identifier"]:
            problems.append(f"an mcpb identifier must contain 'mcp': {package['identifier']}")
        if not package["identifier"].startswith("https://github.com/"):
            problems.append("an mcpb package must be a GitHub (or GitLab) release download")
        if package.get("fileSha256") != sha256(bundle):
            problems.append("fileSha256 is not the bundle's SHA-256")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--repo", required=True, help="OWNER/REPO on GitHub, where releases are")
    parser.add_argument("--version", required=True)
    parser.add_argument("--schema-wheel", type=Path, required=True, help="skillsaw-0.22.0-py3-none-any.whl")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    template = json.loads((HERE / "server.template.json").read_text())
    server = fill(template, args.repo, args.version, args.bundle)
    problems = check(server, published_schema(args.schema_wheel), args.bundle)
    # The checker itself must refuse what the registry refuses.
    broken = json.loads(json.dumps(server))
    broken["description"] = "x" * 101
    del broken["packages"][0]["transport"]
    assert len(check(broken, published_schema(args.schema_wheel), args.bundle)) >= 2, "the check accepts a broken entry"
    if problems:
        print("registry.py: server.json does not hold:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    args.out.write_text(json.dumps(server, indent=2) + "\n")
    print(f"wrote {args.out}: {server['name']} {server['version']}, valid against {SCHEMA_URL}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
