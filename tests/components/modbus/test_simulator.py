"""The Modbus simulator: a scenario's Modbus-bound points as register banks, driven by signals."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
import trio
from pymodbus.client import ModbusTcpClient

from opencrate.components.modbus.server import RegisterBank, answer_frame, serve_modbus
from opencrate.components.modbus.simulator import ModbusSimulator
from opencrate.components.scenario.format import Scenario
from opencrate.components.scenario.parse import load_scenario, parse_scenario
from opencrate.components.scenario.signals import SignalSampler, point_rng
from opencrate.errors import ConfigError
from opencrate.model.values import PointValue

OFFICE = Path(__file__).parents[3] / "opencrate/components/scenario/examples/office.toml"


@pytest.fixture(scope="module")
def office() -> Scenario:
    return load_scenario(OFFICE)


def float32(value: float) -> float:
    return float(struct.unpack(">f", struct.pack(">f", value))[0])


def expected_samples(scenario: Scenario, node_id: str, times: list[float]) -> list[PointValue]:
    """What the scenario's signal gives at ``times`` (in order, one sampler: as the simulator)."""
    [point] = [p for p in scenario.points() if p.node_id == node_id]
    assert point.signal is not None
    sampler = SignalSampler(point.signal, point.kind, point_rng(scenario.seed, node_id))
    return [sampler.sample(t) for t in times]


def scenario(points: str) -> Scenario:
    return parse_scenario(
        f"""
[scenario]
name = "modbus test"
seed = 7

[[site]]
id = "site"
dis = "Site"

[[equip]]
id = "dev"
dis = "Device"
parent = "site"
binding = {{ protocol = "modbus", device_id = "dev-1" }}
{points}
""",
        source="test.toml",
    )


async def test_office_meter_is_one_bank_with_the_scenario_layout(office: Scenario) -> None:
    sim = ModbusSimulator(office)
    assert list(sim.banks) == ["meter-1"]
    bank = sim.banks["meter-1"]
    # float32 points: two registers each, zero until run() writes the first samples.
    assert sorted(bank.holding) == [100, 101, 102, 103]
    assert sorted(bank.input) == [0, 1, 6, 7, 30, 31, 70, 71]
    assert (bank.coils, bank.discrete_inputs) == ({}, {})
    assert set(bank.holding.values()) == set(bank.input.values()) == {0}


async def test_registers_follow_the_signals_on_trio_clock(
    office: Scenario, autojump_clock: trio.testing.MockClock
) -> None:
    sim = ModbusSimulator(office)
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run)
        power = expected_samples(office, "meter-1/active-power", [0, 5, 10, 15])
        voltage = expected_samples(office, "meter-1/voltage-l1", [0, 10])
        energy = expected_samples(office, "meter-1/active-energy", [0, 30])
        assert float32(sim.value("meter-1/active-power")) == float32(float(power[0]))
        assert float32(sim.value("meter-1/voltage-l1")) == float32(float(voltage[0]))
        await trio.sleep(15.5)
        assert float32(sim.value("meter-1/active-power")) == float32(float(power[3]))
        assert float32(sim.value("meter-1/voltage-l1")) == float32(float(voltage[1]))
        assert float32(sim.value("meter-1/active-energy")) == float32(float(energy[0]))
        await trio.sleep(15)
        assert float32(sim.value("meter-1/active-energy")) == float32(float(energy[1]))
        assert energy[1] != energy[0]
        stats = sim.statistics()
        assert (stats.devices, stats.points, stats.skipped, stats.written) == (1, 6, 0, 0)
        assert stats.running
        nursery.cancel_scope.cancel()
    assert not sim.statistics().running


async def test_pymodbus_reads_the_simulated_meter_over_tcp(
    office: Scenario, nursery: trio.Nursery
) -> None:
    sim = ModbusSimulator(office)
    # The first samples, then stop driving: the values cannot move while they are read.
    async with trio.open_nursery() as driving:
        await driving.start(sim.run)
        driving.cancel_scope.cancel()
    port = await nursery.start(serve_modbus, {1: sim.banks["meter-1"]}, "127.0.0.1", 0)

    def read() -> list[float]:
        client = ModbusTcpClient("127.0.0.1", port=port, timeout=3, retries=0)
        assert client.connect()
        try:
            holding = client.read_holding_registers(100, count=4, device_id=1).registers
            voltage = client.read_input_registers(0, count=2, device_id=1).registers
            f32 = client.DATATYPE.FLOAT32
            return [
                client.convert_from_registers(holding[:2], f32),
                client.convert_from_registers(holding[2:], f32),
                client.convert_from_registers(voltage, f32),
            ]
        finally:
            client.close()

    values = await trio.to_thread.run_sync(read)
    # pymodbus widens the float32 exactly; ours is its shortest decimal: the same float32.
    assert [float32(v) for v in values] == [
        float32(sim.value("meter-1/active-power")),
        float32(sim.value("meter-1/active-energy")),
        float32(sim.value("meter-1/voltage-l1")),
    ]
    assert values[1] == 125000.0  # the ramp's start


async def test_a_client_write_holds_the_point_against_its_signal(
    office: Scenario, autojump_clock: trio.testing.MockClock
) -> None:
    sim = ModbusSimulator(office)
    banks = {1: sim.banks["meter-1"]}
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run)
        written = struct.unpack(">HH", struct.pack(">f", 123.5))
        request = struct.pack(">BHHB2H", 16, 100, 2, 4, *written)
        assert answer_frame(banks, 1, request) == bytes.fromhex("10 0064 0002")
        before = sim.value("meter-1/voltage-l1")
        await trio.sleep(120)
        assert sim.value("meter-1/active-power") == 123.5
        assert sim.value("meter-1/voltage-l1") != before  # the others are still driven
        assert sim.statistics().written == 1
        nursery.cancel_scope.cancel()


