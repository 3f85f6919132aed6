"""``opencrate nodes``: look at the building's node tree, import nodes, explain their tags."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncclick as click
import trio

from opencrate.cli.client import ApiClient, cli_errors, resolve_url, url_option
from opencrate.clock import ms_to_iso
from opencrate.errors import InvalidInput, OpenCrateError, map_exceptions
from opencrate.model.tags import TagSuggestion, explain_node
from opencrate.validation import check_json_depth

__all__ = ["load_import_file", "nodes", "render_tree"]


@click.group()
def nodes() -> None:
    """Inspect and import the building's nodes (sites, spaces, equipment, points).

    These commands talk to a running server (see --url).
    """


def _label(node: dict[str, Any]) -> str:
    text = f"{node['dis']}  [{node['id']}] {node['node_type']}"
    if node["node_type"] in ("point", "virtual_point"):
        value = node.get("value")
        shown = "-" if value is None else json.dumps(value, ensure_ascii=False)
        unit = f" {node['unit']}" if node.get("unit") else ""
        text += f" = {shown}{unit} ({node.get('status', 'unknown')})"
    return text


def render_tree(roots: Sequence[dict[str, Any]]) -> Iterator[str]:
    """Lines of an indented tree (``├──``/``└──``) from the API's ``view=tree`` items."""

    def walk(node: dict[str, Any], prefix: str, last: bool, top: bool) -> Iterator[str]:
        branch = "" if top else ("└── " if last else "├── ")
        yield f"{prefix}{branch}{_label(node)}"
        children = node.get("children", [])
        inner = prefix if top else prefix + ("    " if last else "│   ")
        for i, child in enumerate(children):
            yield from walk(child, inner, i == len(children) - 1, False)

    for root in roots:
        yield from walk(root, "", True, True)


@nodes.command()
@url_option
@click.option("--under", metavar="ID", help="Show only this node and what lies below it.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead.")
@click.pass_context
async def tree(ctx: click.Context, url: str | None, under: str | None, as_json: bool) -> None:
    """Print the node hierarchy, with each point's current value and status."""
    params = {"view": "tree"} | ({"under": under} if under else {})
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            body = await api.get("/nodes", params)
    if as_json:
        click.echo(json.dumps(body["items"], indent=2, ensure_ascii=False))
        return
    if not body["items"]:
        click.echo("(no nodes)")
    for line in render_tree(body["items"]):
        click.echo(line)


@nodes.command()
@url_option
@click.argument("node_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead.")
@click.pass_context
async def show(ctx: click.Context, url: str | None, node_id: str, as_json: bool) -> None:
    """Print one node: its fields, tags, refs, binding and current value."""
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            node = await api.get(f"/nodes/{quote(node_id, safe='/')}")
    if as_json:
        click.echo(json.dumps(node, indent=2, ensure_ascii=False))
        return
    for key, value in _show_fields(node):
        click.echo(f"{key + ':':<18}{value}")


def _show_fields(node: dict[str, Any]) -> Iterator[tuple[str, str]]:
    yield "id", node["id"]
    yield "dis", node["dis"]
    yield "type", node["node_type"]
    yield "parent", node["parent_id"] or "-"
    yield "tags", " ".join(node["tags"]) or "-"
    for name, target in node["refs"].items():
        yield f"ref {name}", target
    caps = [name for name, on in node["capabilities"].items() if on]
    yield "capabilities", " ".join(caps) or "-"
    if node["protocol_binding"] is not None:
        yield "binding", json.dumps(node["protocol_binding"], ensure_ascii=False)
    if node["properties"]:
        yield "properties", json.dumps(node["properties"], ensure_ascii=False)
    if node["node_type"] in ("point", "virtual_point"):
        yield "unit", node["unit"] or "-"
        yield "kind", node["kind"] or "-"
        value = node["value"]
        yield "value", "-" if value is None else json.dumps(value, ensure_ascii=False)
        yield "status", node["status"]
        if node.get("ts_ms") is not None:
            yield "updated", ms_to_iso(node["ts_ms"])


