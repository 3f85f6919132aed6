"""History routes: paged samples, persistence extensions, writing and removing samples.

``GET /api/history/{point_id}``               samples (or rollup buckets), paged by cursor
``GET /api/history/{point_id}/{extension}``   averageSince, maximum, countStateChanges, ...
``PUT /api/history/{point_id}``               store one sample
``DELETE /api/history/{point_id}``            remove the samples in [start, end]
``POST /api/history``                         store a batch (``opencrate history import``)

Every route takes ``?service=`` (default: the configured default service). A
point stored under an alias is found under its point id: the route maps it.
Times are ISO 8601, epoch ms, or a duration ago (``2h``). Bad input is a 400
naming the parameter and nothing is stored or removed.
"""

from __future__ import annotations

import re
from typing import Any

from quart import Blueprint, request

from opencrate.api.access import LARGE_BODY, Role, requires
from opencrate.api.auditing import audit_write
from opencrate.api.context import json_body, services
from opencrate.api.params import bool_arg, check_fields, node_id_arg
from opencrate.clock import ms_to_iso, parse_time_ms
from opencrate.components.history.extensions import PersistenceExtensions
from opencrate.components.history.service import PersistenceService, Resolution, RiemannType, Sample
from opencrate.components.history.setup import Persistence
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.errors import InvalidInput
from opencrate.model.values import PointValue, coerce_value
from opencrate.validation import ascii_int

__all__ = ["EXTENSIONS", "blueprint"]

blueprint = Blueprint("history", __name__)

DEFAULT_SPAN_MS = 86_400_000
MAX_LIMIT = 10_000
MAX_BATCH = 10_000

#: Extensions over a window (``since``, ``until`` or ``begin`` + ``end``).
_RANGED = (
    *("average", "changed", "count", "countStateChanges", "delta", "deviation"),
    *("evolutionRate", "maximum", "median", "minimum", "riemannSum", "sum", "updated"),
    "variance",
)
_WEIGHTED = frozenset({"average", "riemannSum", "variance", "deviation"})
#: Extensions at a point in time (``at`` for persistedState; ``skipEqual`` for previousState).
_POINT = (
    *("persistedState", "historicState", "lastUpdate", "nextUpdate", "lastChange"),
    *("nextChange", "previousState"),
)
EXTENSIONS: tuple[str, ...] = (*_RANGED, *_POINT)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


#: URL name -> (extension, window form or None). ``averageSince``, ``average_since`` and
#: ``average`` (form from the parameters) all work.
_BY_NAME: dict[str, tuple[str, str | None]] = {}
for _name in EXTENSIONS:
    _BY_NAME[_name] = _BY_NAME[_snake(_name)] = (_name, None)
for _name in _RANGED:
    for _form in ("Since", "Until", "Between"):
        _BY_NAME[_name + _form] = _BY_NAME[_snake(_name + _form)] = (_name, _form.lower())
_ANY = ", ".join(sorted(_BY_NAME))


def _service() -> tuple[str, PersistenceService]:
    return services().get(Persistence).service(request.args.get("service"))


def _storage_id(service_id: str, point_id: str) -> str:
    return services().get(Persistence).manager.storage_id(service_id, point_id)


