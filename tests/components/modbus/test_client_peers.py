"""ModbusClient against servers the project did not write, over loopback.

- pyModbusTCP 0.3.1 (pure Python, no pymodbus inside), in a thread of this process,
  so its data bank can be read directly: every function code, values agree with
  what the server holds.
- libmodbus (Debian's libmodbus-dev, C): a small server built with gcc into
  tmp_path, with known tables; writes are read back by the client and by mbpoll
  (a libmodbus client). Skips when gcc, pkg-config, libmodbus or mbpoll is
  missing, unless OPENCRATE_REQUIRE_SERVICES=1 (then fails).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio
from pyModbusTCP.server import DataBank, ModbusServer

from opencrate.components.modbus.client import ModbusClient
from opencrate.errors import BridgeError, DeviceError
from tests.conftest import require_program

SAFETY_S = 20


# -- pyModbusTCP -----------------------------------------------------------------------
@pytest.fixture
def pymodbustcp() -> Iterator[tuple[DataBank, int]]:
    """A pyModbusTCP server on a free loopback port: (its data bank, its port).

    Tables of 1000 entries each, so that address 1000 is out of range (exception 2).
    """
    bank = DataBank(coils_size=1000, d_inputs_size=1000, h_regs_size=1000, i_regs_size=1000)
    server = ModbusServer(host="127.0.0.1", port=0, no_block=True, data_bank=bank)
    server.start()
    try:
        yield bank, server._service.server_address[1]
    finally:
        server.stop()


@pytest.fixture
async def peer_client(pymodbustcp: tuple[DataBank, int]) -> AsyncIterator[ModbusClient]:
    client = ModbusClient("127.0.0.1", pymodbustcp[1], timeout_s=2, device="pymodbustcp")
    yield client
    await client.aclose()


async def test_pymodbustcp_reads_every_table_as_the_server_holds_it(
    pymodbustcp: tuple[DataBank, int], peer_client: ModbusClient
) -> None:
    bank, _ = pymodbustcp
    bank.set_coils(10, [True, False, True, True, False, False, False, False, True])
    bank.set_discrete_inputs(20, [False, True, True])
    bank.set_holding_registers(30, [0, 1, 0x7FFF, 0x8000, 0xFFFF])
    bank.set_input_registers(40, [4242, 0, 65535])
    with trio.fail_after(SAFETY_S):
        assert await peer_client.read_coils(10, 9) == bank.get_coils(10, 9)
        assert await peer_client.read_discrete_inputs(20, 3) == bank.get_discrete_inputs(20, 3)
        assert await peer_client.read_holding_registers(30, 5) == bank.get_holding_registers(30, 5)
        assert await peer_client.read_input_registers(40, 3) == bank.get_input_registers(40, 3)
        assert await peer_client.read("holding", 30, 5) == [0, 1, 0x7FFF, 0x8000, 0xFFFF]
        assert await peer_client.read("discrete_input", 20, 3) == [False, True, True]
        # The protocol's largest reads.
        bank.set_coils(0, [i % 7 == 0 for i in range(1000)])
        bank.set_holding_registers(500, [i * 3 for i in range(125)])
        assert await peer_client.read_coils(0, 1000) == bank.get_coils(0, 1000)
        assert await peer_client.read_holding_registers(500, 125) == [i * 3 for i in range(125)]
    assert peer_client.statistics().reconnects == 0


async def test_pymodbustcp_holds_what_every_write_function_wrote(
    pymodbustcp: tuple[DataBank, int], peer_client: ModbusClient
) -> None:
    bank, _ = pymodbustcp
    coils = [i % 3 != 1 for i in range(19)]
    registers = [(i * 2654435761) & 0xFFFF for i in range(123)]
    with trio.fail_after(SAFETY_S):
        await peer_client.write_coil(5, True)
        assert bank.get_coils(4, 3) == [False, True, False]
        await peer_client.write_coil(5, False)
        assert bank.get_coils(5, 1) == [False]
        await peer_client.write_register(60, 0xBEEF)
        assert bank.get_holding_registers(60, 1) == [0xBEEF]
        await peer_client.write_coils(70, coils)
        assert bank.get_coils(70, 19) == coils
        await peer_client.write_registers(200, registers)
        assert bank.get_holding_registers(200, 123) == registers
        # And the client reads back what it wrote.
        assert await peer_client.read_coils(70, 19) == coils
        assert await peer_client.read_holding_registers(200, 123) == registers
    stats = peer_client.statistics()
    assert (stats.requests, stats.errors, stats.reconnects) == (7, 0, 0)


async def test_pymodbustcp_out_of_range_address_is_illegal_data_address(
    peer_client: ModbusClient,
) -> None:
    with trio.fail_after(SAFETY_S):
        with pytest.raises(DeviceError, match=r"^ILLEGAL DATA ADDRESS \(2\)") as caught:
            await peer_client.read_holding_registers(999, 2)
        assert caught.value.detail["exception_code"] == 2
        with pytest.raises(DeviceError, match=r"^ILLEGAL DATA ADDRESS \(2\)"):
            await peer_client.write_register(1000, 1)
        assert await peer_client.read_holding_registers(998, 2) == [0, 0]
    assert peer_client.statistics().reconnects == 0


# -- libmodbus -------------------------------------------------------------------------
LIBMODBUS_SERVER_C = r"""
/* A libmodbus TCP server on 127.0.0.1 (port from argv, 0 = any): prints its port, then
   serves one connection at a time. Tables of 100 with known values:
   coil i = (i % 3 == 0), discrete input i = (i % 2), holding i = 7 * i, input i = 1000 + i. */
