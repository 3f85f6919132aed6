"""Property tests: service primitives and the extensions vs a plain-Python reference.

Random irregular series around rollup window edges (so SQLite windows mix raw
pieces and 5 min / 1 h rollup pieces), stored in order or shuffled (the
out-of-order recompute path), with windows that are empty, hold one sample,
or start and end exactly on samples and on window edges. The property tests
run against the SQLite store and the memory service alike: the service
contract is one.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencrate.clock import TrioClock
from opencrate.components.history.extensions import PersistenceExtensions
from opencrate.components.history.memory import MemoryService
from opencrate.components.history.service import PersistenceService, RiemannType, Sample
from opencrate.components.history.sqlite.store import HistoryStore
from opencrate.errors import InvalidInput

from . import reference as ref

BASE = 1_699_999_200_000  # on an hour boundary
SPAN = 3 * 3_600_000
FIVE_MIN = 300_000

PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_edges = st.integers(0, SPAN // FIVE_MIN).map(lambda k: k * FIVE_MIN)
offsets = st.one_of(
    st.integers(0, SPAN), _edges, _edges.map(lambda t: max(t - 1, 0)), _edges.map(lambda t: t + 1)
)
values = st.one_of(
    st.sampled_from([0.0, 1.0, 2.5, -3.0]),
    st.floats(-1000, 1000, allow_nan=False).map(lambda x: round(x, 3)),
)
series_st = st.dictionaries(offsets, values, max_size=40).map(
    lambda d: [(BASE + t, v) for t, v in sorted(d.items())]
)
_ids = itertools.count()
KINDS = st.sampled_from(["sqlite", "memory"])


@pytest.fixture
async def history(tmp_path: Path) -> AsyncIterator[HistoryStore]:
    async with HistoryStore(tmp_path / "history.db").running() as store:
        yield store


@asynccontextmanager
async def fresh_service(tmp_path: Path, kind: str) -> AsyncIterator[PersistenceService]:
    """The SQLite store, or part 2's memory service: both must meet the same contract.

    pytest-trio runs each Hypothesis example in its own trio run, so the SQLite
    store is reopened per example (same file, fresh point ids; every reopen also
    runs the rollup back-fill over the earlier examples).
    """
    if kind == "memory":
        await trio.lowlevel.checkpoint()
        yield MemoryService(max_entries=10_000)
        return
    async with HistoryStore(tmp_path / "history.db").running() as store:
        yield store


async def store_series(
    store: PersistenceService, series: ref.Series, rnd: random.Random, *, shuffle: bool
) -> str:
    """Store ``series`` under a fresh point id, in random batches; return the id."""
    point = f"p{next(_ids)}"
    samples = [Sample(point_id=point, ts_ms=t, value=v) for t, v in series]
    if shuffle:
        rnd.shuffle(samples)
    while samples:
        cut = rnd.randint(1, len(samples))
        await store.store(samples[:cut])
        samples = samples[cut:]
    return point


def window(data: st.DataObject, series: ref.Series) -> tuple[int, int]:
    """A window whose ends are often exactly on samples or on rollup edges."""
    candidates = st.one_of(offsets.map(lambda t: BASE + t), st.sampled_from([t for t, _ in series]))
    ends = candidates if series else offsets.map(lambda t: BASE + t)
    a, b = data.draw(ends), data.draw(ends)
    return min(a, b), max(a, b)


def close(a: float | None, b: float | None, scale: float = 1.0) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, scale))


def scale_of(series: ref.Series) -> float:
    return max([abs(float(v)) for _, v in series] + [1.0])


@PROPERTY
@given(series=series_st, data=st.data(), shuffle=st.booleans(), seed=st.integers(0, 99), kind=KINDS)
async def test_window_stats_match_reference(
    tmp_path: Path, series: ref.Series, data: st.DataObject, shuffle: bool, seed: int, kind: str
) -> None:
    async with fresh_service(tmp_path, kind) as history:
        point = await store_series(history, series, random.Random(seed), shuffle=shuffle)
        begin, end = window(data, series)
        stats = await history.window_stats(point, begin, end)
        assert stats.count == ref.count(series, begin, end)
        assert stats.numeric_count == stats.count  # all numeric here
        assert close(stats.sum, ref.total(series, begin, end), scale_of(series) * 40)
        assert stats.changes == ref.changes(series, begin, end)
        for got, want in ((stats.max, ref.extreme(series, begin, end, True)),
                          (stats.min, ref.extreme(series, begin, end, False))):  # fmt: skip
            assert (None if got is None else (got.ts_ms, got.value)) == want
        inside = ref.in_window(series, begin, end)
        assert (stats.first.ts_ms if stats.first else None) == (inside[0][0] if inside else None)
        assert (stats.last.ts_ms if stats.last else None) == (inside[-1][0] if inside else None)


@PROPERTY
@given(
    series=series_st,
    data=st.data(),
    shuffle=st.booleans(),
    seed=st.integers(0, 99),
    riemann=st.sampled_from(list(RiemannType)),
    kind=KINDS,
)
async def test_weighted_stats_match_reference(
    tmp_path: Path,
    series: ref.Series,
    data: st.DataObject,
    shuffle: bool,
    seed: int,
    riemann: RiemannType,
    kind: str,
) -> None:
    async with fresh_service(tmp_path, kind) as history:
        point = await store_series(history, series, random.Random(seed), shuffle=shuffle)
        begin, end = window(data, series)
        got = await history.weighted_stats(point, begin, end, riemann)
        want = ref.weighted(series, begin, end, riemann)
        if want is None:
            assert got is None
            return
        assert got is not None
        duration, integral, mean, variance = want
        scale = scale_of(series)
        assert got.duration_ms == duration
        assert close(got.integral, integral, scale * duration)
        assert close(got.mean, mean, scale)
        # LEFT reads E[v^2] - mean^2 from rollups: allow for that cancellation.
        assert math.isclose(got.variance, variance, rel_tol=1e-7, abs_tol=1e-8 * scale * scale)


@PROPERTY
@given(series=series_st, data=st.data(), seed=st.integers(0, 99), kind=KINDS)
async def test_median_and_state_lookups_match_reference(
    tmp_path: Path, series: ref.Series, data: st.DataObject, seed: int, kind: str
) -> None:
    async with fresh_service(tmp_path, kind) as history:
        point = await store_series(history, series, random.Random(seed), shuffle=False)
        begin, end = window(data, series)
        assert close(await history.median(point, begin, end), ref.median(series, begin, end))
        at = await history.state_at(point, end)
        assert (None if at is None else (at.ts_ms, at.value)) == ref.state_at(series, end)
        nxt = await history.next_sample(point, begin)
        later = [(t, v) for t, v in series if t >= begin]
        assert (None if nxt is None else (nxt.ts_ms, nxt.value)) == (later[0] if later else None)
        if series:
            probe = series[-1][1]
            diff = await history.last_differing(point, end, probe)
            want = [(t, v) for t, v in series if t <= end and v != probe]
            assert (None if diff is None else (diff.ts_ms, diff.value)) == (
                want[-1] if want else None
            )


@PROPERTY
@given(series=series_st, data=st.data(), seed=st.integers(0, 99), kind=KINDS)
async def test_extensions_match_reference(
    tmp_path: Path, series: ref.Series, data: st.DataObject, seed: int, kind: str
) -> None:
    async with fresh_service(tmp_path, kind) as history:
        point = await store_series(history, series, random.Random(seed), shuffle=False)
        ext = PersistenceExtensions(history, clock=TrioClock(start_ms=BASE + SPAN // 2))
        begin, end = window(data, series)
        scale = scale_of(series)

        # maximum/minimum: in-window samples plus the state held into the window.
        at_begin = ref.state_at(series, begin)
        candidates = [(t, float(v)) for t, v in ref.in_window(series, begin, end)]
        if at_begin is not None and at_begin[0] < begin:
            candidates.insert(0, (begin, float(at_begin[1])))
        for high, fn in ((True, ext.maximum_between), (False, ext.minimum_between)):
            got = await fn(point, begin, end)
            best = None
            for c in candidates:
                if best is None or (c[1] > best[1] if high else c[1] < best[1]):
                    best = c
            assert (None if got is None else (got.ts_ms, got.value)) == best

        want_avg = ref.weighted(series, begin, end, RiemannType.LEFT)
        got_avg = await ext.average_between(point, begin, end)
        if begin == end:
            assert got_avg == (None if at_begin is None else at_begin[1])
        else:
            assert close(got_avg, None if want_avg is None else want_avg[2], scale)
            riemann = await ext.riemann_sum_between(point, begin, end)
            assert close(riemann, None if want_avg is None else want_avg[1] / 1000, scale * SPAN)

        for riemann_type in RiemannType:
            got_var = await ext.variance_between(point, begin, end, riemann_type)
            want_var = ref.openhab_variance(series, begin, end, riemann_type)
            assert close(got_var, want_var, scale * scale)
            got_dev = await ext.deviation_between(point, begin, end, riemann_type)
            assert close(got_dev, None if want_var is None else math.sqrt(want_var), scale)

        start, stop = ref.state_at(series, begin), ref.state_at(series, end)
        delta = await ext.delta_between(point, begin, end)
        assert close(delta, None if start is None or stop is None else stop[1] - start[1], scale)
        rate = await ext.evolution_rate_between(point, begin, end)
        if start is None or stop is None or start[1] == 0:
            assert rate is None
        else:
            assert close(rate, (stop[1] - start[1]) / start[1] * 100, scale * 1e5)

        inside = ref.in_window(series, begin, end)
        before = ref.state_at(series, begin)  # at begin inclusive, as openHAB
        changed = ref.changes(series, begin, end) > 0 or (
            bool(inside) and (before is None or before[1] != inside[0][1])
        )
        assert await ext.changed_between(point, begin, end) == changed
        assert await ext.updated_between(point, begin, end) == bool(inside)
        assert await ext.count_state_changes_between(point, begin, end) == ref.changes(
            series, begin, end
        )
        states = await ext.get_all_states_between(point, begin, end)
        assert [(s.ts_ms, s.value) for s in states] == inside


async def test_since_and_until_take_now_as_the_other_end(
    history: HistoryStore, mock_clock: object
) -> None:
    # mock_clock (rate 0) freezes trio's clock, so TrioClock's 'now' stands still.
    now = BASE + 10 * 60_000
    ext = PersistenceExtensions(history, clock=TrioClock(start_ms=now))
    point = "ahu1/sat"
    await history.store(
        [Sample(point_id=point, ts_ms=now - 120_000, value=10.0),
         Sample(point_id=point, ts_ms=now - 60_000, value=20.0),
         Sample(point_id=point, ts_ms=now + 60_000, value=40.0)]  # a forecast
    )  # fmt: skip
    # Held 10 for 60 s then 20 for 60 s up to now.
    assert await ext.average_since(point, now - 120_000) == pytest.approx(15.0)
    assert await ext.count_since(point, now - 120_000) == 2
    assert await ext.count_until(point, now + 60_000) == 1
    assert await ext.delta_since(point, now - 120_000) == pytest.approx(10.0)
    assert await ext.delta_until(point, now + 60_000) == pytest.approx(20.0)
    assert await ext.next_update(point) == now + 60_000
    assert await ext.last_update(point) == now - 60_000
    assert await ext.average_since(point, now + 1) is None  # openHAB's null
    assert await ext.count_until(point, now - 1) is None
    with pytest.raises(InvalidInput, match="after it ends"):
        await ext.sum_between(point, now, now - 1)


async def test_previous_state_last_change_and_live_state(
    history: HistoryStore, mock_clock: object
) -> None:
    now = BASE + 3_600_000
    live: dict[str, float] = {"p": 7.0}
    ext = PersistenceExtensions(history, clock=TrioClock(start_ms=now), current_state=live.get)
    await history.store(
        [Sample(point_id="p", ts_ms=now - 4000, value=5.0),
         Sample(point_id="p", ts_ms=now - 3000, value=6.0),
         Sample(point_id="p", ts_ms=now - 2000, value=7.0),
         Sample(point_id="p", ts_ms=now - 1000, value=7.0)]
    )  # fmt: skip
    # Without skip_equal: the newest persisted sample (openHAB's gotcha, kept).
    prev = await ext.previous_state("p")
    assert prev is not None
    assert (prev.ts_ms, prev.value) == (now - 1000, 7.0)
    prev = await ext.previous_state("p", skip_equal=True)
    assert prev is not None
    assert (prev.ts_ms, prev.value) == (now - 3000, 6.0)
    assert await ext.last_change("p") == now - 2000
    live["p"] = 9.0  # the live value moved on since the last persist
    assert await ext.delta_since("p", now - 4000) == pytest.approx(4.0)
    assert await ext.evolution_rate_since("p", now - 4000) == pytest.approx(80.0)
    stored = await ext.persist("p")
    assert stored.value == 9.0
    assert (await ext.persisted_state("p", now)) == stored
    assert await ext.historic_state("p", now - 2500) == Sample(
        point_id="p", ts_ms=now - 3000, value=6.0
    )
    assert await ext.remove_all_states_between("p", now - 3500, now - 1500) == 2
    assert await ext.count_between("p", now - 10_000, now) == 3


async def test_boolean_and_text_points(history: HistoryStore, mock_clock: object) -> None:
    ext = PersistenceExtensions(history, clock=TrioClock(start_ms=BASE + 10_000))
    await history.store(
        [Sample(point_id="fan", ts_ms=BASE, value=True),
         Sample(point_id="fan", ts_ms=BASE + 3000, value=False),
         Sample(point_id="mode", ts_ms=BASE, value="auto"),
         Sample(point_id="mode", ts_ms=BASE + 1000, value="manual")]
    )  # fmt: skip
    first = await history.state_at("fan", BASE)
    assert first is not None
    assert first.value is True
    # ON for 3 s, OFF for 7 s: ON counts as 1.
    assert await ext.average_since("fan", BASE) == pytest.approx(0.3)
    assert await ext.average_since("mode", BASE) is None
    assert await ext.count_state_changes_since("mode", BASE) == 1
    assert await ext.maximum_since("mode", BASE) is None
    assert await ext.sum_since("mode", BASE) == 0.0


async def test_empty_history_answers_none_or_zero(history: HistoryStore) -> None:
    ext = PersistenceExtensions(history, clock=TrioClock(start_ms=BASE))
    assert await ext.average_since("nothing", BASE - 1000) is None
    assert await ext.maximum_since("nothing", BASE - 1000) is None
    assert await ext.sum_since("nothing", BASE - 1000) == 0.0
    assert await ext.count_since("nothing", BASE - 1000) == 0
    assert await ext.changed_since("nothing", BASE - 1000) is False
    assert await ext.last_update("nothing") is None
    assert await ext.last_change("nothing") is None
    assert await ext.next_update("nothing") is None
    assert await ext.next_change("nothing") is None
    assert await ext.previous_state("nothing", skip_equal=True) is None
    assert await ext.next_state("nothing", skip_equal=True) is None
    assert await ext.delta_since("nothing", BASE - 1000) is None
    assert await ext.delta_until("nothing", BASE + 1000) is None
    assert await ext.evolution_rate_until("nothing", BASE + 1000) is None
    await trio.lowlevel.checkpoint()


async def test_variance_of_a_large_nearly_steady_value_keeps_its_digits(
    history: HistoryStore, mock_clock: object
) -> None:
    # An energy counter around 1e7 moving by 0.01: E[v^2] - mean^2 would cancel.
    series = [(BASE + i * 60_000, 1e7 + (i % 2) * 0.01) for i in range(600)]
    await history.store([Sample(point_id="kwh", ts_ms=t, value=v) for t, v in series])
    ext = PersistenceExtensions(history, clock=TrioClock(start_ms=BASE + 600 * 60_000))
    want = ref.weighted(series, BASE, BASE + 599 * 60_000, RiemannType.LEFT)
    assert want is not None
    got = await ext.variance_between("kwh", BASE, BASE + 599 * 60_000, weighted=True)
    assert got == pytest.approx(want[3], rel=1e-6)
    # openHAB's unweighted form keeps them too: 300 samples at each value.
    want_oh = ref.openhab_variance(series, BASE, BASE + 599 * 60_000, RiemannType.LEFT)
    got = await ext.variance_between("kwh", BASE, BASE + 599 * 60_000)
    assert got == pytest.approx(want_oh, rel=1e-6)


_ONE = [(BASE + 60_000, 5.0)]
_TWO = [(BASE, 1.0), (BASE + 600_000, 3.0)]
EDGE_CASES = [
    pytest.param([], BASE, BASE + 600_000, id="empty-history"),
    pytest.param(_ONE, BASE, BASE + 30_000, id="one-sample-after-window"),
    pytest.param(_ONE, BASE, BASE + 60_000, id="one-sample-on-end"),
    pytest.param(_ONE, BASE + 60_000, BASE + 600_000, id="one-sample-on-begin"),
    pytest.param(_ONE, BASE + 60_000, BASE + 60_000, id="one-sample-zero-width"),
    pytest.param(_ONE, BASE + 120_000, BASE + 600_000, id="one-sample-before-window"),
    pytest.param(_TWO, BASE, BASE + 600_000, id="samples-on-both-ends"),
    pytest.param(_TWO, BASE + 1, BASE + 599_999, id="empty-window-between-samples"),
]


@pytest.mark.parametrize(("series", "begin", "end"), EDGE_CASES)
async def test_edge_windows_match_reference(
    history: HistoryStore, series: ref.Series, begin: int, end: int
) -> None:
    point = await store_series(history, series, random.Random(0), shuffle=False)
    stats = await history.window_stats(point, begin, end)
    assert (stats.count, stats.sum, stats.changes) == (
        ref.count(series, begin, end),
        ref.total(series, begin, end),
        ref.changes(series, begin, end),
    )
    assert await history.median(point, begin, end) == ref.median(series, begin, end)
    for riemann in RiemannType:
        got = await history.weighted_stats(point, begin, end, riemann)
        want = ref.weighted(series, begin, end, riemann)
        assert (None if got is None else (got.duration_ms, got.integral, got.mean)) == (
            None if want is None else want[:3]
        )


mixed_series_st = st.dictionaries(
    offsets, st.one_of(values, st.booleans(), st.sampled_from(["on", "off"])), max_size=30
).map(lambda d: [(BASE + t, v) for t, v in sorted(d.items())])


@PROPERTY
@given(series=mixed_series_st, data=st.data(), seed=st.integers(0, 99), kind=KINDS)
async def test_mixed_value_kinds_match_reference(
    tmp_path: Path, series: ref.Series, data: st.DataObject, seed: int, kind: str
) -> None:
    # Numbers, booleans (1/0) and text in one point: text counts and changes,
    # but takes no part in sums, extremes, medians or time weighting.
    async with fresh_service(tmp_path, kind) as history:
        point = await store_series(history, series, random.Random(seed), shuffle=seed % 3 == 0)
        begin, end = window(data, series)
        stats = await history.window_stats(point, begin, end)
        inside = ref.in_window(series, begin, end)
        assert stats.count == len(inside)
        assert stats.numeric_count == sum(ref.is_number(v) for _, v in inside)
        assert stats.changes == ref.changes(series, begin, end)
        assert close(stats.sum, ref.total(series, begin, end), scale_of_numbers(series) * 30)
        got_max = None if stats.max is None else (stats.max.ts_ms, float(stats.max.value))
        assert got_max == ref.extreme(series, begin, end, True)
        assert close(await history.median(point, begin, end), ref.median(series, begin, end))
        got = await history.weighted_stats(point, begin, end)
        want = ref.weighted(series, begin, end, RiemannType.LEFT)
        assert (None if got is None else got.duration_ms) == (None if want is None else want[0])
        if got is not None and want is not None:
            assert close(got.mean, want[2], scale_of_numbers(series))


def scale_of_numbers(series: ref.Series) -> float:
    return max([abs(float(v)) for _, v in series if ref.is_number(v)] + [1.0])
