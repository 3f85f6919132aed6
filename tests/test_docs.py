"""Docs that cannot drift (after sqlite-utils' ``tests/test_docs.py``).

Every API route registered on the app, every CLI command and every bus event
type must be mentioned somewhere under ``docs/``. A new route, command or
event without its documentation fails here, with a message that says exactly
what is missing and where it belongs.

How a mention is recognised:

* a route: its method and path, with each ``<converter:name>`` written as any
  ``{name}`` (``GET /api/nodes/{id}``); a query string may follow
  (``GET /api/nodes?view=tree``); a websocket route is ``GET``;
* a command: its full invocation, ``opencrate nodes tree``;
* an event type: its class name as a word, ``ValueChanged``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import asyncclick as click
import pytest
from quart_trio import QuartTrio

from opencrate.api.app import create_app
from opencrate.app import Services
from opencrate.cli.main import cli
from opencrate.config import Settings
from opencrate.runtime.events import EVENT_TYPES

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def docs_text() -> str:
    pages = sorted(DOCS.rglob("*.md"))
    assert pages, f"no Markdown pages under {DOCS}"
    return "\n".join(page.read_text(encoding="utf-8") for page in pages)


@pytest.fixture
def app(tmp_path: Path) -> QuartTrio:
    # The real app factory, so routes added outside blueprints count too;
    # the stores are constructed but never opened.
    return create_app(Services.create(Settings(data_dir=tmp_path)))


def api_routes(app: QuartTrio) -> Iterator[tuple[str, str, str]]:
    """``(method, path, regex)`` for every route: the path as docs write it
    (``/api/nodes/{node_id}``) and a regex that finds a mention of it."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = pattern = ""
        for is_dynamic, part in rule._trace:  # (converter?, text) pieces of the rule
            if part == "|":  # werkzeug's host/path separator
                continue
            path += f"{{{part}}}" if is_dynamic else part
            pattern += r"\{[^}\s]+\}" if is_dynamic else re.escape(part)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield method, path, rf"`?{method}\s+`?{pattern}(?![\w/{{-])"


def cli_commands(
    group: click.Group, prefix: str = "opencrate"
) -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        if command.hidden:
            continue
        path = f"{prefix} {name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from cli_commands(command, path)


def test_every_api_route_is_documented(app: QuartTrio, docs_text: str) -> None:
    missing = [
        f"{method} {path}"
        for method, path, regex in api_routes(app)
        if not re.search(regex, docs_text)
    ]
    assert not missing, (
        "API routes with no mention under docs/:\n  "
        + "\n  ".join(missing)
        + "\nDocument each in your area's reference page under docs/reference/ "
        "(docs/reference/api.md holds the foundation routes), written as `METHOD /path` "
        "with path parameters in braces, e.g. `GET /api/nodes/{id}`: what it returns, "
        "its parameters and its error statuses."
    )


def test_every_cli_command_is_documented(docs_text: str) -> None:
    commands = list(cli_commands(cli))
    assert any(path == "opencrate nodes tree" for path, _ in commands)
    missing = [
        path for path, _ in commands if not re.search(rf"{re.escape(path)}(?![\w-])", docs_text)
    ]
    assert not missing, (
        "CLI commands with no mention under docs/:\n  "
        + "\n  ".join(missing)
        + "\nDocument each in docs/reference/cli.md (one section per group), written "
        "as its full invocation, e.g. `opencrate nodes tree`, with its options."
    )


def test_every_bus_event_type_is_documented(docs_text: str) -> None:
    assert len(EVENT_TYPES) == 18
    missing = [name for name in EVENT_TYPES if not re.search(rf"\b{name}\b", docs_text)]
    assert not missing, (
        "Bus event types with no mention under docs/:\n  "
        + "\n  ".join(missing)
        + "\nDocument each in docs/reference/events.md: who publishes it, when, and "
        "its payload fields."
    )


def test_the_route_matcher_tells_a_route_from_its_longer_relatives(app: QuartTrio) -> None:
    # The check above must not pass a route because a longer one is documented.
    regexes = {(m, path): regex for m, path, regex in api_routes(app)}
    node = regexes[("GET", "/api/nodes/{node_id}")]
    listing = regexes[("GET", "/api/nodes")]
    assert re.search(node, "`GET /api/nodes/{id}` returns one node")
    assert not re.search(node, "`GET /api/nodes/{id}/subtree` returns a subtree")
    assert re.search(listing, "`GET /api/nodes?view=tree` nests")
    assert not re.search(listing, "`GET /api/nodes/{id}` returns one node")
    assert not re.search(listing, "GET /api/nodes-archive")


def test_the_security_page_lists_every_route_with_the_role_it_declares(app: QuartTrio) -> None:
    from opencrate.api.access import access_of

    page = (DOCS / "explanation" / "security.md").read_text(encoding="utf-8")
    listed = {
        (method, path): role
        for method, path, role in re.findall(r"^\| (\w+) \| `([^`]+)` \| (\w+) \|", page, re.M)
    }
    declared = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        access = access_of(app.view_functions[rule.endpoint])
        assert access is not None, rule.rule
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            declared[(method, path)] = "public" if access.role is None else access.role.value
    wrong = sorted(k for k in listed.keys() & declared.keys() if listed[k] != declared[k])
    assert listed == declared, (
        "docs/explanation/security.md's route table differs from the routes' declarations: "
        f"missing {sorted(set(declared) - set(listed))}, "
        f"extra {sorted(set(listed) - set(declared))}, "
        f"wrong role {wrong}"
    )
