"""Every persistence extension in every form, against one fixed history, by hand.

One table: each row names an extension, its form (``since`` / ``until`` /
``between``, or a point-in-time extension), the window in seconds from now, and
the answer worked out by hand from openHAB's rules as
``docs/reference/persistence-extensions.md`` states them. Each row runs against
its own real SQLite file. The history (seconds from now; the clock stands still)::

    -500  10.0
    -400  "auto"      a text state: in force at -350, the Since window's start
    -300  20.0
    -200  20.0
    -100  30.0        the newest state at now
    +100  40.0        forecasts
    +200  40.0
    +300  50.0

Windows: SINCE = since(-350) = [-350, 0]; UNTIL = until(+250) = [0, +250];
BETWEEN = [-350, +250]; zero-length windows on a sample (-300) and between
samples (-250). A Since in the future and an Until in the past answer None for
every extension.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from opencrate.clock import TrioClock
from opencrate.components.history.extensions import (
    PersistenceExtensions,
    TimeSeriesPolicy,
    result_unit,
)
from opencrate.components.history.memory import MemoryService
from opencrate.components.history.service import PersistenceService, RiemannType, Sample
from opencrate.components.history.sqlite.store import HistoryStore
from opencrate.errors import InvalidInput
from opencrate.model.values import PointValue

NOW = 1_700_000_000_000
S = 1000
P = "ahu1/sat"
HISTORY: list[tuple[int, PointValue]] = [
    (-500, 10.0), (-400, "auto"), (-300, 20.0), (-200, 20.0), (-100, 30.0),
    (100, 40.0), (200, 40.0), (300, 50.0),
]  # fmt: skip

SINCE = ("since", -350)
UNTIL = ("until", 250)
BETWEEN = ("between", -350, 250)
ZERO_ON = ("between", -300, -300)
ZERO_OFF = ("between", -250, -250)

M_SINCE = 7500 / 350  # time-weighted: 10 x 50 s (the text is skipped), 20 x 200 s, 30 x 100 s
M_BETWEEN = 16500 / 600  # ... then 40 x 150 s


def _var(values: Sequence[float], mean: float) -> float:
    return sum((v - mean) ** 2 for v in values) / len(values)


# openHAB's variance: the window's numeric points (the text boundary at -350 dropped, the
# boundary at the window's end included) around the time-weighted mean, unweighted.
V_SINCE = _var([20, 20, 30, 30], M_SINCE)
V_UNTIL = _var([30, 40, 40, 40], 36.0)
V_BETWEEN = _var([20, 20, 30, 40, 40, 40], M_BETWEEN)
# The time-weighted variance (weighted=True): the step function's.
W_SINCE = (50 * (10 - M_SINCE) ** 2 + 200 * (20 - M_SINCE) ** 2 + 100 * (30 - M_SINCE) ** 2) / 350

#: (extension, window, expected, keyword arguments)
TABLE: list[tuple[str, tuple[Any, ...], Any, dict[str, Any]]] = [
    # count / updated: the samples in the window, no boundary points.
    ("count", SINCE, 3, {}),
    ("count", UNTIL, 2, {}),
    ("count", BETWEEN, 5, {}),
    ("count", ZERO_ON, 1, {}),
    ("count", ZERO_OFF, 0, {}),
    ("count", ("since", 0), 0, {}),  # since now and until now: [now, now], not null
    ("count", ("until", 0), 0, {}),
    ("updated", SINCE, True, {}),
    ("updated", UNTIL, True, {}),
    ("updated", BETWEEN, True, {}),
    ("updated", ZERO_ON, True, {}),
    ("updated", ZERO_OFF, False, {}),
    # changed: the reference is the state at begin, inclusive.
    ("changed", SINCE, True, {}),  # "auto" then 20
    ("changed", UNTIL, True, {}),  # 30 at now, then 40
    ("changed", BETWEEN, True, {}),
    ("changed", ZERO_ON, False, {}),  # the sample at begin is its own reference
    ("changed", ZERO_OFF, False, {}),
    ("changed", ("between", -300, -200), False, {}),  # 20, 20: no change at begin
    ("changed", ("between", -100, -50), False, {}),  # 30 from -100 on
    ("changed", ("between", -250, -150), False, {}),  # 20 in force, 20 again
    ("changed", ("between", -150, -50), True, {}),  # 20 in force, then 30
    ("changed", ("between", -600, -450), True, {}),  # nothing before: any sample is a change
    ("changed", ("between", -700, -600), False, {}),
    # countStateChanges: adjacent unequal pairs inside the window.
    ("countStateChanges", SINCE, 1, {}),
    ("countStateChanges", UNTIL, 0, {}),
    ("countStateChanges", BETWEEN, 2, {}),
    ("countStateChanges", ZERO_ON, 0, {}),
    ("countStateChanges", ZERO_OFF, 0, {}),
    # maximum / minimum: samples plus the numeric state held into the window, at begin.
    ("maximum", SINCE, (-100, 30.0), {}),  # the held "auto" is not a number
    ("maximum", UNTIL, (100, 40.0), {}),
    ("maximum", BETWEEN, (100, 40.0), {}),  # the oldest of the two 40s
    ("maximum", ZERO_ON, (-300, 20.0), {}),
    ("maximum", ZERO_OFF, (-250, 20.0), {}),  # the held 20, stamped at begin
    ("maximum", ("between", -250, -150), (-250, 20.0), {}),  # held 20 ties -200's: oldest wins
    ("minimum", SINCE, (-300, 20.0), {}),
    ("minimum", UNTIL, (0, 30.0), {}),  # 30 held into the window from -100
    ("minimum", BETWEEN, (-300, 20.0), {}),
    ("minimum", ZERO_ON, (-300, 20.0), {}),
    ("minimum", ZERO_OFF, (-250, 20.0), {}),
    ("minimum", ("between", -250, -150), (-250, 20.0), {}),
    # sum / median: plain, over the numeric samples in the window.
    ("sum", SINCE, 70.0, {}),
    ("sum", UNTIL, 80.0, {}),
    ("sum", BETWEEN, 150.0, {}),
    ("sum", ZERO_ON, 20.0, {}),
    ("sum", ZERO_OFF, 0.0, {}),
    ("median", SINCE, 20.0, {}),
    ("median", UNTIL, 40.0, {}),
    ("median", BETWEEN, 30.0, {}),
    ("median", ZERO_ON, 20.0, {}),
    ("median", ZERO_OFF, 20.0, {}),  # b == e: the state in force
    # average / riemannSum: time-weighted (LEFT unless named).
    ("average", SINCE, M_SINCE, {}),
    ("average", UNTIL, 36.0, {}),  # 30 x 100 s, 40 x 150 s
    ("average", BETWEEN, M_BETWEEN, {}),
    ("average", ZERO_ON, 20.0, {}),
    ("average", ZERO_OFF, 20.0, {}),
    ("average", ("since", 0), 30.0, {}),
    ("average", ("between", -390, -350), 10.0, {}),  # the text is skipped: 10 holds
    ("average", UNTIL, (40 * 100 + 40 * 100 + 40 * 50) / 250, {"riemann": RiemannType.RIGHT}),
    ("riemannSum", SINCE, 7500.0, {}),
    ("riemannSum", UNTIL, 9000.0, {}),
    ("riemannSum", BETWEEN, 16500.0, {}),
    ("riemannSum", ZERO_ON, 0.0, {}),
    ("riemannSum", ZERO_OFF, 0.0, {}),
    ("riemannSum", UNTIL, 40 * 100 + 40 * 100 + 40 * 50, {"riemann": RiemannType.RIGHT}),
    ("riemannSum", ("between", -380, -380), None, {}),  # b == e on a text state: no number
    ("riemannSum", ("between", -600, -600), None, {}),  # ... or before the first sample
    # variance / deviation: openHAB's, and the time-weighted one on request.
    ("variance", SINCE, V_SINCE, {}),
    ("variance", UNTIL, V_UNTIL, {}),
    ("variance", BETWEEN, V_BETWEEN, {}),
    ("variance", ZERO_ON, 0.0, {}),
    ("variance", ZERO_OFF, 0.0, {}),
    ("variance", ("between", -380, -380), None, {}),
    ("variance", SINCE, W_SINCE, {"weighted": True}),
    ("variance", UNTIL, _var([30, 40, 40, 40], 40.0), {"riemann": RiemannType.RIGHT}),
    ("variance", ("between", -390, -350), None, {}),  # every point of the series is text
    # On samples at both ends: no boundary points; the last 30 has no weight in the mean.
    ("variance", ("between", -300, -100), _var([20, 20, 30], 20.0), {}),
    ("deviation", SINCE, math.sqrt(V_SINCE), {}),
    ("deviation", UNTIL, math.sqrt(V_UNTIL), {}),
    ("deviation", BETWEEN, math.sqrt(V_BETWEEN), {}),
    ("deviation", ZERO_ON, 0.0, {}),
    ("deviation", ZERO_OFF, 0.0, {}),
    ("deviation", ("between", -600, -600), None, {}),
    ("deviation", SINCE, math.sqrt(W_SINCE), {"weighted": True}),
    ("deviation", UNTIL, math.sqrt(_var([30, 40, 40, 40], 40.0)), {"riemann": RiemannType.RIGHT}),
    # delta / evolutionRate: two look-ups (the live state: the newest persisted, 30).
    ("delta", SINCE, None, {}),  # the state at -350 is text
    ("delta", UNTIL, 10.0, {}),  # 40 at +250 minus 30 now
    ("delta", BETWEEN, None, {}),
    ("delta", ("between", -300, 250), 20.0, {}),
    ("delta", ZERO_ON, 0.0, {}),
    ("delta", ZERO_OFF, 0.0, {}),
    ("evolutionRate", SINCE, None, {}),
    ("evolutionRate", UNTIL, 100 / 3, {}),
    ("evolutionRate", BETWEEN, None, {}),
    ("evolutionRate", ("between", -300, 250), 100.0, {}),
    ("evolutionRate", ZERO_ON, 0.0, {}),
    ("evolutionRate", ZERO_OFF, 0.0, {}),
    # getAllStates: the samples, oldest first; limit caps them.
    ("getAllStates", SINCE, [(-300, 20.0), (-200, 20.0), (-100, 30.0)], {}),
    ("getAllStates", SINCE, [(-300, 20.0), (-200, 20.0)], {"limit": 2}),
    ("getAllStates", UNTIL, [(100, 40.0), (200, 40.0)], {}),
    ("getAllStates", UNTIL, [(100, 40.0)], {"limit": 1}),
    (
        "getAllStates",
        BETWEEN,
        [(-300, 20.0), (-200, 20.0), (-100, 30.0), (100, 40.0), (200, 40.0)],
        {},
    ),
    ("getAllStates", ("between", -450, -350), [(-400, "auto")], {}),
    ("getAllStates", ZERO_ON, [(-300, 20.0)], {}),
    ("getAllStates", ZERO_OFF, [], {}),
    # removeAllStates: how many went.
    ("removeAllStates", SINCE, 3, {}),
    ("removeAllStates", UNTIL, 2, {}),
    ("removeAllStates", BETWEEN, 5, {}),
    ("removeAllStates", ZERO_ON, 1, {}),
    ("removeAllStates", ZERO_OFF, 0, {}),
]

WINDOWED = sorted({row[0] for row in TABLE})

#: Point-in-time extensions: (extension, live state or None, arguments, expected).
POINT_TABLE: list[tuple[str, PointValue | None, dict[str, Any], Any]] = [
    ("persistedState", None, {"at": -350}, (-400, "auto")),  # a text state is a state
    ("persistedState", None, {"at": -300}, (-300, 20.0)),
    ("persistedState", None, {"at": -600}, None),
    ("lastUpdate", None, {}, -100),
    ("nextUpdate", None, {}, 100),
    ("lastChange", None, {}, -100),
    ("nextChange", None, {}, 100),
    ("previousState", None, {}, (-100, 30.0)),
    ("previousState", None, {"skip_equal": True}, (-200, 20.0)),
    ("previousState", 20.0, {"skip_equal": True}, (-100, 30.0)),
    ("nextState", None, {}, (100, 40.0)),
    ("nextState", None, {"skip_equal": True}, (100, 40.0)),
    ("nextState", 40.0, {"skip_equal": True}, (300, 50.0)),  # skips the forecast 40s
    ("nextChange", 40.0, {}, 300),
]


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _norm(result: Any) -> Any:
    """Samples as ``(seconds from now, value)``; lists of them likewise."""
    if isinstance(result, Sample):
        assert result.point_id == P
        return ((result.ts_ms - NOW) / S, result.value)
    if isinstance(result, list):
        return [_norm(r) for r in result]
    return result


def _expected(value: Any) -> Any:
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-12, abs=1e-9)
    if isinstance(value, tuple):
        return (float(value[0]), value[1])
    if isinstance(value, list):
        return [_expected(v) for v in value]
    return value


@pytest.fixture
async def history(tmp_path: Path) -> Any:
    async with HistoryStore(tmp_path / "history.db").running() as store:
        await store.store([Sample(point_id=P, ts_ms=NOW + t * S, value=v) for t, v in HISTORY])
        yield store


def _extensions(store: PersistenceService, live: PointValue | None = None) -> PersistenceExtensions:
    # The live state of P only, as a point table would answer: other ids have none.
    current = None if live is None else {P: live}.get
    return PersistenceExtensions(store, clock=TrioClock(start_ms=NOW), current_state=current)


async def _call(ext: PersistenceExtensions, name: str, window: tuple[Any, ...], **kw: Any) -> Any:
    form, *times = window
    method = getattr(ext, f"{_snake(name)}_{form}")
    return await method(P, *(NOW + t * S for t in times), **kw)


@pytest.mark.parametrize(
    ("name", "window", "expected", "kwargs"),
    [pytest.param(*row, id=f"{row[0]}-{'_'.join(map(str, row[1]))}-{i}") for i, row in
     enumerate(TABLE)],
)  # fmt: skip
async def test_every_extension_in_every_form(
    history: HistoryStore, name: str, window: tuple[Any, ...], expected: Any, kwargs: dict[str, Any]
) -> None:
    got = await _call(_extensions(history), name, window, **kwargs)
    assert _norm(got) == _expected(expected)


def test_the_table_covers_every_form_and_edge() -> None:
    for name in WINDOWED:
        forms = {row[1][0] for row in TABLE if row[0] == name}
        assert forms == {"since", "until", "between"}, name
        windows = {row[1] for row in TABLE if row[0] == name}
        assert {ZERO_ON, ZERO_OFF} <= windows, name


@pytest.mark.parametrize("name", sorted(set(WINDOWED) - {"delta", "evolutionRate"}))
def test_the_since_and_until_forms_are_named_and_documented(name: str) -> None:
    # (delta and evolutionRate have their own Since and Until: they end at the live state.)
    between = getattr(PersistenceExtensions, f"{_snake(name)}_between")
    for form, window in (("since", "[t, now]"), ("until", "[now, t]")):
        method = getattr(PersistenceExtensions, f"{_snake(name)}_{form}")
        assert method.__name__ == method.__qualname__ == f"{_snake(name)}_{form}"
        assert method.__doc__ == f"``{_snake(name)}_between`` over ``{window}``."
        assert method.__wrapped__ is between


@pytest.mark.parametrize("name", WINDOWED)
@pytest.mark.parametrize(
    "window", [("since", 10), ("until", -10)], ids=["future-since", "past-until"]
)
async def test_a_future_since_or_past_until_answers_none(
    history: HistoryStore, name: str, window: tuple[Any, ...]
) -> None:
    ext = _extensions(history)
    assert await _call(ext, name, window) is None
    form, t = window
    reason = ext.refusal(form, NOW + t * S)
    assert reason is not None
    assert ("in the future" if form == "since" else "in the past") in reason
    assert ext.refusal(form, NOW) is None  # now itself is a (zero-length) window
    # Nothing was removed by a refused removeAllStates.
    assert len(await history.samples(P, 0, 2 * NOW)) == len(HISTORY)


@pytest.mark.parametrize("name", WINDOWED)
async def test_a_between_that_ends_before_it_begins_is_refused(
    history: HistoryStore, name: str
) -> None:
    with pytest.raises(InvalidInput, match="after it ends"):
        await _call(_extensions(history), name, ("between", 10, -10))


@pytest.mark.parametrize(
    ("name", "live", "kwargs", "expected"),
    [pytest.param(*row, id=f"{row[0]}-{i}") for i, row in enumerate(POINT_TABLE)],
)
async def test_point_in_time_extensions(
    history: HistoryStore, name: str, live: PointValue | None, kwargs: dict[str, Any], expected: Any
) -> None:
    ext = _extensions(history, live)
    # A copy: the dict is the table's, and a second run of the tests in one process (as
    # mutmut's are) would otherwise find its "at" gone.
    kwargs = dict(kwargs)
    args = [NOW + kwargs.pop("at") * S] if "at" in kwargs else []
    got = await getattr(ext, _snake(name))(P, *args, **kwargs)
    if isinstance(got, int) and not isinstance(expected, tuple):
        got = (got - NOW) / S
    assert _norm(got) == _expected(expected)


async def test_a_sample_exactly_at_now_is_the_next_and_the_previous_state(
    history: HistoryStore,
) -> None:
    await history.store([Sample(point_id=P, ts_ms=NOW, value=35.0)])
    ext = _extensions(history)  # the live state: 35, the newest persisted
    for got in (await ext.next_state(P), await ext.previous_state(P)):
        assert _norm(got) == (0.0, 35.0)  # both of openHAB's queries include now
    assert _norm(await ext.next_state(P, skip_equal=True)) == (100.0, 40.0)
    assert _norm(await _extensions(history, 30.0).next_state(P, skip_equal=True)) == (0.0, 35.0)


def test_result_units() -> None:
    assert result_unit("average", "°C") == "°C"
    assert result_unit("maximum", "°C") == "°C"
    assert result_unit("deviation", "°C") == "°C"
    assert result_unit("variance", "°C") == "°C²"
    assert result_unit("variance", "m/s") == "(m/s)²"
    assert result_unit("variance", "kW h") == "(kW h)²"
    assert result_unit("variance", "kW·h") == "(kW·h)²"
    assert result_unit("variance", "m^3") == "(m^3)²"
    assert result_unit("variance", "N*m") == "(N*m)²"
    assert result_unit("riemannSum", "kW") == "kW·s"
    assert result_unit("riemannSum", "m3/h") == "(m3/h)·s"
    for name in ("count", "countStateChanges", "changed", "updated", "evolutionRate"):
        assert result_unit(name, "°C") is None
    for name in ("lastUpdate", "nextUpdate", "lastChange", "nextChange"):
        assert result_unit(name, "°C") is None
    assert result_unit("average", None) is None


async def test_the_live_state_closes_delta_since(history: HistoryStore) -> None:
    ext = _extensions(history, live=40.0)
    assert await ext.delta_since(P, NOW - 300 * S) == pytest.approx(20.0)  # 40 live - 20
    assert await ext.evolution_rate_since(P, NOW - 300 * S) == pytest.approx(100.0)
    assert await ext.delta_until(P, NOW + 300 * S) == pytest.approx(10.0)  # 50 - 40 live


@pytest.mark.parametrize(
    ("policy", "left"),
    [
        # ADD: the series joins what is there (a sample at the same ms is replaced).
        (TimeSeriesPolicy.ADD, [100, 150, 200, 250, 300]),
        # REPLACE: everything in [oldest, newest] of the series goes first.
        (TimeSeriesPolicy.REPLACE, [100, 150, 250, 300]),  # 200 lay inside
    ],
)
async def test_persist_a_time_series(
    history: HistoryStore, policy: TimeSeriesPolicy, left: list[int]
) -> None:
    ext = _extensions(history)
    series = [(NOW + 150 * S, 45.0), (NOW + 250 * S, 46.0)]
    assert await ext.persist_time_series(P, series, policy) == 2
    forecast = await history.samples(P, NOW, 2 * NOW)
    assert [(s.ts_ms - NOW) // S for s in forecast] == left
    assert await ext.persist_time_series(P, [], TimeSeriesPolicy.REPLACE) == 0
    assert len(await history.samples(P, NOW, 2 * NOW)) == len(left)


async def test_persist_a_time_series_refuses_an_unknown_policy(history: HistoryStore) -> None:
    ext = _extensions(history)
    with pytest.raises(InvalidInput, match="'MERGE' is not one of ADD, REPLACE"):
        await ext.persist_time_series(P, [(NOW, 1.0)], "MERGE")  # type: ignore[arg-type]
    assert TimeSeriesPolicy.parse("replace") is TimeSeriesPolicy.REPLACE
    assert len(await history.samples(P, 0, 2 * NOW)) == len(HISTORY)


async def test_persist_stores_the_given_value_and_time_over_the_live_state(
    history: HistoryStore, mock_clock: object
) -> None:
    # mock_clock (rate 0) freezes trio's clock, so TrioClock's 'now' stands still.
    ext = _extensions(history, live=99.0)
    stored = await ext.persist(P, 12.5, ts_ms=NOW - 50 * S)
    assert stored == Sample(point_id=P, ts_ms=NOW - 50 * S, value=12.5)
    assert await history.state_at(P, NOW - 50 * S) == stored
    assert await ext.persist(P) == Sample(point_id=P, ts_ms=NOW, value=99.0)  # live, now
    assert await history.state_at(P, NOW) == Sample(point_id=P, ts_ms=NOW, value=99.0)


async def test_persist_without_a_value_or_a_live_state_is_refused(history: HistoryStore) -> None:
    with pytest.raises(InvalidInput) as refused:
        await _extensions(history).persist(P)
    assert str(refused.value) == f"point {P}: no current state to persist"
    with pytest.raises(InvalidInput) as refused:
        await _extensions(history, live=1.0).persist("other")  # the live state is P's
    assert str(refused.value) == "point other: no current state to persist"
    assert len(await history.samples(P, 0, 2 * NOW)) == len(HISTORY)


async def test_an_unknown_policy_names_the_field(history: HistoryStore) -> None:
    with pytest.raises(InvalidInput) as refused:
        await _extensions(history).persist_time_series(P, [(NOW, 1.0)], "MERGE")  # type: ignore[arg-type]
    assert refused.value.detail == {"field": "policy"}


def test_a_unit_without_a_separator_is_never_bracketed() -> None:
    for letter in string.ascii_letters + string.digits:
        assert result_unit("variance", f"k{letter}") == f"k{letter}²"
        assert result_unit("riemannSum", f"k{letter}") == f"k{letter}·s"


async def _service(samples: Sequence[tuple[int, PointValue]]) -> MemoryService:
    """A memory service holding P's ``(ms from now, value)`` samples."""
    service = MemoryService()
    await service.store([Sample(point_id=P, ts_ms=NOW + t, value=v) for t, v in samples])
    return service


