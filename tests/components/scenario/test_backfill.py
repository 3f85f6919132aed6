"""Back-fill of simulated history: real HistoryStore / MemoryService, the office scenario."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from opencrate.clock import TrioClock
from opencrate.components.history.memory import MemoryService
from opencrate.components.history.service import Resolution
from opencrate.components.history.setup import Persistence
from opencrate.components.history.sqlite.store import HistoryStore
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.components.scenario.backfill import MIN_STEP_S, backfill_history, past_values
from opencrate.components.scenario.format import RandomWalkShape, SineShape
from opencrate.components.scenario.loader import apply_scenario
from opencrate.components.scenario.parse import load_scenario, parse_scenario
from opencrate.components.scenario.signals import SignalSampler, point_rng
from opencrate.config import Settings
from opencrate.errors import ConfigError, NotFound
from opencrate.model.values import ValueKind
from opencrate.runtime.bus import EventBus
from tests.harness import REPO_ROOT

OFFICE = REPO_ROOT / "examples" / "office.toml"
HOUR_MS = 3_600_000
ZONE = "1101/analog-input-1"


def persist_file(directory: Path, text: str) -> str:
    path = directory / f"{abs(hash(text))}.persist"
    path.write_text(text, encoding="utf-8")
    return str(path)


@asynccontextmanager
async def building(
    tmp_path: Path, clock: TrioClock, section: Mapping[str, object] | None = None
) -> AsyncIterator[Persistence]:
    """The office's nodes in a running NodeStore, persistence built from ``section``."""
    bus = EventBus()
    nodes = NodeStore(tmp_path / "nodes.db", bus=bus, clock=clock)
    sections = {} if section is None else {"persistence": section}
    persistence = Persistence.build(
        Settings(data_dir=tmp_path, sections=sections),
        bus=bus,
        points=PointStore(bus, clock),
        nodes=nodes,
        clock=clock,
    )
    async with nodes.running():
        await apply_scenario(load_scenario(OFFICE), nodes)
        if not persistence.history:
            yield persistence
            return
        (history,) = persistence.history
        async with history.running():
            yield persistence


def test_office_turns_backfill_on_and_bad_settings_name_the_key() -> None:
    assert load_scenario(OFFICE).backfill_s == 24 * 3600
    head = '[scenario]\nbackfill = {}\n[[site]]\nid = "s"\ndis = "S"\n'
    assert parse_scenario(head.format('"90m"')).backfill_s == 5400
    assert parse_scenario(head.format("0")).backfill_s == 0
    for bad, message in [
        ('"soon"', "backfill"),
        ("-5", "positive duration"),
        ("true", "must be a duration"),
        ('"31d"', "at most 30d"),
    ]:
        with pytest.raises(ConfigError, match=message) as caught:
            parse_scenario(head.format(bad), source="b.toml")
        assert "[scenario.backfill]" in str(caught.value)


def test_past_values_are_deterministic_and_join_the_live_signal() -> None:
    scenario = load_scenario(OFFICE)
    end = 1_800_000_000_000
    past = past_values(scenario, end_ms=end, span_s=24 * 3600)
    assert past == past_values(scenario, end_ms=end, span_s=24 * 3600)
    assert set(past) == set(scenario.signals())
    for point in scenario.points():
        if point.signal is None:
            continue
        series = past[point.node_id]
        step_ms = round(max(point.signal.interval_s, MIN_STEP_S) * 1000)
        stamps = [ts for ts, _ in series]
        assert stamps == sorted(set(stamps))
        assert end - 24 * HOUR_MS <= stamps[0]
        assert stamps[-1] <= end - step_ms
        assert all((end - ts) % step_ms == 0 for ts in stamps)
        shape, signal = point.signal.shape, point.signal
        live = SignalSampler(signal, point.kind, point_rng(scenario.seed, point.node_id))
        first_live = live.sample(0.0)
        last_past = series[-1][1]
        if isinstance(shape, SineShape):
            # One step before t = 0 on the same sine: no jump beyond a step's travel.
            slope = 2 * 3.1416 * shape.amplitude / shape.period_s * step_ms / 1000
            assert isinstance(first_live, float)
            assert isinstance(last_past, float)
            # (plus rounding, and a deadband holds the last published value back)
            slack = 6 * signal.noise + 10.0**-signal.decimals + (point.deadband or 0.0)
            assert abs(first_live - last_past) <= slope + slack
            # A day of it covers the sine's range, and stays inside it.
            values = [v for _, v in series if isinstance(v, float)]
            assert len(values) == len(series)
            low, high = shape.mean - shape.amplitude, shape.mean + shape.amplitude
            assert low - slack <= min(values) <= low + slope + slack
            assert high - slope - slack <= max(values) <= high + slack
        if isinstance(shape, RandomWalkShape):
            # Sampled backwards from t = 0: the past ends near where the live walk starts.
            assert isinstance(last_past, float)
            slack = 6 * signal.noise + 10.0**-signal.decimals + (point.deadband or 0.0)
            assert abs(last_past - shape.start) <= 2 * shape.step + slack
        if point.kind is ValueKind.BOOL:
            assert {type(v) for _, v in series} == {bool}


