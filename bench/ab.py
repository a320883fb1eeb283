#!/usr/bin/env python3
"""A/B two server binaries on one operation, interleaved, as bench/PROFILES.md's experiments were.

    python3 bench/ab.py OLD_BINARY NEW_BINARY DIR OP [--runs N] [--db FILE] [--watch]

OP is one of: tree (directory_tree of DIR), search (search_files **/*.rs), grep (grep_files for
"zanzibar_quokka_42", the bench tree's rare token), list (every page of resources/list), page (a
10,000-row read_query of FILE's `sales`), read (read_text_file of this script). Each binary
serves DIR with every result limit raised and, unless --watch, its watcher off. Per round, each
binary runs the operation N times on one server; rounds alternate the binaries. Printed per
binary: the median and minimum time from sending a request to the arrival of its last byte, the
CPU time the server used per call, and its peak RSS.

Stdlib only. Linux only (reads /proc).
"""
import argparse
import json
import os
import subprocess
import time

TOKEN = "zanzibar_quokka_42"


def calls(op, root, db):
    if op == "tree":
        return [("tools/call", {"name": "directory_tree", "arguments": {"path": root}})]
    if op == "search":
        return [("tools/call", {"name": "search_files", "arguments": {"path": root, "pattern": "**/*.rs"}})]
    if op == "grep":
        return [("tools/call", {"name": "grep_files", "arguments": {"path": root, "pattern": TOKEN}})]
    if op == "page":
        return [("tools/call", {"name": "read_query", "arguments": {"query": "SELECT * FROM sales LIMIT 10000"}})]
    if op == "read":
        return [("tools/call", {"name": "read_text_file", "arguments": {"path": os.path.abspath(__file__)}})]
    if op == "list":
        return None  # paged: see run()
    raise SystemExit(f"unknown op {op}")


class Server:
    def __init__(self, binary, args):
        self.p = subprocess.Popen([binary] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, bufsize=0)
        self.buf = b""
        self.next_id = 0
        self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                    "clientInfo": {"name": "ab", "version": "1"}})
        self.p.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')

    def request(self, method, params):
        self.next_id += 1
        line = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        self.p.stdin.write(line.encode() + b"\n")
        chunks = [self.buf]
        while b"\n" not in chunks[-1]:
            chunk = os.read(self.p.stdout.fileno(), 1 << 20)
            if not chunk:
                raise SystemExit("the server closed its output")
            chunks.append(chunk)
        data = b"".join(chunks)
        line, _, self.buf = data.partition(b"\n")
        return line

    def cpu(self):
        fields = open(f"/proc/{self.p.pid}/stat").read().split(")")[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_mib(self):
        for line in open(f"/proc/{self.p.pid}/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
        return 0.0

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def run(server, op, root, db):
    started = time.perf_counter()
    if op == "list":
        cursor = None
        while True:
            line = server.request("resources/list", {"cursor": cursor} if cursor else {})
            cursor = json.loads(line)["result"].get("nextCursor")
            if not cursor:
                break
    else:
        for method, params in calls(op, root, db):
            line = server.request(method, params)
            if b'"isError":true' in line[:400] or b'"error"' in line[:80]:
                raise SystemExit(line[:400].decode(errors="replace"))
    return time.perf_counter() - started


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("dir")
    ap.add_argument("op")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--db")
    ap.add_argument("--watch", action="store_true")
    a = ap.parse_args()
    root = os.path.abspath(a.dir)
    args = [root, "--max-entries", "100000000", "--max-result-bytes", "4GiB", "--max-rows", "10000"]
    if a.db:
        args += ["--db", os.path.abspath(a.db)]
    if not a.watch:
        args += ["--watch", "off"]
    results = {a.old: [], a.new: []}
    cpu = {a.old: [], a.new: []}
    peak = {a.old: 0.0, a.new: 0.0}
    for _ in range(a.rounds):
        for binary in (a.old, a.new):
            server = Server(binary, args)
            run(server, a.op, root, a.db)  # warm the caches
            before = server.cpu()
            for _ in range(a.runs):
                results[binary].append(run(server, a.op, root, a.db))
            cpu[binary].append((server.cpu() - before) / a.runs)
            peak[binary] = max(peak[binary], server.peak_mib())
            server.close()
    for binary in (a.old, a.new):
        times = sorted(results[binary])
        print(f"{binary}: {a.op} median {times[len(times) // 2] * 1000:.1f} ms, "
              f"min {times[0] * 1000:.1f} ms, cpu {sorted(cpu[binary])[len(cpu[binary]) // 2]:.3f} s "
              f"per call, peak {peak[binary]:.0f} MiB")


if __name__ == "__main__":
    main()
