"""The operator commands' way to a running OpenCrate: its HTTP API.

Commands such as ``opencrate nodes tree`` talk to the server rather than
opening the databases themselves: the server holds the NodeStore's snapshot
and the live point values, and every write must go through it (and into the
audit log), not around it.

Which server: ``--url``, else ``$OPENCRATE_URL``, else ``http://HOST:PORT``
from the settings file (``[server]``; default ``http://127.0.0.1:8080``).

:class:`ApiClient` turns the API's error body back into the project's
exception tree by the server's own table (:mod:`opencrate.api.status`: 404 ->
:class:`~opencrate.errors.NotFound`, 502 -> :class:`~opencrate.errors.BridgeError`,
503 ``store_broken`` -> :class:`~opencrate.errors.StoreBroken`, ...). httpx's
errors are mapped at the boundary: an unreachable server or one that does not
answer in time becomes an :class:`~opencrate.errors.OpenCrateError` with a
hint, a URL httpx cannot use an :class:`~opencrate.errors.InvalidInput`, and an
answer that is not OpenCrate's JSON says so; :func:`cli_errors` shows any of
them as a one-line CLI error.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import asyncclick as click
import httpx

from opencrate.api.status import error_class
from opencrate.cli.credentials import read_token_file, stored_token
from opencrate.config import Settings, load_settings
from opencrate.errors import InvalidInput, MapTarget, OpenCrateError, map_exceptions

__all__ = [
    "ApiClient",
    "cli_errors",
    "default_token",
    "default_url",
    "resolve_url",
    "url_option",
]

#: ``ApiClient(token=FIND)``: the token of :func:`default_token`.
FIND: Final = "find"


def default_token(base_url: str) -> str | None:
    """The token a command sends to ``base_url`` (:mod:`opencrate.cli.credentials` says which).

    ``opencrate --token-file`` is read from the running command's root
    context; the CLI client is the only caller that has one.
    """
    ctx = click.get_current_context(silent=True)
    token_file = (ctx.find_root().obj or {}).get("token_file") if ctx is not None else None
    if token_file is None and os.environ.get("OPENCRATE_TOKEN_FILE"):
        token_file = Path(os.environ["OPENCRATE_TOKEN_FILE"])
    if token_file is not None:
        return read_token_file(Path(token_file))
    return os.environ.get("OPENCRATE_TOKEN") or stored_token(base_url)


def default_url(settings: Settings) -> str:
    """The API URL of the server these settings describe (a wildcard host means this machine)."""
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def resolve_url(ctx: click.Context, url: str | None) -> str:
    """``--url`` if given, else the settings file's server. ConfigError for a bad file."""
    if url:
        return url
    return default_url(load_settings((ctx.find_root().obj or {}).get("config_path")))


url_option = click.option(
    "--url",
    envvar="OPENCRATE_URL",
    metavar="URL",
    help="The OpenCrate server (default: [server] of the settings file, "
    "else http://127.0.0.1:8080). Env: OPENCRATE_URL.",
)


