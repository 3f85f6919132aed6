"""The component kit: declarations, the registry, and a whole component added with one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from opencrate.api.app import create_app
from opencrate.app import COMPONENTS, Services
from opencrate.clock import TrioClock
from opencrate.components.nodes.store import NodeStore
from opencrate.components.users.roles import Role
from opencrate.config import Settings, component_sections
from opencrate.runtime.actor import StoreActor
from opencrate.runtime.component import (
    Component,
    ComponentSpec,
    Contribution,
    Parts,
    Registry,
    resolve,
)
from opencrate.runtime.supervisor import Service
from tests.harness import TEST_USER_SETTINGS, add_user_with_token, client_with_token
from tests.runtime import notes
from tests.runtime.notes.component import NotesComponent, NoteStore


@pytest.mark.parametrize("spec", COMPONENTS, ids=lambda spec: spec.name)
def test_every_declared_part_resolves(spec: ComponentSpec) -> None:
    assert callable(spec.builder())
    for blueprint in spec.blueprints():
        assert blueprint.name  # a quart Blueprint
    for command in spec.cli_commands():
        assert command.name


def test_component_names_and_sections_are_unique() -> None:
    names = [spec.name for spec in COMPONENTS]
    assert len(names) == len(set(names))
    sections = [section for spec in COMPONENTS for section in spec.sections]
    assert len(sections) == len(set(sections))
    assert component_sections() == frozenset(sections)


def test_every_store_comes_from_a_component(tmp_path: Path) -> None:
    services = Services.create(Settings(data_dir=tmp_path))
    owned = [store for _, c in services.registry.components() for store in c.stores()]
    assert services.stores() == owned
    assert {type(store).__name__ for store in owned} >= {"NodeStore", "AlarmStore", "AuditStore"}


def test_a_bad_reference_names_itself() -> None:
    with pytest.raises(ValueError, match="'nowhere' is not 'module:attribute'"):
        resolve("nowhere")
    with pytest.raises(AttributeError, match="has no attribute 'Nowhere'"):
        resolve("opencrate.app:Services.Nowhere")
    odd = ComponentSpec(name="odd", component="opencrate.app:COMPONENTS")
    with pytest.raises(TypeError, match=r"odd: opencrate.app:COMPONENTS is not callable"):
        odd.builder()
    odd = ComponentSpec(name="odd", component=f"{__name__}:_not_a_component")
    with pytest.raises(TypeError, match=r"odd: .*:_not_a_component did not build a Component"):
        odd.build(Services.create(Settings(data_dir=Path("unused")), components=()))


def _not_a_component(ctx: object) -> object:
    return ctx


def test_contributions_only_go_to_levels_20_to_50() -> None:
    with pytest.raises(ValueError, match="level 60 is not one of"):
        Contribution(level=60)


class _Provider(Component):
    def __init__(self, *things: object) -> None:
        self.things = things

    def provides(self) -> tuple[object, ...]:
        return self.things


def test_registry_finds_by_type_and_refuses_two_providers() -> None:
    registry = Registry()
    registry.add("one", _Provider(1.5))
    assert registry.get(float) == 1.5
    with pytest.raises(LookupError, match="no component provides str"):
        registry.get(str)
    with pytest.raises(ValueError, match="components one and two both provide float"):
        registry.add("two", _Provider(2.5))


async def _noop() -> None:
    pass


def _service(name: str) -> Service:
    async def run(*, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    return Service(name=name, run=run)


class _Parts(Component):
    def __init__(self, name: str) -> None:
        self.name = name

    def contributes(self) -> list[Contribution]:
        return [
            Contribution(level=50, services=[_service(f"{self.name}-engine")]),
            Contribution(level=20, steps=[_noop]),
        ]


def test_levels_merge_contributions_in_list_order() -> None:
    registry = Registry()
    registry.add("a", _Parts("a"))
    registry.add("b", _Parts("b"))
    levels = registry.levels()
    assert [level.number for level in levels] == [20, 30, 40, 50]
    assert [s.name for s in levels[3].services] == ["a-engine", "b-engine"]
    assert len(levels[0].steps) == 2


async def test_a_component_added_with_one_line_gets_store_service_route_and_settings(
    tmp_path: Path, clock: TrioClock
) -> None:
    sections = {"notes": {"greeting": "hi"}, "users": TEST_USER_SETTINGS}
    settings = Settings(data_dir=tmp_path, sections=sections)
    services = Services.create(settings, clock=clock, components=(*COMPONENTS, notes.COMPONENT))
    component = next(c for name, c in services.registry.components() if name == "notes")
    assert isinstance(component, NotesComponent)
    store = services.get(NoteStore)
    assert isinstance(store, StoreActor)
    assert services.stores()[-1] is store
    supervisor = services.build_supervisor()
    supervisor.levels = [level for level in supervisor.levels if level.number < 60]
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        await component.started.wait()
        assert await store.texts() == ["hi: 0 nodes at level 50"]
        assert services.get(NodeStore).all() == []
        token = await add_user_with_token(services, "reader", Role.VIEWER)
        response = await client_with_token(create_app(services), token).get("/api/notes")
        assert (response.status_code, await response.get_json()) == (
            200,
            {"notes": ["hi: 0 nodes at level 50"]},
        )
        supervisor.request_shutdown()
    assert (tmp_path / "notes.db").exists()
    assert store.statistics().closed


def test_the_cli_has_every_declared_group() -> None:
    from opencrate.cli.main import cli

    declared = {command.name for spec in COMPONENTS for command in spec.cli_commands()}
    assert declared <= set(cli.commands)
    assert {"serve", "init"} <= set(cli.commands)


def test_parts_provides_its_stores_unless_told_what_it_provides(tmp_path: Path) -> None:
    one, two = NoteStore(tmp_path / "a.db"), NoteStore(tmp_path / "b.db")
    assert Parts(stores=(one,)).provides() == (one,)
    # Two stores of one type (history's sqlite services) are reached through an owner.
    owner = object()
    registry = Registry()
    registry.add("history-like", Parts(provides=(owner,), stores=(one, two)))
    assert registry.get(object) is owner
    assert registry.stores() == [one, two]


def test_two_sqlite_history_services_build_and_open_as_two_stores(tmp_path: Path) -> None:
    from opencrate.components.history.setup import Persistence

    section = {
        "default": "main",
        "services": {"main": {"kind": "sqlite"}, "archive": {"kind": "sqlite"}},
    }
    services = Services.create(Settings(data_dir=tmp_path, sections={"persistence": section}))
    history = services.get(Persistence).stores()
    assert len(history) == 2
    assert all(store in services.stores() for store in history)
