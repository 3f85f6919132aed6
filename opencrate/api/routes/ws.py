"""``GET /api/ws``: the event bus as a websocket stream.

Query parameters
    ``types``  comma-separated event type names (repeatable); all 18 when absent.
    ``under``  a node id: only events about that node or one of its descendants.

Each text message is one event as :func:`~opencrate.runtime.events.event_to_dict`
makes it (``{"type": "ValueChanged", "ts_ms": ..., "node_id": ..., "value": ...}``).
The text is made once per event (:func:`~opencrate.runtime.events.event_json`)
and the same string goes to every client the event reaches.
When the client falls behind and the server drops events for it, the next
message is ``{"type": "Lagged", "count": N}`` at the place of the gap, so a
client always knows it missed something and how much; it is never silent.

Bad parameters: the server accepts, sends one ``{"type": "error", "error":
{"code", "message", "detail"}}`` message (the same body as the REST errors)
and closes with 1008 (policy violation) and a reason naming the problem. A
browser's ``WebSocket`` cannot read the body of a refused handshake, hence
accept-then-close rather than an HTTP 400.

The subscription is made before the handshake is accepted: every event
published after the client's connect returned is delivered (or counted in a
``Lagged``).

Shutdown: when the supervisor's ``shutdown_requested`` is set, every stream
closes with 1001 ("server shutting down") at once, so hypercorn need not wait
out its graceful timeout.

Subtree tracking: the set of node ids under ``under`` is taken from the
NodeStore at connect time and then kept current *inside the bus's accept
predicate*, in publish order: an ``EntityCreated`` whose node's parent is in
the set adds it, an ``EntityDeleted`` removes it after it was delivered, and
an ``EntityUpdated`` naming ``parent_id`` (a move) recomputes the set. Because
this runs in ``publish`` itself, a node created under the subtree and its
first ``ValueChanged`` cannot race. Events that name no node (discovery scans,
monitor cycles, alarm acknowledgements) are not sent on a stream with
``under``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import trio
from quart import Blueprint, websocket

from opencrate.api.access import Role, requires
from opencrate.api.context import services
from opencrate.api.params import node_id_arg
from opencrate.components.nodes.store import NodeStore
from opencrate.errors import InvalidInput, NotFound, OpenCrateError
from opencrate.runtime.events import (
    EVENT_TYPES,
    EntityCreated,
    EntityDeleted,
    EntityUpdated,
    Event,
    Lagged,
    event_json,
)

if TYPE_CHECKING:
    from opencrate.components.nodes.store import NodeStore

__all__ = ["EventSelection", "blueprint", "parse_types"]

log = logging.getLogger(__name__)

blueprint = Blueprint("ws", __name__)

#: Close codes (RFC 6455 §7.4.1).
GOING_AWAY = 1001
POLICY_VIOLATION = 1008

#: A close reason must fit in a control frame: at most 123 bytes of UTF-8.
_MAX_REASON_BYTES = 123

_TREE_EVENTS: tuple[type[Event], ...] = (EntityCreated, EntityDeleted, EntityUpdated)


def parse_types(values: Iterable[str]) -> frozenset[type[Event]] | None:
    """Event classes named in ``types`` parameters (comma-separated); None for all.

    Raises InvalidInput naming the first unknown type; ``detail["known"]`` lists the valid ones.
    """
    names = [name.strip() for value in values for name in value.split(",")]
    names = [name for name in names if name]
    if not names:
        return None
    chosen: set[type[Event]] = set()
    for name in names:
        cls = EVENT_TYPES.get(name)
        if cls is None:
            raise InvalidInput(
                f"unknown event type {name!r} in 'types'", field="types", known=sorted(EVENT_TYPES)
            )
        chosen.add(cls)
    return frozenset(chosen)


class EventSelection:
    """Which events one stream wants: by type, and by node subtree (see the module docstring)."""

    def __init__(
        self,
        types: frozenset[type[Event]] | None,
        *,
        nodes: NodeStore | None = None,
        under: str | None = None,
    ) -> None:
        self.types = types
        self.under = under
        self._nodes = nodes
        self._ids: set[str] | None = None
        if under is not None:
            assert nodes is not None
            if nodes.get_or_none(under) is None:
                raise NotFound(f"no node {under!r} (from 'under')", field="under", node_id=under)
            self._ids = set(nodes.subtree_ids(under))

    def subscribe_types(self) -> tuple[type[Event], ...]:
        """The types to take from the bus: the chosen ones plus, for ``under``, tree changes."""
        if self.types is None:
            return ()
        if self._ids is None:
            return tuple(self.types)
        return tuple(self.types | set(_TREE_EVENTS))

    def accepts(self, event: Event) -> bool:
        """The bus's accept predicate: runs in ``publish``, so only dict and set lookups."""
        ids = self._ids
        if ids is None:
            return True  # the bus already filtered by type
        node_id = event.node()
        if isinstance(event, EntityCreated):
            assert self._nodes is not None  # set whenever _ids is
            node = self._nodes.get_or_none(event.entity_id)
            if node is not None and node.parent_id in ids:
                ids.add(event.entity_id)
        elif isinstance(event, EntityUpdated) and "parent_id" in event.changed_fields:
            self._recompute()
        wanted = node_id is not None and node_id in ids
        if isinstance(event, EntityDeleted) and event.entity_id != self.under:
            ids.discard(event.entity_id)
        return wanted and (self.types is None or type(event) in self.types)

    def _recompute(self) -> None:
        # In place: accepts() holds a reference to the set while it decides.
        assert self._nodes is not None
        assert self.under is not None
        assert self._ids is not None
        self._ids.clear()
        if self._nodes.get_or_none(self.under) is None:
            self._ids.add(self.under)
        else:
            self._ids.update(self._nodes.subtree_ids(self.under))


