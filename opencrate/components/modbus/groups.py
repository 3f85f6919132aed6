"""Poll-group planning: which read requests fetch a device's points (no I/O).

:func:`plan_reads` merges the points of one register table whose ranges touch,
overlap or lie at most ``max_gap`` apart into one request, as long as the request
spans at most ``max_registers`` (holding / input) or ``max_bits`` (coil /
discrete_input). Every point is in exactly one :class:`ReadGroup`, which knows
each point's offset so :meth:`ReadGroup.split` finds its words in the response.

A point that no request may hold (longer than the maximum, or running past
address 65535) gets a group of its own with ``error`` set: the poller never sends
it and marks that point faulty; the device's other points are unaffected.

:func:`schedule` splits points by poll interval first (a binding's own
``poll_interval`` or the device's), so each interval class has its own groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from attrs import frozen

from opencrate.components.modbus.devices import ModbusDevice
from opencrate.errors import InvalidInput, ProtocolError

__all__ = [
    "BIT_TABLES",
    "REGISTER_TABLES",
    "GroupMember",
    "PointSpan",
    "PollClass",
    "ReadGroup",
    "members_by_point",
    "plan_reads",
    "schedule",
]

BIT_TABLES = frozenset({"coil", "discrete_input"})
REGISTER_TABLES = frozenset({"holding", "input"})
#: Highest protocol address (0-based) of any table.
MAX_ADDRESS = 65535

_W = TypeVar("_W", int, bool)


@frozen(kw_only=True)
class PointSpan:
    """One point to read: what the poller knows of its binding.

    The planners also take a plain ``(point_id, register_type, address, count)`` tuple.
    """

    point_id: str
    register_type: str
    address: int
    count: int  # registers, or bits for coil / discrete_input

    @classmethod
    def of(cls, point: PointSpan | tuple[str, str, int, int]) -> PointSpan:
        if isinstance(point, PointSpan):
            return point
        point_id, register_type, address, count = point
        return cls(point_id=point_id, register_type=register_type, address=address, count=count)


@frozen(kw_only=True)
class GroupMember:
    """A point inside a group: its words are ``response[offset : offset + count]``."""

    point_id: str
    offset: int
    count: int


@frozen(kw_only=True)
class ReadGroup:
    """One read request (``register_type``, ``address``, ``count``) and the points it holds.

    ``error`` is set (and ``members`` is the one point) when the point cannot be
    read in one request: the poller does not send such a group.
    """

    register_type: str
    address: int
    count: int
    members: tuple[GroupMember, ...]
    error: str | None = None

    @property
    def end(self) -> int:
        """One past the last address read."""
        return self.address + self.count

    def split(self, words: Sequence[_W]) -> dict[str, Sequence[_W]]:
        """The response ``words`` cut into each member's words, by point id.

        Raises ProtocolError when ``words`` is not exactly ``count`` long (a device
        that answered another length than asked).
        """
        if len(words) != self.count:
            raise ProtocolError(
                f"read of {self.count} at {self.register_type} {self.address} answered "
                f"{len(words)} values",
                register_type=self.register_type,
                address=self.address,
            )
        return {m.point_id: words[m.offset : m.offset + m.count] for m in self.members}


def _check(point: PointSpan) -> None:
    if point.register_type not in BIT_TABLES | REGISTER_TABLES:
        raise InvalidInput(
            f"point {point.point_id!r}: unknown register_type {point.register_type!r} "
            "(use coil, discrete_input, holding or input)",
            field="register_type",
        )
    if not 0 <= point.address <= MAX_ADDRESS:
        raise InvalidInput(
            f"point {point.point_id!r}: address must be 0..{MAX_ADDRESS}, got {point.address!r}",
            field="address",
        )
    if point.count < 1:
        raise InvalidInput(
            f"point {point.point_id!r}: count must be at least 1, got {point.count!r}",
            field="count",
        )


def _alone(point: PointSpan, error: str | None = None) -> ReadGroup:
    return ReadGroup(
        register_type=point.register_type,
        address=point.address,
        count=point.count,
        members=(GroupMember(point_id=point.point_id, offset=0, count=point.count),),
        error=error,
    )


def _group(register_type: str, points: list[PointSpan]) -> ReadGroup:
    start = points[0].address
    end = max(p.address + p.count for p in points)
    members = tuple(
        GroupMember(point_id=p.point_id, offset=p.address - start, count=p.count) for p in points
    )
    return ReadGroup(register_type=register_type, address=start, count=end - start, members=members)


def plan_reads(
    points: Iterable[PointSpan | tuple[str, str, int, int]],
    *,
    max_registers: int,
    max_bits: int,
    max_gap: int,
    grouping: bool = True,
) -> list[ReadGroup]:
    """The read requests that fetch ``points``, each point in exactly one group.

    Points of one ``register_type`` are taken by address; a point joins the open
    group when it starts at most ``max_gap`` past the group's end (overlapping and
    adjacent ranges too) and the group then still spans at most the maximum of its
    table (``max_bits`` for coil / discrete_input, ``max_registers`` otherwise;
    ``max_gap`` counts bits there). ``grouping=False``: one request per point (the
    benchmark's baseline). Groups come ordered by table, then address.

    Raises InvalidInput for a point with an unknown ``register_type``, an address
    outside 0..65535, a count below 1, an id given twice, or a maximum below 1 or
    ``max_gap`` below 0. A point longer than its maximum or running past 65535 is
    not an error here: it gets a group of its own with ``error`` set.
    """
    if max_registers < 1 or max_bits < 1 or max_gap < 0:
        raise InvalidInput(
            f"limits must be positive (max_registers={max_registers}, max_bits={max_bits}) "
            f"and max_gap not negative ({max_gap})"
        )
    spans = [PointSpan.of(p) for p in points]
    seen: set[str] = set()
    for span in spans:
        _check(span)
        if span.point_id in seen:
            raise InvalidInput(f"point {span.point_id!r} is given twice", field="point_id")
        seen.add(span.point_id)

    groups: list[ReadGroup] = []
    for register_type in sorted({s.register_type for s in spans}):
        limit = max_bits if register_type in BIT_TABLES else max_registers
        unit = "bits" if register_type in BIT_TABLES else "registers"
        # By address, then longest first, so a point inside another joins its group.
        ordered = sorted(
            (s for s in spans if s.register_type == register_type),
            key=lambda s: (s.address, -s.count, s.point_id),
        )
        open_points: list[PointSpan] = []
        open_start = open_end = 0
        for span in ordered:
            span_end = span.address + span.count
            if span.count > limit or span_end > MAX_ADDRESS + 1:
                reason = (
                    f"spans {span.count} {unit}, more than one read may ({limit})"
                    if span.count > limit
                    else f"runs past address {MAX_ADDRESS}"
                )
                groups.append(_alone(span, f"point {span.point_id!r} {reason}"))
                continue
            if (
                grouping
                and open_points
                and span.address - open_end <= max_gap
                and max(open_end, span_end) - open_start <= limit
            ):
                open_points.append(span)
                open_end = max(open_end, span_end)
                continue
            if open_points:
                groups.append(_group(register_type, open_points))
            open_points, open_start, open_end = [span], span.address, span_end
        if open_points:
            groups.append(_group(register_type, open_points))
    groups.sort(key=lambda g: (g.register_type, g.address, g.count))
    return groups


@frozen(kw_only=True)
class PollClass:
    """The points polled every ``interval_s``, as read requests."""

    interval_s: float
    groups: tuple[ReadGroup, ...]


def schedule(
    points: Iterable[tuple[PointSpan | tuple[str, str, int, int], float | None]],
    device: ModbusDevice,
    *,
    grouping: bool = True,
) -> list[PollClass]:
    """Points with their own poll interval (``None``: the device's) -> one class per interval.

    Each class is planned with :func:`plan_reads` under the device's limits, so
    points of different intervals never share a request. Classes come shortest
    interval first. Raises what :func:`plan_reads` raises (a point id given twice,
    even in two classes), and InvalidInput for an interval that is not above zero.
    """
    by_interval: dict[float, list[PointSpan]] = {}
    seen: set[str] = set()
    for raw, interval in points:
        span = PointSpan.of(raw)
        if span.point_id in seen:
            raise InvalidInput(f"point {span.point_id!r} is given twice", field="point_id")
        seen.add(span.point_id)
        chosen = device.poll_interval_s if interval is None else interval
        if not chosen > 0:
            raise InvalidInput(
                f"point {span.point_id!r}: poll interval must be above zero, got {chosen!r}",
                field="poll_interval",
            )
        by_interval.setdefault(chosen, []).append(span)
    return [
        PollClass(
            interval_s=interval,
            groups=tuple(
                plan_reads(
                    spans,
                    max_registers=device.max_registers,
                    max_bits=device.max_bits,
                    max_gap=device.max_gap,
                    grouping=grouping,
                )
            ),
        )
        for interval, spans in sorted(by_interval.items())
    ]


def members_by_point(groups: Iterable[ReadGroup]) -> Mapping[str, ReadGroup]:
    """Each point id -> the group that reads it."""
    return {m.point_id: g for g in groups for m in g.members}
