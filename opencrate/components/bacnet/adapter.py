"""bacpypes3 behind one trio-native interface: the only module that talks to it as a client.

:class:`BacnetStack` owns one bacpypes3 ``Application`` (one UDP port) on a
private asyncio thread (:mod:`.loop`) and offers trio coroutines:

- :meth:`~BacnetStack.who_is` (global, ranged, or directed at one address),
- :meth:`~BacnetStack.read_property`, :meth:`~BacnetStack.read_property_multiple`,
- :meth:`~BacnetStack.write_property` (with a priority; ``None`` relinquishes),
- :meth:`~BacnetStack.subscribe_cov` / :meth:`~BacnetStack.unsubscribe_cov`,

and one receive channel, :attr:`~BacnetStack.events`, of :class:`IAm` and
:class:`CovNotification` records (unsolicited I-Ams and every COV
notification, confirmed ones acknowledged). Values come back as plain Python
(:func:`.values.to_python`).

Errors are mapped at this boundary, and only here::

    BridgeError
    ├── BridgeTimeout   no answer (bacpypes3's no-response abort after its retries,
    │                   or our own deadline)
    ├── DeviceError     the device answered with an Error, Reject or Abort
    │                   (``error_class`` / ``error_code`` or the reason in the text)
    └── ProtocolError   an answer the bridge cannot use (an object or property
                        bacpypes3 has no type for)

bacpypes3 raises its Error / Reject / Abort PDUs as ``BaseException`` (not
``Exception``), so they are caught by name here; bad arguments it refuses
(``ValueError`` / ``TypeError``) become ``InvalidInput``.

Hostile networks: an I-Am naming an object that is not a device is dropped
(``bad_i_ams``), the notification channel is bounded and drops (counting
``events_dropped``) when the bridge falls behind, bacpypes3's device-info
cache is capped (an I-Am flood of made-up instances would otherwise grow it
without end), and every request also has a trio deadline so a device that
segments forever cannot hold a caller longer than ``timeout_s`` x (retries + 1)
plus a margin.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
from attrs import define, frozen
from bacpypes3.apdu import (
    AbortPDU,
    ConfirmedCOVNotificationRequest,
    ErrorPDU,
    ErrorRejectAbortNack,
    IAmRequest,
    RejectPDU,
    SimpleAckPDU,
    SubscribeCOVRequest,
    UnconfirmedCOVNotificationRequest,
)
from bacpypes3.app import Application, DeviceInfoCache
from bacpypes3.basetypes import BDTEntry, HostNPort, IPMode
from bacpypes3.errors import ExecutionError
from bacpypes3.local.device import DeviceObject
from bacpypes3.local.networkport import NetworkPortObject
from bacpypes3.pdu import Address
from bacpypes3.primitivedata import Null, ObjectIdentifier, ObjectType
from bacpypes3.vendor import get_vendor_info

from opencrate.components.bacnet.loop import AsyncioThread
from opencrate.components.bacnet.values import ObjectRef, to_python
from opencrate.errors import BridgeTimeout, DeviceError, InvalidInput, ProtocolError, map_exceptions

__all__ = [
    "BacnetStack",
    "CovNotification",
    "IAm",
    "PropertyFailure",
    "StackSettings",
    "StackStatistics",
    "make_application",
]

log = logging.getLogger(__name__)

#: ASHRAE's own vendor id: the standard object and property types, nothing proprietary.
_VENDOR_ID = 999
#: The device-info cache's size (bacpypes3 keeps one entry per address and instance).
_DEVICE_CACHE_CAP = 5000
#: Extra time the trio deadline allows beyond bacpypes3's own timeout and retries.
_DEADLINE_MARGIN_S = 1.0


@frozen(kw_only=True)
class IAm:
    """A device announcing itself: who, where, and how big a request it takes."""

    device_instance: int
    address: str  # "host:port"
    max_apdu: int
    segmentation: str  # segmented-both | segmented-transmit | segmented-receive | no-segmentation
    vendor_id: int


@frozen(kw_only=True)
class CovNotification:
    """A change-of-value notification for an object we subscribed to."""

    address: str
    device_instance: int
    object: ObjectRef
    process_id: int
    values: Mapping[str, Any]  # property name -> plain value (present-value, status-flags, ...)
    time_remaining_s: int
    confirmed: bool


@frozen(kw_only=True)
class PropertyFailure:
    """One property of a ReadPropertyMultiple that the device could not give."""

    error_class: str
    error_code: str

    def __str__(self) -> str:
        return f"{self.error_class}: {self.error_code}"


@frozen(kw_only=True)
class StackSettings:
    """Where the stack listens and how it behaves on the network."""

    address: str = "0.0.0.0:47808"  # bacpypes3 form: "host[/prefix][:port]"
    device_instance: int = 4_194_302 - 1  # this stack's own device object
    device_name: str = "OpenCrate"
    foreign_bbmd: str | None = None  # "host:port": register as a foreign device
    foreign_ttl_s: int = 300
    bbmd_peers: tuple[str, ...] = ()  # be a BBMD with this broadcast distribution table
    timeout_s: float = 3.0  # APDU timeout
    retries: int = 1  # APDU retries
    events_capacity: int = 1000


@define
class StackStatistics:
    requests: int = 0
    timeouts: int = 0
    errors: int = 0
    i_ams: int = 0
    bad_i_ams: int = 0  # I-Ams naming an object that is not a device: dropped
    notifications: int = 0
    unknown_notifications: int = 0
    events_dropped: int = 0  # I-Ams and notifications the full channel could not take
    device_cache: int = 0  # entries in bacpypes3's device-info cache (capped)


class _BoundedDeviceInfoCache(DeviceInfoCache):  # type: ignore[misc]
    """bacpypes3's cache of I-Am facts, capped: the oldest unused entries go first."""

    async def set_device_info(self, apdu: IAmRequest) -> Any:
        info = await super().set_device_info(apdu)
        while len(self.instance_cache) > _DEVICE_CACHE_CAP:
            instance, oldest = next(iter(self.instance_cache.items()))
            if getattr(oldest, "_ref_count", 0):
                break  # a segmented exchange is using it; evict later
            del self.instance_cache[instance]
            self.address_cache.pop(oldest.device_address, None)
        return info


