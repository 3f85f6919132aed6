"""History routes: paged samples, persistence extensions, writing and removing samples.

``GET /api/history/{point_id}``               samples (or rollup buckets), paged by cursor
``GET /api/history/{point_id}/{extension}``   averageSince, maximum, countStateChanges, ...
``PUT /api/history/{point_id}``               store one sample
``POST /api/history/{point_id}/timeseries``   store a time series (policy ADD or REPLACE)
``DELETE /api/history/{point_id}``            remove the samples in [start, end]
``POST /api/history``                         store a batch (``opencrate history import``)

Every route takes ``?service=`` (default: the configured default service). A
point stored under an alias is found under its point id: the route maps it.
Reads, ``PUT`` and imports take only the node model's points (404, or a 400
naming ``samples[i].point_id`` for an import) unless the service sets
``accept_unknown_points``; ``DELETE`` takes any id (to clear an orphan's history).
Times are ISO 8601, epoch ms, or a duration ago (``2h``). Bad input is a 400
naming the parameter and nothing is stored or removed.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

import msgspec
from quart import Blueprint

from opencrate.api.access import LARGE_BODY, Role, requires
from opencrate.api.auditing import audit_write
from opencrate.api.context import services
from opencrate.api.contract import body, query, responds
from opencrate.api.params import node_id_arg
from opencrate.clock import ms_to_iso, parse_time_ms
from opencrate.components.history.extension_names import (
    BY_NAME,
    EXTENSIONS,
    RANGED,
    WEIGHTED,
    snake,
)
from opencrate.components.history.extensions import (
    PersistenceExtensions,
    TimeSeriesPolicy,
    result_unit,
)
from opencrate.components.history.service import PersistenceService, Resolution, RiemannType, Sample
from opencrate.components.history.setup import Persistence
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.errors import InvalidInput, NotFound
from opencrate.model.values import PointValue, coerce_value
from opencrate.validation import ascii_int

__all__ = ["EXTENSIONS", "blueprint"]

blueprint = Blueprint("history", __name__)

DEFAULT_SPAN_MS = 86_400_000
MAX_LIMIT = 10_000
MAX_BATCH = 10_000

# The route bodies use the short private names they had when the table lived here.
_RANGED, _WEIGHTED, _snake, _BY_NAME = RANGED, WEIGHTED, snake, BY_NAME
#: Extensions whose ``weighted=true`` asks for the time-weighted form (not openHAB's).
_SPREAD = frozenset({"variance", "deviation"})
_ANY = ", ".join(sorted(_BY_NAME))


TimeText = Annotated[str, msgspec.Meta(description="ISO 8601, epoch ms, or a duration ago (2h).")]
Service = Annotated[str, msgspec.Meta(description="A persistence service; default: the default.")]
AnyValue = Annotated[float | bool | str | None, msgspec.Meta(description="A point value.")]


class SamplesQuery(msgspec.Struct, kw_only=True):
    service: Service | None = None
    start: TimeText | None = None
    end: TimeText | None = None
    resolution: Resolution = Resolution.RAW
    order: Literal["asc", "desc"] = "asc"
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)] = 1000
    cursor: str | None = None


class ExtensionQuery(msgspec.Struct, kw_only=True):
    service: Service | None = None
    since: TimeText | None = None
    until: TimeText | None = None
    begin: TimeText | None = None
    end: TimeText | None = None
    at: TimeText | None = None
    riemann: RiemannType = RiemannType.LEFT
    skipEqual: bool = False
    weighted: bool = False


class RangeQuery(msgspec.Struct, kw_only=True):
    start: TimeText
    end: TimeText
    service: Service | None = None


class SampleView(msgspec.Struct):
    point_id: str
    ts_ms: int
    time: str
    value: AnyValue


class Bucket(msgspec.Struct):
    start_ms: int
    width_ms: int
    count: int
    mean: float | None
    min: float | None
    max: float | None
    sum: float | None
    first: AnyValue
    last: AnyValue


class HistoryView(msgspec.Struct, omit_defaults=True):
    point_id: str
    service: str
    resolution: Resolution
    start_ms: int
    end_ms: int
    samples: list[SampleView]
    next_cursor: str | None
    buckets: list[Bucket] | None = None


class ExtensionResult(msgspec.Struct, omit_defaults=True):
    """The extension's ``result`` (a number, a value, a sample, a time or null) and its window."""

    point_id: str
    service: str
    extension: str
    result: Annotated[Any, msgspec.Meta(description="Depends on the extension.")]
    form: Literal["since", "until", "between"] | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    begin_ms: int | None = None
    end_ms: int | None = None
    at_ms: int | None = None
    unit: Annotated[str | None, msgspec.Meta(description="The result's unit, if any.")] = None
    reason: Annotated[
        str | None, msgspec.Meta(description="Why the result is null, when the window is.")
    ] = None


