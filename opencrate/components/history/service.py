"""The persistence-service interface: records and the ``PersistenceService`` protocol.

Every history back end (``sqlite`` = :class:`.HistoryStore`,
``memory``, ``postgresql``) implements :class:`PersistenceService`. The
persistence manager feeds it :class:`Sample` batches; the persistence
extensions (:mod:`opencrate.components.history.extensions`) are written once, over
the query primitives below, so every service gives the same answers.

Contract (every implementation must honour all of it)
-----------------------------------------------------

Time
    Timestamps are integer epoch milliseconds (``ts_ms``). Every range
    ``[begin_ms, end_ms]`` is **inclusive at both ends** (openHAB's
    ``FilterCriteria``). Because time is integral, "strictly before t" is
    "at or before t - 1"; no primitive needs an ``inclusive`` flag.
    ``begin_ms > end_ms`` raises :class:`~opencrate.errors.InvalidInput`.

Values
    A value is a :data:`~opencrate.model.values.PointValue` (``float``,
    ``int`` for enumerations, ``bool``, ``str``) and comes back with the type
    it was stored with (a float ``21.0`` stays a float). *Numeric* means
    ``float``, ``int`` or ``bool`` (``True``/``False`` count as 1/0, like
    openHAB's ON/OFF); text samples are skipped by numeric primitives but still
    count in :meth:`~PersistenceService.window_stats` ``count`` and
    ``changes``. Two values are *equal* when Python's ``==`` says so (so
    ``1 == 1.0 == True``).

Writes
    :meth:`~PersistenceService.store` is an upsert: a sample at a
    ``(point_id, ts_ms)`` that already exists replaces it (openHAB's
    Modifiable contract); there is never more than one sample per point and
    millisecond. When ``store`` returns, the samples are durable (committed)
    and visible to every query. A batch is atomic: on error nothing of it is
    stored and what was stored before is untouched. Every service checks a
    batch with :func:`check_samples` before it stores any of it, so a batch
    one service refuses, all refuse.

Step-hold (the time-weighted model)
    A state holds from its timestamp until the next sample of that point. The
    *state in force at t* is the newest sample with ``ts_ms <= t``
    (:meth:`~PersistenceService.state_at`).

Time-weighted primitives (:meth:`~PersistenceService.weighted_stats`)
    Over ``[begin, end]`` build the *augmented series* p0..pn:

    1. p0 at ``begin`` with the state in force at ``begin`` (a sample exactly
       at ``begin`` is that state). If there is none (nothing persisted at or
       before ``begin``), the series starts at the first in-window sample
       instead and the leading gap is not counted in the duration (openHAB's
       "trim": an unknown state is not a zero).
    2. every sample with ``begin < ts <= end``, in time order;
    3. pn at ``end`` with the state in force at ``end`` (only if the last
       sample is before ``end``). The live state of the point is *not*
       consulted: results depend on persisted history only.

    Only numeric samples take part (text samples are dropped before step 1).
    With segments ``dt_i = t_{i+1} - t_i`` the integral (value x ms) is

    * ``LEFT``:        sum v_i * dt_i  (exact for step-hold data; the default)
    * ``RIGHT``:       sum v_{i+1} * dt_i
    * ``TRAPEZOIDAL``: sum (v_i + v_{i+1}) / 2 * dt_i
    * ``MIDPOINT``:    each point sits at the middle of its own bucket, the
      buckets between neighbouring midpoints and the end buckets half wide:
      sum v_i * (t_{i+1} - t_{i-1}) / 2 with t_{-1} = t_0, t_{n+1} = t_n.

    ``duration_ms = t_n - t_0``; ``mean = integral / duration_ms``;
    ``variance`` is *time-weighted* with the same weights:
    ``sum w_i (v_i - mean)^2 / duration_ms`` (for LEFT: w_i = dt_i).
    ``None`` when there is no numeric state in the window at all or the
    duration is 0 (the extensions handle ``begin == end`` themselves).

Unweighted primitives (:meth:`~PersistenceService.window_stats`, :meth:`~PersistenceService.median`)
    Only samples inside ``[begin, end]``; no boundary points.
    ``changes`` counts adjacent unequal pairs inside the window (the state
    before the window is ignored, as openHAB's ``countStateChanges``).

Errors
    Bad arguments raise :class:`~opencrate.errors.InvalidInput`; back-end
    failures raise :class:`~opencrate.errors.StoreError` (never a driver's own
    exception); a closed service raises :class:`~opencrate.errors.StoreClosed`.

Cancellation
    Cancelling a caller never half-applies a ``store``/``remove``: a batch
    that reached the back end is committed or rolled back whole.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import NamedTuple, Protocol, runtime_checkable

from attrs import frozen

from opencrate.errors import InvalidInput
from opencrate.model.values import PointValue

__all__ = [
    "TIER_WIDTH_MS",
    "HistoryPage",
    "PersistenceService",
    "Resolution",
    "RiemannType",
    "RollupBucket",
    "Sample",
    "SampleRow",
    "WeightedStats",
    "WindowExtreme",
    "WindowStats",
    "check_range",
    "check_samples",
]


#: A sample as services take it in :meth:`PersistenceService.store`: ``(point_id,
#: ts_ms, value)``. Every :class:`Sample` is one; the persistence manager hands
#: plain tuples, so a reading costs no object beyond its bus event on its way to
#: the writer (a tuple is built in a tenth of the time of any named record).
SampleRow = tuple[str, int, PointValue]


class Sample(NamedTuple):
    """One persisted state of a point: ``value`` from ``ts_ms`` on (step-hold).

    A named tuple, so that it *is* a :data:`SampleRow`: services unpack what
    they are given positionally, whichever of the two they got.
    """

    point_id: str
    ts_ms: int
    value: PointValue


class Resolution(enum.StrEnum):
    """What :meth:`PersistenceService.query` returns.

    ``RAW`` samples; ``FIVE_MIN`` / ``HOUR`` rollup buckets; ``AUTO`` picks the
    coarsest tier that still gives about 500 points or more over the range
    (raw for short ranges). A page always reports the resolution it used.
    """

    RAW = "raw"
    FIVE_MIN = "5m"
    HOUR = "1h"
    AUTO = "auto"


class RiemannType(enum.StrEnum):
    """How a time-weighted integral treats the samples (see the module docstring)."""

    LEFT = "left"
    RIGHT = "right"
    MIDPOINT = "midpoint"
    TRAPEZOIDAL = "trapezoidal"


#: Width of each rollup tier's windows; windows are aligned to the epoch (UTC).
TIER_WIDTH_MS: Mapping[Resolution, int] = {
    Resolution.FIVE_MIN: 300_000,
    Resolution.HOUR: 3_600_000,
}


def check_range(begin_ms: int, end_ms: int) -> None:
    """Raise :class:`InvalidInput` unless ``begin_ms <= end_ms`` (both ints)."""
    if isinstance(begin_ms, bool) or not isinstance(begin_ms, int):
        raise InvalidInput(f"begin must be epoch milliseconds (int), got {begin_ms!r}")
    if isinstance(end_ms, bool) or not isinstance(end_ms, int):
        raise InvalidInput(f"end must be epoch milliseconds (int), got {end_ms!r}")
    if begin_ms > end_ms:
        raise InvalidInput(f"range begins ({begin_ms}) after it ends ({end_ms})")


# SQLite INTEGER and PostgreSQL bigint: a larger int is an OverflowError or
# NumericValueOutOfRange at the driver, not a clear error naming the sample.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# What datetime (ms_to_iso, PostgreSQL's monthly partitions) can name: a time
# outside it was stored by SQLite and then broke every page showing it, and
# crashed the PostgreSQL service when it came out of the spool.
_TS_MIN = int(datetime(1, 1, 1, tzinfo=UTC).timestamp() * 1000)
_TS_MAX = int(datetime(9999, 12, 1, tzinfo=UTC).timestamp() * 1000) - 1


def check_samples(samples: Sequence[SampleRow]) -> None:
    """Raise :class:`InvalidInput` naming the first sample that cannot be stored.

    Every service checks with this, so a batch one refuses all refuse: no point
    id, a ``ts_ms`` outside 0001-01-01 .. 9999-11-30 (UTC), an int value
    outside 64 bits, a non-finite float, a value that is not a number, boolean
    or string, a NUL character in a string (PostgreSQL text cannot hold it),
    or a string that is not Unicode text (a lone surrogate, which JSON's
    ``"\\ud800"`` escape can produce: neither database can encode it).
    """
    checked: set[str] = set()  # a batch names few points many times: check each once
    for point_id, ts, value in samples:
        if not isinstance(point_id, str) or point_id not in checked:
            if not isinstance(point_id, str) or not point_id:
                raise InvalidInput(f"sample has no point id: {(point_id, ts, value)!r}")
            if "\x00" in point_id:
                raise InvalidInput(f"point id {point_id!r} contains a NUL character")
            if not _is_unicode_text(point_id):
                raise InvalidInput(f"point id {point_id!r} is not Unicode text")
            checked.add(point_id)
        if type(ts) is not int:
            raise InvalidInput(f"point {point_id}: ts_ms must be an int, got {ts!r}")
        if not _TS_MIN <= ts <= _TS_MAX:
            raise InvalidInput(
                f"point {point_id}: ts_ms {ts} is outside the storable range "
                "0001-01-01 .. 9999-11-30 (UTC)"
            )
        kind = type(value)
        if kind is float:
            if not math.isfinite(value):  # type: ignore[arg-type]
                raise InvalidInput(f"point {point_id}: value must be finite, got {value!r}")
        elif kind is int:
            if not _INT64_MIN <= value <= _INT64_MAX:  # type: ignore[operator]
                raise InvalidInput(
                    f"point {point_id}: integer value out of 64-bit range: {value!r}"
                )
        elif kind is str:
            if "\x00" in value:  # type: ignore[operator]
                raise InvalidInput(f"point {point_id}: value contains a NUL character")
            if not _is_unicode_text(value):  # type: ignore[arg-type]
                raise InvalidInput(
                    f"point {point_id}: value is not Unicode text "
                    "(it holds a lone surrogate, such as \\ud800)"
                )
        elif kind is not bool:
            raise InvalidInput(
                f"point {point_id}: value must be a number, boolean or string, got {kind.__name__}"
            )


@frozen(kw_only=True)
class RollupBucket:
    """One rollup window ``[start_ms, start_ms + width_ms)`` of one point.

    ``mean`` is time-weighted (step-hold, including the state carried into the
    bucket from before it); ``min``/``max``/``sum`` are over the samples in the
    bucket. Numeric fields are ``None`` for a bucket with only text samples.
    """

    point_id: str
    start_ms: int
    width_ms: int
    count: int
    mean: float | None
    min: float | None
    max: float | None
    sum: float | None
    first: PointValue
    last: PointValue


@frozen(kw_only=True)
class HistoryPage:
    """A page of history, oldest first unless the query asked for descending.

    ``resolution`` is what was actually used (never ``AUTO``). For ``RAW``,
    ``samples`` holds the samples and ``buckets`` is empty; for a rollup tier,
    ``buckets`` holds the windows and ``samples`` one sample per bucket
    (``ts_ms`` = bucket start, value = ``mean``, or ``last`` for text), so a
    chart can draw either. ``next_ms`` is where to continue (pass it as
    ``begin_ms`` for ascending, ``end_ms`` for descending), ``None`` when the
    range is exhausted.
    """

    point_id: str
    resolution: Resolution
    samples: tuple[Sample, ...]
    buckets: tuple[RollupBucket, ...] = ()
    next_ms: int | None = None


@frozen(kw_only=True)
class WindowStats:
    """Unweighted statistics of the samples inside a window (no boundary points).

    ``min``/``max`` are the first sample (oldest) holding the extreme numeric
    value; ``sum`` is 0.0 for a window without numeric samples (openHAB's
    ``sumSince``); ``first``/``last`` are the oldest and newest samples of any
    type; ``changes`` counts adjacent unequal pairs.
    """

    count: int
    numeric_count: int
    sum: float
    min: Sample | None
    max: Sample | None
    first: Sample | None
    last: Sample | None
    changes: int


@frozen(kw_only=True)
class WindowExtreme:
    """The extreme numeric sample of a window and the state in force at its start.

    ``best`` is the first sample (oldest) in ``[begin_ms, end_ms]`` holding the
    highest (or lowest) numeric value, as ``WindowStats.max``/``min``;
    ``at_begin`` is ``state_at(begin_ms)``: a sample exactly at ``begin_ms``
    (then also in the window), else the state held into the window, or None.
    """

    best: Sample | None
    at_begin: Sample | None


@frozen(kw_only=True)
class WeightedStats:
    """Time-weighted statistics of the augmented series (see the module docstring)."""

    duration_ms: int
    integral: float  # value x milliseconds
    mean: float
    variance: float


@runtime_checkable
class PersistenceService(Protocol):
    """A queryable, modifiable history back end. See the module docstring for the contract."""

    #: The service id used in configuration (``"sqlite"``, ``"memory"``, ``"postgresql"``).
    service_id: str

    async def store(self, samples: Sequence[SampleRow]) -> None:
        """Upsert ``samples`` atomically; durable and visible when this returns.

        Each is a :data:`SampleRow` (a :class:`Sample`, or the bare tuple the
        persistence manager hands); read it by unpacking, not by attribute.
        """
        ...

    async def query(
        self,
        point_id: str,
        begin_ms: int,
        end_ms: int,
        *,
        resolution: Resolution = Resolution.RAW,
        descending: bool = False,
        limit: int = 10_000,
    ) -> HistoryPage:
        """Samples (or rollup buckets) of ``point_id`` in ``[begin_ms, end_ms]``, at most ``limit``.

        Services without rollups answer ``FIVE_MIN``/``HOUR``/``AUTO`` with
        buckets computed on the fly, or with ``RAW`` (the page says which).
        """
        ...

    async def remove(self, point_id: str, begin_ms: int, end_ms: int) -> int:
        """Delete the samples of ``point_id`` in ``[begin_ms, end_ms]``; return how many."""
        ...

    async def last_states(self, point_ids: Iterable[str] | None = None) -> Mapping[str, Sample]:
        """Newest sample of each point (all persisted points when ``None``); for restoreOnStartup.

        Points with no samples are absent from the result.
        """
        ...

    # -- query primitives for the persistence extensions -----------------------------
    async def state_at(self, point_id: str, ts_ms: int) -> Sample | None:
        """Newest sample with ``ts_ms <= ts_ms`` (the state in force at that time)."""
        ...

    async def next_sample(self, point_id: str, ts_ms: int) -> Sample | None:
        """Oldest sample with ``ts_ms >= ts_ms``."""
        ...

    async def last_differing(self, point_id: str, ts_ms: int, value: PointValue) -> Sample | None:
        """Newest sample at or before ``ts_ms`` whose value is not equal to ``value``."""
        ...

    async def first_differing(self, point_id: str, ts_ms: int, value: PointValue) -> Sample | None:
        """Oldest sample at or after ``ts_ms`` whose value is not equal to ``value``."""
        ...

    async def window_stats(self, point_id: str, begin_ms: int, end_ms: int) -> WindowStats:
        """Unweighted statistics of the samples in ``[begin_ms, end_ms]``."""
        ...

    async def window_extreme(
        self, point_id: str, begin_ms: int, end_ms: int, *, high: bool
    ) -> WindowExtreme:
        """The window's highest (``high``) or lowest numeric sample and ``state_at(begin_ms)``.

        One read for maximum/minimum, which need both (see :class:`WindowExtreme`).
        """
        ...

    async def weighted_stats(
        self,
        point_id: str,
        begin_ms: int,
        end_ms: int,
        riemann: RiemannType = RiemannType.LEFT,
    ) -> WeightedStats | None:
        """Time-weighted integral, mean and variance over the augmented series."""
        ...

    async def median(self, point_id: str, begin_ms: int, end_ms: int) -> float | None:
        """Plain median of the numeric samples in the window (mean of the middle two if even)."""
        ...

    async def samples(
        self, point_id: str, begin_ms: int, end_ms: int, *, limit: int | None = None
    ) -> list[Sample]:
        """All samples in ``[begin_ms, end_ms]``, oldest first, at most ``limit`` (getAllStates)."""
        ...


def _is_unicode_text(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (no lone surrogates)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