def make_application(settings: StackSettings, app_class: type[Application] = Application) -> Any:
    """A bacpypes3 Application for ``settings`` (call on the asyncio thread: it binds sockets)."""
    vendor = get_vendor_info(_VENDOR_ID)
    device = DeviceObject(
        objectIdentifier=("device", settings.device_instance),
        objectName=settings.device_name,
        vendorIdentifier=_VENDOR_ID,
        vendorName="OpenCrate",
        modelName="OpenCrate",
        apduTimeout=int(settings.timeout_s * 1000),
        numberOfApduRetries=settings.retries,
    )
    port_class = vendor.get_object_class(ObjectType("network-port")) or NetworkPortObject
    port = port_class(
        settings.address,
        objectIdentifier=("network-port", 1),
        objectName="NetworkPort-1",
        networkNumberQuality="unknown",
    )
    if settings.foreign_bbmd is not None:
        port.bacnetIPMode = IPMode.foreign
        port.fdBBMDAddress = HostNPort(settings.foreign_bbmd)
        port.fdSubscriptionLifetime = settings.foreign_ttl_s
    if settings.bbmd_peers:
        port.bacnetIPMode = IPMode.bbmd
        port.bbmdAcceptFDRegistrations = True
        port.bbmdForeignDeviceTable = []
        port.bbmdBroadcastDistributionTable = [BDTEntry(a) for a in settings.bbmd_peers]
    return app_class.from_object_list([device, port], device_info_cache=_BoundedDeviceInfoCache())


class _ClientApplication(Application):  # type: ignore[misc]
    """The Application the stack runs: I-Ams and COV notifications go to the trio side."""

    stack: BacnetStack

    async def do_IAmRequest(self, apdu: IAmRequest) -> None:
        await super().do_IAmRequest(apdu)  # resolves pending who_is futures; checks fields
        self.stack._on_i_am(apdu)

    async def do_ConfirmedCOVNotificationRequest(
        self, apdu: ConfirmedCOVNotificationRequest
    ) -> None:
        if not self.stack._on_cov(apdu, confirmed=True):
            raise ExecutionError(errorClass="services", errorCode="unknownSubscription")
        await self.response(SimpleAckPDU(context=apdu))

    async def do_UnconfirmedCOVNotificationRequest(
        self, apdu: UnconfirmedCOVNotificationRequest
    ) -> None:
        self.stack._on_cov(apdu, confirmed=False)