async def test_next_change_and_next_state_look_past_a_sample_at_now() -> None:
    # Samples a millisecond apart around now: the current state is the one at now.
    service = await _service([(-1, 25.0), (0, 26.0), (1, 27.0), (100_000, 28.0)])
    ext = _extensions(service)
    assert await ext.next_change(P) == NOW + 1
    assert _norm(await ext.next_state(P, skip_equal=True)) == (0.001, 27.0)
    assert _norm(await ext.next_state(P)) == (0.0, 26.0)
    live = _extensions(service, live=27.0)
    assert await live.next_change(P) == NOW + 100_000  # 27 at +1 ms is no change
    assert _norm(await live.next_state(P, skip_equal=True)) == (0.0, 26.0)
    assert _norm(await live.previous_state(P, skip_equal=True)) == (0.0, 26.0)


async def test_next_state_skips_a_forecast_equal_to_the_newest_state() -> None:
    service = await _service([(-100_000, 30.0), (100_000, 30.0), (200_000, 40.0)])
    ext = _extensions(service)
    assert _norm(await ext.next_state(P, skip_equal=True)) == (200.0, 40.0)
    assert _norm(await ext.next_state(P)) == (100.0, 30.0)
    assert await ext.next_change(P) == NOW + 200_000


async def test_only_forecasts_no_current_state() -> None:
    # Nothing at or before now and no live state: no current state to compare with.
    ext = _extensions(await _service([(100_000, 40.0), (200_000, 40.0)]))
    assert _norm(await ext.next_state(P, skip_equal=True)) == (100.0, 40.0)  # as next_state
    assert await ext.next_change(P) is None
    assert await ext.previous_state(P, skip_equal=True) is None
    assert await ext.delta_until(P, NOW + 150_000) is None
    assert await ext.evolution_rate_until(P, NOW + 150_000) is None
    assert await ext.next_update(P) == NOW + 100_000
    assert await ext.last_update(P) is None


