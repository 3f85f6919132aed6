"""Durability under faults: mixed API writes to every store, ``kill -9`` at a random moment.

Usage::

    python benchmarks/crash_api.py [--cycles 5] [--writers 4] [--min-s 2] [--max-s 6] [--seed N]

One fresh data directory (``opencrate init``), then per cycle:

1. ``opencrate serve --data <dir> --port 0`` as a child process; the time to
   level 60 is the restart time;
2. ``--writers`` client threads write flat out through the API, each its own
   targets, round robin: node creates and patches, overrides, properties,
   history ``PUT`` and ``POST``, event acknowledgements and enrichments (the
   audit log gets an entry for each). Each remembers what it *attempted* and
   what got a 2xx (*acknowledged*);
3. after a random time in ``[--min-s, --max-s]`` the server gets SIGKILL;
4. the next cycle restarts on the same files. After the last one a final
   start checks every acknowledged write of every cycle:

   * nodes created, history samples, enrichments, acknowledgements: present;
   * node ``dis``, overrides, properties (a value that is replaced): the
     stored value is the last acknowledged one, or a later attempt that was
     in flight at the kill (never an older one, never one never sent);
   * ``PRAGMA integrity_check`` of every ``*.db`` is ``ok``;
   * audit and stores agree: every acknowledged write has its audit entry,
     and no audit entry names a change that is not stored (the API writes the
     store first and the audit entry second, so the n-th entry for a target
     means its n-th attempt was stored).

Prints, per store, the writes acknowledged and lost, and the restart times.
Exits 1 when anything acknowledged was lost. ``--cycles 2`` is the short
version ``.ci/run`` runs.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BASE_MS = 1_700_000_000_000
STORES = ("nodes", "overrides", "properties", "history", "events", "audit")


def opencrate(*args: str) -> list[str]:
    return [sys.executable, "-m", "opencrate", *args]


def init(data: Path) -> str:
    """``opencrate init`` with an admin token file; returns the token."""
    token_file = data.parent / "admin.token"
    subprocess.run(
        opencrate("init", "--data", str(data), "--admin-token-file", str(token_file)),
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    return token_file.read_text(encoding="utf-8").strip()


def start_server(data: Path) -> tuple[subprocess.Popen[str], str, float]:
    """Start the server; its process, URL and seconds to level 60."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        opencrate("serve", "--data", str(data), "--port", "0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    assert proc.stdout is not None
    output: list[str] = []
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"server exited (status {proc.wait()}):\n{''.join(output)}")
        output.append(line)
        match = re.search(r"serving \[?'?(http://[^'\], ]+)", line)
        if match:
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, match.group(1), time.perf_counter() - started


