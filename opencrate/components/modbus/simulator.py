"""Simulated Modbus devices: a scenario's Modbus-bound points as :class:`RegisterBank` tables.

:class:`ModbusSimulator` reads every point whose binding's protocol is ``modbus``, groups them by
the binding's ``device_id`` into one :class:`~opencrate.components.modbus.server.RegisterBank` per
device (serve them with :func:`~opencrate.components.modbus.server.serve_modbus`), lays out each
point's registers with :mod:`~opencrate.components.modbus.datatypes`, and drives them from the
points' ``[signal]`` with the same samplers and random generators as the scenario's own
:class:`~opencrate.components.scenario.simulate.Simulator` (same seed, same point: the same
values, up to the precision of the register type).

* Points without a signal hold zero (``false``, ``""``) until a client writes them.
* A client's write (FC 5, 6, 15, 16) is kept: the points it touched hold the written value and
  their signal stops driving them, as a setpoint on a real device would.
* Bits within one register (``bit``) may share the register; any other overlap of two points in
  one table is a :class:`~opencrate.errors.ConfigError`, and so is a binding the codec rejects
  or a data type that cannot hold the point's kind (a ``bool`` point in a ``float32``).
* A sample the register type cannot hold (a negative value in a ``uint16``, say) is skipped with
  a warning, the registers keeping the last value; ``statistics().skipped`` counts them.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Iterable, Mapping
from typing import NoReturn

import trio
from attrs import evolve, frozen

from opencrate.components.modbus.datatypes import RegisterFormat, decode, encode, encode_bit
from opencrate.components.modbus.server import RegisterBank, WriteCallback
from opencrate.components.scenario.format import Scenario, SignalSpec
from opencrate.components.scenario.signals import SignalSampler, point_rng
from opencrate.errors import ConfigError, InvalidInput, NotFound
from opencrate.model.binding import MODBUS
from opencrate.model.values import PointValue, ValueKind

__all__ = ["ModbusSimulator", "ModbusSimulatorStatistics", "SimulatedPoint"]

log = logging.getLogger(__name__)


@frozen(kw_only=True)
class SimulatedPoint:
    """One Modbus-bound point of the scenario and where its value lives."""

    node_id: str
    device_id: str
    address: int
    format: RegisterFormat
    kind: ValueKind
    signal: SignalSpec | None = None
    #: Where its binding is in the scenario file, for errors.
    line: int | None = None
    key: str = "binding"

    @property
    def addresses(self) -> range:
        return range(self.address, self.address + self.format.count)


@frozen(kw_only=True)
class ModbusSimulatorStatistics:
    devices: int
    points: int  # Modbus-bound points (with or without a signal)
    samples: int  # samples written into registers
    skipped: int  # samples the register type could not hold
    written: int  # points a client has written (no longer driven)
    running: bool


class ModbusSimulator:
    """The simulated Modbus devices of one scenario; see the module docstring.

    Raises ConfigError (naming the scenario file, the point's line and key) when built from a
    scenario whose Modbus bindings cannot be laid out. The banks exist (zeroed) from then on;
    :meth:`run` drives them.
    """

    def __init__(self, scenario: Scenario) -> None:
        self._scenario = scenario
        self._points = _modbus_points(scenario)
        self._banks: dict[str, RegisterBank] = {}
        for point in self._points.values():
            if point.device_id not in self._banks:
                self._banks[point.device_id] = RegisterBank(
                    on_write=self._on_write_callback(point.device_id)
                )
        _check_overlaps(scenario, self._points.values())
        for point in self._points.values():
            try:
                self._store(point, _zero(point))
            except InvalidInput as exc:
                raise ConfigError(
                    f"a {point.kind} point cannot be held as {point.format.data_type}: "
                    f"{exc.message}",
                    file=scenario.source,
                    line=point.line,
                    key=f"{point.key}.data_type",
                    node_id=point.node_id,
                ) from None
        self._written: set[str] = set()
        self._samples = self._skipped = 0
        self._running = False

    @property
    def banks(self) -> Mapping[str, RegisterBank]:
        """``device_id`` -> its bank (for :func:`serve_modbus`, one server or unit per device)."""
        return self._banks

    @property
    def points(self) -> Mapping[str, SimulatedPoint]:
        """Node id -> the Modbus-bound point."""
        return self._points

    def value(self, node_id: str) -> PointValue:
        """The value a client reading ``node_id``'s registers now decodes.

        Raises NotFound for a node that is not a simulated Modbus point, and the codec's
        DeviceError if the registers (as a client wrote them) hold no point value (a NaN).
        """
        point = self._points.get(node_id)
        if point is None:
            raise NotFound(f"{node_id!r} is not a simulated Modbus point", node_id=node_id)
        bank = self._banks[point.device_id]
        return decode(
            point.format,
            bank.get_words(point.format.register_type, point.address, point.format.count),
        )

    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Write every driven point's first sample, report started, then drive them until cancelled.

        Each point keeps its signal's ``interval`` on trio's clock (so ``autojump_clock`` runs
        hours in milliseconds). A restart begins the signals again from their start with fresh
        random generators; points a client wrote stay as written.
        """
        samplers: dict[str, SignalSampler] = {}
        due: list[tuple[float, int, str]] = []
        start = trio.current_time()
        for order, point in enumerate(self._points.values()):
            if point.signal is None:
                continue
            rng = point_rng(self._scenario.seed, point.node_id)
            samplers[point.node_id] = SignalSampler(point.signal, point.kind, rng)
            self._sample(point, samplers[point.node_id], 0.0)
            due.append((start + point.signal.interval_s, order, point.node_id))
        heapq.heapify(due)
        self._running = True
        task_status.started()
        try:
            if not due:
                await trio.sleep_forever()
            while True:
                await trio.sleep_until(due[0][0])
                now = trio.current_time()
                while due[0][0] <= now:
                    when, order, node_id = heapq.heappop(due)
                    sampler = samplers[node_id]
                    self._sample(self._points[node_id], sampler, when - start)
                    # Fell behind (a stalled loop)? Skip the missed samples, keep the phase.
                    missed = max(1, math.ceil((now - when) / sampler.spec.interval_s))
                    heapq.heappush(due, (when + missed * sampler.spec.interval_s, order, node_id))
        finally:
            self._running = False

    def statistics(self) -> ModbusSimulatorStatistics:
        return ModbusSimulatorStatistics(
            devices=len(self._banks),
            points=len(self._points),
            samples=self._samples,
            skipped=self._skipped,
            written=len(self._written),
            running=self._running,
        )

    # -- internals -------------------------------------------------------------------------
    def _sample(self, point: SimulatedPoint, sampler: SignalSampler, elapsed_s: float) -> None:
        # Sample even a written point, so its random stream stays the scenario simulator's.
        value = sampler.sample(elapsed_s)
        if point.node_id in self._written:
            return
        try:
            self._store(point, value)
        except InvalidInput as exc:
            self._skipped += 1
            log.warning("simulated %s: sample %r not stored: %s", point.node_id, value, exc)
            return
        self._samples += 1

    def _store(self, point: SimulatedPoint, value: PointValue) -> None:
        bank = self._banks[point.device_id]
        table = point.format.register_type
        device_format = _device_side(point.format)
        words: list[int] | list[bool]
        if point.format.bit is not None:
            current = bank.table(table).get(point.address, 0)
            words = [encode_bit(device_format, current, bool(value))]
        else:
            words = encode(device_format, value)
        bank.set_words(table, point.address, words)

    def _on_write_callback(self, device_id: str) -> WriteCallback:
        def on_write(register_type: str, address: int, words: list[int] | list[bool]) -> None:
            written = range(address, address + len(words))
            for point in self._points.values():
                if (
                    point.device_id == device_id
                    and point.format.register_type == register_type
                    and _overlap(point.addresses, written)
                ):
                    self._written.add(point.node_id)

        return on_write


def _overlap(a: range, b: range) -> bool:
    return a.start < b.stop and b.start < a.stop


def _device_side(fmt: RegisterFormat) -> RegisterFormat:
    # The codec encodes only what a client may write; the device itself fills its read-only
    # tables too. The layout is the table's kind (bits or registers), not its writability.
    return evolve(fmt, register_type="coil" if fmt.is_bit_table else "holding", writable=True)


def _zero(point: SimulatedPoint) -> PointValue:
    if point.kind is ValueKind.BOOL or point.format.is_bit_table or point.format.bit is not None:
        return False
    if point.kind is ValueKind.STR or point.format.data_type == "string":
        return ""
    # 0 may be outside a scaled integer's range (offset): then the raw zero.
    return point.format.offset if point.format.is_scaled else 0


def _modbus_points(scenario: Scenario) -> dict[str, SimulatedPoint]:
    points: dict[str, SimulatedPoint] = {}
    for e, equip in enumerate(scenario.equips):
        for p, spec in enumerate(equip.points):
            binding = spec.binding
            if binding is None or binding.get("protocol") != MODBUS:
                continue
            key = f"equip[{e}].point[{p}].binding"
            try:
                fmt = RegisterFormat.from_binding(binding)
            except InvalidInput as exc:
                field = exc.detail.get("field")
                raise ConfigError(
                    exc.message,
                    file=scenario.source,
                    line=spec.line,
                    key=f"{key}.{field}" if field else key,
                    node_id=spec.node_id,
                ) from None
            device_id, address = binding.get("device_id"), binding.get("address")
            # ProtocolBinding checked both when the scenario was read.
            assert isinstance(device_id, str)
            assert isinstance(address, int)
            points[spec.node_id] = SimulatedPoint(
                node_id=spec.node_id,
                device_id=device_id,
                address=address,
                format=fmt,
                kind=spec.kind,
                signal=spec.signal,
                line=spec.line,
                key=key,
            )
    return points


def _check_overlaps(scenario: Scenario, points: Iterable[SimulatedPoint]) -> None:
    owners: dict[tuple[str, str, int], list[SimulatedPoint]] = {}
    for point in points:
        for address in point.addresses:
            key = (point.device_id, point.format.register_type, address)
            for other in owners.get(key, []):
                shared_bits = point.format.bit is not None and other.format.bit is not None
                if not shared_bits or point.format.bit == other.format.bit:
                    what = f"bit {point.format.bit} of " if shared_bits else ""
                    raise ConfigError(
                        f"{point.node_id} and {other.node_id} both use {what}"
                        f"{point.format.register_type} {address} of device {point.device_id!r}",
                        file=scenario.source,
                        line=point.line,
                        key=f"{point.key}.address",
                        node_id=point.node_id,
                    )
            owners.setdefault(key, []).append(point)
