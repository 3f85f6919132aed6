"""Simulated BACnet/IP devices: a scenario's BACnet-bound equipment, served by bacpypes3.

:class:`BacnetSimulator` runs one bacpypes3 ``Application`` per device
(:mod:`~opencrate.components.bacnet.sim_objects` says what each serves) and drives the objects
from the points' ``[signal]`` with the scenario's own samplers
(:class:`~opencrate.components.scenario.schedule.SignalSchedule`: same seed, same point, the
same values as the scenario simulator).

Addressing (stack-feasibility §5): every device has its own address on ONE shared UDP port,
``host``, ``host + 1``, ... (``127.0.0.1:P``, ``127.0.0.2:P``, ...; on loopback any 127.x
works, elsewhere the addresses must exist on the host). The first device is also a BBMD that
accepts foreign-device registrations: a client on another port that registers with it and
sends a global Who-Is finds every device (the BBMD re-broadcasts on the port all devices share,
and each answers by unicast). A directed Who-Is to any device's address works too. Never run a
client on the simulator's port: bacpypes3 loops 127.x traffic on its own port back to itself.

Values: an input (or a value that is not commandable) takes each sample as its presentValue.
A commandable object (outputs, writable values) takes the sample as its relinquish default:
the signal is the device's own control, so a client's command at any priority wins over it,
and relinquishing every slot returns the object to it. COV subscribers are notified of
changes past ``covIncrement`` (analog) or of any change (binary, multi-state).

The asyncio side (:meth:`~BacnetSimulator.start`, :meth:`~BacnetSimulator.close`, ...) must run
on one asyncio loop; trio code uses :meth:`~BacnetSimulator.run`, which keeps that loop on a
private thread (:class:`~opencrate.components.bacnet.loop.AsyncioThread`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn, TypeVar

import trio
from attrs import evolve, frozen
from bacpypes3.app import Application
from bacpypes3.basetypes import BDTEntry, IPMode
from bacpypes3.local.cmd import Commandable
from bacpypes3.local.networkport import NetworkPortObject

from opencrate.components.bacnet.loop import AsyncioThread
from opencrate.components.bacnet.sim_classes import bacnet_value, build_objects
from opencrate.components.bacnet.sim_objects import (
    SimDevice,
    SimObject,
    extra_objects,
    scenario_devices,
)
from opencrate.components.scenario.format import Scenario
from opencrate.components.scenario.schedule import SignalSchedule
from opencrate.errors import InvalidInput, NotFound
from opencrate.model.values import PointValue

__all__ = ["DEFAULT_PORT", "BacnetSimulator", "SimulatedDevice"]

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_PORT = 47808
#: How long the sockets may take to bind before start() gives up.
_BIND_TIMEOUT_S = 5.0


@frozen(kw_only=True)
class SimulatedDevice:
    """A device as served: its spec and its address (``"127.0.0.2:47808"``)."""

    spec: SimDevice
    address: str
    bbmd: bool = False

    @property
    def instance(self) -> int:
        return self.spec.instance


class _Served:
    """One running device and its bacpypes3 application."""

    def __init__(self, device: SimulatedDevice, app: Application) -> None:
        self.device = device
        self.app = app


class BacnetSimulator:
    """The simulated BACnet devices of a scenario (or generated ones); see the module docstring.

    Raises ConfigError (naming the file, line and key) from :meth:`from_scenario` when the
    scenario's BACnet points cannot be served, and InvalidInput for a host that is not an IPv4
    address or too few addresses after it for the devices.
    """

    def __init__(
        self,
        devices: Sequence[SimDevice],
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        scenario: Scenario | None = None,
    ) -> None:
        if not 1 <= port <= 65535:
            raise InvalidInput(f"BACnet port must be in 1..65535, got {port}", field="port")
        self._scenario = scenario
        self._port = port
        self._devices = [
            SimulatedDevice(spec=spec, address=f"{ip}:{port}", bbmd=n == 0)
            for n, (spec, ip) in enumerate(
                zip(devices, _addresses(host, len(devices)), strict=True)
            )
        ]
        self._prefix = 8 if ipaddress.IPv4Address(host).is_loopback else 24
        self._served: list[_Served] = []
        self._by_node: dict[str, tuple[SimObject, Any]] = {}
        self._by_object: dict[tuple[int, str, int], tuple[SimObject, Any]] = {}
        self._driver: asyncio.Task[None] | None = None
        self._thread: AsyncioThread | None = None

    @classmethod
    def from_scenario(
        cls,
        scenario: Scenario,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        extra: int = 0,
    ) -> BacnetSimulator:
        """The scenario's BACnet devices, each with ``extra`` filler objects besides its points."""
        devices = scenario_devices(scenario)
        if extra:
            fillers = extra_objects(extra)
            devices = [evolve(d, objects=d.objects + fillers) for d in devices]
        return cls(devices, host=host, port=port, scenario=scenario)

    @classmethod
    def generated(
        cls,
        *,
        devices: int,
        objects: int,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        first_instance: int = 3001,
    ) -> BacnetSimulator:
        """``devices`` devices of ``objects`` filler objects each (benchmarks: 20 x 100)."""
        fillers = extra_objects(objects)
        specs = [
            SimDevice(
                instance=first_instance + n, name=f"SIM-{first_instance + n}", objects=fillers
            )
            for n in range(devices)
        ]
        return cls(specs, host=host, port=port)

    # -- what is served ----------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def prefix(self) -> int:
        """The devices' network prefix length (8 on loopback, else 24): their broadcast."""
        return self._prefix

    @property
    def simulated(self) -> list[SimulatedDevice]:
        """Every device with its address, the BBMD first."""
        return list(self._devices)

    def devices(self) -> list[tuple[int, str]]:
        """``(device instance, "ip:port")`` of every device, the BBMD first."""
        return [(d.instance, d.address) for d in self._devices]

    @property
    def bbmd_address(self) -> str:
        """Where a client registers as a foreign device (the first device's address)."""
        return self._devices[0].address

    # -- asyncio side ------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind every device's socket, give each object its first sample, start the signals.

        Raises OSError naming the address when a socket cannot be bound (nothing is left
        open). Must be awaited on the asyncio loop that will serve the devices.
        """
        if self._served:
            raise RuntimeError("BacnetSimulator already started")
        for device in self._devices:
            _probe_bind(device.address)
        try:
            for device in self._devices:
                self._served.append(self._serve(device))
            await self._wait_bound()
        except BaseException:
            await self.close()
            raise
        schedule = self._schedule()
        for node_id, value in schedule.first():
            self._apply(node_id, value)
        self._driver = asyncio.get_running_loop().create_task(self._drive(schedule))

    async def close(self) -> None:
        """Stop the signals, end COV subscriptions and close every socket. Idempotent."""
        driver, self._driver = self._driver, None
        if driver is not None:
            driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await driver
        served, self._served = self._served, []
        self._by_node = {}
        self._by_object = {}
        # bacpypes3 has no public teardown beyond app.close(): end the COV subscriptions (their
        # expiry timers would outlive us) and cancel a bind still retrying, through its own
        # attributes (0.0.110).
        for item in served:
            for detection in list(item.app._cov_detections.values()):
                for cov in list(detection.cov_subscriptions):
                    detection.cancel_subscription(cov)
            for link in item.app.link_layers.values():
                for task in getattr(link.server, "_transport_tasks", ()):
                    task.cancel()
            item.app.close()
        # Transports close their sockets on the next loop iterations (connection_lost).
        for _ in range(3):
            await asyncio.sleep(0)

    async def set_value(
        self, instance: int, object_type: str, object_instance: int, value: PointValue
    ) -> None:
        """Drive one object as its signal would (presentValue, or relinquish default if
        commandable). Raises NotFound for an object the simulator does not serve."""
        obj, target = self._find(instance, object_type, object_instance)
        _drive_object(obj, target, value)

    async def set_reliability(
        self, instance: int, object_type: str, object_instance: int, reliability: str
    ) -> None:
        """Set an object's reliability (``"no-sensor"``, ...; its fault flag follows).

        Raises NotFound for an unknown object, InvalidInput for an unknown reliability.
        """
        _, target = self._find(instance, object_type, object_instance)
        try:
            target.reliability = reliability
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidInput(f"not a BACnet reliability: {reliability!r} ({exc})") from None

    async def read_local(
        self, instance: int, object_type: str, object_instance: int, prop: str
    ) -> Any:
        """A property of a served object as the device holds it (tests and benchmarks)."""
        _, target = self._find(instance, object_type, object_instance)
        return getattr(target, prop)

    # -- trio side ---------------------------------------------------------------------------
    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """From trio: start the devices on a private asyncio thread, report started, serve
        until cancelled, then close them. OSError (before ``started``) if a socket cannot bind.
        """
        async with AsyncioThread.open(name="bacnet-simulator") as thread:
            try:
                await thread.run(self.start)
                self._thread = thread
                task_status.started()
                await trio.sleep_forever()
            finally:
                self._thread = None
                with trio.CancelScope(shield=True):
                    await thread.run(self.close)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The asyncio loop serving the devices while :meth:`run` serves (else ``None``): for
        code on another asyncio loop, ``asyncio.run_coroutine_threadsafe(sim.set_value(...),
        sim.loop)``."""
        return self._thread.loop if self._thread is not None else None

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """From trio, while :meth:`run` serves: await ``fn(*args)`` (one of the asyncio
        methods, e.g. ``sim.call(sim.set_value, 1001, "analog-input", 1, 30.0)``) on its loop."""
        if self._thread is None:
            raise RuntimeError("BacnetSimulator.call needs run() to be serving")
        return await self._thread.run(fn, *args)

    # -- internals ---------------------------------------------------------------------------
    def _serve(self, device: SimulatedDevice) -> _Served:
        ip, _, port = device.address.rpartition(":")
        port_object = NetworkPortObject(
            f"{ip}/{self._prefix}:{port}",
            objectIdentifier=("network-port", 1),
            objectName="NetworkPort-1",
        )
        if device.bbmd:
            port_object.bacnetIPMode = IPMode.bbmd
            port_object.bbmdAcceptFDRegistrations = True
            port_object.bbmdForeignDeviceTable = []
            port_object.bbmdBroadcastDistributionTable = [BDTEntry(device.address)]
        objects = build_objects(device.spec)
        app = Application.from_object_list([*objects, port_object])
        for spec, built in zip(device.spec.objects, objects[1:], strict=True):
            self._by_object[(device.instance, *spec.object_id)] = (spec, built)
            if spec.node_id is not None:
                self._by_node[spec.node_id] = (spec, built)
        return _Served(device, app)

    async def _wait_bound(self) -> None:
        tasks = [
            task
            for item in self._served
            for link in item.app.link_layers.values()
            for task in getattr(link.server, "_transport_tasks", ())
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), _BIND_TIMEOUT_S)
        except TimeoutError:
            raise OSError(
                f"BACnet sockets on port {self._port} not bound after {_BIND_TIMEOUT_S:g} s"
            ) from None

    def _schedule(self) -> SignalSchedule:
        if self._scenario is None:
            return SignalSchedule((), seed=0)
        served = {n for n in self._by_node}
        points = [p for p in self._scenario.points() if p.node_id in served]
        return SignalSchedule(points, seed=self._scenario.seed)

    async def _drive(self, schedule: SignalSchedule) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        while (next_s := schedule.next_due_s()) is not None:
            await asyncio.sleep(max(0.0, start + next_s - loop.time()))
            for node_id, value in schedule.due(loop.time() - start):
                self._apply(node_id, value)

    def _apply(self, node_id: str, value: PointValue) -> None:
        found = self._by_node.get(node_id)
        if found is not None:
            try:
                _drive_object(found[0], found[1], value)
            except Exception as exc:  # one bad sample must not stop every other signal
                log.warning("simulated BACnet %s: sample %r not stored: %s", node_id, value, exc)

    def _find(self, instance: int, object_type: str, object_instance: int) -> tuple[SimObject, Any]:
        found = self._by_object.get((instance, object_type, object_instance))
        if found is None:
            raise NotFound(
                f"the simulator serves no {object_type},{object_instance} in device {instance}"
            )
        return found


def _drive_object(obj: SimObject, target: Any, value: PointValue) -> None:
    present = bacnet_value(obj, value)
    if isinstance(target, Commandable):
        # The signal is the device's own control: a command at any priority wins over it.
        target.relinquishDefault = present
        target.recalculating()
    else:
        target.presentValue = present


def _addresses(host: str, count: int) -> list[str]:
    try:
        first = ipaddress.IPv4Address(host)
    except ValueError:
        raise InvalidInput(
            f"BACnet simulator host must be an IPv4 address, got {host!r}", field="host"
        ) from None
    try:
        return [str(first + n) for n in range(count)]
    except ipaddress.AddressValueError:
        raise InvalidInput(
            f"{count} devices need {count} addresses from {host}", field="host"
        ) from None


def _probe_bind(address: str) -> None:
    """OSError naming ``address`` if it cannot be bound (bacpypes3 itself retries forever)."""
    ip, _, port = address.rpartition(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        # The options bacpypes3 binds with, so a stale simulator on the port is not an error
        # here (stack-feasibility §5: it would steal traffic; use a fresh port).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((ip, int(port)))
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot bind BACnet address {address}: {exc.strerror}"
            ) from None