#include <arpa/inet.h>
#include <errno.h>
#include <modbus.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
    modbus_mapping_t *map = modbus_mapping_new(100, 100, 100, 100);
    if (ctx == NULL || map == NULL) {
        fprintf(stderr, "setup: %s\n", modbus_strerror(errno));
        return 1;
    }
    for (int i = 0; i < 100; i++) {
        map->tab_bits[i] = (i % 3 == 0);
        map->tab_input_bits[i] = (i % 2);
        map->tab_registers[i] = 7 * i;
        map->tab_input_registers[i] = 1000 + i;
    }
    int listener = modbus_tcp_listen(ctx, 4);
    if (listener < 0) {
        fprintf(stderr, "listen: %s\n", modbus_strerror(errno));
        return 1;
    }
    struct sockaddr_in addr; socklen_t len = sizeof addr;
    getsockname(listener, (struct sockaddr *)&addr, &len);
    printf("%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    for (;;) {
        if (modbus_tcp_accept(ctx, &listener) < 0) {
            fprintf(stderr, "accept: %s\n", modbus_strerror(errno));
            return 1;
        }
        for (;;) {
            int rc = modbus_receive(ctx, query);
            if (rc > 0) { modbus_reply(ctx, query, rc, map); }
            else if (rc == -1) { break; }  /* connection closed or bad frame: next client */
        }
        modbus_close(ctx);  /* the client's socket; the listener stays */
    }
}
"""


def _libmodbus_flags() -> list[str]:
    pkg_config = require_program("pkg-config", shutil.which("pkg-config"))
    found = subprocess.run(
        [pkg_config, "--cflags", "--libs", "libmodbus"], capture_output=True, text=True
    )
    if found.returncode != 0:
        require_program("libmodbus (Debian's libmodbus-dev)", None)
    return found.stdout.split()


class LibmodbusServer:
    """The libmodbus server binary; ``start(port)`` runs it (0: any port), ``stop()`` ends it."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self, port: int = 0) -> int:
        self.process = subprocess.Popen(
            [str(self.binary), str(port)], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the server prints its port once it listens
        assert line.strip().isdigit(), f"the libmodbus server did not start: {line!r}"
        self.port = int(line)
        return self.port

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=5)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None


