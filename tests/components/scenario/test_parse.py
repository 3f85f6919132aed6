"""Reading scenario files: the records they give, and errors naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencrate.components.scenario.format import (
    ConstantShape,
    RampShape,
    RandomWalkShape,
    ScheduleShape,
    SineShape,
)
from opencrate.components.scenario.parse import load_scenario, parse_scenario
from opencrate.errors import ConfigError
from opencrate.model.values import ValueKind

MINIMAL = """\
[scenario]
name = "tiny"
seed = 7

[[site]]
id = "hq"
dis = "HQ"

[[space]]
id = "f1"
dis = "Floor 1"
parent = "hq"

[[equip]]
id = "1001"
dis = "AHU-1"
parent = "f1"
binding = { protocol = "bacnet", device_instance = 1001 }

[[equip.point]]
id = "analog-input-1"
dis = "Supply Air Temp"
unit = "°C"
binding = { object_type = "analog-input", object_instance = 1 }

[equip.point.signal]
shape = "sine"
mean = 13.0
amplitude = 1.0
period = "10m"
interval = "5s"

[[equip.point]]
id = "binary-output-1"
dis = "Fan Cmd"
writable = true
binding = { object_type = "binary-output", object_instance = 1 }
signal = { shape = "schedule", period = "1h", steps = [
  { at = 0, value = true }, { at = "50m", value = false }] }
"""


def fail(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_scenario(text, source="s.toml")
    return info.value


def test_minimal_scenario_gives_records_with_merged_bindings_and_kinds() -> None:
    scenario = parse_scenario(MINIMAL, source="s.toml")
    assert (scenario.name, scenario.seed, scenario.source) == ("tiny", 7, "s.toml")
    sat, fan = scenario.points()
    assert sat.node_id == "1001/analog-input-1"
    assert sat.kind is ValueKind.NUMBER
    assert sat.binding == {
        "protocol": "bacnet",
        "device_instance": 1001,
        "object_type": "analog-input",
        "object_instance": 1,
    }
    assert sat.signal is not None
    assert sat.signal.shape == SineShape(mean=13.0, amplitude=1.0, period_s=600.0)
    assert sat.signal.interval_s == 5.0
    # No unit and boolean schedule values: the kind follows the values.
    assert fan.kind is ValueKind.BOOL
    assert fan.writable
    assert fan.signal is not None
    assert fan.signal.shape == ScheduleShape(steps=((0.0, True), (3000.0, False)), period_s=3600.0)
    assert set(scenario.signals()) == {sat.node_id, fan.node_id}


def test_every_shape_is_read() -> None:
    text = (
        MINIMAL
        + """
[[equip.point]]
id = "p3"
dis = "Walk"
signal = { shape = "random_walk", start = 5.0, step = 0.5, low = 0.0, high = 10.0 }

[[equip.point]]
id = "p4"
dis = "Counter"
unit = "kWh"
signal = { shape = "ramp", start = 100.0, rate = 42.0, decimals = 1 }