async def test_bits_coils_strings_and_scaled_integers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = ModbusSimulator(
        scenario(
            """
[[equip.point]]
id = "alarm"
dis = "Alarm"
binding = { register_type = "holding", address = 10, data_type = "bool", bit = 0 }
signal = { shape = "constant", value = true }

[[equip.point]]
id = "run"
dis = "Running"
binding = { register_type = "holding", address = 10, data_type = "bool", bit = 3 }
[equip.point.signal]
shape = "schedule"
period = "10s"
interval = "1s"
steps = [{ at = "0s", value = true }, { at = "5s", value = false }]

[[equip.point]]
id = "enable"
dis = "Enable"
binding = { register_type = "coil", address = 2, data_type = "bool" }
signal = { shape = "constant", value = true }

[[equip.point]]
id = "door"
dis = "Door"
kind = "bool"
binding = { register_type = "discrete_input", address = 0, data_type = "bool" }

[[equip.point]]
id = "model"
dis = "Model"
binding = { register_type = "holding", address = 20, data_type = "string", length = 3 }
signal = { shape = "constant", value = "PM-55" }

[[equip.point]]
id = "temp"
dis = "Temperature"
unit = "°C"
signal = { shape = "constant", value = -12.3 }

[equip.point.binding]
register_type = "input"
address = 0
data_type = "int16"
scale = 0.1
word_order = "little-endian"
"""
        )
    )
    bank = sim.banks["dev-1"]
    assert bank.holding == {10: 0, 20: 0, 21: 0, 22: 0}
    assert bank.discrete_inputs == {0: False}
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.run)
        assert bank.holding[10] == 0b1001
        assert bank.coils == {2: True}
        assert [bank.holding[a] for a in (20, 21, 22)] == [0x504D, 0x2D35, 0x3500]  # "PM-55\0"
        assert bank.input == {0: (-123) & 0xFFFF}
        assert sim.value("dev/temp") == pytest.approx(-12.3)
        assert sim.value("dev/model") == "PM-55"
        await trio.sleep(5.5)
        assert bank.holding[10] == 0b0001  # bit 3 off, bit 0 kept
        assert (sim.value("dev/alarm"), sim.value("dev/run")) == (True, False)
        nursery.cancel_scope.cancel()


def test_a_sample_the_type_cannot_hold_is_skipped() -> None:
    sim = ModbusSimulator(
        scenario(
            """
[[equip.point]]
id = "count"
dis = "Count"
binding = { register_type = "holding", address = 0, data_type = "uint16" }
signal = { shape = "constant", value = -5.0 }
"""
        )
    )

    async def first_samples() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(sim.run)
            nursery.cancel_scope.cancel()

    trio.run(first_samples)
    assert sim.banks["dev-1"].holding == {0: 0}
    assert (sim.statistics().samples, sim.statistics().skipped) == (0, 1)


@pytest.mark.parametrize(
    ("points", "message", "key"),
    [
        pytest.param(
            """
[[equip.point]]
id = "a"
dis = "A"
binding = { register_type = "holding", address = 0, data_type = "float32" }

[[equip.point]]
id = "b"
dis = "B"
binding = { register_type = "holding", address = 1, data_type = "uint16" }
""",
            "dev/b and dev/a both use holding 1 of device 'dev-1'",
            "equip[0].point[1].binding.address",
            id="registers-overlap",
        ),
        pytest.param(
            """
[[equip.point]]
id = "a"
dis = "A"
binding = { register_type = "input", address = 4, data_type = "bool", bit = 2 }

[[equip.point]]
id = "b"
dis = "B"
binding = { register_type = "input", address = 4, data_type = "bool", bit = 2 }
""",
            "dev/b and dev/a both use bit 2 of input 4",
            "equip[0].point[1].binding.address",
            id="same-bit-twice",
        ),
        pytest.param(
            """
[[equip.point]]
id = "a"
dis = "A"
binding = { register_type = "holding", address = 0, data_type = "float16" }
""",
            "'data_type' must be one of",
            "equip[0].point[0].binding.data_type",
            id="unknown-data-type",
        ),
        pytest.param(
            """
[[equip.point]]
id = "a"
dis = "A"
kind = "bool"
binding = { register_type = "holding", address = 0, data_type = "float32" }
""",
            "a bool point cannot be held as float32",
            "equip[0].point[0].binding.data_type",
            id="kind-and-data-type-disagree",
        ),
    ],
)
def test_bindings_that_cannot_be_laid_out_are_config_errors(
    points: str, message: str, key: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        ModbusSimulator(scenario(points))
    assert caught.value.key == key
    assert caught.value.file == "test.toml"
    assert caught.value.line is not None


def test_points_of_other_protocols_are_left_out(office: Scenario) -> None:
    sim = ModbusSimulator(office)
    assert len(office.points()) > len(sim.points) == 6
    assert all(node_id.startswith("meter-1/") for node_id in sim.points)


def test_banks_are_register_banks(office: Scenario) -> None:
    banks: dict[str, Any] = dict(ModbusSimulator(office).banks)
    assert all(isinstance(bank, RegisterBank) for bank in banks.values())
