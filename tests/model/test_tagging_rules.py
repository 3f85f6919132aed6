"""The tagger's rule classes, one table each, on names from no evaluation dataset.

The names are written from the Haystack 4 docs' examples (Points, AHUs,
VAVs, Meters chapters) and from the point-naming habits of controller
vendors' published point lists (JCI Metasys ``ZN-T``/``SF-S``/``OAD-O``,
Siemens ``RM TEMP``/``VLV COMD``/``CLG FLOW MAX``, Carrier ``SPT``, Trane
"Space Temperature Setpoint Active", dotted BACnet object names). None of
them is a record of ``haystack-tag-eval.json``: they check that the rules are
general, not fitted to the set.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opencrate.errors import InvalidInput
from opencrate.model.tagging.conventions import (
    Conventions,
    Correction,
    TaggedExample,
    learn_conventions,
)
from opencrate.model.tagging.tokens import tokenize
from opencrate.model.tags import (
    TagSuggestion,
    explain_equip_tags,
    explain_node,
    explain_point_tags,
    suggest_equip_tags,
    suggest_point_tags,
)

FUNCTIONS = frozenset({"sensor", "cmd", "sp"})


def function_of(name: str, **kwargs: Any) -> str:
    (function,) = suggest_point_tags(name, **kwargs) & FUNCTIONS
    return function


# --- tokenizer: separators, case changes, digits, shorthands -----------------------------


@pytest.mark.parametrize(
    ("name", "tokens"),
    [
        ("AHU1.SF.START.STOP", ["ahu", "1", "sf", "start", "stop"]),  # dotted object names
        ("Bldg1.AHU2.RA-T", ["bldg", "1", "ahu", "2", "rat"]),  # Metasys suffix merged
        ("VAV-2.ZN-T", ["vav", "2", "znt"]),
        ("DA-TSP", ["da", "tsp"]),
        ("SupplyFanStartStop", ["supply", "fan", "start", "stop"]),  # CamelCase
        ("sa_temp", ["sa", "temp"]),  # snake case (ALC, Distech)
        ("St/Sp", ["ss"]),  # start-stop shorthands
        ("StSp", ["ss"]),
        ("On/Off", ["ss"]),
        ("Strt/Stp", ["ss"]),
    ],
)
def test_tokenizer_cuts_every_naming_habit(name: str, tokens: list[str]) -> None:
    assert [text for text, _ in tokenize(name)] == tokens


# --- function first: grammar ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "function"),
    [
        # setpoint words anywhere, SPT/TSP/STPT at the end
        ("SAT SPT", "sp"),
        ("DA-TSP", "sp"),
        ("DA-PSP", "sp"),
        ("FLOW STPT", "sp"),
        ("ZnTempSpOcc", "sp"),  # SP in the middle
        ("Space Temperature Setpoint Active", "sp"),
        # ...but SPT first or alone is the space temperature (Carrier)
        ("SPT", "sensor"),
        # limits are setpoints
        ("CLG FLOW MAX", "sp"),
        ("HTG FLOW MIN", "sp"),
        ("Max OA Damper Pos", "sp"),
        ("Minimum Outdoor Air Damper", "cmd"),  # the minimum OA damper itself (G36 naming)
        ("Economizer High Limit", "sp"),
        ("Zone Temperature Adjustment", "sp"),  # a setpoint adjustment
        ("Zone Temp Offset", "sp"),
        ("Effective Setpoint", "sp"),
        # the last function word is the head: status of a command, command of a status
        ("Supply Fan Start/Stop", "cmd"),
        ("AHU1.SF.START.STOP", "cmd"),
        ("SF Start Stop Status", "sensor"),
        ("AHU1.SF.STATUS", "sensor"),
        ("Enable Status", "sensor"),
        ("Damper Cmd Feedback", "sensor"),
        ("Outside Air Damper Command (open/closed)", "cmd"),  # states, not an end switch
        ("Valve Open", "sensor"),
        # commanded things
        ("VLV COMD", "cmd"),  # Siemens
        ("DMPR COMD", "cmd"),
        ("OAD-O", "cmd"),  # Metasys output suffix
        ("SF-C", "cmd"),
        ("SF-S", "sensor"),
        ("RHT-VLV", "cmd"),
        # alarms and readings
        ("Filter Alarm", "sensor"),
        ("Freeze Stat", "sensor"),  # a freezestat is a switch, not a thermostat
        ("RM TEMP", "sensor"),
    ],
)
def test_function_from_grammar(name: str, function: str) -> None:
    assert function_of(name) == function


@pytest.mark.parametrize(
    ("name", "unit", "function"),
    [
        ("Heating", "%", "cmd"),  # a heating signal in % is an output
        ("Cooling", "%", "cmd"),
        ("Heating", None, "sensor"),
        ("Wind Speed", "mph", "sensor"),  # only a machine's speed is guessed a command
        ("Fan Speed", "%", "cmd"),
    ],
)
def test_function_from_weak_evidence(name: str, unit: str | None, function: str) -> None:
    assert function_of(name, unit=unit) == function


# --- function first: object type ----------------------------------------------------


@pytest.mark.parametrize(
    ("object_type", "writable", "name", "function"),
    [
        ("AI", None, "Supply Fan Start/Stop", "sensor"),  # hardware decides alone
        ("BI", None, "SF-C", "sensor"),
        ("AO", None, "ZN-T", "cmd"),
        ("BO", None, "SF-S", "cmd"),
        ("AV", None, "ZN-T", "sp"),  # soft point: sp by default
        ("AV", False, "ZN-T", "sensor"),  # ...unless it cannot be written
        ("BV", None, "SF-C", "cmd"),  # the name still decides a soft point
        ("MSV", None, "Occupancy Mode", "cmd"),
        ("MSV", None, "Fan Speed Setpoint", "sp"),
        ("holding-register", True, "Supply Temp", "sp"),
        ("holding-register", False, "Supply Temp", "sensor"),
        ("input-register", None, "Supply Temp SP", "sensor"),
        ("discrete-input", None, "Pump Start", "sensor"),
        ("coil", None, "Pump Status", "cmd"),
    ],
)
def test_function_from_object_type(
    object_type: str, writable: bool | None, name: str, function: str
) -> None:
    tags = explain_point_tags(name, object_type=object_type, writable=writable).tags
    assert tags & FUNCTIONS == {function}


# --- substance and quantity, units as strong evidence -------------------------------


@pytest.mark.parametrize(
    ("name", "unit", "has", "lacks"),
    [
        ("Main kWh", "kWh", {"elec", "energy", "hisTotalized"}, {"power"}),
        # kW/kWh alone add no characteristic (Meters.fandoc's example model)
        ("Main kW", "kW", {"elec", "power"}, {"energy", "hisTotalized", "active"}),
        ("Energy", "kW", {"power"}, {"energy"}),  # the unit says it is a rate
        ("Power", "kWh", {"energy", "hisTotalized"}, {"power"}),
        ("kVA", "kVA", {"elec", "power", "apparent"}, {"active"}),
        ("Gas Usage", "therm", {"gas", "energy", "hisTotalized"}, set()),
        ("Water Usage", "gal", {"water", "volume", "hisTotalized"}, set()),
        ("AIR VOLUME", "cfm", {"air", "flow"}, {"volume"}),  # Siemens: airflow
        ("Bldg Press", "Pa", {"pressure"}, set()),
        ("Duct Static", "inH₂O", {"discharge", "air", "pressure"}, set()),
        ("Space RH", "%RH", {"zone", "air", "humidity"}, set()),
        ("CO2 Level", "ppm", {"air", "co2", "concentration"}, set()),
        ("Reading", "°C", {"temp"}, set()),
        ("Outdoor Dewpoint", None, {"outside", "air", "dewPoint"}, {"temp"}),
        ("OA Wet Bulb", None, {"outside", "air", "wetBulb"}, {"temp"}),
        ("Phase A Current", "A", {"elec", "current", "phase"}, set()),
    ],
)
def test_substance_quantity_and_units(
    name: str, unit: str | None, has: set[str], lacks: set[str]
) -> None:
    tags = suggest_point_tags(name, unit=unit)
    assert has <= tags
    assert not tags & lacks


# --- sections -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "section"),
    [
        ("Discharge Air Temperature", {"discharge", "air"}),  # Trane
        ("sa_temp", {"discharge", "air"}),  # supply air is discharge air (Haystack 4)
        ("RA-H", {"return", "air"}),
        ("MAD-O", {"mixed", "air", "damper"}),
        ("OA-T", {"outside", "air"}),
        ("Relief Damper", {"exhaust", "air", "damper"}),  # relief air is exhaust air
        ("ROOM TEMP", {"zone", "air"}),
        ("CHWST", {"chilled", "water", "leaving"}),  # plant water: supply leaves
        ("HWRT", {"hot", "water", "entering"}),  # return enters
        ("CWST", {"condenser", "water", "entering"}),  # condenser: the chiller's view
    ],
)
def test_sections(name: str, section: set[str]) -> None:
    assert section <= suggest_point_tags(name)


# --- qualifiers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "qualifiers"),
    [
        ("OCC-CLG-SP", {"occ", "cooling", "zone", "temp", "sp"}),  # Metasys
        ("UNOCC-HTG-SP", {"unocc", "heating", "zone", "temp", "sp"}),
        ("EFFCLG-SP", {"effective", "cooling", "sp"}),
        ("Eff Sp", {"effective", "sp"}),  # EFF before a setpoint is effective
        ("CLG FLOW MAX", {"cooling", "max", "flow", "sp"}),  # Siemens airflow limits
        ("HTG FLOW MIN", {"heating", "min", "flow", "sp"}),
        ("Min OA Flow Sp", {"min", "outside", "air", "flow", "sp"}),
        ("OccClgMaxFlow", {"occ", "cooling", "max", "flow", "sp"}),  # a limit is a setpoint
        ("RH-VLV", {"reheat", "valve", "cmd"}),  # RH before a valve is reheat...
        ("Zone RH", {"zone", "air", "humidity"}),  # ...else relative humidity
        ("Cooling Valve", {"cool", "valve", "cmd"}),  # a device cools...
        ("Occupied Cooling Setpoint", {"cooling", "occ"}),  # ...a setpoint is for cooling
    ],
)
def test_qualifiers(name: str, qualifiers: set[str]) -> None:
    assert qualifiers <= suggest_point_tags(name)


def test_seed_000_example_stays_true() -> None:
    assert suggest_point_tags("Supply Air Temp") == {
        "point",
        "air",
        "temp",
        "sensor",
        "supply",
        "discharge",
    }


# --- equipment from its name ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Main Switchboard", {"elec", "panel"}),
        ("Lighting Panel LP-3", {"elec", "panel"}),
        ("MDP", {"elec", "panel"}),
        ("MCC-1", {"elec", "panel"}),
        ("Circuit 12", {"circuit"}),  # ElecPanels.fandoc: "circuit equip"
        ("CKT-4 Lighting", {"circuit"}),  # the kind is the noun that names one
        ("Main Meter", {"meter", "siteMeter"}),
        ("Site Elec Meter", {"elec", "meter", "siteMeter"}),
        ("Submeter 3", {"meter"}),
        ("Power Meter PM-1", {"elec", "meter"}),
        ("Unit Ventilator 12", {"fcu", "unitVent", "hvac"}),
        ("Fan Coil 3", {"fcu", "hvac"}),
        ("Fan Powered Box 7", {"vav", "fanPowered", "hvac"}),
        ("Dual Duct Box 2", {"vav", "dualDuct", "hvac"}),
        ("CRAH-1", {"fcu", "crac", "hvac"}),
        ("Weather Station", {"weatherStation"}),
    ],
)
def test_equipment_names(name: str, expected: set[str]) -> None:
    assert suggest_equip_tags(name) == frozenset(expected | {"equip"})


# --- equipment from its points --------------------------------------------------------


def points_of(*names: tuple[str, str | None], equip: str = "") -> list[frozenset[str]]:
    context = suggest_equip_tags(equip) if equip else frozenset()
    return [suggest_point_tags(name, unit=unit, equip_tags=context) for name, unit in names]


AHU_POINTS = (("DA-T", "°F"), ("SF-C", None), ("MAD-O", "%"), ("OA-T", "°F"), ("RA-T", "°F"))
VAV_POINTS = (("ZN-T", "°F"), ("SAFLOW", "cfm"), ("DPR-O", "%"), ("HW-VLV", "%"))


@pytest.mark.parametrize(
    ("name", "points", "has"),
    [
        ("Unit 7", AHU_POINTS, {"ahu", "hvac", "singleDuct"}),  # an AHU whatever its name
        ("Box 3-14 (2nd floor)", VAV_POINTS, {"vav", "hotWaterHeating", "singleDuct"}),
        ("Zone 101", VAV_POINTS, {"vav", "hvac"}),
        (
            "Panel 2",
            (("CKT1 kW", "kW"), ("CKT1 kWh", "kWh"), ("CKT2 kW", "kW")),
            {"elec", "panel", "meter"},
        ),  # a panel of kW/kWh circuits meters electricity
        ("Misc 4", (("Demand", "kW"), ("Consumption", "kWh")), {"elec", "meter"}),
        (
            "AHU-9",
            (("Cooling Valve", "%"), ("Hot Water Valve", "%"), ("Duct Static", "inH₂O")),
            {"ahu", "chilledWaterCooling", "hotWaterHeating", "vavZone"},
        ),
        (
            "AHU-10",
            (("Hot Deck Temp", "°F"), ("Cold Deck Temp", "°F"), ("SF-C", None)),
            {"ahu", "dualDuct"},
        ),
    ],
)
def test_equipment_from_points(
    name: str, points: tuple[tuple[str, str | None], ...], has: set[str]
) -> None:
    tags = suggest_equip_tags(name, points=points_of(*points, equip=name))
    assert has <= tags


@pytest.mark.parametrize(
    ("name", "equip", "has"),
    [
        ("Fan Status", "EF-3", {"exhaust", "air", "fan", "run", "sensor"}),  # its own fan
        ("Pump VFD Speed", "CHWP-2", {"chilled", "pump", "speed"}),
        ("Bypass Valve", "CHWP-2", {"bypass", "valve", "cmd"}),  # another component
    ],
)
def test_a_point_about_the_equipments_own_component_inherits_it(
    name: str, equip: str, has: set[str]
) -> None:
    assert has <= suggest_point_tags(name, equip_tags=suggest_equip_tags(equip))
    assert "pump" not in suggest_point_tags("Bypass Valve", equip_tags={"pump", "equip"})


def test_equipment_kind_from_points_is_explained() -> None:
    suggestion = explain_equip_tags("Unit 7", points=points_of(*AHU_POINTS))
    reason = suggestion.reasons["ahu"]
    assert reason.rule == "equip-points"
    assert "typical of a ahu" in reason.detail


def test_equipment_name_wins_over_weak_point_evidence() -> None:
    # A fan's VFD with a power point is still a fan (and meters electricity).
    tags = suggest_equip_tags("AHU-2 SF VFD", points=points_of(("Power", "kW"), ("Freq", "Hz")))
    assert {"fan", "vfd", "elec", "meter"} <= tags
    assert "ahu" not in tags


def test_without_points_nothing_is_guessed() -> None:
    assert suggest_equip_tags("AHU-1") == suggest_equip_tags("AHU-1", points=())


# --- confidence, explanation, review ---------------------------------------------------


def test_every_tag_has_a_rule_and_a_confidence() -> None:
    suggestion = explain_point_tags("SAT SPT", unit="°F")
    assert set(suggestion.reasons) == suggestion.tags
    assert suggestion.reasons["sp"].rule == "grammar"
    assert suggestion.reasons["temp"].rule == "word"
    assert all(0.0 < r.confidence <= 1.0 for r in suggestion.reasons.values())
    assert not suggestion.needs_review


@pytest.mark.parametrize(
    ("name", "kwargs", "low"),
    [
        ("xyzzy", {}, {"sensor"}),  # nothing known: the fallback sensor
        ("ZN-T", {"object_type": "AV"}, {"sp"}),  # a soft point only assumed to be sp
    ],
)
def test_low_confidence_suggestions_need_review(
    name: str, kwargs: dict[str, Any], low: set[str]
) -> None:
    suggestion = explain_point_tags(name, **kwargs)
    assert suggestion.needs_review
    assert suggestion.low_confidence == low
    assert any(line.endswith("(review)") for line in suggestion.explain())
    assert suggestion.explain()[-1].startswith("verdict: needs review")


def test_run_state_of_an_unknown_thing_is_only_a_guess() -> None:
    door = explain_point_tags("Door Status", value_kind="bool", review_threshold=0.7)
    assert door.reasons["run"].rule == "function-guess"
    assert door.needs_review
    fan = explain_point_tags("Fan Status", value_kind="bool", review_threshold=0.7)
    assert fan.reasons["run"].rule == "grammar"
    assert not fan.needs_review
    assert door.reasons["run"].confidence < fan.reasons["run"].confidence


def test_review_threshold_is_the_callers() -> None:
    strict = explain_point_tags("Supply Air Temp", review_threshold=0.9)
    assert strict.needs_review  # sections and the implied sensor are below 0.9
    assert explain_point_tags("Supply Air Temp", review_threshold=0.1).needs_review is False


def test_suggest_and_explain_agree() -> None:
    for name in ("SAT", "CLG FLOW MAX", "AHU1.SF.START.STOP", "Main kWh"):
        assert explain_point_tags(name, unit="kWh").tags == suggest_point_tags(name, unit="kWh")


def test_old_call_forms_keep_working() -> None:
    # Positional name, the keywords callers used before confidence existed.
    tags = suggest_point_tags(
        "Zone Temp", unit="°F", object_type="analog-value", equip_tags=("vav",), value_kind="Number"
    )
    assert isinstance(tags, frozenset)
    assert isinstance(suggest_equip_tags("AHU-1"), frozenset)
    assert isinstance(explain_point_tags("Zone Temp"), TagSuggestion)


# --- nodes (the API's JSON) -------------------------------------------------------------


def bacnet_point(dis: str, object_type: str, *, writable: bool = False) -> dict[str, Any]:
    return {
        "id": "d1/av-1",
        "node_type": "point",
        "dis": dis,
        "unit": "°F",
        "kind": "number",
        "capabilities": {"readable": True, "writable": writable},
        "protocol_binding": {
            "protocol": "bacnet",
            "config": {"device_instance": 1, "object_type": object_type, "object_instance": 1},
        },
    }


def test_explain_node_reads_the_binding() -> None:
    assert "sp" in explain_node(bacnet_point("ZN-T", "analog-value", writable=True)).tags
    assert "sensor" in explain_node(bacnet_point("ZN-T", "analog-input")).tags
    modbus = {
        "id": "m1/hr-3",
        "node_type": "point",
        "dis": "Supply Temp",
        "capabilities": {"writable": False},
        "protocol_binding": {"protocol": "modbus", "config": {"register_type": "holding"}},
    }
    assert "sensor" in explain_node(modbus).tags
    coil_binding = {"protocol": "modbus", "config": {"register_type": "coil"}}
    coil = {**modbus, "protocol_binding": coil_binding}
    assert "cmd" in explain_node(coil).tags


def test_explain_node_reads_a_bacnet_description_beside_the_object_name() -> None:
    node = bacnet_point("Clg_Valve_Cmd", "analog-output")
    node["properties"] = {"description": "Chilled Water Valve"}
    suggestion = explain_node(node)
    assert {"chilled", "water", "cool", "valve", "cmd"} <= suggestion.tags
    assert "chilled" not in explain_node(bacnet_point("Clg_Valve_Cmd", "analog-output")).tags


def test_explain_node_refuses_what_is_not_tagged() -> None:
    with pytest.raises(InvalidInput, match="only points and equipment are auto-tagged"):
        explain_node({"id": "hq", "node_type": "site", "dis": "HQ"})
    with pytest.raises(InvalidInput, match="no display name"):
        explain_node({"id": "p", "node_type": "point"})
    with pytest.raises(InvalidInput, match="unknown object type"):
        explain_node(bacnet_point("ZN-T", "analog-sprocket"))


# --- site conventions (the only learned part) -------------------------------------------


def example(features: set[str], suggested: set[str], expected: set[str], source: str = "a") -> Any:
    return TaggedExample(
        features=frozenset(features),
        suggested=frozenset(suggested),
        expected=frozenset(expected),
        source=source,
    )


def test_a_convention_is_learned_only_when_the_examples_agree() -> None:
    relief = [example({"w:relief"}, {"exhaust", "air"}, {"relief", "air"}) for _ in range(5)]
    learned = learn_conventions(relief)
    rules = {(c.feature, c.action, c.tag) for c in learned.corrections}
    assert ("w:relief", "add", "relief") in rules
    assert ("w:relief", "remove", "exhaust") in rules
    # Two examples are not a convention, nor is a split vote.
    assert not learn_conventions(relief[:2])
    split = relief[:3] + [example({"w:relief"}, {"exhaust"}, {"exhaust"}) for _ in range(3)]
    assert ("w:relief", "add", "relief") not in {
        (c.feature, c.action, c.tag) for c in learn_conventions(split).corrections
    }


def test_a_convention_of_one_building_is_not_kept_when_two_are_required() -> None:
    one = [example({"w:relief"}, {"exhaust"}, {"relief"}, source="a") for _ in range(6)]
    assert not learn_conventions(one, min_sources=2)
    two = one[:3] + [example({"w:relief"}, {"exhaust"}, {"relief"}, source="b") for _ in range(3)]
    assert learn_conventions(two, min_sources=2)


def test_conventions_keep_exactly_one_function() -> None:
    conventions = Conventions(
        corrections=(
            Correction(feature="w:gizmo", tag="sp", action="add", support=9, precision=1.0),
            Correction(feature="w:gizmo", tag="cmd", action="add", support=8, precision=1.0),
        )
    )
    tags, applied = conventions.apply({"w:gizmo"}, frozenset({"point", "sensor"}))
    assert tags & FUNCTIONS == {"sp"}
    assert [tag for _, tag in applied] == ["sp"]
    suggestion = explain_point_tags("Gizmo", conventions=conventions)
    assert suggestion.tags & FUNCTIONS == {"sp"}
    assert suggestion.reasons["sp"].rule == "convention"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"min_precision": 0.0}, "min_precision"), ({"min_support": 0}, "min_support")],
)
def test_learner_rejects_bad_limits(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        learn_conventions([], **kwargs)


# --- Haystack 4 vocabulary beyond air and water (phScience, phIoT defs) -----------------


@pytest.mark.parametrize(
    ("name", "unit", "has"),
    [
        ("PM2.5", "µg/m³", {"air", "pm25", "concentration"}),
        ("Zone PM10", None, {"air", "pm10", "concentration", "zone"}),
        ("TVOC", "ppb", {"air", "tvoc", "concentration"}),
        ("NO2 Level", "ppb", {"air", "no2", "concentration"}),
        ("Carbon Monoxide", "ppm", {"air", "co", "concentration"}),
        ("Ozone", None, {"air", "o3", "concentration"}),
        ("Sunrise", None, {"daytime"}),  # H3 sunrise is H4 daytime
        ("Wind Speed", "mph", {"wind", "speed", "sensor"}),  # not a drive's command
        ("Wind Direction", None, {"wind", "direction"}),
        ("Solar Irradiance", "W/m²", {"solar", "irradiance"}),
        ("Light Level", "lux", {"illuminance"}),
        ("Import kWh", "kWh", {"elec", "energy", "import", "hisTotalized"}),
        ("Net Energy", "kWh", {"elec", "energy", "net"}),
        ("Reactive Power", "kVAR", {"elec", "power", "reactive"}),
        ("Avg Zone Temp", None, {"avg", "zone", "air", "temp"}),
        ("Fuel Oil Level", None, {"fuelOil", "level"}),
        ("Makeup Water Flow", "gpm", {"makeup", "water", "flow"}),
        ("Neutral Deck Temp", None, {"neutralDeck", "air", "temp"}),
        ("Filter Alarm", None, {"filter", "alarm", "sensor"}),
    ],
)
def test_haystack_vocabulary(name: str, unit: str | None, has: set[str]) -> None:
    assert has <= suggest_point_tags(name, unit=unit)


@pytest.mark.parametrize(
    ("name", "lacks"),
    [
        ("CO2 Level", {"level"}),  # a gas's level is its concentration
        ("Flue Gas Temp", {"gas"}),  # combustion products, not natural gas
        ("Feels Like Temp", {"temp"}),  # feelsLike is the quantity
        ("Space Temperature Setpoint Active", {"active"}),  # the effective setpoint
    ],
)
def test_haystack_vocabulary_traps(name: str, lacks: set[str]) -> None:
    assert not suggest_point_tags(name) & lacks


@pytest.mark.parametrize(
    ("name", "has"),
    [
        ("LAT", {"leaving", "air", "temp", "sensor"}),  # a coil's leaving air
        ("EWT", {"entering", "water", "temp"}),
        ("LWT", {"leaving", "water", "temp"}),
        ("BSP", {"air", "pressure", "sensor"}),  # building static pressure
        ("High Limit", {"max", "sp"}),
        ("Night Setback", {"unocc", "sp", "zone", "temp"}),
        ("SF Prf", {"fan", "run", "sensor"}),  # proof
        ("Damper Fbk", {"damper", "sensor"}),  # feedback
        ("Space RH", {"zone", "air", "humidity"}),
    ],
)
def test_general_abbreviations(name: str, has: set[str]) -> None:
    assert has <= suggest_point_tags(name)


# --- the Haystack 4 docs' own examples (Meters.fandoc, AHUs.fandoc) -------------------------


@pytest.mark.parametrize(
    ("name", "unit", "has", "lacks"),
    [
        # Meters.fandoc: the AC characteristic is said, or fixed by a unit that can
        # only be that characteristic (kVAR, kVA); kW/kWh alone add none.
        ("Bldg Demand", "kW", {"elec", "demand"}, {"active", "reactive", "apparent"}),
        ("Real Power", "kW", {"elec", "power", "active"}, set()),
        ("Total kVAR", "kVAR", {"elec", "power", "reactive", "total"}, {"active"}),
        ("Peak kVA", "kVA", {"elec", "power", "apparent"}, {"active"}),
        ("Energy Reg", "kWh", {"elec", "energy"}, {"active"}),
    ],
)
def test_ac_characteristic_only_when_said(
    name: str, unit: str, has: set[str], lacks: set[str]
) -> None:
    tags = suggest_point_tags(name, unit=unit)
    assert has <= tags
    assert not tags & lacks


@pytest.mark.parametrize(
    ("name", "kwargs", "isolates"),
    [
        # Plant valves with an open/closed (Bool) point are shut-offs.
        ("CH-2 CHWS Valve", {"value_kind": "bool"}, True),
        ("Boiler 2 HW Valve", {"value_kind": "Bool"}, True),
        ("HX-1 CDW Valve Open", {"value_kind": "bool"}, True),
        ("Bypass Valve", {"value_kind": "bool", "equip_tags": {"chiller", "equip"}}, True),
        # A modulating valve sets a position; a coil's valve heats or cools.
        ("CHW Valve", {"unit": "%"}, False),
        ("Reheat Valve", {"value_kind": "bool", "equip_tags": {"vav", "equip"}}, False),
        ("Htg Vlv", {"value_kind": "bool"}, False),
        ("HW Valve Cmd", {"value_kind": "bool", "equip_tags": {"ahu", "equip"}}, False),
    ],
)
def test_two_position_plant_valve_is_an_isolation_valve(
    name: str, kwargs: dict[str, Any], isolates: bool
) -> None:
    tags = suggest_point_tags(name, **kwargs)
    assert "valve" in tags
    assert ("isolation" in tags) is isolates


@pytest.mark.parametrize(
    ("name", "kwargs", "runs"),
    [
        # Motors.fandoc: the on/off point of a machine is its run point; a
        # multi-speed fan or pump switches each speed on and off.
        ("EF-2 Hi Spd", {"value_kind": "bool"}, True),
        ("Fan Low Speed Cmd", {"value_kind": "bool"}, True),
        ("Pump Med Speed", {"value_kind": "bool"}, True),
        ("SF Speed", {"unit": "%"}, False),  # a speed value, not an on/off
    ],
)
def test_speed_stage_of_a_fan_is_its_run_point(
    name: str, kwargs: dict[str, Any], runs: bool
) -> None:
    tags = suggest_point_tags(name, **kwargs)
    assert "speed" in tags
    assert ("run" in tags) is runs


@pytest.mark.parametrize(
    ("name", "unit", "has"),
    [
        # VAVs.fandoc: "we typically omit a section tag for most points" of a VAV.
        ("DMPR POS", "%", {"air", "damper", "cmd"}),
        ("BOX AIRFLOW", "cfm", {"air", "flow", "sensor"}),
        ("MAX CLG FLOW SP", "cfm", {"air", "flow", "max", "cooling", "sp"}),
    ],
)
def test_terminal_unit_damper_and_flow_get_no_section(name: str, unit: str, has: set[str]) -> None:
    tags = suggest_point_tags(name, unit=unit, equip_tags={"vav", "hvac", "equip"})
    assert has <= tags
    assert not tags & {"discharge", "inlet"}


@pytest.mark.parametrize(
    ("name", "equip", "has", "lacks"),
    [
        # An air unit's valve is a coil's: cooling is chilled water, heating hot
        # water unless steam is named (the reading behind chilledWaterCooling).
        ("CLG-VLV", "AHU-3", {"chilled", "water", "valve", "cmd"}, {"hot"}),
        ("HTG-VLV", "FCU-12", {"hot", "water", "valve", "cmd"}, {"chilled"}),
        ("RHT VLV", "VAV-2-14", {"hot", "water", "reheat", "valve"}, set()),
        ("Steam Htg Vlv", "AHU-3", {"steam", "valve"}, {"hot", "water"}),
        ("Humidifier Vlv", "AHU-3", {"humidifier", "valve"}, {"water", "hot"}),
        ("CLG-VLV", "WSHP-4", {"valve", "cmd"}, {"chilled"}),  # a heat pump's is its own
    ],
)
def test_air_unit_coil_valve_water(name: str, equip: str, has: set[str], lacks: set[str]) -> None:
    tags = suggest_point_tags(name, unit="%", equip_tags=suggest_equip_tags(equip))
    assert has <= tags
    assert not tags & lacks


def test_cooling_tower_pump_shorthand() -> None:
    assert {"pump", "run", "sensor"} <= suggest_point_tags("CTP-1 Status", value_kind="bool")


def test_meters_chapter_example() -> None:
    # "Main Elec Meter" ... "RTU-1 Fan" ... "RTU-1 DA Temp" (Meters.fandoc, Example Model)
    assert {"elec", "meter", "siteMeter"} <= suggest_equip_tags("Main Elec Meter")
    submeter = suggest_equip_tags("HVAC Elec Submeter")
    assert {"elec", "meter"} <= submeter
    assert "siteMeter" not in submeter
    assert "luminaire" in suggest_equip_tags("Luminaire")
    demand = suggest_point_tags("Main Elec Meter Demand", unit="kW")
    # The example tags it "elec, power ... sensor": no characteristic without ``ac``.
    assert {"elec", "demand", "sensor"} <= demand
    assert "active" not in demand
    consumption = explain_point_tags("Main Elec Meter Consumption", unit="kWh")
    assert {"elec", "energy", "hisTotalized", "sensor"} <= consumption.tags
    assert consumption.reasons["hisTotalized"].rule == "word"  # "consumption" says so
    guessed = explain_point_tags("Main Elec Meter Energy", unit="kWh").reasons["hisTotalized"]
    assert guessed.rule == "unit-guess"  # "some" meters log a rising counter: a guess
    rtu = suggest_equip_tags("RTU-1")
    assert {"fan", "cmd"} <= suggest_point_tags("RTU-1 Fan", equip_tags=rtu)
    assert {"discharge", "air", "temp", "sensor"} <= suggest_point_tags("RTU-1 DA Temp")


@pytest.mark.parametrize(
    ("name", "unit", "has", "lacks"),
    [
        # a power-quality meter's published point list (Meters.fandoc's vocabulary)
        ("Active Energy Delivered", "kWh", {"elec", "energy", "active", "import"}, set()),
        ("Active Energy Received", "kWh", {"elec", "energy", "active", "export"}, set()),
        ("Reactive Energy", "kVARh", {"elec", "energy", "reactive"}, {"active"}),
        ("Apparent Power Total", "kVA", {"elec", "power", "apparent", "total"}, {"active"}),
        ("Frequency", "Hz", {"elec", "freq"}, set()),  # on an electricity meter
        ("THD Voltage", "%", {"elec", "volt", "thd"}, set()),
        ("BTU Meter Energy", "MMBtu", {"thermal", "energy"}, {"elec"}),  # a thermal meter
    ],
)
def test_electricity_meter_points(name: str, unit: str, has: set[str], lacks: set[str]) -> None:
    tags = suggest_point_tags(name, unit=unit, equip_tags=suggest_equip_tags("Elec Meter PM-1"))
    assert has <= tags
    assert not tags & lacks


@pytest.mark.parametrize(
    ("points", "choices"),
    [
        # "Built up AHU supplied by central plants with VAV zones"
        (
            (("CHW Valve", "%"), ("HW Valve", "%"), ("Duct Static", "inH₂O"), ("DA-T", "°F")),
            {"chilledWaterCooling", "hotWaterHeating", "vavZone", "singleDuct"},
        ),
        # "Rooftop unit direct to zones": electric heat, DX cooling
        (
            (("Elec Heat Stage 1", None), ("Compressor 1 Status", None), ("DA-T", "°F")),
            {"elecHeating", "dxCooling", "singleDuct"},
        ),
        ((("Gas Valve", "%"), ("DA-T", "°F")), {"naturalGasHeating"}),
    ],
)
def test_ahu_choices_from_points(
    points: tuple[tuple[str, str | None], ...], choices: set[str]
) -> None:
    assert choices <= suggest_equip_tags("AHU-1", points=points_of(*points, equip="AHU-1"))


@pytest.mark.parametrize(
    ("equip", "points", "never"),
    [
        # AHUs.fandoc: the air-volume choice is only "typically" the fan's VFD
        # (constant-volume units get drives for balancing): not guessed.
        ("AHU-1", (("SF Speed", "%"), ("SF-S", None)), "variableAirVolume"),
        # VAVs.fandoc: pressureIndependent is how the damper is controlled; a
        # measured airflow does not imply it.
        (
            "VAV-3",
            (("DA Flow", "cfm"), ("Flow Stpt", "cfm"), ("DPR-O", "%")),
            "pressureIndependent",
        ),
    ],
)
def test_choices_the_defs_do_not_imply_are_not_guessed(
    equip: str, points: tuple[tuple[str, str | None], ...], never: str
) -> None:
    explained = explain_equip_tags(equip, points=points_of(*points, equip=equip))
    assert never not in explained.tags


def test_a_system_keeps_its_kind_whatever_its_points() -> None:
    # A "Heating Hot Water System" whose one point is a pump's differential
    # pressure is a hot-water system, not a pump.
    points = points_of(("HHWP-2 DP", "psi"), equip="HHW System")
    tags = suggest_equip_tags("HHW System", points=points)
    assert "hot" in tags
    assert "pump" not in tags


def test_vav_choices_from_points() -> None:
    # VAVs.fandoc: "Fan powered VAV with hot water reheat ... pressureDependent singleDuct".
    points = points_of(
        ("Fan Status", None), ("Reheat Valve", "%"), ("DA Flow", "cfm"), ("DPR-O", "%"),
        equip="VAV-7",
    )  # fmt: skip
    tags = suggest_equip_tags("VAV-7", points=points)
    assert {"fanPowered", "hotWaterHeating", "singleDuct"} <= tags
    steam = points_of(("Steam Reheat Valve", "%"), equip="VAV-8")
    assert "hotWaterHeating" not in suggest_equip_tags("VAV-8", points=steam)


@pytest.mark.parametrize(
    ("name", "has", "lacks"),
    [
        ("CT Basin Temp", {"temp", "sensor"}, {"cooling", "cool"}),  # a cooling *tower*
        ("CT Bypass Vlv", {"bypass", "valve", "cmd"}, {"cool"}),
        ("CHLR1_LCHWT", {"chilled", "water", "leaving", "temp"}, set()),
        ("ECWT", {"condenser", "water", "entering", "temp"}, set()),
    ],
)
def test_plant_names(name: str, has: set[str], lacks: set[str]) -> None:
    tags = suggest_point_tags(name)
    assert has <= tags
    assert not tags & lacks


@pytest.mark.parametrize("name", ["Heat Pump 4", "WSHP-1"])
def test_heat_pumps_are_their_own_kind(name: str) -> None:
    tags = suggest_equip_tags(name)
    assert {"heatPump", "hvac"} <= tags
    assert "pump" not in tags  # AHUs.fandoc: an air-handling equip, not a water pump


# --- weather observations (Weather.fandoc) ----------------------------------------------

WEATHER_STATION = frozenset({"weatherStation", "equip"})


@pytest.mark.parametrize(
    ("name", "unit", "tags"),
    [
        # the chapter's own example: "Temperature for Richmond VA" is weather air temp sensor
        ("Temperature for Richmond VA", "°F", {"weather", "air", "temp", "sensor"}),
        ("Humidity", "%RH", {"weather", "air", "humidity", "sensor"}),
        ("Dew Point", "°F", {"weather", "air", "dewPoint", "sensor"}),
        ("Wind Speed", "mph", {"weather", "wind", "speed", "sensor"}),
        ("Wind Direction", "°", {"weather", "wind", "direction", "sensor"}),
        ("Barometric Pressure", "inHg", {"weather", "atmospheric", "pressure", "sensor"}),
        ("Cloud Cover", "%", {"weather", "cloudage", "sensor"}),
        ("Sunrise", None, {"weather", "daytime", "sensor"}),
        ("Weather Condition", None, {"weather", "weatherCond", "sensor"}),
    ],
)
def test_weather_points(name: str, unit: str | None, tags: set[str]) -> None:
    got = suggest_point_tags(name, unit=unit, equip_tags=WEATHER_STATION)
    assert got == frozenset(tags | {"point"})  # observations have no duct section


# --- an object address written into the name ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "function", "rule"),
    [
        ("AI3", "sensor", "object-address"),
        ("AI-3 Space Temp", "sensor", "object-address"),
        ("BO2 Fan Status", "cmd", "object-address"),  # the output decides, as an AO/BO does
        ("analogInput:3", "sensor", "object-address"),
        ("AV_12 Zone Temp", "sp", "soft-point"),  # a soft point stays an assumption
        ("Bo 1", "sensor", "fallback"),  # mixed case is a word, not an address
    ],
)
def test_object_address_in_the_name(name: str, function: str, rule: str) -> None:
    suggestion = explain_point_tags(name)
    assert suggestion.tags & FUNCTIONS == {function}
    assert suggestion.reasons[function].rule == rule


def test_a_given_object_type_beats_the_address_in_the_name() -> None:
    assert function_of("AI3 Fan Command", object_type="binary-output") == "cmd"


# --- docs that cannot drift ---------------------------------------------------------------


def test_reference_examples_hold() -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "reference" / "tagging.md"
    text = page.read_text(encoding="utf-8")
    section = text[text.index("### Examples") : text.index("## How it works")]
    rows = re.findall(
        r"\| `((?:suggest_point_tags|suggest_equip_tags)\(.*?\))` \| (.*?) \|\n", section
    )
    assert len(rows) > 15
    scope = {"suggest_point_tags": suggest_point_tags, "suggest_equip_tags": suggest_equip_tags}
    for call, shown in rows:
        got = eval(call, scope) - {"point"}  # our own docs' examples, nothing else
        assert " ".join(sorted(got)) == shown, call


@given(
    name=st.text(
        alphabet=st.sampled_from("ABCDEFGHIKLMNOPRSTUVWabcdefghiklmnoprstuvw0123456789 _-/.%"),
        min_size=1,
        max_size=24,
    ).filter(lambda s: any(ch.isalnum() for ch in s)),
    unit=st.sampled_from([None, "°F", "%", "kW", "kWh", "cfm", "ppm"]),
    object_type=st.sampled_from([None, "AI", "AO", "AV", "BV", "holding-register", "coil"]),
)
def test_every_suggestion_explains_every_tag(
    name: str, unit: str | None, object_type: str | None
) -> None:
    suggestion = explain_point_tags(name, unit=unit, object_type=object_type)
    assert set(suggestion.reasons) == suggestion.tags
    assert len(suggestion.tags & FUNCTIONS) == 1
    assert suggestion.tags == suggest_point_tags(name, unit=unit, object_type=object_type)
    assert suggestion.explain()[-1].startswith("verdict: ")
