"""The Haystack 4 auto-tagger: tokenizer, point rules, equipment rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencrate.errors import InvalidInput
from opencrate.model.tagging.tokens import expand, tokenize
from opencrate.model.tags import suggest_equip_tags, suggest_point_tags

FUNCTIONS = frozenset({"sensor", "cmd", "sp"})


def words_of(name: str) -> list[str]:
    return [word for word, _ in expand(tokenize(name))]


# --- tokenizer --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "tokens"),
    [
        ("CH1_EntChwTemp", ["ch", "1", "ent", "chw", "temp"]),
        ("Clg_Valve_Cmd", ["clg", "valve", "cmd"]),
        ("SF VFD S/S", ["sf", "vfd", "ss"]),
        ("Supply %RH SP", ["supply", "rh", "sp"]),
        ("HWRTEMP", ["hwr", "temp"]),  # all capitals, split by the abbreviation table
        ("ChWCPCmd", ["chw", "cp", "cmd"]),  # a hump inside "ChW" is not a word break
        ("MINOASTPT", ["min", "oa", "stpt"]),
        ("ZoneCO2Sp", ["zone", "co2", "sp"]),  # CO2 keeps its digit
        ("Clg Dmpr Pos. %", ["clg", "dmpr", "pos"]),
        ("EF-23 Status", ["ef", "23", "status"]),
        ("Condition", ["condition"]),  # not "cond" + "ition"
        ("Sump Temps", ["sump", "temp"]),  # unknown words stay whole, plurals fold
        ("Condesner Temprature", ["condenser", "temperature"]),  # one edit off a long word
        ("Delay", ["delay"]),  # ...but short words are not corrected ("delta")
        ("", []),
    ],
)
def test_tokenize(name: str, tokens: list[str]) -> None:
    assert [text for text, _ in tokenize(name)] == tokens


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("CH1_EntChwTemp", ["chiller", "1", "entering", "chilled", "water", "temperature"]),
        ("HRUWEtemp", ["heat", "recovery", "water", "entering", "temperature"]),
        ("SPDrvSpd", ["supply", "vfd", "speed"]),  # SP before a drive is supply
        ("DAT_SP", ["discharge", "air", "temperature", "setpoint"]),  # ...else setpoint
        ("Hot Deck SAT", ["hotdeck", "deck", "supply", "air", "temperature"]),
        ("Heating Hot Water Supply", ["hot", "water", "supply"]),
        ("Power Factor", ["pf"]),
        ("Current_A", ["current", "a"]),  # a lone letter is not an abbreviation
    ],
)
def test_expand(name: str, words: list[str]) -> None:
    assert words_of(name) == words


# --- points: names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # seed 000's example, with the Haystack 4 section kept beside `supply`
        ("Supply Air Temp", {"air", "temp", "sensor", "discharge", "supply"}),
        ("SAT", {"air", "temp", "sensor", "discharge", "supply"}),
        ("DAT", {"air", "temp", "sensor", "discharge"}),
        ("RAT", {"air", "temp", "sensor", "return"}),
        ("MAT", {"air", "temp", "sensor", "mixed"}),
        ("OAT", {"air", "temp", "sensor", "outside"}),
        ("ZNT", {"air", "temp", "sensor", "zone"}),
        ("Space Temperature", {"air", "temp", "sensor", "zone"}),
        ("DAT_SP", {"air", "temp", "sp", "discharge"}),
        ("Supply Air Temp Setpoint", {"air", "temp", "sp", "discharge", "supply"}),
        ("Clg_Valve_Cmd", {"cool", "valve", "cmd"}),
        ("Htg_Valve_Cmd", {"heat", "valve", "cmd"}),
        ("CH1_EntChwTemp", {"chilled", "water", "entering", "temp", "sensor"}),
        ("CH2_LeavChwTemp", {"chilled", "water", "leaving", "temp", "sensor"}),
        # plant water: supply leaves the plant, return enters it...
        ("HWSTEMP", {"hot", "water", "leaving", "temp", "sensor", "supply"}),
        ("CHWRTEMP", {"chilled", "water", "entering", "temp", "sensor"}),
        # ...but condenser water is seen from the chiller
        ("CW Supply Temp", {"condenser", "water", "entering", "temp", "sensor", "supply"}),
        ("Econ_Cmd", {"outside", "air", "damper", "cmd"}),
        ("OA Damper Position", {"outside", "air", "damper", "cmd"}),
        ("Relief Damper Signal", {"exhaust", "damper", "air", "cmd"}),
        ("SF Status", {"discharge", "air", "fan", "run", "sensor", "supply"}),
        ("RF VFD S/S", {"return", "air", "fan", "run", "cmd"}),
        ("EFSS", {"exhaust", "air", "fan", "run", "cmd"}),
        ("Duct Static", {"discharge", "air", "pressure", "sensor"}),
        ("Static Stpt", {"pressure", "sp"}),
        ("Supply %RH SP", {"discharge", "air", "humidity", "sp", "supply"}),
        ("ZoneCO2", {"zone", "air", "co2", "concentration", "sensor"}),
        ("Occupied Clg Setpoint", {"occ", "cooling", "sp", "temp", "zone", "air"}),
        ("UnoccHeatSp", {"unocc", "heating", "sp", "temp", "zone", "air"}),
        ("Zone Occupancy Mode", {"zone", "occupied", "cmd"}),
        ("AHUClgEnable", {"cooling", "enable", "cmd"}),
        ("HW System DP", {"hot", "water", "delta", "pressure", "sensor"}),
        ("ChWPressDeltaSp", {"chilled", "water", "delta", "pressure", "sp"}),
        ("Filter Status", {"filter", "run", "sensor"}),
        ("ChrSts", {"chiller", "run", "sensor"}),
        ("Chiller Water Valve Status", {"chilled", "water", "valve", "run", "sensor"}),
        # the evaporator side of a chiller is its chilled water
        ("CH-1 Evap ISO Valve", {"evaporator", "chilled", "water", "isolation", "valve", "cmd"}),
        ("Cold Deck Air Temp", {"coldDeck", "air", "temp", "sensor"}),
        ("Htg SAT SP", {"heating", "air", "temp", "sp", "discharge", "supply"}),
        ("Heat Recovery Water Temp Entering", {"water", "entering", "temp", "sensor"}),
        ("Chilled Water Power", {"chilled", "water", "power", "sensor"}),
        ("Energy Total (accumulated)", {"energy", "total", "hisTotalized", "sensor"}),
        ("Natural Gas Flow", {"naturalGas", "flow", "sensor"}),
        ("Hugo, CO Temp", {"temp", "sensor"}),  # a state code is not carbon monoxide
        ("HCALTemp", {"heat", "air", "leaving", "temp", "sensor"}),  # heating coil air leaving
        ("SPDrvSpd", {"discharge", "supply", "speed", "cmd"}),  # SP before a drive is supply
        ("STAT_SETPOINT", {"zone", "air", "temp", "sp"}),  # thermostat setpoint
        ("HUM_ENABLE", {"humidifier", "enable", "cmd"}),
        ("Desired Airflow", {"air", "flow", "sp"}),
        ("SF VFD Signal", {"discharge", "supply", "fan", "air", "speed", "cmd"}),
        ("GHW Supply Temp", {"hot", "water", "leaving", "supply", "temp", "sensor"}),
        # Metasys-style suffixes: merged into the abbreviation when they make one...
        ("ZN-T", {"zone", "air", "temp", "sensor"}),
        ("DA-T", {"discharge", "air", "temp", "sensor"}),
        ("CHW-RT", {"chilled", "water", "entering", "temp", "sensor"}),
        # ...else read as a function letter after a component
        ("SF-S", {"discharge", "supply", "air", "fan", "run", "sensor"}),
        ("SF-C", {"discharge", "supply", "air", "fan", "run", "cmd"}),
        ("CLG-O", {"cool", "cmd"}),
        ("ZN-SP", {"zone", "air", "temp", "sp"}),
        ("EFF-HTG-SP", {"effective", "heating", "sp"}),  # EFF before a setpoint is effective
        ("OCC-SCHEDULE", {"occupied", "sp"}),
        ("Cooling Stage 1", {"cool", "cmd"}),
        ("Fan Speed Command Feedback", {"fan", "speed", "sensor"}),  # feedback of a command
    ],
)
def test_point_names(name: str, expected: set[str]) -> None:
    assert suggest_point_tags(name) == frozenset(expected | {"point"})


# --- points: units, object types, kinds, context ----------------------------------------


@pytest.mark.parametrize(
    ("unit", "quantity"),
    [
        ("°F", {"temp"}),
        ("°C", {"temp"}),
        ("%RH", {"humidity"}),
        ("kW", {"elec", "power"}),  # the characteristic needs more than kW (Meters.fandoc)
        ("kWh", {"elec", "energy", "hisTotalized"}),  # a kWh reading: a running total (a guess)
        ("Pa", {"pressure"}),
        ("inH₂O", {"pressure"}),
        ("in w.c.", {"pressure"}),
        ("cfm", {"air", "flow"}),
        ("L/s", {"flow"}),
        ("gal/min", {"flow"}),
        ("Hz", {"freq"}),
        ("ppm", {"air", "co2", "concentration"}),
        ("A", {"elec", "current"}),
        ("furlongs", set()),  # unknown units add nothing
    ],
)
def test_unit_names_the_quantity(unit: str, quantity: set[str]) -> None:
    assert suggest_point_tags("Reading", unit=unit) == frozenset(quantity | {"point", "sensor"})


def test_name_quantity_beats_unit() -> None:
    # "%" says nothing; a flow named in the name is not turned into a temp by °F.
    assert "temp" not in suggest_point_tags("Discharge Air Flow", unit="°F")


def test_unit_of_a_bool_point_is_ignored() -> None:
    tags = suggest_point_tags("Relief Air Fan S/S Command", unit="cfm", value_kind="Bool")
    assert "flow" not in tags
    assert {"fan", "run", "cmd"} <= tags


@pytest.mark.parametrize(
    ("object_type", "name", "function"),
    [
        ("analog-input", "Zone Temp", "sensor"),
        ("AI", "Zone Temp", "sensor"),
        ("binary-input", "Fan Command", "sensor"),  # a hardware input is never a command
        ("analog-output", "Zone Temp", "cmd"),
        ("binaryOutput", "Fan Status", "cmd"),
        ("analog-value", "Zone Temp Stpt", "sp"),
        ("analog-value", "Zone Temp", "sp"),  # soft points default to sp...
        ("analog-value", "Damper Cmd", "cmd"),  # ...unless the name says command
        ("analog-value", "Zone Temp Status", "sensor"),
        ("binary-value", "Occupied", "sp"),
        ("multi-state-input", "Fan Speed", "sensor"),
        ("multi-state-output", "Fan Speed", "cmd"),
        ("schedule", "Occupancy", "sp"),
        ("device", "Zone Temp", "sensor"),  # no hint: the name decides
        ("holding-register", "Supply Temp SP", "sp"),
        ("input-register", "Supply Temp", "sensor"),
        ("coil", "Pump Enable", "cmd"),
    ],
)
def test_object_type_function(object_type: str, name: str, function: str) -> None:
    tags = suggest_point_tags(name, object_type=object_type)
    assert tags & FUNCTIONS == {function}


def test_unknown_object_type_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="unknown object type 'analog-sprocket'"):
        suggest_point_tags("Zone Temp", object_type="analog-sprocket")


@pytest.mark.parametrize("name", ["", "   ", "--/--", "%"])
def test_empty_point_name_is_invalid_input(name: str) -> None:
    with pytest.raises(InvalidInput, match="no letters or digits"):
        suggest_point_tags(name)


def test_very_long_glued_name_stays_one_unknown_word() -> None:
    # The segmenter is only for short glued abbreviations; a pasted blob must
    # neither hang nor be read as hundreds of abbreviations.
    blob = "SaTRaT" * 2000
    assert tokenize(blob) == [(blob.lower(), False)]
    assert suggest_point_tags(blob) == {"point", "sensor"}


def test_non_string_name_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="must be a string"):
        suggest_point_tags(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "kind", "function"),
    [
        ("Heat-1", "Bool", "cmd"),  # a stage output
        ("Fan", "bool", "cmd"),
        ("Sunrise", "Bool", "sensor"),
        ("Fan Speed", "Str", "cmd"),
    ],
)
def test_value_kind(name: str, kind: str, function: str) -> None:
    assert suggest_point_tags(name, value_kind=kind) & FUNCTIONS == {function}


def test_full_and_raw_name_combine() -> None:
    # The display name knows the water, the controller name knows it is cooling.
    alone = suggest_point_tags("Chilled Water Valve")
    both = suggest_point_tags("Chilled Water Valve", raw_name="Clg_Valve_Cmd")
    assert "cool" not in alone
    assert {"chilled", "water", "valve", "cool", "cmd"} <= both


def test_equipment_identifier_is_context_not_a_tag() -> None:
    # "AHU-1" names the parent; the point is not an AHU.
    assert suggest_point_tags("AHU-1 SAT") == suggest_point_tags("SAT")
    # A pump's identifier tells the point it is about the pump.
    assert {"hot", "pump", "run", "cmd"} <= suggest_point_tags("HHWP-1 S/S")


@pytest.mark.parametrize(
    ("name", "unit", "equip", "added"),
    [
        ("Status", None, "CWP-1", {"condenser", "pump", "run"}),
        ("Frequency", "Hz", "HHWP-1", {"hot", "pump", "freq"}),
        ("Power", "kW", "EF-1", {"exhaust", "fan", "air", "elec", "power"}),
        ("Damper Command", "%", "VAV-101", {"air", "damper"}),  # no section: VAVs.fandoc
        ("Energy", "kWh", "Elec Meter 1", {"elec", "energy"}),
        ("Volume", "ccf", "Gas Meter 1", {"gas", "volume"}),
        ("Temp Setpoint", "°F", "Chiller 1", {"chilled", "water", "leaving", "temp"}),
        ("Clg Dmpr Pos", "%", "DD 1-4-1", {"coldDeck", "air", "damper", "cmd"}),  # decks
        ("Airflow (Hot)", "cfm", "DD 1-4-1", {"hotDeck", "air", "flow"}),
        ("Airflow sensor 2 (Cold)", "cfm", "DD 1-4-1", {"coldDeck", "air", "flow", "sensor"}),
        ("Humidity", "%", "VAV 1-19", {"zone", "air", "humidity"}),  # a box reads its zone
        ("BOX_FLOW", None, "VAV 1-1", {"air", "flow"}),
        ("Static Stpt", "inH₂O", "RTU-1", {"discharge", "air", "pressure", "sp"}),  # duct static
        ("Fan", None, "RTU-1", {"discharge", "air", "fan"}),
        ("CT-1 Status", None, "CT-1", {"fan", "run", "sensor"}),  # a tower runs by its fan
        # a water system's points are about its water
        ("Supply Temperature", "°F", "DHW", {"domestic", "hot", "water", "leaving", "temp"}),
        ("Pump Status", None, "CHWS", {"chilled", "water", "pump", "run", "sensor"}),
    ],
)
def test_equipment_context(name: str, unit: str | None, equip: str, added: set[str]) -> None:
    tags = suggest_point_tags(name, unit=unit, equip_tags=suggest_equip_tags(equip))
    assert added <= tags


def test_dual_duct_zone_setpoints_are_not_decks() -> None:
    tags = suggest_point_tags(
        "Zone Air Temp Occ Cooling Setpoint", equip_tags=suggest_equip_tags("DD 1-4-1")
    )
    assert {"zone", "cooling", "occ", "sp"} <= tags
    assert not tags & {"coldDeck", "hotDeck"}


def test_qualifier_of_an_identifier_goes_with_it() -> None:
    # "HwBlr1Sts": the hot-water boiler 1's status, not a hot water point.
    tags = suggest_point_tags("HwBlr1Sts", value_kind="Bool")
    assert tags == {"point", "run", "sensor"}


def test_system_water_does_not_override_the_point_substance() -> None:
    chws = suggest_equip_tags("CHWS")
    outside = suggest_point_tags("Outside Air Temp", equip_tags=chws)
    assert "water" not in outside
    assert {"outside", "air", "temp"} <= outside
    condenser = suggest_point_tags("Condenser Water Supply Temp", equip_tags=chws)
    assert "chilled" not in condenser


def test_own_component_beats_equipment_component() -> None:
    # A valve on a pump skid is a valve point, not a pump point.
    tags = suggest_point_tags("Bypass Valve", equip_tags={"pump", "equip"})
    assert "pump" not in tags
    assert {"bypass", "valve", "cmd"} <= tags


# --- points: exactly one function -------------------------------------------------------

NAMES = [
    "Supply Air Temp",
    "SAT",
    "Clg_Valve_Cmd",
    "CH1_EntChwTemp",
    "Fan Status Command",
    "Setpoint Status",
    "Occupied Mode Status",
    "Enable Setpoint Command",
    "Min OA Flow",
    "Damper Position Feedback",
    "xyz",
    "42",
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "object_type", [None, "analog-input", "analog-output", "analog-value", "binary-value"]
)
@pytest.mark.parametrize("value_kind", [None, "Bool", "Number", "Str"])
def test_exactly_one_function(name: str, object_type: str | None, value_kind: str | None) -> None:
    tags = suggest_point_tags(name, object_type=object_type, value_kind=value_kind)
    assert len(tags & FUNCTIONS) == 1
    assert "point" in tags


@given(
    name=st.text(
        alphabet=st.sampled_from(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 _-/%."
        ),
        min_size=1,
        max_size=30,
    ).filter(lambda s: any(ch.isalnum() for ch in s)),
    unit=st.sampled_from([None, "°F", "%", "kW", "cfm", "psi", "%RH"]),
    value_kind=st.sampled_from([None, "Bool", "Number", "Str"]),
)
def test_exactly_one_function_for_any_name(
    name: str, unit: str | None, value_kind: str | None
) -> None:
    tags = suggest_point_tags(name, unit=unit, value_kind=value_kind)
    assert len(tags & FUNCTIONS) == 1
    assert all(tag and tag[0].islower() for tag in tags)  # valid Haystack tag names


# --- equipment --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AHU-1", {"ahu", "hvac"}),
        ("VAV-101", {"vav", "hvac"}),
        ("RTU-2", {"ahu", "rtu", "hvac"}),
        ("DOAS-1", {"ahu", "doas", "hvac"}),
        ("FCU-3", {"fcu", "hvac"}),
        ("DD 1-4-1", {"vav", "dualDuct", "hvac"}),
        ("Boiler 1", {"boiler", "hvac"}),
        ("Steam Boiler A", {"boiler", "steam", "hvac"}),
        ("CH-1", {"chiller", "hvac"}),
        ("CT-2", {"coolingTower", "hvac"}),
        ("Cooling Tower", {"coolingTower", "hvac"}),
        ("HX-1", {"heatExchanger", "hvac"}),
        ("CWP-1", {"condenser", "pump", "hvac"}),
        ("HHWP-1", {"hot", "pump", "hvac"}),
        ("PCHWP-1A", {"chilled", "primaryLoop", "pump", "hvac"}),
        ("Chiller Circ Pump", {"circ", "pump", "hvac"}),  # the last noun is the kind
        ("EF-1", {"exhaust", "fan", "hvac"}),
        ("Relief Fan", {"exhaust", "fan", "hvac"}),
        ("AHU-2 SF VFD", {"discharge", "fan", "vfd", "hvac"}),
        ("Chilled Water Plant", {"chilled", "water", "plant", "hvac"}),
        ("Boiler Plant", {"hot", "water", "plant", "hvac"}),
        ("Elec Meter 1", {"elec", "meter"}),
        ("ElecMeter-Main", {"elec", "meter", "siteMeter"}),  # the main meter is the site's
        ("Gas Meter 1", {"gas", "meter"}),
        ("Water Meter 1", {"domestic", "water", "meter"}),
        ("CHWS", {"chilled", "water"}),  # a water system naming no kind
        ("Misc", set()),
    ],
)
def test_equip_names(name: str, expected: set[str]) -> None:
    assert suggest_equip_tags(name) == frozenset(expected | {"equip"})


def test_empty_equip_name_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="equipment name has no letters or digits"):
        suggest_equip_tags(" - ")