def _time(name: str, default: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse_time_ms(raw, now_ms=services().clock.now_ms())
    except InvalidInput as exc:
        raise InvalidInput(f"query parameter {name!r}: {exc.message}", field=name) from None


def _int(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    value = ascii_int(raw, minimum=1, maximum=maximum)
    if value is None:
        raise InvalidInput(
            f"query parameter {name!r} must be 1..{maximum}, got {raw[:40]!r}", field=name
        )
    return value


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
async def history(point_id: str) -> dict[str, Any]:
    """Samples of a point in ``[start, end]`` (default: the last day), oldest first.

    ``resolution`` raw (default), 5m, 1h or auto; ``limit`` 1..10000 (1000);
    ``order`` asc or desc; ``cursor`` continues a page (``next_cursor``).
    """
    point_id = node_id_arg(point_id, what="point id")
    name, service = _service()
    now = services().clock.now_ms()
    end = _time("end", now)
    assert end is not None
    start = _time("start", end - DEFAULT_SPAN_MS)
    assert start is not None
    try:
        resolution = Resolution(request.args.get("resolution", "raw"))
    except ValueError:
        raise InvalidInput(
            "query parameter 'resolution' must be raw, 5m, 1h or auto", field="resolution"
        ) from None
    order = request.args.get("order", "asc")
    if order not in ("asc", "desc"):
        raise InvalidInput("query parameter 'order' must be asc or desc", field="order")
    limit = _int("limit", 1000, MAX_LIMIT)
    cursor = request.args.get("cursor")
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
        "samples": [sample_json(s, point_id) for s in page.samples],
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


@blueprint.get(f"/history/<path:point_id>/<any({_ANY}):extension>")
@requires(Role.VIEWER)
async def extension(point_id: str, extension: str) -> dict[str, Any]:
    """One persistence extension (openHAB or snake_case name).

    Window extensions take exactly one of ``since``, ``until`` or ``begin`` +
    ``end``; average, riemannSum, variance and deviation also ``riemann``.
    """
    point_id = node_id_arg(point_id, what="point id")
    name, wanted_form = _BY_NAME[extension]
    service_id, service = _service()
    svc = services()
    storage = _storage_id(service_id, point_id)

    def current(_: str) -> PointValue | None:
        state = svc.get(PointStore).get(point_id)
        return None if state is None else state.value

    ext = PersistenceExtensions(service, clock=svc.clock, current_state=current)
    body: dict[str, Any] = {"point_id": point_id, "service": service_id, "extension": name}
    if name in _RANGED:
        args: list[Any] = [storage, *_window(body, wanted_form)]
        if name in _WEIGHTED:
            args.append(_riemann())
        form = body["form"]
        result: object = await getattr(ext, f"{_snake(name)}_{form}")(*args)
    elif name in ("persistedState", "historicState"):
        at = _time("at")
        if at is None:
            raise InvalidInput(f"{name} needs ?at=<time>", field="at")
        body["at_ms"] = at
        result = await ext.persisted_state(storage, at)
    elif name == "previousState":
        result = await ext.previous_state(storage, skip_equal=bool_arg("skipEqual"))
    else:
        result = await getattr(ext, _snake(name))(storage)
    if isinstance(result, Sample):
        result = sample_json(result, point_id)
    body["result"] = result
    return body


def _window(body: dict[str, Any], wanted: str | None) -> list[int]:
    since, until = _time("since"), _time("until")
    begin, end = _time("begin"), _time("end")
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


def _riemann() -> RiemannType:
    raw = request.args.get("riemann", "left")
    try:
        return RiemannType(raw.lower())
    except ValueError:
        raise InvalidInput(
            "query parameter 'riemann' must be left, right, midpoint or trapezoidal",
            field="riemann",
        ) from None


@blueprint.put("/history/<path:point_id>")
@requires(Role.ADMIN)
async def put_sample(point_id: str) -> dict[str, Any]:
    """Store one sample: body ``{"value", "time"?, "service"?}`` (time default: now)."""
    point_id = node_id_arg(point_id, what="point id")
    body = await json_body()
    check_fields(body, allowed=("value", "time", "service"), required=("value",))
    svc = services()
    name, service = svc.get(Persistence).service(_optional_str(body, "service"))
    ts = _body_time(body.get("time"), svc.clock.now_ms())
    value = _value(body["value"], point_id)
    await service.store([Sample(point_id=_storage_id(name, point_id), ts_ms=ts, value=value)])
    await audit_write("history.put", point_id, {"service": name, "ts_ms": ts, "value": value})
    return {"service": name, **sample_json(Sample(point_id=point_id, ts_ms=ts, value=value))}


@blueprint.delete("/history/<path:point_id>")
@requires(Role.ADMIN)
async def delete_range(point_id: str) -> dict[str, Any]:
    """Remove the samples in ``[start, end]`` (both required)."""
    point_id = node_id_arg(point_id, what="point id")
    name, service = _service()
    start, end = _time("start"), _time("end")
    if start is None or end is None:
        raise InvalidInput(
            "DELETE needs both ?start= and ?end=", field="start" if start is None else "end"
        )
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
async def import_samples() -> dict[str, Any]:
    """Store a batch: ``{"samples": [{"point_id", "time", "value"}, ...], "service"?}``.

    At most 10,000 samples; all are checked before any is stored.
    """
    body = await json_body()
    check_fields(body, allowed=("samples", "service"), required=("samples",))
    svc = services()
    name, service = svc.get(Persistence).service(_optional_str(body, "service"))
    raw = body["samples"]
    if not isinstance(raw, list) or not raw or len(raw) > MAX_BATCH:
        raise InvalidInput(f"samples must be a list of 1..{MAX_BATCH} samples", field="samples")
    now = svc.clock.now_ms()
    batch: list[Sample] = []
    for i, item in enumerate(raw):
        where = f"samples[{i}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} must be an object", field=where)
        check_fields(
            item,
            allowed=("point_id", "time", "value"),
            required=("point_id", "value", "time"),
            what=where,
        )
        if not isinstance(item["point_id"], str):
            raise InvalidInput(f"{where}.point_id must be a string", field=where)
        point_id = node_id_arg(item["point_id"], what=f"{where}.point_id")
        batch.append(
            Sample(
                point_id=_storage_id(name, point_id),
                ts_ms=_body_time(item["time"], now, what=f"{where}.time"),
                value=_value(item["value"], point_id, what=f"{where}.value"),
            )
        )
    await service.store(batch)
    await audit_write("history.import", name, {"samples": len(batch)})
    return {"service": name, "stored": len(batch)}


def _optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{key} must be a string", field=key)
    return value


def _body_time(raw: object, now: int, what: str = "time") -> int:
    if raw is None:
        return now
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise InvalidInput(f"{what} must be epoch ms or an ISO 8601 string", field=what)
    try:
        return raw if isinstance(raw, int) else parse_time_ms(raw, now_ms=now)
    except InvalidInput as exc:
        raise InvalidInput(f"{what}: {exc.message}", field=what) from None