async def test_backfill_writes_a_day_with_rollups_and_restore_finds_it(
    tmp_path: Path, clock: TrioClock
) -> None:
    scenario = load_scenario(OFFICE)
    async with building(tmp_path, clock) as persistence:
        now = clock.now_ms()
        (history,) = persistence.history
        report = await backfill_history(
            scenario,
            manager=persistence.manager,
            services=persistence.services,
            now_ms=now,
            batch_size=5000,
        )
        assert report.failed_services == ()
        assert report.points == len(scenario.signals()) > 0
        assert report.stored["sqlite"] == report.updates > 0
        assert history.statistics().detail.samples_written == report.updates

        past = past_values(scenario, end_ms=now, span_s=24 * 3600)
        raw = await history.query(ZONE, now - 25 * HOUR_MS, now, limit=10_000)
        assert [(s.ts_ms, s.value) for s in raw.samples] == past[ZONE]
        assert raw.samples[0].ts_ms - (now - 24 * HOUR_MS) < 60_000
        hourly = await history.query(ZONE, now - 25 * HOUR_MS, now, resolution=Resolution.HOUR)
        assert hourly.resolution is Resolution.HOUR
        assert len(hourly.buckets) >= 23
        fine = await history.query(ZONE, now - 2 * HOUR_MS, now, resolution=Resolution.FIVE_MIN)
        assert len(fine.buckets) >= 22

        # Level 30's persistence service then restores the newest back-filled values.
        points = persistence.points
        before = points.get(ZONE)
        assert before is None or before.value is None
        async with trio.open_nursery() as nursery:
            await nursery.start(persistence.run)
            assert persistence.last_restore is not None
            assert persistence.last_restore.restored >= len(scenario.signals())
            state = points.get(ZONE)
            assert state is not None
            assert (state.ts_ms, state.value) == past[ZONE][-1]
            nursery.cancel_scope.cancel()


async def test_selectors_filters_and_aliases_decide_what_each_service_gets(
    tmp_path: Path, clock: TrioClock
) -> None:
    persist: dict[str, object] = {
        "default": "sqlite",
        "services": {
            "sqlite": {
                "persist": persist_file(
                    tmp_path, "Items { 1101*, !1101/analog-input-2 : strategy = everyChange }"
                )
            },
            "forecast": {
                "kind": "memory",
                "max_entries": 100_000,
                "persist": persist_file(
                    tmp_path, 'Items { 1101/analog-input-1 -> "zone" : strategy = everyUpdate }'
                ),
            },
        },
    }
    scenario = load_scenario(OFFICE)
    async with building(tmp_path, clock, persist) as persistence:
        history = persistence.services["sqlite"]
        memory = persistence.services["forecast"]
        assert isinstance(history, HistoryStore)
        assert isinstance(memory, MemoryService)
        now = clock.now_ms()
        report = await backfill_history(
            scenario,
            manager=persistence.manager,
            services=persistence.services,
            now_ms=now,
            span_s=2 * 3600,
        )
        past = past_values(scenario, end_ms=now, span_s=2 * 3600)
        under_1101 = {p for p in past if p.startswith("1101/")} - {"1101/analog-input-2"}
        assert under_1101
        assert "1101/analog-input-2" in past
        assert set(await history.point_ids()) == under_1101
        assert report.stored["sqlite"] == sum(len(past[p]) for p in under_1101)
        assert list(await memory.last_states(None)) == ["zone"]
        assert report.stored["forecast"] == len(past[ZONE])