async def test_no_forecast_differs_from_the_live_state() -> None:
    ext = _extensions(await _service([(-100_000, 30.0), (100_000, 40.0)]), live=40.0)
    assert await ext.next_change(P) is None
    assert await ext.next_update(P) == NOW + 100_000
    assert await _extensions(await _service([(-100_000, 30.0)])).next_update(P) is None


async def test_a_text_state_at_either_end_gives_no_delta() -> None:
    service = await _service([(-100_000, 30.0), (100_000, "off")])
    ext = _extensions(service)
    assert await ext.delta_until(P, NOW + 150_000) is None  # the forecast is text
    assert await ext.evolution_rate_until(P, NOW + 150_000) is None
    ext = _extensions(service, live="auto")  # the live state is text
    assert await ext.delta_until(P, NOW + 50_000) is None
    assert await ext.delta_since(P, NOW - 50_000) is None


async def test_last_change_with_samples_a_millisecond_apart() -> None:
    ext = _extensions(await _service([(-2, 10.0), (-1, 20.0)]))
    assert await ext.last_change(P) == NOW - 1
    ext = _extensions(await _service([(-3, 10.0), (-2, 20.0), (-1, 20.0)]))
    assert await ext.last_change(P) == NOW - 2


class _RemovedWhileRead(MemoryService):
    """Another writer removes the point's newest samples right after ``last_differing``."""

    async def last_differing(self, point_id: str, ts_ms: int, value: PointValue) -> Sample | None:
        found = await super().last_differing(point_id, ts_ms, value)
        await self.remove(point_id, NOW - 1, NOW)
        return found


async def test_last_change_when_the_newest_samples_go_between_its_reads() -> None:
    service = _RemovedWhileRead()
    await service.store(
        [Sample(point_id=P, ts_ms=NOW + t, value=v) for t, v in [(-2, 10.0), (-1, 20.0)]]
    )
    assert await _extensions(service).last_change(P) is None  # not an error


@pytest.mark.parametrize(
    ("start", "stop", "rate"),
    [(1.0, 1.5, 50.0), (2.0, 1.0, -50.0), (-2.0, -1.0, -50.0), (0.0, 5.0, None)],
)
async def test_evolution_rate_is_relative_to_the_start(
    start: float, stop: float, rate: float | None
) -> None:
    ext = _extensions(await _service([(-200_000, start), (-100_000, stop)]))
    got = await ext.evolution_rate_between(P, NOW - 150_000, NOW - 50_000)
    assert got == (None if rate is None else pytest.approx(rate))
    assert await ext.evolution_rate_since(P, NOW - 150_000) == got
