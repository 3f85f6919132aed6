from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import trio
from attrs import define, field

from opencrate.components.nodes.store import NodeStore
from opencrate.runtime.actor import StoreActor
from opencrate.runtime.component import BuildContext, Component, Contribution
from opencrate.runtime.supervisor import Service


class NoteStore(StoreActor):
    name = "notes"
    migrations = ("CREATE TABLE note (id INTEGER PRIMARY KEY, text TEXT NOT NULL);",)

    async def add(self, text: str) -> int:
        def insert(conn: Any) -> int:
            return int(conn.execute("INSERT INTO note (text) VALUES (?)", (text,)).lastrowid)

        return await self.write(insert)

    async def texts(self) -> list[str]:
        rows = await self.read(lambda c: c.execute("SELECT text FROM note ORDER BY id").fetchall())
        return [row[0] for row in rows]


@define
class NotesComponent(Component):
    store: NoteStore
    nodes: NodeStore
    greeting: str
    started: trio.Event = field(factory=trio.Event)

    @classmethod
    def build(cls, ctx: BuildContext) -> Self:
        section = ctx.settings.sections.get("notes") or {}
        return cls(
            store=NoteStore(ctx.settings.data_dir / "notes.db", clock=ctx.clock),
            nodes=ctx.get(NodeStore),
            greeting=section.get("greeting", "hello"),
        )

    def provides(self) -> Sequence[object]:
        return (self.store,)

    def stores(self) -> Sequence[StoreActor]:
        return (self.store,)

    def contributes(self) -> Sequence[Contribution]:
        return (Contribution(level=50, services=[Service(name="note-taker", run=self._run)]),)

    async def _run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.store.add(f"{self.greeting}: {len(self.nodes.all())} nodes at level 50")
        self.started.set()
        task_status.started()
        await trio.sleep_forever()