async def test_a_second_start_fills_only_the_gap_and_keeps_what_was_stored(
    tmp_path: Path, clock: TrioClock
) -> None:
    scenario = load_scenario(OFFICE)
    async with building(tmp_path, clock) as persistence:
        (history,) = persistence.history
        first_now = clock.now_ms()
        await backfill_history(
            scenario, manager=persistence.manager, services=persistence.services, now_ms=first_now
        )
        before = await history.query(ZONE, first_now - 25 * HOUR_MS, first_now, limit=10_000)
        later = first_now + HOUR_MS
        again = await backfill_history(
            scenario, manager=persistence.manager, services=persistence.services, now_ms=later
        )
        newest = {
            p: s[-1][0] for p, s in past_values(scenario, end_ms=first_now, span_s=86_400).items()
        }
        gap = past_values(scenario, end_ms=later, span_s=24 * 3600)
        expected = sum(1 for p, series in gap.items() for ts, _ in series if ts > newest[p])
        assert again.stored["sqlite"] == expected > 0
        last_before = before.samples[-1].ts_ms
        kept = await history.query(ZONE, first_now - 25 * HOUR_MS, last_before, limit=10_000)
        assert kept.samples == before.samples
        after = await history.query(ZONE, last_before + 1, later, limit=10_000)
        assert [(s.ts_ms, s.value) for s in after.samples] == [
            (ts, v) for ts, v in gap[ZONE] if ts > last_before
        ]
        assert history.statistics().detail.out_of_order == 0


async def test_past_decider_is_the_live_decision_with_its_own_memory_and_cron_times(
    tmp_path: Path, clock: TrioClock
) -> None:
    text = """
        Strategies { every5min : "0 */5 * * * ?" }
        Filters { tenth : > 0.1 }
        Items {
            1101/analog-input-1 : strategy = everyChange filter = tenth
            1101/analog-input-2 -> "flow" : strategy = every5min
        }
    """
    persist: dict[str, object] = {
        "default": "sqlite",
        "services": {"sqlite": {"persist": persist_file(tmp_path, text)}},
    }
    flow = "1101/analog-input-2"
    t0 = 1_700_000_100_000  # on a 5-minute boundary
    async with building(tmp_path, clock, persist) as persistence:
        manager = persistence.manager
        updates = [
            (ZONE, t0 + 1000, 21.0),
            (ZONE, t0 + 2000, 21.0),  # unchanged: everyChange skips it
            (ZONE, t0 + 3000, 21.05),  # inside the 0.1 filter
            (ZONE, t0 + 4000, 21.5),
            (flow, t0 + 5000, 3.0),
            (flow, t0 + 400_000, 4.0),
            ("1102/analog-input-1", t0 + 500_000, 7.0),  # not selected
        ]

        def decide() -> list[tuple[str, int, object]]:
            decider = manager.past_decider("sqlite")
            samples = decider.feed(updates[:3]) + decider.feed(updates[3:])
            samples += decider.finish(t0 + 900_000)  # the fire at 900 000 is live's
            return [(point_id, ts, value) for point_id, ts, value in samples]

        decided = decide()
        assert decided == [
            (ZONE, t0 + 1000, 21.0),
            (ZONE, t0 + 4000, 21.5),
            ("flow", t0 + 300_000, 3.0),
            ("flow", t0 + 600_000, 4.0),
        ]
        # Fresh memory each time, and the live runner saw nothing.
        assert decide() == decided
        (runner,) = manager.statistics().runners
        assert runner.updates_seen == 0
        with pytest.raises(NotFound, match="nope"):
            manager.past_decider("nope")


async def test_the_demo_persistence_file_gets_its_cron_samples_too(
    tmp_path: Path, clock: TrioClock
) -> None:
    demo_persist = {"file": str(OFFICE.parent / "persistence.toml")}
    scenario = load_scenario(OFFICE)
    async with building(tmp_path, clock, demo_persist) as persistence:
        (history,) = persistence.history
        now = clock.now_ms()
        report = await backfill_history(
            scenario,
            manager=persistence.manager,
            services=persistence.services,
            now_ms=now,
            span_s=3 * 3600,
        )
        assert report.stored["forecast"] == 0  # its configuration selects nothing
        # Every point is also stored every 5 minutes (cron), meter-1/active-energy
        # under its alias: the fires are back-filled at their times.
        energy = await history.query("energy_import_kwh", now - 4 * HOUR_MS, now)
        fires = [s.ts_ms for s in energy.samples if s.ts_ms % 300_000 == 0]
        assert len(fires) >= 3 * 12 - 1
        assert [b - a for a, b in itertools.pairwise(fires)] == [300_000] * (len(fires) - 1)
        assert fires[-1] >= now - 300_000
        assert "meter-1/active-energy" not in await history.point_ids()
