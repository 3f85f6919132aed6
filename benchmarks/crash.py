"""Durability: ingest at full rate, SIGKILL the server, restart, check the history.

Usage::

    .venv/bin/python benchmarks/crash.py [--quick] [--seconds S] [--writers N] [--batch N]

1. starts ``opencrate serve --data <tmp> --port 0`` as a child process;
2. N writer threads post batches of samples to ``POST /api/history`` as fast
   as the server takes them (each reply means the batch was committed),
   remembering which batches were acknowledged;
3. after S seconds kills the server with SIGKILL while batches are in flight;
4. restarts it on the same data directory (it must come up: no quarantine),
   stops it with SIGTERM, then opens ``history.db`` and checks
   ``PRAGMA integrity_check`` and that every acknowledged sample is there.

Prints the ingest rate, the samples acknowledged, found, and missing. A
commit is acknowledged only after it is durable against a process crash
(WAL, synchronous=NORMAL), so the acknowledged samples missing must be 0; at
most the batches in flight at the kill (one commit window: N batches) may be
missing, and they were never acknowledged.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BASE_MS = 1_700_000_000_000


def admin_token(data: Path) -> str:
    """``opencrate init`` the data directory, with an admin API token for the writers."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    token_file = data.parent / "admin.token"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "opencrate",
            "init",
            "--data",
            str(data),
            "--admin-token-file",
            str(token_file),
        ],
        check=True,
        capture_output=True,
        env=env,
        cwd=ROOT,
    )
    return token_file.read_text(encoding="utf-8").strip()


def start_server(data: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "opencrate", "serve", "--data", str(data), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"server exited early (status {proc.wait()})")
        match = re.search(r"serving \[?'?(http://[^'\], ]+)", line)
        if match:
            # Keep draining its output so the pipe never fills up.
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, match.group(1)
    raise SystemExit("server did not reach level 60 in 60 s")


def writer(
    url: str,
    token: str,
    index: int,
    batch: int,
    stop: threading.Event,
    acked: list[tuple[int, int]],
) -> None:
    """Post batches of ``batch`` samples for point ``crash/w<index>``; record acked ranges."""
    point = f"crash/w{index}"
    seq = 0
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
        # History is kept for the model's points only: make the writer's point first.
        node = {"id": point, "node_type": "point", "dis": "crash writer", "kind": "number"}
        client.post("/api/nodes", json=node).raise_for_status()
        while not stop.is_set():
            first = seq
            body = {
                "samples": [
                    {"point_id": point, "time": BASE_MS + first + i, "value": float(first + i)}
                    for i in range(batch)
                ]
            }
            try:
                reply = client.post("/api/history", json=body)
            except httpx.HTTPError:
                return  # the server is gone: this batch was in flight
            if reply.status_code != 200:
                raise SystemExit(f"writer {index}: HTTP {reply.status_code}: {reply.text}")
            acked.append((first, first + batch))
            seq += batch


def main(seconds: float, writers: int, batch: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        token = admin_token(data)
        proc, url = start_server(data)
        print(f"server at {url}; {writers} writers x {batch} samples per batch for {seconds:g} s")
        stop = threading.Event()
        acked: list[list[tuple[int, int]]] = [[] for _ in range(writers)]
        threads = [
            threading.Thread(
                target=writer, args=(url, token, i, batch, stop, acked[i]), daemon=True
            )
            for i in range(writers)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        proc.send_signal(signal.SIGKILL)  # mid-ingest, batches in flight
        proc.wait()
        elapsed = time.perf_counter() - started
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        total_acked = sum(hi - lo for ranges in acked for lo, hi in ranges)
        print(f"killed with SIGKILL after {elapsed:.1f} s")
        print(f"acknowledged: {total_acked:,} samples ({total_acked / elapsed:,.0f} samples/s)")

        proc, url = start_server(data)  # must come up on the crashed files
        health = httpx.get(f"{url}/api/health", timeout=10).json()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        quarantined = [n for n, s in health["stores"].items() if "quarantined" in s]
        print(f"restart: level {health['level']}, quarantined stores: {quarantined or 'none'}")

        conn = sqlite3.connect(data / "history.db")
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        missing_acked = found = 0
        for i, ranges in enumerate(acked):
            rows = conn.execute(
                "SELECT s.ts_ms FROM sample s JOIN point p ON p.key = s.point_key "
                "WHERE p.point_id = ?",
                (f"crash/w{i}",),
            ).fetchall()
            stored = {ts - BASE_MS for (ts,) in rows}
            found += len(stored)
            for lo, hi in ranges:
                missing_acked += sum(1 for seq in range(lo, hi) if seq not in stored)
        conn.close()
        print(f"PRAGMA integrity_check: {integrity}")
        in_flight = found - total_acked + missing_acked
        print(
            f"found {found:,} samples; acknowledged but missing: {missing_acked}; "
            f"unacknowledged but stored (in flight at the kill): {in_flight}"
        )
        print(f"commit window bound: {writers} batches = {writers * batch} samples")
        if integrity != "ok" or missing_acked:
            raise SystemExit("FAILED: the history lost acknowledged samples or is corrupt")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s, 2 writers")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.writers = 3.0, 2
    main(args.seconds, args.writers, args.batch)