class Writer(threading.Thread):
    """One client writing to every store; its own node ids, point, properties and samples."""

    def __init__(
        self, url: str, token: str, name: str, events: list[int], stop: threading.Event, cycle: int
    ) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.name, self.events, self.stop = url, token, name, events, stop
        # Numbers go on rising across cycles: a later attempt always has a larger one.
        self.first = cycle * 1_000_000
        self.acked: Counter[str] = Counter()
        self.errors: list[str] = []
        self.ops = 0

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, timeout=30, headers=headers) as client:
            while not self.stop.is_set():
                self.ops += 1
                try:
                    self.step(client, self.first + self.ops)
                except httpx.HTTPError:
                    return  # the server is gone: this write was in flight

    def step(self, client: httpx.Client, n: int) -> None:
        kind = n % 8
        w = self.name
        seq = n
        if kind == 0:
            node = f"{w}-n{n}"
            LEDGER.attempt("nodes", node, seq, "node.create")
            body = {"id": node, "node_type": "equip", "dis": f"{w} equipment {n}"}
            self.send(client, "POST", "/api/nodes", body, "nodes", node, seq)
        elif kind == 1:
            node = f"{w}-pt"
            LEDGER.attempt("nodes.dis", node, seq, "node.update")
            self.send(client, "PATCH", f"/api/nodes/{node}", {"dis": f"v{seq}"}, "nodes.dis",
                      node, seq)  # fmt: skip
        elif kind == 2:
            node = f"{w}-pt"
            LEDGER.attempt("overrides", node, seq, "override.set")
            self.send(client, "PUT", f"/api/points/{node}/override", {"value": float(seq)},
                      "overrides", node, seq)  # fmt: skip
        elif kind in (3, 4):
            prop = f"crash/{w}/p{n % 5}"
            LEDGER.attempt("properties", prop, seq, "property.put")
            self.send(client, "PUT", f"/api/properties/{prop}", {"value": seq}, "properties",
                      prop, seq)  # fmt: skip
        elif kind == 5:
            point = f"crash/{w}/put"
            LEDGER.attempt("history", f"{point}@{seq}", seq, "history.put")
            body = {"value": float(seq), "time": BASE_MS + seq}
            self.send(client, "PUT", f"/api/history/{point}", body, "history",
                      f"{point}@{seq}", seq)  # fmt: skip
        elif kind == 6:
            point = f"crash/{w}/post"
            samples = [
                {"point_id": point, "time": BASE_MS + seq * 10 + i, "value": float(i)}
                for i in range(10)
            ]
            target = f"{point}@{seq}"
            LEDGER.attempt("history", target, seq, "history.import")
            self.send(client, "POST", "/api/history", {"samples": samples}, "history",
                      target, seq)  # fmt: skip
        elif self.events:
            event = self.events[n % len(self.events)]
            target = f"{event}:{w}s{seq}"
            LEDGER.attempt("events", target, seq, "event.enrich")
            body = {"name": f"{w}s{seq}", "value": seq}
            self.send(client, "POST", f"/api/events/{event}/enrich", body, "events", target,
                      seq)  # fmt: skip

    def send(
        self, client: httpx.Client, method: str, path: str, body: Any, store: str, target: str,
        seq: int,
    ) -> None:  # fmt: skip
        reply = client.request(method, path, json=body)
        if 200 <= reply.status_code < 300:
            LEDGER.ack(store, target, seq)
            self.acked[store.split(".")[0]] += 1
        else:
            self.errors.append(f"{method} {path}: {reply.status_code} {reply.text[:200]}")


class Ledger:
    """Every attempted and acknowledged write, by store and target (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempts: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.acks: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.actions: dict[tuple[str, str], str] = {}

    def attempt(self, store: str, target: str, seq: int, action: str) -> None:
        with self.lock:
            self.attempts[(store, target)].append(seq)
            self.actions[(store, target)] = action

    def ack(self, store: str, target: str, seq: int) -> None:
        with self.lock:
            self.acks[(store, target)].append(seq)


LEDGER = Ledger()
DISAGREE: list[str] = []


def setup(url: str, token: str, writers: int) -> list[int]:
    """Each writer's point (for overrides and patches); the event ids to enrich."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
        for w in range(writers):
            body = {"id": f"w{w}-pt", "node_type": "point", "dis": "crash point", "kind": "number"}
            client.post("/api/nodes", json=body).raise_for_status()
            # History is kept for the model's points only: the PUT and POST targets.
            for target in (f"crash/w{w}/put", f"crash/w{w}/post"):
                body = {"id": target, "node_type": "point", "dis": "crash", "kind": "number"}
                client.post("/api/nodes", json=body).raise_for_status()
        deadline = time.monotonic() + 10
        while True:  # the event log records the EntityCreated events a moment later
            page = client.get("/api/events", params={"limit": 50}).raise_for_status().json()
            if page["items"] or time.monotonic() > deadline:
                return [int(item["id"]) for item in page["items"]]
            time.sleep(0.1)


