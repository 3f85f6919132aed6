"""``opencrate history``: show, summarise, export and import point history through the API.

Export and import share one CSV layout, ``point_id,time,ts_ms,value``, where
``value`` is JSON (``21.5``, ``3``, ``true``, ``"auto"``) so that a round trip
keeps every value's type; ``--format json`` writes one JSON object per line
instead. Import reads either (CSV by default, JSON lines for ``.jsonl``/``.json``),
checks the whole file first (an error names the file and line and nothing is
sent), then sends batches of up to 5,000 samples with a progress bar.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncclick as click
import trio

from opencrate.cli.client import ApiClient, cli_errors, resolve_url, url_option
from opencrate.cli.options import compose
from opencrate.clock import ms_to_iso
from opencrate.components.history.extension_names import BY_NAME, EXTENSIONS
from opencrate.errors import InvalidInput, map_exceptions
from opencrate.validation import MAX_JSON_DEPTH, ascii_int, check_json_depth, json_depth_exceeds

__all__ = ["history", "read_samples"]


BATCH = 5_000
#: Extensions whose result is a timestamp (printed as ISO 8601).
_TIMESTAMPS = frozenset({"lastUpdate", "nextUpdate", "lastChange", "nextChange"})
_service_option = click.option(
    "--service", metavar="NAME", help="Persistence service (default: the configured default)."
)


#: ``--url``, ``--service``, POINT, ``--since`` and ``--until``: a point's window of history.
_window_options = compose(
    url_option,
    _service_option,
    click.argument("point"),
    click.option(
        "--since", default="1d", show_default=True, help="Start: duration ago, ISO or ms."
    ),
    click.option("--until", "end", metavar="TIME", help="End (default: now)."),
)


@click.group()
def history() -> None:
    """Point history: show, statistics, export and import (through a running server)."""


def _path(point: str) -> str:
    return "/history/" + quote(point, safe="/")


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@history.command()
@_window_options
@click.option("--resolution", type=click.Choice(["raw", "5m", "1h", "auto"]), default="raw")
@click.option("--limit", type=click.IntRange(1, 10_000), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead.")
@click.pass_context
async def show(
    ctx: click.Context,
    url: str | None,
    service: str | None,
    point: str,
    since: str,
    end: str | None,
    resolution: str,
    limit: int,
    as_json: bool,
) -> None:
    """Print a point's samples, oldest first: time and value."""
    params = _params(start=since, end=end, resolution=resolution, limit=limit, service=service)
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            body = await api.get(_path(point), params)
    if as_json:
        click.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    buckets = body.get("buckets") or []
    if not body["samples"] and not buckets:
        click.echo(f"(no samples for {point} in {body['service']})")
    for sample in body["samples"]:
        click.echo(f"{sample['time']}  {json.dumps(sample['value'], ensure_ascii=False)}")
    for b in buckets:  # a rollup page: each window once, its mean (or last value)
        value = b["last"] if b["mean"] is None else b["mean"]
        click.echo(f"{ms_to_iso(b['start_ms'])}  {json.dumps(value, ensure_ascii=False)}")
    if body["next_cursor"] is not None:
        click.echo("... more (raise --limit or narrow --since/--until)", err=True)