[[equip.point]]
id = "p5"
dis = "Mode"
kind = "enum"
signal = { shape = "constant", value = 2 }
"""
    )
    shapes = [p.signal.shape for p in parse_scenario(text).points()[2:] if p.signal]
    assert shapes == [
        RandomWalkShape(start=5.0, step=0.5),
        RampShape(start=100.0, rate_per_h=42.0),
        ConstantShape(value=2),
    ]


def test_unknown_key_names_file_line_and_key_path() -> None:
    error = fail(MINIMAL.replace('unit = "°C"', 'unit = "°C"\nunits = "K"'))
    assert error.file == "s.toml"
    assert error.key == "equip[0].point[0].units"
    assert error.line == MINIMAL.splitlines().index('unit = "°C"') + 2
    assert "unknown key 'units'" in str(error)
    assert str(error).startswith(f"s.toml:{error.line} [equip[0].point[0].units]")


def test_error_inside_a_signal_section_points_at_its_line() -> None:
    error = fail(MINIMAL.replace('period = "10m"', 'period = "ten minutes"'))
    assert error.key == "equip[0].point[0].signal.period"
    assert error.line == MINIMAL.splitlines().index('period = "10m"') + 1


def test_error_inside_an_inline_table_points_at_the_line_of_its_key() -> None:
    error = fail(MINIMAL.replace("value = false", 'value = "maybe"'))
    assert error.key == "equip[0].point[1].signal.steps[1].value"
    assert error.line == next(
        n for n, line in enumerate(MINIMAL.splitlines(), 1) if line.startswith("signal = ")
    )
    assert "'maybe'" in str(error)


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (('id = "f1"', 'id = "hq"'), "space[0].id", "duplicate id 'hq'"),
        (('parent = "f1"', 'parent = "f9"'), "equip[0].parent", "not declared above"),
        (('parent = "hq"', 'parent = "1001"'), "space[0].parent", "not declared above"),
        (('dis = "HQ"', "dis = 3"), "site[0].dis", "non-empty string"),
        (("mean = 13.0", 'mean = "13"'), "equip[0].point[0].signal.mean", "finite number"),
        (('shape = "sine"', 'shape = "square"'), "equip[0].point[0].signal.shape", "square"),
        (("amplitude = 1.0", "amplitude = 1.0\nvalue = 3"), "equip[0].point[0].signal.value", ""),
        ((", object_instance = 1 }", " }"), "equip[0].point[0].binding.object_instance", "missing"),
        (('unit = "°C"', 'kind = "bool"'), "equip[0].point[0].signal.shape", "makes numbers"),
        (('id = "analog-input-1"', 'id = "a//b"'), "equip[0].point[0].id", "empty segment"),
        (('at = "50m"', 'at = "2h"'), "equip[0].point[1].signal.steps[1].at", "inside the period"),
    ],
)
def test_bad_input_is_a_config_error_naming_the_key(
    change: tuple[str, str], key: str, message: str
) -> None:
    old, new = change
    assert old in MINIMAL
    error = fail(MINIMAL.replace(old, new, 1))
    assert error.key == key
    assert message in str(error)
    assert error.line is not None


@pytest.mark.parametrize(
    ("alarm", "key", "message"),
    [
        ('{ high = "hot" }', "alarm.high", "finite number, got 'hot'"),
        ("{ high = 20, low = 30 }", "alarm.low", "must be below high"),
        ("{ high = 20, hihg = 30 }", "alarm.hihg", "unknown limit setting"),
        ("{ high = 20, delay_s = -5 }", "alarm.delay_s", "must be >= 0"),
        ('{ high = 20, severity = "loud" }', "alarm.severity", "'loud'"),
    ],
)
def test_a_bad_alarm_rule_names_file_line_and_key(alarm: str, key: str, message: str) -> None:
    # The same check as the NodeStore's, but here it can name the line.
    line = f"properties = {{ alarm = {alarm} }}"
    error = fail(MINIMAL.replace('unit = "°C"', f'unit = "°C"\n{line}', 1))
    assert error.file == "s.toml"
    assert error.key == f"equip[0].point[0].properties.{key}"
    assert error.line == MINIMAL.splitlines().index('unit = "°C"') + 2
    assert message in error.reason


def test_an_alarm_rule_in_its_own_table_is_located_too() -> None:
    text = MINIMAL.replace(
        "[equip.point.signal]", "[equip.point.properties.alarm]\nhigh = 20\nlow = 30\n\n"
        "[equip.point.signal]", 1
    )  # fmt: skip
    error = fail(text)
    assert error.key == "equip[0].point[0].properties.alarm.low"
    assert error.line == text.splitlines().index("low = 30") + 1


def test_refs_must_name_nodes_of_the_scenario() -> None:
    error = fail(MINIMAL.replace('parent = "f1"\n', 'parent = "f1"\nrefs = { airRef = "ahu-9" }\n'))
    assert error.key == "equip[0].refs.airRef"
    assert "'ahu-9'" in str(error)


def test_a_scenario_needs_a_site() -> None:
    assert "at least one [[site]]" in str(fail('[scenario]\nname = "x"\n'))


def test_invalid_toml_reports_toml_position() -> None:
    error = fail('[[site]]\nid = "a"\ndis = \n')
    assert error.file == "s.toml"
    assert "line 3" in str(error)


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found") as info:
        load_scenario(tmp_path / "nope.toml")
    assert info.value.file == str(tmp_path / "nope.toml")


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "plant.toml"
    path.write_text(MINIMAL.replace('[scenario]\nname = "tiny"\nseed = 7\n', ""), encoding="utf-8")
    scenario = load_scenario(path)
    assert (scenario.name, scenario.seed) == ("plant", 0)