def verify(url: str, token: str, data: Path) -> dict[str, tuple[int, int]]:
    """Acknowledged and lost writes per store (the server at ``url`` runs on ``data``)."""
    headers = {"Authorization": f"Bearer {token}"}
    acked: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    problems: list[str] = []
    with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
        overrides = {
            o["node_id"]: o["value"]
            for o in client.get("/api/overrides", params={"limit": 100}).json()["items"]
        }
        history = sqlite3.connect(data / "history.db")
        stored_samples = {
            (pid, ts)
            for pid, ts in history.execute(
                "SELECT p.point_id, s.ts_ms FROM sample s JOIN point p ON p.key = s.point_key"
            )
        }
        history.close()
        event_cache: dict[str, dict[str, Any]] = {}
        stored_now: dict[tuple[str, str], int | None] = {}
        for (store, target), seqs in sorted(LEDGER.attempts.items()):
            acks = LEDGER.acks.get((store, target), [])
            base = store.split(".")[0]
            acked[base] += len(acks)
            if store == "nodes":
                present = client.get(f"/api/nodes/{target}").status_code == 200
                stored_now[(store, target)] = seqs[0] if present else None
                lost[base] += 0 if present or not acks else 1
            elif store in ("nodes.dis", "overrides", "properties"):
                if store == "nodes.dis":
                    dis = client.get(f"/api/nodes/{target}").json()["dis"]
                    value = int(dis[1:]) if dis.startswith("v") else None
                elif store == "overrides":
                    raw = overrides.get(target)
                    value = None if raw is None else int(raw)
                else:
                    reply = client.get(f"/api/properties/{target}")
                    value = reply.json()["value"] if reply.status_code == 200 else None
                stored_now[(store, target)] = value
                last = max(acks) if acks else None
                ok = (last is None and (value is None or value in seqs)) or (
                    value is not None and last is not None and value >= last and value in seqs
                )
                if not ok:
                    # Every acknowledged update of this target after the stored one is lost.
                    lost[base] += sum(1 for s in acks if value is None or s > value)
                    problems.append(f"{store} {target}: stored {value}, last acknowledged {last}")
            elif store == "history":
                point, _, seq_text = target.rpartition("@")
                seq = int(seq_text)
                if point.endswith("/post"):
                    keys = [(point, BASE_MS + seq * 10 + i) for i in range(10)]
                else:
                    keys = [(point, BASE_MS + seq)]
                present = all(k in stored_samples for k in keys)
                stored_now[(store, target)] = seq if present else None
                lost[base] += 0 if present or not acks else 1
            elif store == "events":
                event, _, name = target.partition(":")
                if event not in event_cache:
                    event_cache[event] = client.get(f"/api/events/{event}").json()
                names = {e["name"] for e in event_cache[event]["enrichments"]}
                stored_now[(store, target)] = seqs[0] if name in names else None
                lost[base] += 0 if name in names or not acks else 1
    audit_acked, audit_lost, disagree = check_audit(data, stored_now)
    acked["audit"] += audit_acked
    lost["audit"] += audit_lost
    for line in problems[:10] + disagree[:10]:
        print("  ", line)
    print(f"audit entries that disagree with the stores: {len(disagree)}")
    DISAGREE.extend(disagree)
    return {store: (acked[store], lost[store]) for store in STORES}