@history.command()
@url_option
@_service_option
@click.argument("point")
@click.argument("statistic", metavar="STAT")
@click.option("--since", metavar="TIME", help="From TIME to now (e.g. 1d).")
@click.option("--until", metavar="TIME", help="From now to TIME (forecasts).")
@click.option("--begin", metavar="TIME", help="With --end: an explicit window.")
@click.option("--end", metavar="TIME")
@click.option("--riemann", type=click.Choice(["left", "right", "midpoint", "trapezoidal"]))
@click.option("--weighted", is_flag=True, help="variance/deviation: time-weighted, not openHAB's.")
@click.option(
    "--skip-equal", is_flag=True, help="previousState/nextState: the first differing state."
)
@click.pass_context
async def stat(
    ctx: click.Context,
    url: str | None,
    service: str | None,
    point: str,
    statistic: str,
    since: str | None,
    until: str | None,
    begin: str | None,
    end: str | None,
    riemann: str | None,
    weighted: bool,
    skip_equal: bool,
) -> None:
    """Print one persistence extension, e.g. ``average``, ``maximum``, ``countStateChanges``.

    Window statistics need --since, --until or --begin/--end (default --since 1d). A
    result with a unit is followed by it; a null window (a --since in the future, an
    --until in the past) prints ``null`` and, on stderr, why.
    """
    if statistic not in BY_NAME:
        # Sent as is, an unknown name would read as part of the point id (…/POINT/STAT).
        raise click.BadParameter(
            f"unknown statistic {statistic!r}; use one of: {', '.join(EXTENSIONS)} "
            "(or a full form such as averageSince, maximum_between)",
            param_hint="STAT",
        )
    if since is None and until is None and begin is None:
        since = "1d"
    params = _params(
        since=since, until=until, begin=begin, end=end, riemann=riemann, service=service
    )
    if weighted:
        params["weighted"] = "true"
    if skip_equal:
        params["skipEqual"] = "true"
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            body = await api.get(f"{_path(point)}/{quote(statistic)}", params)
    result = body["result"]
    unit = f" {body['unit']}" if body.get("unit") else ""
    if isinstance(result, dict) and "value" in result:
        value = json.dumps(result["value"], ensure_ascii=False)
        click.echo(f"{value}{unit}  at {result['time']}")
    elif body["extension"] in _TIMESTAMPS and isinstance(result, int):
        click.echo(ms_to_iso(result))
    else:
        click.echo(json.dumps(result, ensure_ascii=False) + unit)
    if body.get("reason"):
        click.echo(body["reason"], err=True)


@history.command()
@_window_options
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
async def export(
    ctx: click.Context,
    url: str | None,
    service: str | None,
    point: str,
    since: str,
    end: str | None,
    fmt: str,
    output: Path | None,
) -> None:
    """Write a point's samples as CSV (point_id,time,ts_ms,value) or JSON lines."""
    lines: list[str] = []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(["point_id", "time", "ts_ms", "value"])
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            params = _params(start=since, end=end, limit=10_000, service=service)
            while True:
                body = await api.get(_path(point), params)
                for s in body["samples"]:
                    value = json.dumps(s["value"], ensure_ascii=False)
                    if fmt == "csv":
                        writer.writerow([point, s["time"], s["ts_ms"], value])
                    else:
                        lines.append(json.dumps({"point_id": point, **s}, ensure_ascii=False))
                if body["next_cursor"] is None:
                    break
                # Keep the resolved window so every page covers the same range.
                params.update(
                    start=body["start_ms"], end=body["end_ms"], cursor=body["next_cursor"]
                )
    text = buffer.getvalue() if fmt == "csv" else "".join(line + "\n" for line in lines)
    if output is None:
        click.echo(text, nl=False)
    else:
        await trio.Path(output).write_text(text, encoding="utf-8")


def _parse_value(raw: str) -> Any:
    if json_depth_exceeds(raw, MAX_JSON_DEPTH):
        return raw  # json.loads would raise RecursionError; as text the server refuses it
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested past json's depth limit
        return raw  # bare text: the server coerces it to the point's kind


def read_samples(text: str, name: str) -> list[dict[str, Any]]:
    """Samples from export's CSV or JSON lines; InvalidInput naming the file and line."""
    samples: list[dict[str, Any]] = []
    if name.endswith((".jsonl", ".json")):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(check_json_depth(line, f"{name}:{number}"))
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{name}:{number}: not JSON ({exc.msg})") from None
            samples.append(_sample(item, f"{name}:{number}"))
        return samples
    reader = csv.DictReader(io.StringIO(text))

    def not_csv(exc: Exception) -> InvalidInput:
        # csv.Error: a field past csv's size limit, a NUL, a stray quote in strict mode.
        # It is raised reading the next record: line_num still counts the last one.
        return InvalidInput(f"{name}:{reader.line_num + 1}: not usable CSV: {exc}", file=name)

    with map_exceptions({csv.Error: not_csv}):
        return _read_csv_rows(reader, name)


def _read_csv_rows(reader: csv.DictReader[str], name: str) -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = []
    fields = set(reader.fieldnames or ())
    if not {"point_id", "value"} <= fields or not fields & {"time", "ts_ms"}:
        raise InvalidInput(f"{name}:1: the header must name point_id, value and time or ts_ms")
    for row in reader:
        where = f"{name}:{reader.line_num}"
        ts = row.get("ts_ms") or row.get("time")
        raw = row.get("value")
        fields_in_row: dict[str, Any] = {
            "point_id": row.get("point_id"),
            "time": _epoch_or_text(ts),
            "value": _parse_value(raw) if isinstance(raw, str) and raw else raw,
        }
        samples.append(_sample(fields_in_row, where))
    return samples


