"""The exception tree at its edges: one status table both ways, and every library boundary.

Each boundary test provokes the library's error for real (a closed port, a
server that never answers, a malformed TOML file, a cron expression no date
matches) and checks that what escapes is an :class:`OpenCrateError`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import pytest
import trio
from asyncclick.testing import CliRunner
from quart.typing import TestClientProtocol as Client
from quart_trio import QuartTrio

from opencrate import errors
from opencrate.api.access import public
from opencrate.api.status import STATUS, error_class, status_for
from opencrate.cli.client import ApiClient
from opencrate.cli.main import cli
from opencrate.components.history.cli import read_samples
from opencrate.components.history.config.model import CronStrategy
from opencrate.components.history.config.toml import load_config_file, parse_config_text
from opencrate.components.history.strategies import next_fire_ms
from opencrate.components.nodes.cli import load_import_file
from opencrate.components.scenario.parse import load_scenario
from opencrate.config import load_settings
from opencrate.errors import (
    AuthError,
    BridgeError,
    BridgeTimeout,
    ConfigError,
    Conflict,
    ContentTooLarge,
    DeviceError,
    Forbidden,
    InvalidHost,
    InvalidInput,
    NotFound,
    OpenCrateError,
    ProtocolError,
    RateLimited,
    StorageFull,
    StoreBroken,
    StoreClosed,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
    UnsupportedMediaType,
    map_exceptions,
)
from tests.harness import REPO_ROOT

# -- the status table ----------------------------------------------------------------

EVERY_STATUS = [
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 400),
    (ConfigError, 400),
    (InvalidHost, 400),
    (ContentTooLarge, 413),
    (UnsupportedMediaType, 415),
    (AuthError, 401),
    (Forbidden, 403),
    (RateLimited, 429),
    (StoreClosed, 503),
    (StoreBroken, 503),
    (StoreUnavailable, 503),
    (StorageFull, 503),
    (StoreError, 500),
    (StoreCorrupt, 500),
    (BridgeError, 502),
    (ProtocolError, 502),
    (DeviceError, 502),
    (BridgeTimeout, 504),
    (OpenCrateError, 500),
]


def test_every_class_of_the_tree_is_in_the_table_above() -> None:
    tree = {
        getattr(errors, name)
        for name in errors.__all__
        if isinstance(getattr(errors, name), type)
        and issubclass(getattr(errors, name), OpenCrateError)
    }
    assert tree == {cls for cls, _ in EVERY_STATUS}
    assert {cls for cls, _ in STATUS} <= tree


@pytest.mark.parametrize(("cls", "status"), EVERY_STATUS, ids=lambda v: getattr(v, "__name__", v))
def test_each_status_maps_both_ways(cls: type[OpenCrateError], status: int) -> None:
    assert status_for(cls("x")) == status
    assert status_for(cls) == status
    # The client reads the same table back: status and code give the very class.
    assert error_class(status, cls.code) is cls


@pytest.mark.parametrize(("cls", "status"), EVERY_STATUS, ids=lambda v: getattr(v, "__name__", v))
def test_the_tree_drawing_and_the_api_reference_show_each_status(
    cls: type[OpenCrateError], status: int
) -> None:
    assert re.search(rf"\b{cls.__name__}\s+{status}\b", errors.__doc__ or "")
    rows = (REPO_ROOT / "docs" / "reference" / "api.md").read_text(encoding="utf-8").splitlines()
    assert any(row.startswith(f"| {status} |") and f"`{cls.code}`" in row for row in rows), (
        f"docs/reference/api.md has no row for {status} `{cls.code}`"
    )


def test_a_status_without_a_known_code_falls_back_to_its_first_class() -> None:
    assert error_class(503) is StoreClosed
    assert error_class(502, "no_such_code") is BridgeError
    assert error_class(504, None) is BridgeTimeout
    # A code that disagrees with the status does not win: the status decides.
    assert error_class(404, "store_broken") is NotFound
    assert error_class(418, "teapot") is OpenCrateError


# -- map_exceptions ------------------------------------------------------------------


def test_map_exceptions_raises_the_target_with_detail_and_keeps_the_cause() -> None:
    mapping = {KeyError: NotFound, LookupError: StoreError}
    with pytest.raises(StoreError) as info, map_exceptions(mapping, store="x"):
        raise IndexError("gone")
    assert type(info.value) is StoreError
    assert info.value.detail == {"store": "x"}
    assert isinstance(info.value.__cause__, IndexError)


def test_map_exceptions_calls_a_function_target_and_lets_others_through() -> None:
    worded = {KeyError: lambda exc: InvalidInput(f"bad: {exc}")}
    with pytest.raises(InvalidInput, match="bad: 'k'") as info, map_exceptions(worded):
        raise KeyError("k")
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(ZeroDivisionError), map_exceptions({KeyError: NotFound}):
        _ = 1 / 0
    conflict = Conflict("mine")
    with pytest.raises(Conflict) as passed, map_exceptions({Exception: NotFound}):
        raise conflict
    assert passed.value is conflict


# -- the HTTP end --------------------------------------------------------------------


async def test_405_keeps_its_allow_header_on_a_real_route(client: Client) -> None:
    response = await client.put("/api/nodes", json={})
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET", "POST"}
    assert response.headers["Content-Type"] == "application/json"
    body = await response.get_json()
    assert body["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (BridgeError("bus down", device="ahu-1"), 502),
        (DeviceError("illegal address", device="ahu-1"), 502),
        (BridgeTimeout("no answer", device="ahu-1"), 504),
        (StoreBroken("alarms store died", store="alarms"), 503),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
async def test_a_route_raising_a_bridge_or_store_error_answers_its_status(
    app: QuartTrio, exc: OpenCrateError, status: int
) -> None:
    async def fail() -> str:
        raise exc

    app.add_url_rule("/api/test-failure", "test_failure", public(fail))
    response = await app.test_client().get("/api/test-failure")
    assert response.status_code == status
    body = await response.get_json()
    assert body["error"]["code"] == exc.code
    assert body["error"]["message"] == exc.message
    assert body["error"]["detail"] == exc.detail


# -- the CLI end: httpx ---------------------------------------------------------------


async def _serve(
    nursery: trio.Nursery, handler: Callable[[trio.SocketStream], Awaitable[None]]
) -> str:
    (listener,) = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
    return f"http://127.0.0.1:{listener.socket.getsockname()[1]}"


def _answering(
    status: int, reason: str, body: bytes
) -> Callable[[trio.SocketStream], Awaitable[None]]:
    async def answer(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        await stream.send_all(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await stream.aclose()

    return answer


def _error_body(code: str, message: str, detail: dict[str, object]) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "detail": detail}}).encode()


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (502, "bridge_error", BridgeError),
        (502, "protocol_error", ProtocolError),
        (502, "device_error", DeviceError),
        (504, "bridge_timeout", BridgeTimeout),
        (503, "store_closed", StoreClosed),
        (503, "store_broken", StoreBroken),
    ],
)
async def test_the_client_turns_an_error_answer_into_its_exception(
    nursery: trio.Nursery, status: int, code: str, cls: type[OpenCrateError]
) -> None:
    body = _error_body(code, "it failed", {"device": "ahu-1"})
    url = await _serve(nursery, _answering(status, "Error", body))
    async with ApiClient(url) as api:
        with pytest.raises(OpenCrateError) as info:
            await api.get("/nodes")
    assert type(info.value) is cls
    assert info.value.message == "it failed"
    assert info.value.detail == {"device": "ahu-1"}
    # And the command shows it as one line.
    result = await CliRunner().invoke(cli, ["nodes", "tree", "--url", url])
    assert result.exit_code == 1
    assert result.output == "Error: it failed\n"


async def test_detail_keys_named_like_constructor_arguments_do_not_break_the_client(
    nursery: trio.Nursery,
) -> None:
    body = _error_body("config_error", "bad file", {"message": "x", "file": "y", "line": 3})
    url = await _serve(nursery, _answering(400, "Bad Request", body))
    async with ApiClient(url) as api:
        with pytest.raises(ConfigError) as info:
            await api.get("/nodes")
    assert str(info.value) == "bad file"
    assert info.value.detail == {"message": "x", "file": "y", "line": 3}


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"items": [1, 2', b"\xff\xfe\x00garbage", b"null"], ids=repr
)
async def test_an_answer_that_is_not_json_is_named_as_not_opencrate(
    nursery: trio.Nursery, body: bytes
) -> None:
    url = await _serve(nursery, _answering(200, "OK", body))
    async with ApiClient(url) as api:
        with pytest.raises(OpenCrateError, match="does not look like an OpenCrate server"):
            await api.get("/nodes")


# httpx leaves its raw-body generator unclosed when decoding fails (its leak, not ours).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_an_answer_httpx_cannot_decode_is_named_as_not_opencrate(
    nursery: trio.Nursery,
) -> None:
    async def garbled(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        await stream.send_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: 9\r\nConnection: close\r\n\r\nnot gzip!"
        )
        await stream.aclose()

    url = await _serve(nursery, garbled)
    async with ApiClient(url) as api:
        with pytest.raises(OpenCrateError, match="unusable answer from"):
            await api.get("/nodes")


async def test_a_closed_port_is_an_opencrate_error_with_a_hint() -> None:
    # A port bound and never listened on: the connection is refused.
    sock = trio.socket.socket()
    await sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    try:
        async with ApiClient(f"http://127.0.0.1:{port}") as api:
            with pytest.raises(OpenCrateError, match="cannot reach OpenCrate") as info:
                await api.get("/nodes")
    finally:
        sock.close()
    assert type(info.value) is OpenCrateError
    assert info.value.detail == {"url": f"http://127.0.0.1:{port}"}


async def test_a_server_that_never_answers_is_a_timeout_error(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def silent(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        await trio.sleep_forever()

    url = await _serve(nursery, silent)
    async with ApiClient(url, timeout_s=5) as api:
        with pytest.raises(OpenCrateError, match="did not answer within 5 s") as info:
            await api.get("/nodes")
    assert type(info.value) is OpenCrateError


@pytest.mark.parametrize("url", ["http://[::1", "localhost:8080", "ftp://127.0.0.1/"])
async def test_a_url_httpx_cannot_use_is_invalid_input(url: str) -> None:
    with pytest.raises(InvalidInput, match="not an OpenCrate URL"):
        async with ApiClient(url) as api:
            await api.get("/nodes")


# -- tomllib and reading configuration files -----------------------------------------

BAD_TOML = 'a = 1\n[b\nc = "d"\n'


def _settings(path: Path) -> object:
    return load_settings(path)


def _persistence(path: Path) -> object:
    return load_config_file(path)


def _scenario(path: Path) -> object:
    return load_scenario(path)


LOADERS = [_settings, _persistence, _scenario]


@pytest.mark.parametrize("load", LOADERS, ids=lambda f: f.__name__)
def test_malformed_toml_is_a_config_error_naming_file_and_line(
    tmp_path: Path, load: Callable[[Path], object]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD_TOML, encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load(path)
    assert (info.value.file, info.value.line) == (str(path), 2)


@pytest.mark.parametrize("load", LOADERS, ids=lambda f: f.__name__)
def test_a_file_that_is_not_utf8_is_a_config_error(
    tmp_path: Path, load: Callable[[Path], object]
) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "Gebäude"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        load(path)
    assert info.value.file == str(path)


@pytest.mark.parametrize("load", LOADERS, ids=lambda f: f.__name__)
def test_a_directory_or_a_missing_file_is_a_config_error(
    tmp_path: Path, load: Callable[[Path], object]
) -> None:
    folder = tmp_path / "dir.toml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot read") as info:
        load(folder)
    assert info.value.file == str(folder)
    with pytest.raises(ConfigError) as missing:
        load(tmp_path / "missing.toml")
    assert missing.value.file == str(tmp_path / "missing.toml")


def test_a_persist_file_a_service_names_is_read_through_the_same_boundary(tmp_path: Path) -> None:
    (tmp_path / "latin1.persist").write_bytes(
        "Strategies { default = everyChange } # ä\n".encode("latin-1")
    )
    text = '[services.sqlite]\npersist = "latin1.persist"\n'
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        parse_config_text(text, file=str(tmp_path / "p.toml"))
    assert info.value.line == 2


# -- croniter -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 0 0 30 2 ?", "never fires"),
        ("0 0 0 31 4 ?", "never fires"),
        ("0 0 0 * * 8", "is not a valid cron expression"),
        ("0 0 0 1-31/0 * *", "is not a valid cron expression"),
        ("0 0 0 * * MON-FOO", "is not a valid cron expression"),
    ],
)
def test_a_cron_strategy_croniter_cannot_time_is_invalid_input(
    expression: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        CronStrategy(name="s", expression=expression)
    assert expression in str(info.value)


def test_leap_day_cron_is_accepted() -> None:
    assert CronStrategy(name="s", expression="0 0 0 29 2 ?").cron == "0 0 0 29 2 *"


def test_a_never_firing_cron_in_a_config_file_names_its_line() -> None:
    text = '[services.sqlite.strategies]\nfeb30 = "0 0 0 30 2 ?"\n'
    with pytest.raises(ConfigError, match="never fires") as info:
        parse_config_text(text, file="p.toml")
    assert info.value.line == 2


@pytest.mark.parametrize("cron", ["bad", "0 0 0 30 2 *"])
def test_next_fire_ms_maps_croniter_errors(cron: str) -> None:
    with pytest.raises(InvalidInput, match="cron") as info:
        next_fire_ms(cron, 1_700_000_000_000)
    assert info.value.detail == {"cron": cron}


# -- json -----------------------------------------------------------------------------

#: Deeper than json's decoder goes (it raises RecursionError past Python's limit).
TOO_DEEP = "[" * 5000 + "]" * 5000


async def test_a_cursor_nested_too_deeply_is_a_400_not_a_500(client: Client) -> None:
    token = base64.urlsafe_b64encode(TOO_DEEP.encode()).decode().rstrip("=")
    response = await client.get("/api/nodes", query_string={"cursor": token})
    assert response.status_code == 400
    body = await response.get_json()
    assert body["error"]["detail"] == {"field": "cursor"}


def test_json_nested_too_deeply_in_cli_input_files_is_invalid_input() -> None:
    with pytest.raises(
        InvalidInput, match=r"nodes\.json nests arrays and objects deeper than 64 levels"
    ):
        load_import_file(TOO_DEEP, "nodes.json")
    with pytest.raises(
        InvalidInput, match=r"samples\.jsonl:2 nests arrays and objects deeper than 64"
    ):
        read_samples('{"point_id": "p", "value": 1, "ts_ms": 1}\n' + TOO_DEEP, "samples.jsonl")


async def test_nodes_import_of_a_too_deep_file_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(TOO_DEEP, encoding="utf-8")
    result = await CliRunner().invoke(
        cli, ["nodes", "import", str(path), "--url", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {path} nests arrays and objects deeper than 64")


class _LibraryPdu(BaseException):
    """A library error that is not an Exception (bacpypes3 raises its Error PDUs so)."""


def test_map_exceptions_maps_a_named_base_exception_but_never_a_catch_all() -> None:
    with (
        pytest.raises(DeviceError, match="refused") as caught,
        map_exceptions({_LibraryPdu: DeviceError}),
    ):
        raise _LibraryPdu("refused")
    assert isinstance(caught.value.__cause__, _LibraryPdu)
    with pytest.raises(KeyboardInterrupt), map_exceptions({BaseException: DeviceError}):
        raise KeyboardInterrupt