def check_audit(
    data: Path, stored_now: dict[tuple[str, str], int | None]
) -> tuple[int, int, list[str]]:
    """Audit entries per target against the ledger and what the stores hold."""
    conn = sqlite3.connect(data / "audit.db")
    counts: Counter[tuple[str, str]] = Counter(
        (action, target)
        for action, target in conn.execute("SELECT action, target FROM audit_entry")
    )
    conn.close()
    acked = lost = 0
    disagree: list[str] = []
    by_audit_target: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for key, action in LEDGER.actions.items():
        store, target = key
        audit_target = audit_target_of(store, target, action)
        by_audit_target[(action, audit_target)].append(key)
    for (action, audit_target), keys in by_audit_target.items():
        entries = counts.get((action, audit_target), 0)
        acks = sum(len(LEDGER.acks.get(k, [])) for k in keys)
        attempts = sorted(s for k in keys for s in LEDGER.attempts[k])
        acked += acks
        if entries < acks:
            lost += acks - entries
            disagree.append(
                f"{action} {audit_target}: {entries} audit entries, {acks} acknowledged"
            )
        if entries > len(attempts):
            disagree.append(f"{action} {audit_target}: {entries} entries for {len(attempts)} tries")
            continue
        if entries and action in ("node.update", "override.set", "property.put"):
            # The n-th entry means the n-th attempt was stored: the store holds it or later.
            (key,) = keys
            value = stored_now.get(key)
            if value is None or value < attempts[entries - 1]:
                disagree.append(
                    f"{action} {audit_target}: audited up to {attempts[entries - 1]}, "
                    f"store holds {value}"
                )
        elif action not in ("node.update", "override.set", "property.put"):
            stored = sum(1 for k in keys if stored_now.get(k) is not None)
            if entries > stored:
                disagree.append(f"{action} {audit_target}: {entries} entries, {stored} stored")
    return acked, lost, disagree


def audit_target_of(store: str, target: str, action: str) -> str:
    """What the API names as the audit entry's target for a ledger entry."""
    if action == "history.import":
        return "sqlite"  # the service name
    if action == "history.put":
        return target.rpartition("@")[0]
    if action == "event.enrich":
        return target.partition(":")[0]
    return target


def integrity(data: Path) -> dict[str, str]:
    found = {}
    for db in sorted(data.glob("*.db")):
        conn = sqlite3.connect(db)
        found[db.name] = conn.execute("PRAGMA integrity_check").fetchone()[0]
        conn.close()
    return found


def main(cycles: int, writers: int, min_s: float, max_s: float, seed: int | None) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        token = init(data)
        restarts: list[float] = []
        events: list[int] = []
        for cycle in range(1, cycles + 1):
            proc, url, restart_s = start_server(data)
            restarts.append(restart_s)
            if cycle == 1:
                events = setup(url, token, writers)
            stop = threading.Event()
            threads = [Writer(url, token, f"w{w}", events, stop, cycle) for w in range(writers)]
            for thread in threads:
                thread.start()
            run_s = rng.uniform(min_s, max_s)
            time.sleep(run_s)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            acked = sum((t.acked for t in threads), Counter())
            errors = [e for t in threads for e in t.errors]
            print(
                f"cycle {cycle}: level 60 in {restart_s:.2f} s; killed after {run_s:.2f} s; "
                f"acknowledged {sum(acked.values())} writes ({dict(acked)})"
                + (f"; {len(errors)} refused, first: {errors[0]}" if errors else "")
            )
        proc, url, restart_s = start_server(data)
        restarts.append(restart_s)
        try:
            results = verify(url, token, data)
        finally:
            proc.send_signal(signal.SIGTERM)
            status = proc.wait(timeout=60)
        checks = integrity(data)
        print(f"\n{'store':<12}{'acknowledged':>14}{'lost':>8}")
        for store, (acked_n, lost_n) in results.items():
            print(f"{store:<12}{acked_n:>14}{lost_n:>8}")
        total = sum(a for a, _ in results.values())
        total_lost = sum(lost_n for _, lost_n in results.values())
        print(f"{'total':<12}{total:>14}{total_lost:>8}")
        print(
            f"restart to level 60: min {min(restarts):.2f} s, "
            f"median {statistics.median(restarts):.2f} s, max {max(restarts):.2f} s "
            f"({len(restarts)} starts)"
        )
        bad = {name: result for name, result in checks.items() if result != "ok"}
        print(f"integrity_check: {bad or f'ok for {len(checks)} files'}")
        print(f"final SIGTERM: exit status {status}")
        if total_lost or bad or status != 0 or DISAGREE:
            raise SystemExit(
                "FAILED: acknowledged writes lost, audit and stores disagree, a file is "
                "damaged, or exit != 0"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--min-s", type=float, default=2.0)
    parser.add_argument("--max-s", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    main(args.cycles, args.writers, args.min_s, args.max_s, args.seed)