BodyTime = Annotated[int | str | None, msgspec.Meta(description="Epoch ms or ISO 8601.")]


class SampleBody(msgspec.Struct, forbid_unknown_fields=True):
    value: AnyValue
    time: BodyTime = None
    service: str | None = None


class StoredSample(msgspec.Struct):
    service: str
    point_id: str
    ts_ms: int
    time: str
    value: AnyValue


class SampleIn(msgspec.Struct, forbid_unknown_fields=True):
    point_id: str
    time: BodyTime
    value: AnyValue


class ImportBody(msgspec.Struct, forbid_unknown_fields=True):
    samples: Annotated[list[SampleIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]
    service: str | None = None
    #: Check every sample as a real import would, store none (the CLI's first pass).
    dry_run: bool = False


class SeriesSample(msgspec.Struct, forbid_unknown_fields=True):
    time: BodyTime
    value: AnyValue


class TimeSeriesBody(msgspec.Struct, forbid_unknown_fields=True):
    samples: Annotated[list[SeriesSample], msgspec.Meta(max_length=MAX_BATCH)]
    policy: Annotated[str, msgspec.Meta(description="ADD (default) or REPLACE.")] = "ADD"
    service: str | None = None


class StoredSeries(msgspec.Struct):
    point_id: str
    service: str
    policy: str
    stored: int


class Imported(msgspec.Struct):
    service: str
    stored: int
    #: Samples that passed the checks (all of them: one failing refuses the batch).
    checked: int


class Removed(msgspec.Struct):
    point_id: str
    service: str
    removed: int


def _service(name: str | None) -> tuple[str, PersistenceService]:
    return services().get(Persistence).service(name)


def _accepts_unknown(service_id: str) -> bool:
    cfg = services().get(Persistence).config.value.get(service_id)
    return cfg is not None and cfg.options.get("accept_unknown_points", False) is True


def _unknown_point(point_id: str, service_id: str) -> str | None:
    """Why ``point_id`` is refused for ``service_id``, or None: a model point, or accepted.

    A point is a ``point`` or ``virtual_point`` node. ``accept_unknown_points``
    on the service (a table shared by several sites) lets any id through.
    """
    nodes = services().get(NodeStore)
    node = nodes.get_or_none(point_id)
    if (node is not None and node.is_point) or _accepts_unknown(service_id):
        return None
    if node is not None:
        return f"{point_id!r} is not a point (node type {node.node_type.value})"
    message = f"no point {point_id!r} in the model"
    parent, _, last = point_id.rpartition("/")
    above = nodes.get_or_none(parent) if parent else None
    if above is not None and above.is_point and last not in _BY_NAME:
        # GET .../{point}/{name} with an unknown name reads as one longer point id.
        message += f" (and {last!r} is not a persistence extension of {parent!r})"
    return message


def _known_point(point_id: str, service_id: str) -> None:
    """NotFound naming ``point_id`` unless the service may hold its history."""
    refused = _unknown_point(point_id, service_id)
    if refused is not None:
        raise NotFound(refused, point_id=point_id, service=service_id)


def _storage_id(service_id: str, point_id: str) -> str:
    return services().get(Persistence).manager.storage_id(service_id, point_id)


def _time(name: str, raw: str | None, default: int | None = None) -> int | None:
    if raw is None or raw == "":
        return default
    try:
        return parse_time_ms(raw, now_ms=services().clock.now_ms())
    except InvalidInput as exc:
        raise InvalidInput(f"query parameter {name!r}: {exc.message}", field=name) from None


def sample_json(sample: Sample, point_id: str | None = None) -> dict[str, Any]:
    return {
        "point_id": point_id or sample.point_id,
        "ts_ms": sample.ts_ms,
        "time": ms_to_iso(sample.ts_ms),
        "value": sample.value,
    }


def _value(raw: object, point_id: str, what: str = "value") -> PointValue:
    """``raw`` as a value of the point's kind when the node model knows it, else as given."""
    node = services().get(NodeStore).get_or_none(point_id)
    return coerce_value(raw, None if node is None else node.kind, what=what)


@blueprint.get("/history/<path:point_id>")
@requires(Role.VIEWER)
@query(SamplesQuery)
@responds(HistoryView)
async def history(point_id: str, query_args: SamplesQuery) -> dict[str, Any]:
    """Samples of a point in ``[start, end]`` (default: the last day), oldest first.

    ``resolution`` raw (default), 5m, 1h or auto; ``limit`` 1..10000 (1000);
    ``order`` asc or desc; ``cursor`` continues a page (``next_cursor``).
    """
    point_id = node_id_arg(point_id, what="point id")
    q = query_args
    name, service = _service(q.service)
    _known_point(point_id, name)
    now = services().clock.now_ms()
    end = _time("end", q.end, now)
    assert end is not None
    start = _time("start", q.start, end - DEFAULT_SPAN_MS)
    assert start is not None
    resolution, order, limit, cursor = q.resolution, q.order, q.limit, q.cursor
    if cursor:
        at = ascii_int(cursor, signed=True, minimum=start, maximum=end)
        if at is None:
            raise InvalidInput(
                f"cursor {cursor[:40]!r} does not belong to this range", field="cursor"
            )
        if order == "asc":
            start = at
        else:
            end = at
    if start > end:
        raise InvalidInput(f"start ({start}) is after end ({end})", field="start")
    page = await service.query(
        _storage_id(name, point_id),
        start,
        end,
        resolution=resolution,
        descending=order == "desc",
        limit=limit,
    )
    body: dict[str, Any] = {
        "point_id": point_id,
        "service": name,
        "resolution": page.resolution.value,
        "start_ms": start,
        "end_ms": end,
        # A rollup page sends each window once, in ``buckets`` (its mean is what
        # ``samples`` would repeat); a raw page sends ``samples``.
        "samples": [] if page.buckets else [_sample_view(s, point_id) for s in page.samples],
        "next_cursor": None if page.next_ms is None else str(page.next_ms),
    }
    if page.buckets:
        body["buckets"] = [
            {
                "start_ms": b.start_ms,
                "width_ms": b.width_ms,
                "count": b.count,
                "mean": b.mean,
                "min": b.min,
                "max": b.max,
                "sum": b.sum,
                "first": b.first,
                "last": b.last,
            }
            for b in page.buckets
        ]
    return body


def _sample_view(sample: Sample, point_id: str) -> dict[str, Any]:
    ts = sample.ts_ms
    return {"point_id": point_id, "ts_ms": ts, "time": iso_ms(ts), "value": sample.value}


@functools.lru_cache(maxsize=1024)
def _hour_prefix(hour: int) -> str:
    return ms_to_iso(hour * 3_600_000)[:14]  # "2026-11-23T03:"


def iso_ms(ts_ms: int) -> str:
    """``ms_to_iso(ts_ms)``, formatting each hour's date part once (a page repeats it)."""
    rest = ts_ms % 3_600_000
    return (
        f"{_hour_prefix(ts_ms // 3_600_000)}{rest // 60_000:02d}:"
        f"{rest // 1000 % 60:02d}.{rest % 1000:03d}Z"
    )


@blueprint.get(f"/history/<path:point_id>/<any({_ANY}):extension>")
@requires(Role.VIEWER)
@query(ExtensionQuery)
@responds(ExtensionResult)
async def extension(point_id: str, extension: str, query_args: ExtensionQuery) -> dict[str, Any]:
    """One persistence extension (openHAB or snake_case name).

    Window extensions take exactly one of ``since``, ``until`` or ``begin`` +
    ``end``; average, riemannSum, variance and deviation also ``riemann``.
    """
    point_id = node_id_arg(point_id, what="point id")
    q = query_args
    name, wanted_form = _BY_NAME[extension]
    service_id, service = _service(q.service)
    _known_point(point_id, service_id)
    svc = services()
    storage = _storage_id(service_id, point_id)

    def current(_: str) -> PointValue | None:
        state = svc.get(PointStore).get(point_id)
        return None if state is None else state.value

    ext = PersistenceExtensions(service, clock=svc.clock, current_state=current)
    body: dict[str, Any] = {"point_id": point_id, "service": service_id, "extension": name}
    if name in _RANGED:
        args: list[Any] = [storage, *_window(body, wanted_form, q)]
        kwargs: dict[str, Any] = {"weighted": q.weighted} if name in _SPREAD else {}
        if name in _WEIGHTED:
            args.append(q.riemann)
        form = body["form"]
        if form != "between":
            reason = ext.refusal(form, args[1])
            if reason is not None:
                body["reason"] = reason  # null as openHAB, with the why beside it
        result: object = await getattr(ext, f"{_snake(name)}_{form}")(*args, **kwargs)
    elif name in ("persistedState", "historicState"):
        at = _time("at", q.at)
        if at is None:
            raise InvalidInput(f"{name} needs ?at=<time>", field="at")
        body["at_ms"] = at
        result = await ext.persisted_state(storage, at)
    elif name in ("previousState", "nextState"):
        result = await getattr(ext, _snake(name))(storage, skip_equal=q.skipEqual)
    else:
        result = await getattr(ext, _snake(name))(storage)
    if result is not None and not isinstance(result, bool):
        node = svc.get(NodeStore).get_or_none(point_id)
        unit = result_unit(name, None if node is None else node.unit)
        if unit is not None and not (isinstance(result, Sample) and isinstance(result.value, str)):
            body["unit"] = unit
    if isinstance(result, Sample):
        result = sample_json(result, point_id)
    body["result"] = result
    return body


def _window(body: dict[str, Any], wanted: str | None, q: ExtensionQuery) -> list[int]:
    since, until = _time("since", q.since), _time("until", q.until)
    begin, end = _time("begin", q.begin), _time("end", q.end)
    given = [n for n, v in (("since", since), ("until", until), ("begin", begin)) if v is not None]
    if len(given) != 1 or (begin is None) != (end is None):
        raise InvalidInput("give exactly one of since, until, or begin and end", field="since")
    form = {"since": "since", "until": "until", "begin": "between"}[given[0]]
    if wanted is not None and form != wanted:
        needs = {"since": "?since=", "until": "?until=", "between": "?begin= and &end="}[wanted]
        raise InvalidInput(f"{body['extension']}{wanted.title()} needs {needs}", field=given[0])
    if since is not None:
        body.update(form="since", since_ms=since)
        return [since]
    if until is not None:
        body.update(form="until", until_ms=until)
        return [until]
    assert begin is not None
    assert end is not None
    body.update(form="between", begin_ms=begin, end_ms=end)
    return [begin, end]


@blueprint.put("/history/<path:point_id>")
@requires(Role.ADMIN)
@body(SampleBody)
@responds(StoredSample)
async def put_sample(point_id: str, data: SampleBody) -> dict[str, Any]:
    """Store one sample: body ``{"value", "time"?, "service"?}`` (time default: now)."""
    point_id = node_id_arg(point_id, what="point id")
    svc = services()
    name, service = svc.get(Persistence).service(data.service)
    _known_point(point_id, name)
    ts = _body_time(data.time, svc.clock.now_ms())
    value = _value(data.value, point_id)
    await service.store([Sample(point_id=_storage_id(name, point_id), ts_ms=ts, value=value)])
    await audit_write("history.put", point_id, {"service": name, "ts_ms": ts, "value": value})
    return {"service": name, **sample_json(Sample(point_id=point_id, ts_ms=ts, value=value))}


@blueprint.post("/history/<path:point_id>/timeseries")
@requires(Role.ADMIN, body_limit=LARGE_BODY)
@body(TimeSeriesBody)
@responds(StoredSeries)
async def put_time_series(point_id: str, data: TimeSeriesBody) -> dict[str, Any]:
    """openHAB's ``persist(TimeSeries)``: ``{"samples": [{"time", "value"}], "policy"?}``.

    ``ADD`` (default) stores the samples; ``REPLACE`` first removes every sample between
    the series' oldest and newest time. All samples are checked before anything changes;
    an empty series changes nothing. An unknown point is 404 (unless the service has
    ``accept_unknown_points``).
    """
    point_id = node_id_arg(point_id, what="point id")
    svc = services()
    name, service = svc.get(Persistence).service(data.service)
    _known_point(point_id, name)
    policy = TimeSeriesPolicy.parse(data.policy)
    now = svc.clock.now_ms()
    series = [
        (
            _body_time(item.time, now, what=f"samples[{i}].time"),
            _value(item.value, point_id, what=f"samples[{i}].value"),
        )
        for i, item in enumerate(data.samples)
    ]
    ext = PersistenceExtensions(service, clock=svc.clock)
    stored = await ext.persist_time_series(_storage_id(name, point_id), series, policy)
    await audit_write(
        "history.timeseries", point_id, {"service": name, "policy": policy.value, "samples": stored}
    )
    return {"point_id": point_id, "service": name, "policy": policy.value, "stored": stored}


@blueprint.delete("/history/<path:point_id>")
@requires(Role.ADMIN)
@query(RangeQuery)
@responds(Removed)
async def delete_range(point_id: str, query_args: RangeQuery) -> dict[str, Any]:
    """Remove the samples in ``[start, end]`` (both required)."""
    point_id = node_id_arg(point_id, what="point id")
    name, service = _service(query_args.service)
    start, end = _time("start", query_args.start), _time("end", query_args.end)
    if start is None or end is None:  # given but empty
        raise InvalidInput("DELETE needs both ?start= and ?end=", field="start")
    if start > end:
        raise InvalidInput(f"start ({start}) is after end ({end})", field="start")
    removed = await service.remove(_storage_id(name, point_id), start, end)
    await audit_write(
        "history.remove",
        point_id,
        {"service": name, "start_ms": start, "end_ms": end, "removed": removed},
    )
    return {"point_id": point_id, "service": name, "removed": removed}


@blueprint.post("/history")
@requires(Role.ADMIN, body_limit=LARGE_BODY)
@body(ImportBody)
@responds(Imported)
async def import_samples(data: ImportBody) -> dict[str, Any]:
    """Store a batch: ``{"samples": [{"point_id", "time", "value"}, ...], "service"?}``.

    At most 10,000 samples; all are checked before any is stored, and one bad
    sample (a point id the model does not know, unless the service has
    ``accept_unknown_points``) refuses the whole batch. ``dry_run``: check only.
    """
    svc = services()
    name, service = svc.get(Persistence).service(data.service)
    now = svc.clock.now_ms()
    batch: list[Sample] = []
    for i, item in enumerate(data.samples):
        where = f"samples[{i}]"
        point_id = node_id_arg(item.point_id, what=f"{where}.point_id")
        refused = _unknown_point(point_id, name)
        if refused is not None:
            field = f"{where}.point_id"
            raise InvalidInput(f"{field}: {refused}", field=field, point_id=point_id)
        batch.append(
            Sample(
                point_id=_storage_id(name, point_id),
                ts_ms=_body_time(item.time, now, what=f"{where}.time"),
                value=_value(item.value, point_id, what=f"{where}.value"),
            )
        )
    if data.dry_run:
        return {"service": name, "stored": 0, "checked": len(batch)}
    await service.store(batch)
    await audit_write("history.import", name, {"samples": len(batch)})
    return {"service": name, "stored": len(batch), "checked": len(batch)}


def _body_time(raw: object, now: int, what: str = "time") -> int:
    if raw is None:
        return now
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise InvalidInput(f"{what} must be epoch ms or an ISO 8601 string", field=what)
    try:
        return raw if isinstance(raw, int) else parse_time_ms(raw, now_ms=now)
    except InvalidInput as exc:
        raise InvalidInput(f"{what}: {exc.message}", field=what) from None
