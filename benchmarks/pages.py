"""A rollup page of 100 over 1, 30 and 365 days: does a page cost what it returns?

Usage::

    .venv/bin/python benchmarks/pages.py [--quick] [--days N] [--repeat N] [--runs N]

One point, one sample a minute for ``--days`` days (365: 525,600 samples) in a
real :class:`HistoryStore` file (5 min and 1 h rollups maintained as they
arrive; the newest window open). Then ``query(resolution=5m, limit=100)``
ascending and descending over the last day, 30 days and the whole range, and
a raw page of 100 for comparison, each ``--repeat`` (20) times; milliseconds a
page as min / median / max of ``--runs`` runs (3), and the whole range against
one day.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio
from spread import spread

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from opencrate.components.history.service import Resolution, Sample
from opencrate.components.history.sqlite.store import HistoryStore

POINT = "1001/ai-1"
DAY = 86_400_000
MIN = 60_000
BASE_MS = 1_699_999_200_000


async def main(days: int, repeat: int, runs: int) -> None:
    n = days * 1440
    print(f"{n:,} samples ({days} days at 1/min), pages of 100; {repeat} calls, {runs} runs")
    with tempfile.TemporaryDirectory() as tmp:
        async with HistoryStore(Path(tmp) / "history.db").running() as store:
            for at in range(0, n, 10_000):
                await store.store(
                    [
                        Sample(point_id=POINT, ts_ms=BASE_MS + i * MIN, value=20.0 + i % 37 / 10)
                        for i in range(at, min(at + 10_000, n))
                    ]
                )
            end = BASE_MS + (n - 1) * MIN
            spans = sorted({1, min(30, days), days})
            medians: dict[tuple[str, int], float] = {}
            for resolution in (Resolution.FIVE_MIN, Resolution.RAW):
                for descending in (False, True):
                    for span in spans:
                        times: list[float] = []
                        for _ in range(runs):
                            started = time.perf_counter()
                            for _ in range(repeat):
                                page = await store.query(
                                    POINT, end - span * DAY, end, resolution=resolution,
                                    descending=descending, limit=100,
                                )  # fmt: skip
                            times.append((time.perf_counter() - started) / repeat * 1000)
                        got = len(page.buckets or page.samples)
                        if got != 100:
                            raise SystemExit(f"{resolution} over {span} d: {got} rows, not 100")
                        order = "desc" if descending else "asc"
                        name = f"{resolution.value:>3} {order:<4} {span:>3} d"
                        medians[(f"{resolution.value} {order}", span)] = statistics.median(times)
                        print(f"  {name}: {spread(times, '.2f', 'ms')}")
            for key in ("5m asc", "5m desc"):
                ratio = medians[(key, days)] / medians[(key, 1)]
                print(f"  {key}: {days} days / 1 day (medians): {ratio:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 days, 5 calls, 1 run")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.days, args.repeat, args.runs = 40, 5, 1
    trio.run(main, args.days, args.repeat, args.runs)
