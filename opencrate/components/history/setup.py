"""Build the configured persistence services and run them: the persistence part of the app.

:meth:`Persistence.build` reads the ``[persistence]`` settings section (or the
file it names), overlays the configurations saved through the API, and makes
one service instance per configured service:

* ``sqlite``: a :class:`~opencrate.components.history.sqlite.store.HistoryStore`
  in ``<data>/history.db`` (``history-<name>.db`` for other names); a store
  actor, so it opens with the stores at level 10 (:meth:`Persistence.stores`);
* ``postgresql``: a :class:`~opencrate.components.history.postgresql.service.PostgresService`
  with its spool in ``<data>/pg-spool-<name>.db``;
* ``memory``: a :class:`~opencrate.components.history.memory.MemoryService`.

With no ``[persistence]`` section the default is one ``sqlite`` service with
``* : strategy = everyChange, restoreOnStartup`` (never "nothing persisted",
the openHAB upgrade trap).

:meth:`Persistence.run` is the level-30 service: it starts the services that
need a task (PostgreSQL), runs restoreOnStartup, subscribes the manager, and
only then reports started, so level 40 (bridges) begins after the restore and
with the manager already listening. Configurations replaced through the API
(:meth:`Persistence.replace_config`) are saved as
``<data>/persistence/<service>.json`` and win over the settings file for that
service (the health route says so); the manager picks them up at once.

:attr:`Persistence.retention` (a
:class:`~opencrate.components.history.sqlite.retention_service.HistoryRetention`) is the
level-50 service that applies each sqlite service's ``retention`` settings; it
follows the same ``Watch``, so a retention replaced through the API applies at once.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import trio
from attrs import define, field

from opencrate.clock import Clock
from opencrate.components.history.config.model import (
    PersistenceConfig,
    ServiceConfig,
    service_to_dict,
)
from opencrate.components.history.config.persist_syntax import parse_persist
from opencrate.components.history.config.redact import redact_secrets
from opencrate.components.history.config.toml import (
    parse_section,
    service_from_mapping,
)
from opencrate.components.history.manager import PersistenceManager
from opencrate.components.history.memory import MemoryService
from opencrate.components.history.postgresql.service import PostgresService
from opencrate.components.history.restore import RestoreReport, restore_on_startup
from opencrate.components.history.selectors import NodeHierarchy
from opencrate.components.history.service import PersistenceService
from opencrate.components.history.sqlite.retention_service import HistoryRetention
from opencrate.components.history.sqlite.store import HistoryStore
from opencrate.components.nodes.store import NodeStore
from opencrate.components.points.store import PointStore
from opencrate.config import Settings
from opencrate.errors import ConfigError, Conflict, InvalidInput, NotFound
from opencrate.model.node import NodeType
from opencrate.runtime.bus import EventBus
from opencrate.runtime.watch import Watch

__all__ = ["DEFAULT_PERSIST", "Persistence", "load_persistence_config"]

log = logging.getLogger(__name__)

#: The configuration used when the settings have no ``[persistence]`` section.
DEFAULT_PERSIST = "Items { * : strategy = everyChange, restoreOnStartup }"


def load_persistence_config(section: Any, managed_dir: Path | None = None) -> PersistenceConfig:
    """The ``[persistence]`` section (or ``file = "..."`` it names) plus API-saved overrides.

    A relative ``file`` is taken as is (relative to the working directory):
    :func:`~opencrate.config.load_settings` has already made it relative to
    the settings file.

    Raises :class:`ConfigError` naming the file, line and token.
    """
    if section is None:
        config = PersistenceConfig(
            services=(parse_persist(DEFAULT_PERSIST, service="sqlite", file="(default)"),)
        )
    elif not isinstance(section, dict):
        raise ConfigError("[persistence] must be a table", key="persistence")
    else:
        # load_settings made a relative ``file`` relative to the settings file.
        config = parse_section(section, file="settings [persistence]")
    if managed_dir is not None and managed_dir.is_dir():
        for path in sorted(managed_dir.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError) as exc:
                raise ConfigError(
                    f"cannot read saved configuration: {exc}", file=str(path)
                ) from None
            service = service_from_mapping(path.stem, data, file=str(path))
            config = config.replace(service)
    return config


@define
class Persistence:
    """The configured services, the manager and the configuration ``Watch``."""

    config: Watch[PersistenceConfig]
    services: dict[str, PersistenceService]
    manager: PersistenceManager
    points: PointStore
    nodes: NodeStore
    managed_dir: Path
    #: The level-50 service running each sqlite service's retention.
    retention: HistoryRetention
    history: list[HistoryStore] = field(factory=list)
    postgres: list[PostgresService] = field(factory=list)
    last_restore: RestoreReport | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        bus: EventBus,
        points: PointStore,
        nodes: NodeStore,
        clock: Clock,
    ) -> Persistence:
        data = settings.data_dir
        managed = data / "persistence"
        config = load_persistence_config(settings.sections.get("persistence"), managed)
        services: dict[str, PersistenceService] = {}
        history: list[HistoryStore] = []
        postgres: list[PostgresService] = []
        for cfg in config.services:
            if cfg.kind == "sqlite":
                name = "history.db" if cfg.name == "sqlite" else f"history-{cfg.name}.db"
                store = HistoryStore(data / name, clock=clock)
                store.service_id = cfg.name
                history.append(store)
                services[cfg.name] = store
            elif cfg.kind == "memory":
                services[cfg.name] = MemoryService(cfg.name, max_entries=cfg.options["max_entries"])
            else:
                pg = PostgresService(
                    cfg.name,
                    dsn=cfg.options["dsn"],
                    schema=cfg.options["schema"],
                    table=cfg.options["table"],
                    spool_max=cfg.options["spool_max"],
                    batch_max=cfg.options["batch_max"],
                    spool_path=data / f"pg-spool-{cfg.name}.db",
                    clock=clock,
                )
                postgres.append(pg)
                services[cfg.name] = pg
        watch = Watch(config)
        manager = PersistenceManager(
            bus=bus,
            points=points,
            services=services,
            config=watch,
            hierarchy=NodeHierarchy(nodes),
            clock=clock,
            capacity=max(settings.bus_capacity, 16_384),
        )
        return cls(
            config=watch,
            services=services,
            manager=manager,
            points=points,
            nodes=nodes,
            managed_dir=managed,
            retention=HistoryRetention(
                config=watch,
                stores={s.service_id: s for s in history},
                clock=clock,
            ),
            history=history,
            postgres=postgres,
        )

    def known_points(self) -> list[str] | None:
        """The node model's point ids, or None when it has none (restore what history has)."""
        found = [
            n.id
            for kind in (NodeType.POINT, NodeType.VIRTUAL_POINT)
            for n in self.nodes.find(node_type=kind)
        ]
        return found or None

    def stores(self) -> list[HistoryStore]:
        """The SQLite history stores: store actors for level 10 (opened first, drained last)."""
        return list(self.history)

    async def run(self, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        """Level 30: start PostgreSQL services, restore, subscribe the manager; then started.

        The SQLite history stores run at level 10 with the other stores
        (:meth:`stores`), so they are open before this and drain last.
        """
        async with trio.open_nursery() as nursery:
            for pg in self.postgres:
                await nursery.start(pg.run)
            self.last_restore = await restore_on_startup(
                config=self.config.value,
                services=self.services,
                points=self.points,
                hierarchy=self.manager.hierarchy,
                known_points=self.known_points(),
            )
            await nursery.start(self.manager.run)
            task_status.started()

    def service(self, name: str | None) -> tuple[str, PersistenceService]:
        """The named service, or the default one; NotFound / InvalidInput otherwise."""
        if name is None or name == "":
            name = self.config.value.default_service()
            if name is None:
                raise InvalidInput("several persistence services: name one with ?service=")
        found = self.services.get(name)
        if found is None:
            raise NotFound(f"no persistence service {name!r}", service=name)
        return name, found

    async def replace_config(self, new: ServiceConfig) -> ServiceConfig:
        """Make ``new`` the configuration of its (running) service, save it, apply it now.

        The kind and options (dsn, ...) of a running service cannot change
        here: :class:`Conflict` (they need a restart with new settings).
        """
        current = self.config.value.get(new.name)
        if new.name not in self.services or current is None:
            raise NotFound(f"no persistence service {new.name!r}", service=new.name)
        if new.kind != current.kind or (new.options and dict(new.options) != dict(current.options)):
            raise Conflict(
                f"service {new.name}: kind and options cannot change while running "
                "(edit the settings and restart)",
                service=new.name,
            )
        new = ServiceConfig(
            name=new.name,
            kind=current.kind,
            strategies=new.strategies,
            filters=new.filters,
            items=new.items,
            aliases=new.aliases,
            options=current.options,
            retention=new.retention,
            source="api",
        )
        path = self.managed_dir / f"{new.name}.json"
        # The server reads this file back at start: it keeps the real DSN.
        body = json.dumps(service_to_dict(new, reveal_secrets=True), indent=2)

        def save() -> None:
            self.managed_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(body, encoding="utf-8")
            tmp.replace(path)  # atomic: a crash leaves the old or the new file, never half

        await trio.to_thread.run_sync(save)
        self.config.set(self.config.value.replace(new))
        return new

    def health(self) -> dict[str, Any]:
        """Per service: kind, source, reachability, spool, manager counters."""
        cfg = self.config.value
        runners = {r.service_id: r for r in self.manager.statistics().runners}
        services: dict[str, Any] = {}
        healthy = True
        retention = {
            r.service_id: {
                "active": r.active,
                "passes": r.passes,
                "samples_deleted": r.samples_deleted,
                "rollup_rows_deleted": r.rollup_rows_deleted,
                "last_pass_ms": r.last_pass_ms,
            }
            for r in self.retention.statistics().services
        }
        for name, service in self.services.items():
            service_cfg = cfg.get(name)
            entry: dict[str, Any] = {
                "kind": service_cfg.kind if service_cfg else None,
                "source": service_cfg.source if service_cfg else None,
                "lines": len(service_cfg.items) if service_cfg else 0,
            }
            runner = runners.get(name)
            if runner is not None:
                entry.update(
                    stored=runner.stored,
                    filtered=runner.filtered,
                    lagged=runner.lagged,
                    errors=runner.errors,
                    last_error=runner.last_error,
                    cron_runs=runner.cron_runs,
                )
                healthy = healthy and runner.errors == 0 and runner.lagged == 0
            if name in retention:
                entry["retention"] = retention[name]
            if isinstance(service, PostgresService):
                stats = service.statistics()
                entry.update(
                    # Committed on the server; what the manager handed over but
                    # still waits in the spool is ``spooled``, not stored.
                    stored=stats.stored,
                    handed=entry.get("stored", 0),
                    connected=stats.connected,
                    spooled=stats.spooled,
                    spool_dropped=stats.spool_dropped,
                    replayed=stats.replayed,
                    reconnects=stats.reconnects,
                    reconnects_last_minute=stats.reconnects_last_minute,
                    connection_losses=stats.connection_losses,
                    # None while connected: the error that keeps it disconnected.
                    server_error=None
                    if stats.last_error is None
                    else redact_secrets(stats.last_error),
                    # The last error of the last minute, even when connected again.
                    recent_error=None
                    if stats.recent_error is None
                    else redact_secrets(stats.recent_error),
                    recent_error_ms=stats.recent_error_ms,
                )
                healthy = (
                    healthy
                    and stats.connected
                    and stats.spool_dropped == 0
                    and stats.reconnects_last_minute == 0
                    and stats.recent_error is None
                )
            elif isinstance(service, MemoryService):
                stats_m = service.statistics()
                entry.update(points=stats_m.points, samples=stats_m.samples)
            services[name] = entry
        restore = self.last_restore
        return {
            "status": "ok" if healthy else "degraded",
            "default": cfg.default_service(),
            "config_version": self.config.version,
            "services": services,
            "restore": None
            if restore is None
            else {
                "candidates": restore.candidates,
                "restored": restore.restored,
                "missing": restore.missing,
                "failed_services": list(restore.failed_services),
                "seconds": round(restore.seconds, 4),
            },
        }