def _selection_from_query() -> EventSelection:
    svc = services()
    types = parse_types(websocket.args.getlist("types"))
    under_raw = websocket.args.get("under")
    under = None if under_raw is None else node_id_arg(under_raw, what="under")
    return EventSelection(types, nodes=svc.get(NodeStore), under=under)


def _close_reason(message: str) -> str:
    data = message.encode()[:_MAX_REASON_BYTES]
    return data.decode(errors="ignore")


def _message(item: Event | Lagged) -> str:
    if isinstance(item, Lagged):
        # Per stream: each client's gap has its own count.
        return json.dumps({"type": "Lagged", "count": item.count})
    return event_json(item)  # shared: serialized once however many clients get it


async def _refuse(exc: OpenCrateError) -> None:
    body: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.detail:
        body["detail"] = exc.detail
    await websocket.accept()
    await websocket.send(json.dumps({"type": "error", "error": body}))
    await websocket.close(POLICY_VIOLATION, _close_reason(exc.message))


@blueprint.websocket("/ws")
@requires(Role.VIEWER)
async def event_stream() -> None:
    """Stream bus events; see the module docstring for parameters, lag and close codes."""
    svc = services()
    try:
        selection = _selection_from_query()
    except (InvalidInput, NotFound) as exc:
        await _refuse(exc)
        return
    supervisor = svc.supervisor
    shutdown = supervisor.shutdown_requested if supervisor is not None else trio.Event()
    peer = websocket.headers.get("Remote-Addr", "?")
    going_away = False
    # Subscribe before accepting: once the client's handshake completes, every
    # event published from then on reaches it (or is counted in a Lagged).
    with svc.bus.subscribe(
        *selection.subscribe_types(),
        name=f"ws {peer}",
        capacity=svc.settings.bus_capacity,
        accept=selection.accepts,
    ) as subscription:
        await websocket.accept()
        if shutdown.is_set():
            await websocket.close(GOING_AWAY, "server shutting down")
            return
        async with trio.open_nursery() as nursery:

            async def close_on_shutdown() -> None:
                nonlocal going_away
                await shutdown.wait()
                going_away = True
                nursery.cancel_scope.cancel()

            async def discard_client_messages() -> None:
                # The stream is one-way; reading keeps quart's small inbound
                # buffer from filling and stalling the connection.
                while True:
                    await websocket.receive()

            nursery.start_soon(close_on_shutdown)
            nursery.start_soon(discard_client_messages)
            while True:
                for item in await subscription.receive_batch():
                    if isinstance(item, Lagged):
                        log.info("websocket %s fell behind: %d events dropped", peer, item.count)
                    await websocket.send(_message(item))
    if going_away:
        await websocket.close(GOING_AWAY, "server shutting down")
