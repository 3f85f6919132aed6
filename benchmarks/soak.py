"""A bounded soak of the demo: steady load, RSS, file descriptors, latencies, WAL sizes, shutdown.

Usage::

    python benchmarks/soak.py [--runs 3] [--seconds 90] [--sample-s 10] [--history-rate 20000]

Each run starts ``opencrate serve --demo --data <fresh dir> --port 0`` and
holds it under the issue's load for ``--seconds``:

* 5 websocket readers of ``/api/ws`` that read everything, and **one
  websocket client that never reads** (a frozen tablet);
* 20 API reads per second (``GET /api/nodes/...``, ``/api/health``), timed;
* a property write every 30 s (``--write-every``);
* a history writer posting ``--history-rate`` samples per second in batches
  of 1000 (``POST /api/history``) and a properties writer (10 ``PUT``/s), so
  the write-ahead logs pass their automatic checkpoint sizes within the run:
  about 4 MB (1000 pages), and about 41 MB for ``history.db``
  (``wal_autocheckpoint=10000``).

Every ``--sample-s`` it prints the server's RSS, open file descriptors, the
read latencies of the interval (p50 / p99) and each store's ``wal_bytes``
from ``GET /api/health``: the WALs grow to their checkpoint size and level
off there. At the end it sends SIGINT (the never-reading client still
connected) and times the exit, which must be status 0 within 5 s. The
summary gives min / median / max over the runs.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BASE_MS = 1_700_000_000_000


def start(data: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "opencrate", "serve", "--demo", "--data", str(data), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    assert proc.stdout is not None
    while line := proc.stdout.readline():
        match = re.search(r"serving (http://[0-9.:]+)", line)
        if match:
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, match.group(1)
    raise SystemExit(f"server exited (status {proc.wait()})")


def websocket(port: int, token: str, *, reads: bool, stop: threading.Event) -> socket.socket:
    """A raw websocket client of /api/ws; one that reads discards what comes, forever."""
    sock = socket.create_connection(("127.0.0.1", port))
    if not reads:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /api/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    if reads:

        def drain() -> None:
            while not stop.is_set():
                try:
                    if not sock.recv(65536):
                        return
                except OSError:
                    return

        threading.Thread(target=drain, daemon=True).start()
    return sock


def every(period: float, stop: threading.Event, fn: Any) -> None:
    next_at = time.monotonic()
    while not stop.is_set():
        fn()
        next_at += period
        stop.wait(max(0.0, next_at - time.monotonic()))


def process_figures(pid: int) -> tuple[float, int]:
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    return rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def one_run(args: argparse.Namespace, run: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "demo"
        proc, url = start(data)
        token = (data / "demo-admin.token").read_text().strip()
        port = int(url.rsplit(":", 1)[1])
        stop = threading.Event()
        sockets = [websocket(port, token, reads=True, stop=stop) for _ in range(5)]
        sockets.append(websocket(port, token, reads=False, stop=stop))
        auth = {"Authorization": f"Bearer {token}"}
        latencies: list[float] = []
        lock = threading.Lock()
        errors: list[str] = []
        reader = httpx.Client(base_url=url, headers=auth, timeout=30)
        writer = httpx.Client(base_url=url, headers=auth, timeout=30)
        bulk = httpx.Client(base_url=url, headers=auth, timeout=60)
        # History is kept for the model's points only: make the 50 the writer posts to.
        for p in range(50):
            node = {"id": f"soak/p{p}", "node_type": "point", "dis": "soak", "kind": "number"}
            bulk.post("/api/nodes", json=node).raise_for_status()
        reads = 0

        def read() -> None:
            nonlocal reads
            reads += 1
            path = "/api/health" if reads % 5 == 0 else "/api/nodes/1101"
            before = time.perf_counter()
            reply = reader.get(path)
            with lock:
                latencies.append((time.perf_counter() - before) * 1000)
            if reply.status_code != 200:
                errors.append(f"GET {path}: {reply.status_code}")

        writes = 0

        def write() -> None:
            nonlocal writes
            writes += 1
            reply = writer.put("/api/properties/soak/site/setpoint", json={"value": writes})
            if reply.status_code != 200:
                errors.append(f"PUT property: {reply.status_code}")

        seq = 0

        def history_batch() -> None:
            nonlocal seq
            samples = [
                {"point_id": f"soak/p{(seq + i) % 50}", "time": BASE_MS + seq + i, "value": 1.0}
                for i in range(1000)
            ]
            seq += 1000
            reply = bulk.post("/api/history", json={"samples": samples})
            if reply.status_code != 200:
                errors.append(f"POST history: {reply.status_code}")
            for i in range(2):
                bulk.put(f"/api/properties/soak/bulk/p{(seq + i) % 200}", json={"value": "x" * 500})

        threads = [
            threading.Thread(target=every, args=(1 / 20, stop, read), daemon=True),
            threading.Thread(target=every, args=(args.write_every, stop, write), daemon=True),
            threading.Thread(
                target=every, args=(1000 / args.history_rate, stop, history_batch), daemon=True
            ),
        ]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        rss0, fds0 = process_figures(proc.pid)
        wal_max: dict[str, int] = {}
        p99s: list[float] = []
        rss = rss0
        fds = fds0
        print(f"run {run}: {url}, RSS {rss0:.0f} MB, {fds0} fds at start")
        while time.monotonic() - started < args.seconds:
            time.sleep(args.sample_s)
            rss, fds = process_figures(proc.pid)
            with lock:
                window, latencies[:] = sorted(latencies), []
            p50 = window[len(window) // 2] if window else float("nan")
            p99 = window[min(len(window) - 1, int(len(window) * 0.99))] if window else float("nan")
            p99s.append(p99)
            health = httpx.get(f"{url}/api/health", timeout=30).json()
            wals = {name: entry["wal_bytes"] for name, entry in health["stores"].items()}
            for name, size in wals.items():
                wal_max[name] = max(wal_max.get(name, 0), size)
            shown = ", ".join(
                f"{name} {size / 1e6:.1f}" for name, size in sorted(wals.items()) if size > 100_000
            )
            print(
                f"  t={time.monotonic() - started:5.0f}s RSS {rss:5.0f} MB, fds {fds:3d}, "
                f"reads p50 {p50:5.1f} ms p99 {p99:5.1f} ms, history samples {seq:,}, "
                f"WAL MB: {shown or 'all < 0.1'}"
            )
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        for client in (reader, writer, bulk):
            client.close()
        before = time.monotonic()
        proc.send_signal(signal.SIGINT)  # the never-reading client is still connected
        try:
            status = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            status = proc.wait()
        shutdown_s = time.monotonic() - before
        for sock in sockets:
            sock.close()
        print(
            "  WAL peak MB: "
            + ", ".join(f"{n} {s / 1e6:.1f}" for n, s in sorted(wal_max.items()) if s > 100_000)
        )
        print(
            f"  SIGINT with a never-reading websocket client: exit {status} in {shutdown_s:.2f} s;"
            f" errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else "")
        )
        return {
            "rss_growth_mb": rss - rss0,
            "fd_growth": fds - fds0,
            "p99_ms": max(p99s) if p99s else float("nan"),
            "history_wal_mb": wal_max.get("history", 0) / 1e6,
            "largest_other_wal_mb": max(
                (s for n, s in wal_max.items() if n != "history"), default=0
            )
            / 1e6,
            "shutdown_s": shutdown_s,
            "exit_status": float(status),
            "errors": float(len(errors)),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--write-every", type=float, default=30.0)
    parser.add_argument("--history-rate", type=float, default=20_000, help="samples per second")
    args = parser.parse_args()
    results = [one_run(args, run) for run in range(1, args.runs + 1)]
    print(f"\nover {len(results)} runs of {args.seconds:g} s: min / median / max")
    for key in results[0]:
        values = [r[key] for r in results]
        print(f"  {key:<22}{min(values):10.2f}{statistics.median(values):10.2f}{max(values):10.2f}")
    if any(r["exit_status"] != 0 or r["shutdown_s"] > 5 for r in results):
        raise SystemExit("FAILED: SIGINT did not exit 0 within 5 s")


if __name__ == "__main__":
    main()