@nodes.command()
@url_option
@click.argument("node_id", metavar="ID")
@click.option("--explain", is_flag=True, help="Show how the name was read and why each tag.")
@click.option("--json", "as_json", is_flag=True, help="Print the suggestion as JSON.")
@click.pass_context
async def tag(
    ctx: click.Context, url: str | None, node_id: str, explain: bool, as_json: bool
) -> None:
    """Suggest Haystack 4 tags for a point or equipment, beside the tags it has.

    The suggestion reads the node's name, unit, kind, binding (BACnet object
    type, Modbus register type), writability and its neighbours' tags (a
    point's equipment; an equipment's points). With --explain, each tag shows
    the rule that produced it and a confidence; tags below the review
    threshold are marked, and the last line says whether the suggestion
    needs a person's review. Nothing is changed on the server.
    """
    with cli_errors():
        async with ApiClient(resolve_url(ctx, url)) as api:
            node = await api.get(f"/nodes/{quote(node_id, safe='/')}")
            equip_tags: list[str] = []
            point_tags: list[list[str]] = []
            if node["node_type"] in ("point", "virtual_point") and node.get("parent_id"):
                parent = await api.get(f"/nodes/{quote(node['parent_id'], safe='/')}")
                if parent["node_type"] == "equip":
                    equip_tags = list(parent["tags"])
            elif node["node_type"] == "equip":
                body = await api.get("/nodes", {"view": "tree", "under": node["id"]})
                children = [
                    child
                    for root in body["items"]
                    for child in root.get("children", [])
                    if child["node_type"] in ("point", "virtual_point")
                ]
                point_tags = [_point_evidence(child, node) for child in children]
        suggestion = explain_node(node, equip_tags=equip_tags, point_tags=point_tags)
    has = set(node["tags"])
    missing = sorted(suggestion.tags - has)
    # Markers from capabilities, not names, are never suggested: not "extra".
    extra = sorted(has - suggestion.tags - {"his", "cur", "writable"})
    if as_json:
        click.echo(json.dumps(_suggestion_json(node["id"], suggestion, missing, extra), indent=2))
        return
    click.echo(f"{'suggested:':<12}{' '.join(sorted(suggestion.tags))}")
    click.echo(f"{'has:':<12}{' '.join(sorted(has)) or '-'}")
    click.echo(f"{'missing:':<12}{' '.join(missing) or '-'}")
    click.echo(f"{'extra:':<12}{' '.join(extra) or '-'}")
    if explain:
        for line in suggestion.explain():
            click.echo(line)
    else:
        verdict = (
            "yes: " + " ".join(sorted(suggestion.low_confidence))
            if suggestion.needs_review
            else "no"
        )
        click.echo(f"{'review:':<12}{verdict}")


def _point_evidence(point: dict[str, Any], equip: dict[str, Any]) -> list[str]:
    """A point's tags as evidence for its equipment: its own, or suggested when it has none."""
    own = set(point["tags"]) - {"point", "his", "cur", "writable"}
    if own:
        return sorted(point["tags"])
    return sorted(explain_node(point, equip_tags=equip["tags"]).tags)


def _suggestion_json(
    node_id: str, suggestion: TagSuggestion, missing: list[str], extra: list[str]
) -> dict[str, Any]:
    return {
        "id": node_id,
        "tags": sorted(suggestion.tags),
        "missing": missing,
        "extra": extra,
        "needs_review": suggestion.needs_review,
        "review_threshold": suggestion.review_threshold,
        "words": list(suggestion.words),
        "unknown": list(suggestion.unknown),
        "reasons": {
            tag: {"rule": r.rule, "detail": r.detail, "confidence": r.confidence}
            for tag, r in sorted(suggestion.reasons.items())
        },
    }


def load_import_file(text: str, name: str) -> list[Any]:
    """The nodes in an import file, as the API's JSON objects.

    A ``.toml`` file is a scenario (``docs/reference/scenario.md``): its
    sites, spaces, equipment and points become nodes exactly as ``opencrate
    serve --scenario`` would make them (auto-tags and refs included). Any
    other file is JSON: a list of nodes, or ``{"nodes": [...]}``. Raises
    InvalidInput (ConfigError for a scenario) naming the file and what is
    wrong with it.
    """
    if name.endswith(".toml"):
        from opencrate.components.scenario.build import build_nodes
        from opencrate.components.scenario.parse import parse_scenario

        runtime = ("value", "status")  # not part of a node's definition
        return [
            {k: v for k, v in node.to_dict().items() if k not in runtime}
            for node in build_nodes(parse_scenario(text, source=name))
        ]
    not_json = partial(_not_json, name)
    with map_exceptions({json.JSONDecodeError: not_json}):
        data = json.loads(check_json_depth(text, name))
    if isinstance(data, dict) and set(data) == {"nodes"}:
        data = data["nodes"]
    if not isinstance(data, list) or not data:
        raise InvalidInput(
            f'{name}: expected a non-empty JSON list of nodes, or {{"nodes": [...]}}', file=name
        )
    return data


def _not_json(name: str, exc: json.JSONDecodeError) -> InvalidInput:
    # Nesting depth is checked before decoding (check_json_depth): only syntax is left.
    return InvalidInput(f"{name}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}", file=name)


@nodes.command(name="import")
@url_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
async def import_(ctx: click.Context, url: str | None, file: Path) -> None:
    """Create the nodes in FILE (JSON, or a scenario's .toml), all of them or none.

    A JSON FILE holds a list of nodes in the API's JSON form (``id``,
    ``node_type``, ``dis``, optional ``parent_id``, ``tags``, ``refs``,
    ``properties``, ``capabilities``, ``protocol_binding``, ``unit``,
    ``kind``), or an object ``{"nodes": [...]}``; parents may come after their
    children. A ``.toml`` FILE is a scenario: its building's nodes are
    imported (its simulated signals are not). If any node is refused, nothing
    is created and the error names it.
    """
    with cli_errors():
        items = load_import_file(await _read_text(file), str(file))
        async with ApiClient(resolve_url(ctx, url)) as api:
            body = await api.post("/nodes/batch", {"nodes": items})
    click.echo(f"imported {len(body['created'])} nodes from {file}")


async def _read_text(file: Path) -> str:
    """The file's text; a one-line error naming it when it is unreadable or not UTF-8."""
    try:
        return await trio.Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{file}: not UTF-8 text (byte {exc.start}: {exc.reason})", file=str(file)
        ) from None
    except OSError as exc:
        raise OpenCrateError(
            f"{file}: cannot read: {exc.strerror or exc}", file=str(file)
        ) from None