@pytest.fixture
def libmodbus(tmp_path: Path) -> Iterator[LibmodbusServer]:
    """The libmodbus server built into tmp_path and started; stopped after the test."""
    gcc = require_program("gcc", shutil.which("gcc"))
    flags = _libmodbus_flags()
    source = tmp_path / "server.c"
    source.write_text(LIBMODBUS_SERVER_C)
    binary = tmp_path / "server"
    subprocess.run([gcc, "-Wall", "-o", str(binary), str(source), *flags], check=True)
    server = LibmodbusServer(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def libmodbus_port(libmodbus: LibmodbusServer) -> int:
    return libmodbus.port


async def test_libmodbus_reads_every_table_as_the_server_holds_it(libmodbus_port: int) -> None:
    client = ModbusClient("127.0.0.1", libmodbus_port, timeout_s=2, device="libmodbus")
    try:
        with trio.fail_after(SAFETY_S):
            assert await client.read_coils(0, 100) == [i % 3 == 0 for i in range(100)]
            assert await client.read_discrete_inputs(3, 5) == [bool(i % 2) for i in range(3, 8)]
            assert await client.read_holding_registers(90, 10) == [7 * i for i in range(90, 100)]
            assert await client.read_input_registers(0, 100) == [1000 + i for i in range(100)]
            with pytest.raises(DeviceError, match=r"^ILLEGAL DATA ADDRESS \(2\)") as caught:
                await client.read_input_registers(99, 2)
            assert caught.value.detail["exception_code"] == 2
            assert await client.read_input_registers(99, 1) == [1099]
    finally:
        await client.aclose()
    assert client.statistics().reconnects == 0


async def _mbpoll(port: int, table: int, reference: int, count: int) -> list[int]:
    """Read with mbpoll (0-based references, one poll); the values it printed."""
    mbpoll = require_program("mbpoll", shutil.which("mbpoll"))
    args = ["-m", "tcp", "-a", "1", "-t", str(table), "-r", str(reference), "-c", str(count)]
    done = await trio.run_process(
        [mbpoll, *args, "-0", "-1", "-p", str(port), "127.0.0.1"], capture_stdout=True
    )
    found = re.findall(r"^\[(\d+)\]:\s+(-?\d+)", done.stdout.decode(), re.MULTILINE)
    assert [int(ref) for ref, _ in found] == list(range(reference, reference + count))
    return [int(value) for _, value in found]


async def test_libmodbus_holds_what_every_write_function_wrote(libmodbus_port: int) -> None:
    client = ModbusClient("127.0.0.1", libmodbus_port, timeout_s=2, device="libmodbus")
    coils = [True, True, False, True, False, False, True, True, True, False, True]
    with trio.fail_after(SAFETY_S):
        try:
            await client.write_coil(1, True)
            await client.write_register(2, 0xFFFF)
            await client.write_coils(20, coils)
            await client.write_registers(40, [1, 2, 3, 40000])
            assert await client.read_coils(0, 3) == [True, True, False]
            assert await client.read_coils(20, 11) == coils
            assert await client.read_holding_registers(1, 3) == [7, 0xFFFF, 21]
            assert await client.read_holding_registers(40, 5) == [1, 2, 3, 40000, 7 * 44]
            with pytest.raises(DeviceError, match=r"^ILLEGAL DATA ADDRESS \(2\)"):
                await client.write_registers(99, [1, 2])
        finally:
            # The server serves one connection at a time: free it for mbpoll.
            await client.aclose()
        # An independent client sees the same.
        assert await _mbpoll(libmodbus_port, 0, 20, 11) == [int(c) for c in coils]
        assert await _mbpoll(libmodbus_port, 4, 1, 3) == [7, 0xFFFF, 21]
        assert await _mbpoll(libmodbus_port, 4, 40, 4) == [1, 2, 3, 40000]


async def test_libmodbus_restart_costs_the_client_no_error_once_it_is_back(
    libmodbus: LibmodbusServer,
) -> None:
    client = ModbusClient("127.0.0.1", libmodbus.port, timeout_s=2, device="libmodbus")
    try:
        with trio.fail_after(SAFETY_S):
            assert await client.read_input_registers(0, 2) == [1000, 1001]
            libmodbus.stop()
            # Down: the kept connection was closed by the device, and nothing listens.
            with pytest.raises(BridgeError) as caught:
                await client.read_input_registers(0, 2)
            assert str(caught.value) == (
                f"cannot connect to 127.0.0.1:{libmodbus.port}: Connection refused"
            )
            libmodbus.start(libmodbus.port)
            assert await client.read_input_registers(0, 2) == [1000, 1001]
            libmodbus.stop()
            libmodbus.start(libmodbus.port)
            # Rebooted between two polls: the read is sent again on a new connection.
            assert await client.read_input_registers(5, 1) == [1005]
    finally:
        await client.aclose()
    stats = client.statistics()
    assert (stats.requests, stats.errors, stats.reconnects) == (4, 1, 2)