def _names_a_device(apdu: IAmRequest) -> bool:
    """Whether an I-Am names a device object (bacpypes3 takes any object identifier)."""
    identifier = apdu.iAmDeviceIdentifier
    return identifier is not None and identifier[0] == ObjectType.device


def _address_text(address: Any) -> str:
    return str(address)


def _device_error(exc: BaseException) -> DeviceError | BridgeTimeout:
    """An Error / Reject / Abort PDU as the bridge's error (no-response is a timeout)."""
    if isinstance(exc, AbortPDU):
        reason = str(getattr(exc, "apduAbortRejectReason", "") or exc)
        if "no-response" in reason or "noResponse" in reason:
            return BridgeTimeout(f"no answer: {reason}")
        return DeviceError(f"request aborted: {reason}")
    if isinstance(exc, RejectPDU):
        return DeviceError(f"request rejected: {getattr(exc, 'apduAbortRejectReason', exc)}")
    if isinstance(exc, ErrorPDU):
        return DeviceError(
            f"device error: {getattr(exc, 'errorClass', '?')}: {getattr(exc, 'errorCode', '?')}"
        )
    return DeviceError(f"device refused the request: {exc}")


class BacnetStack:
    """One bacpypes3 stack on one UDP port, driven from trio; see the module docstring.

    Open it with :meth:`open`; it closes its sockets and thread on exit.
    """

    def __init__(self, loop: AsyncioThread, settings: StackSettings) -> None:
        self._loop = loop
        self.settings = settings
        self._send, self.events = trio.open_memory_channel[IAm | CovNotification](
            settings.events_capacity
        )
        self._subscriptions: dict[tuple[str, int], ObjectRef] = {}
        self._app: Any = None
        self.stats = StackStatistics()
        self._deadline_s = settings.timeout_s * (settings.retries + 1) + _DEADLINE_MARGIN_S
        #: Whether a global Who-Is can go anywhere: through the BBMD, or to the local
        #: network's broadcast address (which needs the address's prefix: "10.0.0.5/24").
        self.can_broadcast = settings.foreign_bbmd is not None or _has_broadcast(settings.address)

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: StackSettings) -> AsyncIterator[BacnetStack]:
        """Bind the stack (InvalidInput for an address bacpypes3 cannot use)."""
        async with AsyncioThread.open(name="bacnet") as loop:
            stack = cls(loop, settings)

            def build() -> Any:
                app = make_application(settings, _ClientApplication)
                app.stack = stack
                return app

            bad = _bad_settings(settings)
            with map_exceptions({ValueError: bad, TypeError: bad, OSError: bad, RuntimeError: bad}):
                stack._app = await loop.call(build)
            try:
                yield stack
            finally:
                await loop.call(stack._app.close)
                stack._send.close()

    # -- unsolicited traffic (called on the asyncio thread) --------------------------------
    def _on_i_am(self, apdu: IAmRequest) -> None:
        self.stats.i_ams += 1
        if not _names_a_device(apdu):
            self.stats.bad_i_ams += 1
            return
        record = IAm(
            device_instance=int(apdu.iAmDeviceIdentifier[1]),
            address=_address_text(apdu.pduSource),
            max_apdu=int(apdu.maxAPDULengthAccepted),
            segmentation=str(apdu.segmentationSupported),
            vendor_id=int(apdu.vendorID),
        )
        self._push(record)

    def _on_cov(
        self, apdu: ConfirmedCOVNotificationRequest | UnconfirmedCOVNotificationRequest, *,
        confirmed: bool,
    ) -> bool:  # fmt: skip
        address = _address_text(apdu.pduSource)
        process_id = int(apdu.subscriberProcessIdentifier)
        obj = self._subscriptions.get((address, process_id))
        monitored = to_python(apdu.monitoredObjectIdentifier)
        if obj is None or obj != monitored:
            self.stats.unknown_notifications += 1
            return False
        self.stats.notifications += 1
        values: dict[str, Any] = {}
        object_class = get_vendor_info(_VENDOR_ID).get_object_class(ObjectType(obj.object_type))
        for item in apdu.listOfValues or ():
            name = str(item.propertyIdentifier)
            kind = object_class.get_property_type(item.propertyIdentifier) if object_class else None
            try:
                raw = item.value.cast_out(kind) if kind is not None else None
            except Exception:  # a value of the wrong type from the device: skip that property
                log.debug("bacnet: %s %s: undecodable %s in COV", address, obj, name)
                continue
            values[name] = to_python(raw)
        self._push(
            CovNotification(
                address=address,
                device_instance=int(apdu.initiatingDeviceIdentifier[1]),
                object=obj,
                process_id=process_id,
                values=values,
                time_remaining_s=int(apdu.timeRemaining or 0),
                confirmed=confirmed,
            )
        )
        return True

    def _push(self, record: IAm | CovNotification) -> None:
        # Dropped (and counted in the loop's ``dropped``) on the trio side when the channel
        # is full: the count is read from there, not here, where the drop has not happened yet.
        self._loop.push(self._send, record)

    # -- requests ---------------------------------------------------------------------------
    async def _request(self, coroutine_fn: Any, *args: Any, what: str) -> Any:
        """Run a bacpypes3 request on the loop thread with errors mapped and a deadline."""
        self.stats.requests += 1

        async def guarded() -> Any:
            with map_exceptions({ErrorRejectAbortNack: _device_error}):
                return await coroutine_fn(*args)

        try:
            with trio.fail_after(self._deadline_s):
                with map_exceptions(
                    {ValueError: InvalidInput, TypeError: InvalidInput, KeyError: ProtocolError}
                ):
                    result = await self._loop.run(guarded)
        except trio.TooSlowError:
            self.stats.timeouts += 1
            raise BridgeTimeout(f"{what}: no answer within {self._deadline_s:.1f}s") from None
        except BridgeTimeout:
            self.stats.timeouts += 1
            raise
        except DeviceError:
            self.stats.errors += 1
            raise
        if isinstance(result, ErrorRejectAbortNack):  # bacpypes3 returns some instead of raising
            self.stats.errors += 1
            raise _device_error(result)
        if isinstance(result, str) and result.startswith("-no "):
            raise ProtocolError(f"{what}: bacpypes3 has no type for it ({result.strip('-')})")
        return result

    async def who_is(
        self,
        low: int | None = None,
        high: int | None = None,
        *,
        address: str | None = None,
        timeout_s: float = 3.0,
    ) -> list[IAm]:
        """Devices that answer a Who-Is, by instance.

        Global (no ``address``; through the BBMD when registered as a foreign
        device) and ranged (``low``..``high``) Who-Is wait the whole
        ``timeout_s`` collecting answers, except a range of one instance,
        which returns at its first I-Am; a directed Who-Is (``address``)
        returns at the first answer from there. No answer: ``[]``.
        """
        if (low is None) != (high is None):
            raise InvalidInput("a Who-Is range needs both low and high", field="range")
        if low is not None and high is not None and not 0 <= low <= high <= 4_194_303:
            raise InvalidInput(f"bad Who-Is range {low}..{high}", field="range")
        target = None if address is None else _parse_address(address)
        if target is None and not self.can_broadcast:
            return []  # bacpypes3 would only log "no broadcast" from a task

        async def ask() -> Any:
            return await self._app.who_is(low, high, target, timeout=timeout_s)

        with trio.move_on_after(timeout_s + _DEADLINE_MARGIN_S):
            answers = await self._loop.run(ask)
            return sorted(
                (self._i_am_record(a) for a in answers if _names_a_device(a)),
                key=lambda i: i.device_instance,
            )
        return []

    def _i_am_record(self, apdu: IAmRequest) -> IAm:
        return IAm(
            device_instance=int(apdu.iAmDeviceIdentifier[1]),
            address=_address_text(apdu.pduSource),
            max_apdu=int(apdu.maxAPDULengthAccepted),
            segmentation=str(apdu.segmentationSupported),
            vendor_id=int(apdu.vendorID),
        )

    async def read_property(
        self, address: str, obj: ObjectRef, prop: str, index: int | None = None
    ) -> Any:
        """One property of one object, as plain Python (see :mod:`.values`)."""
        target = _parse_address(address)
        value = await self._request(
            self._app.read_property, target, _objid(obj), prop, index,
            what=f"read {obj} {prop} at {address}",
        )  # fmt: skip
        return to_python(value)

    async def read_property_multiple(
        self, address: str, requests: Sequence[tuple[ObjectRef, Sequence[str]]]
    ) -> dict[tuple[ObjectRef, str], Any]:
        """Several properties of several objects in one request.

        Returns ``{(object, property): value}``; a property the device could
        not give maps to a :class:`PropertyFailure` (the request as a whole
        succeeded). A device without RPM raises DeviceError (rejected).
        """
        target = _parse_address(address)
        parameters: list[Any] = []
        for obj, props in requests:
            parameters.extend([_objid(obj), list(props)])
        results = await self._request(
            self._app.read_property_multiple, target, parameters,
            what=f"read {len(requests)} objects at {address}",
        )  # fmt: skip
        answer: dict[tuple[ObjectRef, str], Any] = {}
        for objid, prop, _index, value in results:
            key = (to_python(objid), str(prop))
            if isinstance(value, ErrorRejectAbortNack) or type(value).__name__ == "ErrorType":
                answer[key] = PropertyFailure(
                    error_class=str(getattr(value, "errorClass", "?")),
                    error_code=str(getattr(value, "errorCode", "?")),
                )
            else:
                answer[key] = to_python(value)
        return answer

    async def write_property(
        self,
        address: str,
        obj: ObjectRef,
        prop: str,
        value: Any,
        *,
        priority: int | None = None,
        index: int | None = None,
    ) -> None:
        """Write one property; ``value`` None with a priority relinquishes that slot."""
        if priority is not None and not 1 <= priority <= 16:
            raise InvalidInput(f"BACnet priority must be 1-16, got {priority}", field="priority")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(f"cannot write {value!r} to {obj}", field="value")
        target = _parse_address(address)
        raw = Null(()) if value is None else value
        await self._request(
            self._app.write_property, target, _objid(obj), prop, raw, index, priority,
            what=f"write {obj} {prop} at {address}",
        )  # fmt: skip

    async def subscribe_cov(
        self,
        address: str,
        obj: ObjectRef,
        *,
        process_id: int,
        confirmed: bool,
        lifetime_s: int,
    ) -> None:
        """Ask the device for change-of-value notifications of ``obj`` for ``lifetime_s``.

        Renew before the lifetime ends by calling this again with the same
        ``process_id``. Notifications arrive on :attr:`events`.
        """
        target = _parse_address(address)
        self._subscriptions[(_address_text(target), process_id)] = obj
        request = SubscribeCOVRequest(
            subscriberProcessIdentifier=process_id,
            monitoredObjectIdentifier=_objid(obj),
            issueConfirmedNotifications=confirmed,
            lifetime=lifetime_s,
            destination=target,
        )
        try:
            await self._request(self._app.request, request, what=f"subscribe {obj} at {address}")
        except BaseException:
            self._subscriptions.pop((_address_text(target), process_id), None)
            raise

    async def unsubscribe_cov(self, address: str, obj: ObjectRef, *, process_id: int) -> None:
        """Cancel a subscription (a request without lifetime); forgets it even on failure."""
        target = _parse_address(address)
        self._subscriptions.pop((_address_text(target), process_id), None)
        request = SubscribeCOVRequest(
            subscriberProcessIdentifier=process_id,
            monitoredObjectIdentifier=_objid(obj),
            destination=target,
        )
        await self._request(self._app.request, request, what=f"unsubscribe {obj} at {address}")

    def statistics(self) -> StackStatistics:
        """A copy of the counts (requests, timeouts, errors, I-Ams, notifications, drops)
        and the size of bacpypes3's device-info cache (``device_cache``)."""
        cache = getattr(self._app, "device_info_cache", None)
        size = 0 if cache is None else len(cache.instance_cache)  # a len() is thread-safe
        return attrs.evolve(self.stats, events_dropped=self._loop.dropped, device_cache=size)


def _has_broadcast(address: str) -> bool:
    try:
        parsed = Address(address)
    except (ValueError, TypeError):
        return False
    broadcast = getattr(parsed, "addrBroadcastTuple", None)
    return broadcast is not None and broadcast != getattr(parsed, "addrTuple", None)


def _objid(obj: ObjectRef) -> ObjectIdentifier:
    with map_exceptions(
        {ValueError: InvalidInput, TypeError: InvalidInput, KeyError: InvalidInput}, field="object"
    ):
        return ObjectIdentifier((obj.object_type, obj.instance))


def _parse_address(address: str) -> Address:
    with map_exceptions({ValueError: InvalidInput, TypeError: InvalidInput}, field="address"):
        return Address(address)


def _bad_settings(settings: StackSettings) -> Any:
    def target(exc: BaseException) -> InvalidInput:
        return InvalidInput(
            f"cannot open the BACnet stack on {settings.address!r}: {exc}", key="bacnet.address"
        )

    return target