def _epoch_or_text(ts: str | None) -> int | str | None:
    # Epoch ms (ASCII digits within 64 bits) goes as a number; anything else as
    # text for the server to parse or refuse.
    epoch_ms = None if ts is None else ascii_int(ts, signed=True)
    return ts if epoch_ms is None else epoch_ms


def _sample(item: object, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InvalidInput(f"{where}: expected an object with point_id, time and value")
    point, value = item.get("point_id"), item.get("value")
    ts = item.get("ts_ms", item.get("time"))
    if not isinstance(point, str) or not point:
        raise InvalidInput(f"{where}: point_id is missing")
    if ts is None or ts == "":
        raise InvalidInput(f"{where}: time is missing")
    if value is None or value == "":
        raise InvalidInput(f"{where}: value is missing")
    return {"point_id": point, "time": ts, "value": value}


def _batches(samples: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(samples), BATCH):
        yield samples[i : i + BATCH]


async def _check_batches(
    api: ApiClient, samples: list[dict[str, Any]], service: str | None, name: str
) -> None:
    checked = 0
    for batch in _batches(samples):
        try:
            await api.post("/history", _params(samples=batch, service=service, dry_run=True))
        except InvalidInput as exc:
            raise InvalidInput(
                f"{exc.message} (in samples {checked + 1}..{checked + len(batch)} of {name}; "
                "nothing stored)"
            ) from None
        checked += len(batch)


@history.command(name="import")
@url_option
@_service_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
async def import_(ctx: click.Context, url: str | None, service: str | None, file: Path) -> None:
    """Store the samples of a CSV or JSON-lines file (as written by export)."""
    with cli_errors():
        try:
            text = await trio.Path(file).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{file.name}: not UTF-8 text ({exc.reason})") from None
        samples = read_samples(text, file.name)
        if not samples:
            raise InvalidInput(f"{file.name}: no samples")
        stored = 0
        async with ApiClient(resolve_url(ctx, url), timeout_s=60.0) as api:
            if len(samples) > BATCH:
                # The server refuses a bad batch whole; checking every batch first makes
                # the whole file all-or-nothing (an unknown point in the last batch
                # stores nothing, not the batches before it).
                await _check_batches(api, samples, service, file.name)
            with click.progressbar(
                length=len(samples), label="importing", file=click.get_text_stream("stderr")
            ) as bar:
                for batch in _batches(samples):
                    body = _params(samples=batch, service=service)
                    try:
                        reply = await api.post("/history", body)
                    except InvalidInput as exc:
                        raise InvalidInput(
                            f"{exc.message} (in samples {stored + 1}..{stored + len(batch)} of "
                            f"{file.name}; {stored} stored before)"
                        ) from None
                    stored += reply["stored"]
                    bar.update(len(batch))
    click.echo(f"imported {stored} samples into {reply['service']}")


@history.command(name="persist")
@url_option
@_service_option
@click.argument("point")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--policy",
    type=click.Choice(["add", "replace"], case_sensitive=False),
    default="add",
    show_default=True,
    help="replace: first remove what lies between the series' first and last time.",
)
@click.pass_context
async def persist(
    ctx: click.Context, url: str | None, service: str | None, point: str, file: Path, policy: str
) -> None:
    """Store FILE as one time series of POINT (openHAB's ``persist(TimeSeries)``).

    FILE is an export of POINT (CSV, or JSON lines for ``.jsonl``/``.json``); a row
    for another point is refused, naming it. At most 10,000 samples in one series.
    """
    with cli_errors():
        try:
            text = await trio.Path(file).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{file.name}: not UTF-8 text ({exc.reason})") from None
        samples = read_samples(text, file.name)
        for number, sample in enumerate(samples, start=1):
            if sample["point_id"] != point:
                raise InvalidInput(
                    f"{file.name}: sample {number} is for {sample['point_id']!r}, not {point!r}"
                )
        if len(samples) > 10_000:
            raise InvalidInput(f"{file.name}: {len(samples)} samples; a series holds 10000")
        body = _params(
            samples=[{"time": s["time"], "value": s["value"]} for s in samples],
            policy=policy.upper(),
            service=service,
        )
        async with ApiClient(resolve_url(ctx, url), timeout_s=60.0) as api:
            reply = await api.post(f"{_path(point)}/timeseries", body)
    click.echo(f"stored {reply['stored']} samples of {point} in {reply['service']} ({policy})")