class ApiClient:
    """A JSON client of one OpenCrate server. Use as ``async with ApiClient(url) as api:``.

    ``timeout_s`` bounds each request; ``None`` waits as long as the server
    takes (for a request whose work grows with the data, such as a purge).
    ``token`` is sent as ``Authorization: Bearer``; by default the one
    :func:`default_token` finds, ``None`` for none.
    """

    def __init__(
        self, base_url: str, *, timeout_s: float | None = 10.0, token: str | None = FIND
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        if token == FIND:
            token = default_token(self.base_url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with map_exceptions({httpx.InvalidURL: self._bad_url}):
            self._http = httpx.AsyncClient(
                base_url=self.base_url, timeout=timeout_s, headers=headers
            )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """``GET /api{path}``; the decoded JSON body. Errors as the module docstring says."""
        return await self._request("GET", path, params=params)

    async def post(self, path: str, body: Any, *, headers: dict[str, str] | None = None) -> Any:
        """``POST /api{path}`` with a JSON body; the decoded JSON reply (None for 204)."""
        return await self._request("POST", path, json=body, headers=headers)

    async def put(self, path: str, body: Any) -> Any:
        """``PUT /api{path}`` with a JSON body; the decoded JSON reply (None for 204)."""
        return await self._request("PUT", path, json=body)

    async def patch(self, path: str, body: Any) -> Any:
        """``PATCH /api{path}`` with a JSON body; the decoded JSON reply."""
        return await self._request("PATCH", path, json=body)

    async def delete(self, path: str, *, headers: dict[str, str] | None = None) -> Any:
        """``DELETE /api{path}``; the decoded JSON reply (None for 204)."""
        return await self._request("DELETE", path, headers=headers)

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        with map_exceptions(self._transport_errors()):
            response = await self._http.request(method, f"/api{path}", **kwargs)
        try:
            body = response.json()
        except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
            body = None
        if response.is_success and (body is not None or response.status_code == 204):
            return body
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            raise OpenCrateError(
                f"{method} {path}: HTTP {response.status_code} from {self.base_url}, "
                "which does not look like an OpenCrate server",
                status=response.status_code,
            )
        code = error.get("code")
        cls = error_class(response.status_code, code if isinstance(code, str) else None)
        # Built from the message alone: the detail is the server's, and a key
        # such as "message" or "file" must not reach the constructor's arguments.
        exc = cls(self._explained(response.status_code, str(error.get("message", "error"))))
        detail = error.get("detail")
        if isinstance(detail, dict):
            exc.detail.update(detail)
        raise exc

    def _explained(self, status: int, message: str) -> str:
        """The server's message, with what to do about a 401 or 403 from the command line."""
        if status == 401:
            return (
                f"not logged in to {self.base_url}: run `opencrate login` "
                f"(or pass --token-file / OPENCRATE_TOKEN) [{message}]"
            )
        if status == 403:
            return f"not allowed: {message}"
        return message

    def _transport_errors(self) -> dict[type[BaseException], MapTarget]:
        """httpx's request errors, each as an OpenCrate error that says what to do."""
        return {
            httpx.TimeoutException: self._no_answer,
            httpx.UnsupportedProtocol: self._bad_url,
            httpx.TransportError: self._unreachable,
            # Anything else of httpx's: a body it cannot decode, for one.
            httpx.HTTPError: self._not_opencrate,
            httpx.InvalidURL: self._bad_url,
        }

    def _unreachable(self, exc: Exception) -> OpenCrateError:
        return OpenCrateError(
            f"cannot reach OpenCrate at {self.base_url} ({exc or type(exc).__name__}); "
            "is `opencrate serve` running there? (--url / OPENCRATE_URL)",
            url=self.base_url,
        )

    def _not_opencrate(self, exc: Exception) -> OpenCrateError:
        return OpenCrateError(
            f"unusable answer from {self.base_url} ({exc or type(exc).__name__}), "
            "which does not look like an OpenCrate server",
            url=self.base_url,
        )

    def _no_answer(self, exc: Exception) -> OpenCrateError:
        within = "" if self.timeout_s is None else f" within {self.timeout_s:g} s"
        return OpenCrateError(
            f"OpenCrate at {self.base_url} did not answer{within} "
            f"({type(exc).__name__}); is it overloaded, or is --url another server?",
            url=self.base_url,
        )

    def _bad_url(self, exc: Exception) -> OpenCrateError:
        return InvalidInput(
            f"not an OpenCrate URL: {self.base_url!r} ({exc}); "
            "expected http://HOST:PORT (--url / OPENCRATE_URL)",
            url=self.base_url,
        )


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Show an OpenCrateError as a CLI error (message on stderr, exit status 1)."""
    try:
        yield
    except OpenCrateError as exc:
        raise click.ClickException(str(exc)) from None
