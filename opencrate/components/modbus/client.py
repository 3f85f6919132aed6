"""The trio Modbus TCP client: one connection per device, one request in flight.

:class:`ModbusClient` opens its TCP connection on the first request and keeps
it. Requests are serialised by a :class:`trio.Lock` (devices and gateways often
do not handle pipelined requests), each bounded by ``timeout_s``; connecting
has its own ``timeout_s``.

The connection is closed after any timeout, cancellation, socket error or
protocol error, so that a late or stray answer can never be read as the answer
to the next request; the next request reconnects. When a kept connection turns
out closed or reset by the device before any byte of the answer (the device
rebooted, or closes idle connections), a read is sent once more on a new
connection; a write is not (the device may have acted on it) and fails with
:class:`BridgeError`. An exception response
(:class:`DeviceError`) leaves the connection open: the device answered
properly.

Errors (each with ``detail["device"]``, ``host`` and ``port``):

- :class:`BridgeTimeout`: no connection or no complete answer in ``timeout_s``;
- :class:`BridgeError`: cannot connect (``"cannot connect to host:port: ..."``),
  the connection was reset or closed by the device, or the client was closed;
- :class:`ProtocolError`: a malformed frame, a wrong transaction id, unit id,
  function code, length or count;
- :class:`DeviceError`: a Modbus exception response, named in the message
  (``"ILLEGAL DATA ADDRESS (2)"``), with ``detail["exception_code"]``;
- :class:`InvalidInput`: an address, count or value outside the protocol's range.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import trio
from attrs import frozen

from opencrate.components.modbus import pdu
from opencrate.errors import (
    BridgeError,
    BridgeTimeout,
    DeviceError,
    InvalidInput,
    map_exceptions,
)

__all__ = ["ClientStatistics", "ModbusClient"]

# One receive_some never needs more than a whole ADU.
_RECEIVE_SIZE = 260


@frozen(kw_only=True)
class ClientStatistics:
    """What a :class:`ModbusClient` has done since it was made.

    ``requests``: requests sent; ``errors``: requests that failed (any error,
    timeouts included); ``timeouts``: those that failed with BridgeTimeout;
    ``reconnects``: connections opened after the first; ``last_rtt_s``: round-trip
    time of the last successful request (send to decoded answer), None before
    one; ``connected``: a connection is open now.
    """

    requests: int
    errors: int
    timeouts: int
    reconnects: int
    last_rtt_s: float | None
    connected: bool


class ModbusClient:
    """A Modbus TCP client for one device (``host:port``, ``unit_id``).

    Safe to share between tasks: requests wait for each other. Cancelling a
    request closes the connection (the answer may still be on its way).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        unit_id: int = 1,
        timeout_s: float = 3.0,
        device: str = "",
    ) -> None:
        if not 0 <= unit_id <= 255:
            raise InvalidInput(f"unit_id {unit_id} is outside 0..255", field="unit_id")
        if not (timeout_s > 0 and math.isfinite(timeout_s)):
            raise InvalidInput(f"timeout_s {timeout_s} is not a positive number", field="timeout")
        self.host = host
        self.port = port
        self.unit_id = unit_id
        self.timeout_s = timeout_s
        self.device = device
        self._detail: dict[str, Any] = {"device": device, "host": host, "port": port}
        self._lock = trio.Lock()
        self._stream: trio.SocketStream | None = None
        self._buffer = bytearray()
        self._closed = False
        self._answer_bytes = 0  # of the answer to the request in flight
        self._transaction_id = 0
        self._connections = 0
        self._requests = 0
        self._errors = 0
        self._timeouts = 0
        self._last_rtt_s: float | None = None

    # -- reads -----------------------------------------------------------------------
    async def read_coils(self, address: int, count: int) -> list[bool]:
        """FC 1: ``count`` coils from ``address``."""
        return _bits(await self._read(pdu.FunctionCode.READ_COILS, address, count))

    async def read_discrete_inputs(self, address: int, count: int) -> list[bool]:
        """FC 2: ``count`` discrete inputs from ``address``."""
        return _bits(await self._read(pdu.FunctionCode.READ_DISCRETE_INPUTS, address, count))

    async def read_holding_registers(self, address: int, count: int) -> list[int]:
        """FC 3: ``count`` holding registers (0..65535 each) from ``address``."""
        return _words(await self._read(pdu.FunctionCode.READ_HOLDING_REGISTERS, address, count))

    async def read_input_registers(self, address: int, count: int) -> list[int]:
        """FC 4: ``count`` input registers (0..65535 each) from ``address``."""
        return _words(await self._read(pdu.FunctionCode.READ_INPUT_REGISTERS, address, count))

    async def read(self, register_type: str, address: int, count: int) -> list[int] | list[bool]:
        """Read by the binding's ``register_type`` (coil, discrete_input, holding, input).

        Raises :class:`InvalidInput` for another register type.
        """
        function_code = pdu.REGISTER_TYPE_FUNCTIONS.get(register_type)
        if function_code is None:
            raise InvalidInput(
                f"register type {register_type!r} is not one of "
                f"{', '.join(pdu.REGISTER_TYPE_FUNCTIONS)}",
                field="register_type",
                **self._detail,
            )
        return await self._read(function_code, address, count)

    # -- writes ----------------------------------------------------------------------
    async def write_coil(self, address: int, value: bool) -> None:
        """FC 5: write one coil."""
        await self._request(
            pdu.write_coil_request(address, value, **self._ids()),
        )

    async def write_register(self, address: int, value: int) -> None:
        """FC 6: write one register (0..65535)."""
        await self._request(pdu.write_register_request(address, value, **self._ids()))

    async def write_coils(self, address: int, values: Sequence[bool]) -> None:
        """FC 15: write consecutive coils from ``address``."""
        await self._request(pdu.write_coils_request(address, values, **self._ids()))

    async def write_registers(self, address: int, values: Sequence[int]) -> None:
        """FC 16: write consecutive registers (0..65535 each) from ``address``."""
        await self._request(pdu.write_registers_request(address, values, **self._ids()))

    # -- lifetime --------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close the connection; later requests raise :class:`BridgeError`. Idempotent.

        A request in flight in another task fails with :class:`BridgeError` at once.
        """
        self._closed = True
        await self._disconnect()

    def statistics(self) -> ClientStatistics:
        return ClientStatistics(
            requests=self._requests,
            errors=self._errors,
            timeouts=self._timeouts,
            reconnects=max(0, self._connections - 1),
            last_rtt_s=self._last_rtt_s,
            connected=self._stream is not None,
        )

    # -- internals -------------------------------------------------------------------
    def _ids(self) -> dict[str, int]:
        # Transaction ids run 1..65535 and wrap; each request gets a fresh one.
        self._transaction_id = self._transaction_id % 0xFFFF + 1
        return {"unit_id": self.unit_id, "transaction_id": self._transaction_id}

    async def _read(self, function_code: int, address: int, count: int) -> list[int] | list[bool]:
        request = pdu.read_request(function_code, address, count, **self._ids())
        values = await self._request(request)
        assert values is not None  # a read's response always carries values
        return values

    async def _request(self, request: pdu.Request) -> list[int] | list[bool] | None:
        async with self._lock:
            if self._closed:
                raise BridgeError(f"{self._where()}: the client is closed", **self._detail)
            self._requests += 1
            reused = self._stream is not None
            try:
                stream = await self._connect()
                try:
                    return await self._exchange(stream, request)
                except BridgeError as exc:
                    if not (reused and request.is_read and self._stale(exc)):
                        raise
                # The device had closed the idle connection (it rebooted, or closes idle
                # clients): nothing was answered, so a read is sent once more on a new one.
                await self._disconnect()
                return await self._exchange(await self._connect(), request)
            except DeviceError:
                self._errors += 1
                raise
            except BaseException as exc:
                # Timeout, cancellation, socket or protocol error: the connection's state is
                # unknown (an answer may be on its way), so never reuse it.
                if not isinstance(exc, trio.Cancelled):
                    self._errors += 1
                    if isinstance(exc, BridgeTimeout):
                        self._timeouts += 1
                await self._disconnect()
                raise

    async def _connect(self) -> trio.SocketStream:
        if self._stream is not None:
            return self._stream
        with (
            map_exceptions(
                {
                    trio.TooSlowError: lambda _: BridgeTimeout(
                        f"cannot connect to {self._where()}: no connection in {self.timeout_s} s",
                        **self._detail,
                    ),
                    OSError: lambda exc: BridgeError(
                        f"cannot connect to {self._where()}: {_connect_reason(exc)}",
                        **self._detail,
                    ),
                }
            ),
            trio.fail_after(self.timeout_s),
        ):
            stream = await trio.open_tcp_stream(self.host, self.port)
        self._stream = stream
        self._buffer.clear()
        self._connections += 1
        return stream

    async def _exchange(
        self, stream: trio.SocketStream, request: pdu.Request
    ) -> list[int] | list[bool] | None:
        detail = {**self._detail, "transaction_id": request.transaction_id}
        lost = f"connection to {self._where()} lost during {request.describe()}"
        with (
            map_exceptions(
                {
                    trio.TooSlowError: lambda _: BridgeTimeout(
                        f"{self._where()}: no answer to {request.describe()} in {self.timeout_s} s",
                        **detail,
                    ),
                    trio.BrokenResourceError: lambda exc: BridgeError(f"{lost}: {exc}", **detail),
                    # aclose() from another task while this request waited for its answer.
                    trio.ClosedResourceError: lambda _: BridgeError(
                        f"{self._where()}: the client was closed during {request.describe()}",
                        **detail,
                    ),
                    OSError: lambda exc: BridgeError(f"{lost}: {exc}", **detail),
                }
            ),
            trio.fail_after(self.timeout_s),
        ):
            started = trio.current_time()
            self._answer_bytes = 0
            await stream.send_all(request.frame)
            header = pdu.parse_header(await self._receive(stream, pdu.HEADER_SIZE, lost), **detail)
            body = await self._receive(stream, header.pdu_size, lost)
            values = pdu.decode_response(request, header, body, **detail)
            self._last_rtt_s = trio.current_time() - started
        if self._buffer:
            # More bytes than one answer: nothing to do with this request, but the
            # connection no longer holds only answers to our requests.
            await self._disconnect()
        return values

    def _stale(self, exc: BridgeError) -> bool:
        # Reset or closed by the device before a byte of the answer came.
        return type(exc) is BridgeError and not self._answer_bytes and not self._closed

    async def _receive(self, stream: trio.SocketStream, size: int, lost: str) -> bytes:
        while len(self._buffer) < size:
            data = await stream.receive_some(_RECEIVE_SIZE)
            if not data:
                raise BridgeError(f"{lost}: closed by the device", **self._detail)
            self._answer_bytes += len(data)
            self._buffer += data
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]
        return chunk

    async def _disconnect(self) -> None:
        stream, self._stream = self._stream, None
        self._buffer.clear()
        if stream is not None:
            await trio.aclose_forcefully(stream)

    def _where(self) -> str:
        return f"{self.host}:{self.port}"


def _connect_reason(exc: Exception) -> str:
    # trio.open_tcp_stream raises "all attempts to connect to host:port failed" from a
    # group of the per-address errors: their reasons ("Connection refused") say more.
    errors = exc.__cause__.exceptions if isinstance(exc.__cause__, BaseExceptionGroup) else [exc]
    reasons = [
        os.strerror(e.errno) if isinstance(e, OSError) and e.errno else str(e) for e in errors
    ]
    return "; ".join(dict.fromkeys(reasons)) or type(exc).__name__


def _bits(values: list[int] | list[bool]) -> list[bool]:
    return [bool(v) for v in values]


def _words(values: list[int] | list[bool]) -> list[int]:
    return [int(v) for v in values]
