"""Components: one package per domain, declared in one place, composed in order.

A component is a package under :mod:`opencrate.components` that holds
everything about one domain (records, store, engines, routes, CLI group,
settings section). Its ``__init__.py`` declares what it contributes with a
:class:`ComponentSpec`; ``opencrate.app.COMPONENTS`` lists the specs in order,
one line each, and everything else is built from that list:

- the running system: :meth:`ComponentSpec.component` names a
  :class:`Component` class whose :meth:`Component.build` makes it from the
  shared core (:class:`BuildContext`: settings, clock, bus, and the components
  listed before it). It then says which objects it :meth:`~Component.provides`
  (what routes and later components reach by type), which
  :meth:`~Component.stores` open at level 10 and which steps and services it
  :meth:`~Component.contributes` to the start levels 20-50;
- the API: :meth:`ComponentSpec.blueprints`;
- the CLI: :meth:`ComponentSpec.commands`.

The specs name their parts by ``"module:attribute"`` so that listing a
component imports only its ``__init__``: the CLI client does not load every
store and engine to print ``--help``, and the server does not import click
groups it never runs. Nothing is discovered: a component not in the list does
not exist (Home Assistant's ``components/<name>/`` without the discovery).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar, cast

from attrs import frozen

from opencrate.runtime.supervisor import Level, Service

if TYPE_CHECKING:
    from opencrate.clock import Clock
    from opencrate.config import Settings
    from opencrate.runtime.actor import StoreActor
    from opencrate.runtime.bus import EventBus

__all__ = [
    "LEVEL_NAMES",
    "BuildContext",
    "Builder",
    "Component",
    "ComponentSpec",
    "Contribution",
    "Parts",
    "Registry",
    "resolve",
]

T = TypeVar("T")

#: The start levels a component can contribute to (architecture §1); 10 is the
#: stores (:meth:`Component.stores`) and 60 the API, which the app adds itself.
LEVEL_NAMES: dict[int, str] = {20: "model", 30: "restore", 40: "bridges", 50: "engines"}


def resolve(ref: str) -> Any:
    """What a ``"package.module:attribute[.attribute]"`` reference names (imported now)."""
    module, sep, path = ref.partition(":")
    if not sep or not module or not path:
        raise ValueError(f"component reference {ref!r} is not 'module:attribute'")
    found: Any = importlib.import_module(module)
    for attribute in path.split("."):
        found = getattr(found, attribute)
    return found


@frozen(kw_only=True)
class Contribution:
    """What a component adds to one start level: steps run in order, then services start."""

    level: int
    steps: Sequence[Callable[[], Awaitable[None]]] = ()
    services: Sequence[Service] = ()

    def __attrs_post_init__(self) -> None:
        if self.level not in LEVEL_NAMES:
            raise ValueError(f"level {self.level} is not one of {sorted(LEVEL_NAMES)}")


class BuildContext(Protocol):
    """The shared core a component is built from: what every domain may rely on."""

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def bus(self) -> EventBus: ...

    def get(self, kind: type[T]) -> T:
        """The object of type ``kind`` that a component listed earlier provides."""
        ...


class Component:
    """A built component. Subclasses override :meth:`build` and what they contribute."""

    @classmethod
    def build(cls, ctx: BuildContext) -> Self:
        """Make the component from the core and the components listed before it.

        Raises ConfigError for a bad settings section (the caller names the file).
        """
        raise NotImplementedError

    def provides(self) -> Sequence[object]:
        """Objects that routes, CLI and later components reach by their type (its stores)."""
        return tuple(self.stores())

    def stores(self) -> Sequence[StoreActor]:
        """Store actors opened (and migrated) at level 10, in this order; closed in reverse."""
        return ()

    def contributes(self) -> Sequence[Contribution]:
        """Steps and services at the start levels 20-50."""
        return ()


class Parts(Component):
    """A component given by its parts, for one whose parts are known when it is built.

    ``def build(ctx): return Parts(provides=..., stores=..., contributions=...)``;
    a component that reads settings only when the supervisor is built (so that
    their errors come from ``build_supervisor``) subclasses :class:`Component`.
    Without ``provides`` it provides its stores; with it, exactly those objects
    (history has several stores of one type, reached through its Persistence).
    """

    def __init__(
        self,
        *,
        provides: Sequence[object] | None = None,
        stores: Sequence[StoreActor] = (),
        contributions: Sequence[Contribution] = (),
    ) -> None:
        self._provides = tuple(stores if provides is None else provides)
        self._stores = tuple(stores)
        self._contributions = tuple(contributions)

    def provides(self) -> Sequence[object]:
        return self._provides

    def stores(self) -> Sequence[StoreActor]:
        return self._stores

    def contributes(self) -> Sequence[Contribution]:
        return self._contributions


#: What a spec's ``component`` names: a function from the core to the built component
#: (a :class:`Component` class's ``build``, or a plain function).
Builder = Callable[[BuildContext], Component]


@frozen(kw_only=True)
class ComponentSpec:
    """A component's declaration: its name and, by reference, its parts.

    ``component`` names its :data:`Builder` (``"module:Class.build"`` or
    ``"module:function"``);
    ``routes`` the quart blueprints mounted under ``/api``; ``commands`` the
    asyncclick commands or groups added to ``opencrate``; ``sections`` the
    settings sections it owns (``[alarms]``), passed through to it unread.
    """

    name: str
    component: str
    routes: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()

    @classmethod
    def in_package(
        cls,
        package: str,
        component: str,
        *,
        routes: Sequence[str] = (),
        commands: Sequence[str] = (),
        sections: Sequence[str] = (),
    ) -> ComponentSpec:
        """The spec of the component package ``package`` (its ``__name__``).

        References are relative to the package (``"routes:blueprint"``); the
        name is the package's own (``opencrate.components.alarms`` -> ``alarms``).
        """

        def ref(relative: str) -> str:
            return f"{package}.{relative}"

        return cls(
            name=package.rpartition(".")[2],
            component=ref(component),
            routes=tuple(map(ref, routes)),
            commands=tuple(map(ref, commands)),
            sections=tuple(sections),
        )

    def builder(self) -> Builder:
        found = resolve(self.component)
        if not callable(found):
            raise TypeError(f"component {self.name}: {self.component} is not callable")
        return cast(Builder, found)

    def build(self, ctx: BuildContext) -> Component:
        """The built component; TypeError naming the spec if its builder made something else."""
        built = self.builder()(ctx)
        if not isinstance(built, Component):
            raise TypeError(f"component {self.name}: {self.component} did not build a Component")
        return built

    def blueprints(self) -> list[Any]:
        return [resolve(ref) for ref in self.routes]

    def cli_commands(self) -> list[Any]:
        return [resolve(ref) for ref in self.commands]


class Registry:
    """The built components in order, and the objects they provide, by type."""

    def __init__(self) -> None:
        self._components: list[tuple[str, Component]] = []
        self._provided: dict[type, tuple[str, object]] = {}

    def add(self, name: str, component: Component) -> None:
        for thing in component.provides():
            kind = type(thing)
            if kind in self._provided:
                other = self._provided[kind][0]
                raise ValueError(f"components {other} and {name} both provide {kind.__name__}")
            self._provided[kind] = (name, thing)
        self._components.append((name, component))

    def get(self, kind: type[T]) -> T:
        """The provided object of exactly type ``kind``; LookupError naming it if none is."""
        try:
            found = self._provided[kind][1]
        except KeyError:
            raise LookupError(
                f"no component provides {kind.__name__} (not listed, or listed after its user)"
            ) from None
        assert isinstance(found, kind)
        return found

    def components(self) -> list[tuple[str, Component]]:
        return list(self._components)

    def stores(self) -> list[StoreActor]:
        return [store for _, component in self._components for store in component.stores()]

    def levels(self, extra: Iterable[Level] = ()) -> list[Level]:
        """Levels 20-50 from every component's contributions, in list order, and ``extra``."""
        steps: dict[int, list[Callable[[], Awaitable[None]]]] = {n: [] for n in LEVEL_NAMES}
        services: dict[int, list[Service]] = {n: [] for n in LEVEL_NAMES}
        for _, component in self._components:
            for part in component.contributes():
                steps[part.level].extend(part.steps)
                services[part.level].extend(part.services)
        built = [
            Level(number=n, name=name, steps=steps[n], services=services[n])
            for n, name in LEVEL_NAMES.items()
        ]
        return sorted([*built, *extra], key=lambda level: level.number)
