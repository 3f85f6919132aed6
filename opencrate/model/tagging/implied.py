"""The tags a point's name implies without saying them (rule steps 3 and 4).

:func:`add_implied_tags` runs after the words of the name have given their
tags (:mod:`.points`): the unit's quantity, the substance a section or
quantity implies, what a point inherits from its equipment (water of a
hot-water system, the deck of a dual-duct unit), electrical and weather
quantities, totalized meters, run states and isolation valves. Each rule
says which Haystack 4 chapter it comes from where one does.
"""

from __future__ import annotations

from typing import Final

from opencrate.model.tagging.evidence import TagSet
from opencrate.model.tagging.function import QUANTITIES, runs
from opencrate.model.tagging.vocabulary import TOTALIZED_UNITS, UNIT_TAGS, fold_unit

__all__ = ["COMPONENTS", "WATER_QUANTITIES", "WATER_WORDS", "add_implied_tags"]

_PLANT_NOUNS: Final = frozenset({"chiller", "boiler", "tower", "exchanger"})

_AIR_QUANTITIES: Final = frozenset(
    {"temp", "humidity", "pressure", "flow", "co2", "enthalpy", "dewPoint", "wetBulb"}
)

_ELEC_QUANTITIES: Final = frozenset({"power", "energy", "demand", "current", "volt", "pf"})

_AIR_SECTIONS: Final = frozenset(
    {"discharge", "return", "outside", "mixed", "exhaust", "zone", "hotDeck", "coldDeck"}
)

# Things that run (have an on/off run state).
_MACHINES: Final = frozenset(
    {"fan", "pump", "compressor", "chiller", "boiler", "heater", "humidifier", "filter"}
)

_AC_CHARACTERISTICS: Final = frozenset({"active", "reactive", "apparent"})

_AIR_GASES: Final = frozenset(
    {"co2", "co", "no2", "nh3", "ch2o", "o3", "tvoc", "pm25", "pm10", "pm01"}
)

# What a weather station observes (Weather.fandoc).
_WEATHER_OBSERVATIONS: Final = frozenset(
    {
        *("temp", "humidity", "dewPoint", "wetBulb", "feelsLike", "pressure", "daytime"),
        *("precipitation", "irradiance", "weatherCond", "speed", "direction", "visibility"),
        "cloudage",
    }
)

_NOT_AIR: Final = frozenset({"water", "steam", "refrig", "gas", "naturalGas"})

_PHASE_LETTERS: Final = frozenset({"a", "b", "c", "an", "bn", "cn", "ab", "bc", "ca"})

# What a point inherits from its equipment's tags (when it does not say otherwise).
_INHERITED_QUALIFIERS: Final = frozenset(
    {"chilled", "hot", "condenser", "domestic", "primaryLoop", "secondaryLoop", "circ"}
)

COMPONENTS: Final = frozenset(
    {"fan", "pump", "damper", "valve", "filter", "humidifier", "compressor", "coil", "heater"}
)

WATER_QUANTITIES: Final = frozenset({"temp", "pressure", "flow", "volume"})

WATER_WORDS: Final = frozenset({"water", "chilled", "hot", "condenser", "domestic", "cold"})


def add_implied_tags(
    tags: TagSet,
    words: set[str],
    letters: set[str],
    *,
    unit: str | None,
    kind: str,
    context: frozenset[str],
    unknown: tuple[str, ...] = (),
) -> None:
    """Add the tags the name implies without saying them (rule step 3 and 4)."""
    with tags.rule("unit", f"the unit {unit!r}"):
        _unit_tags(tags, unit, kind)
    with tags.rule("implied", "a zone or occupancy setpoint is a zone temperature setpoint"):
        sp_of_zone = "setpoint" in words and words & {"occupied", "unoccupied", "zone"}
        if sp_of_zone and not tags & QUANTITIES:
            tags.add("temp")
        if tags & {"occ", "unocc"} and "temp" in tags and not tags & _AIR_SECTIONS:
            tags.add("zone")
    with tags.rule("implied", "an electrical quantity"):
        _elec_tags(tags, words, letters)
    with tags.rule("equip-context", f"the equipment is {' '.join(sorted(context)) or '-'}"):
        _inherit(tags, words, context)
    with tags.rule("implied", "the substance the section, quantity or qualifier implies"):
        _substance_tags(tags, words)
    with tags.rule("implied", "a weather observation is of the air (Weather.fandoc)"):
        _weather(tags)
    with tags.rule("grammar", "an on/off status or command is about running"):
        said = words & {"status", "start", "stop", "command", "run"}
        # "Status" on a pump, "Filter Status" are run states; "Door Status" or
        # "Chr Sts" (an unknown word) may be: suggested, but for review.
        if said and runs(tags, words, kind):
            if unknown and not tags & _MACHINES:
                tags.add_because("run", "function-guess", f"the run state of {unknown[0]!r}?")
            else:
                tags.add("run")
    with tags.rule("grammar", "a fan's or pump's speed switched on or off is how it runs"):
        # "Fan High Speed" (Bool) is the on/off of one speed of a multi-speed
        # fan: its primary on/off point, which Motors.fandoc always tags run.
        speed_stage = words & {"high", "low", "medium"} and "speed" in words
        if kind == "bool" and speed_stage and tags & {"fan", "pump"}:
            tags.add("run")
    with tags.rule("implied", "a two-position valve on plant water isolates"):
        # An open/closed (Bool) water valve that neither heats nor cools is a
        # shut-off: a chiller's, boiler's or exchanger's isolation valve.
        plant_water = tags & {"chilled", "condenser", "hot", "domestic"} or context & {
            "chiller",
            "boiler",
            "heatExchanger",
            "plant",
        }
        conditioning = words & {"heating", "cooling", "reheat", "preheat", "humidifier"}
        # On an air handler or terminal unit a two-position water valve is its coil's.
        air_unit = context & {"ahu", "vav", "cav", "fcu", "heatPump", "unitVent"}
        if kind == "bool" and "valve" in tags and plant_water and not conditioning | air_unit:
            tags.add("isolation")
    if tags & {"dewPoint", "wetBulb", "feelsLike"}:
        tags.discard("temp")  # the quantity is the dew-point / wet-bulb temperature itself
    _totalized(tags, words, unit, kind)


def _totalized(tags: TagSet, words: set[str], unit: str | None, kind: str) -> None:
    """``hisTotalized`` for a running counter: an energy or volume (Meters.fandoc).

    A rate has a rate unit (kW, gpm); an energy (kWh, Btu, therm) or a volume
    (gal, ccf, m³) read off a meter is the counter itself.
    """
    if kind == "bool" or not tags & {"energy", "volume"} or tags & {"sp", "delta"}:
        return
    said = sorted(words & {"accumulated", "totalized", "consumption"})
    if said:
        tags.add_because("hisTotalized", "word", f"the name says {said[0]!r}: a running total")
        return
    folded = fold_unit(unit) if unit else ""
    if folded in TOTALIZED_UNITS:
        # Meters.fandoc: *some* meters log energy as a rising counter (its example
        # model's kWh "Consumption" is not tagged so): a guess, for review.
        tags.add_because("hisTotalized", "unit-guess", f"an energy or volume in {unit!r}")


def _unit_tags(tags: TagSet, unit: str | None, kind: str) -> None:
    # The unit of a Bool point is noise (the eval has a "cfm" fan command).
    if not unit or kind == "bool":
        return
    unit_tags = frozenset(UNIT_TAGS.get(fold_unit(unit), ()))
    characteristic = unit_tags & _AC_CHARACTERISTICS
    unit_tags -= characteristic
    if not tags & QUANTITIES:
        tags.update(unit_tags)
    else:
        # Energy and power are told apart by the unit, whatever the name says
        # ("Energy" logged in kW is a power; "Power" in kWh is an energy).
        for said, meant in (("energy", "power"), ("power", "energy"), ("volume", "flow")):
            switch = said in tags and meant in unit_tags and said not in unit_tags
            if switch and "demand" not in tags:
                tags.discard(said)
                tags.add(meant)
        if "elec" in unit_tags and tags & _ELEC_QUANTITIES:
            tags.add("elec")
    if characteristic - {"active"} and tags & {"power", "demand", "energy"}:
        # Meters.fandoc: kVAR(h) is reactive, kVA(h) apparent: a unit that can only
        # be that characteristic. kW/kWh add nothing: its example model tags a
        # meter's kW demand and kWh consumption plain ``elec power``/``elec energy``,
        # the characteristic (with ``ac``) being for power-quality meters.
        tags.update(characteristic - {"active"})


def _elec_tags(tags: TagSet, words: set[str], letters: set[str]) -> None:
    if tags & _ELEC_QUANTITIES and words & {"vfd", "motor", "phase", "elec"}:
        tags.add("elec")
    if tags & {"current", "volt", "pf"} and not tags & {"water", "steam", "gas", "naturalGas"}:
        tags.add("elec")
    if "current" in tags and tags & (QUANTITIES - {"current", "concentration"}):
        tags.discard("current")  # "current speed" is the present speed, not amperes
        if not tags & _ELEC_QUANTITIES:
            tags.discard("elec")
    if "elec" in tags and tags & _ELEC_QUANTITIES and letters & _PHASE_LETTERS:
        tags.add("phase")  # "Current A", "Volts BN"


def _substance_tags(tags: TagSet, words: set[str]) -> None:
    """``air`` for an air section with an air quantity, ``water`` for a water qualifier."""
    air_section = tags & _AIR_SECTIONS or "building" in words
    air_thing = tags & _AIR_QUANTITIES or tags & {"damper", "fan"}
    watery = tags & WATER_WORDS and not tags & {"fan", "damper"}
    if air_section and air_thing and not tags & _NOT_AIR and not watery:
        tags.add("air")
    if tags & _AIR_GASES and not tags & _NOT_AIR - {"gas"}:
        tags.add("air")  # Xeto Co2Point: air co2 concentration; the other gases alike
    if "concentration" in tags:
        tags.discard("level")  # "CO2 Level" is its concentration
    if "evaporator" in tags and tags & {"valve", "flow"} and "refrig" not in tags:
        tags.add("chilled")  # a chiller's evaporator water is its chilled water
    qualified = tags & {"chilled", "hot", "condenser", "domestic"}
    wet = tags & WATER_QUANTITIES or tags & {"entering", "leaving", "valve"}
    if qualified and wet and not tags & {"air", "refrig", "steam"}:
        tags.add("water")


def _inherit(tags: TagSet, words: set[str], context: frozenset[str]) -> None:
    """Add what the parent equipment says and the point's name does not."""
    if not context:
        return
    own = tags & COMPONENTS
    own_component = own or words & _PLANT_NOUNS
    for component in ("pump", "fan"):
        # A point about the equipment's own component ("Fan Status" on a fan) or
        # naming none ("Status" on a pump) is about that pump or fan.
        if component in context and (not own_component or own == {component}):
            tags.add(component)
            if not tags & _INHERITED_QUALIFIERS:
                tags |= context & _INHERITED_QUALIFIERS
            if component == "fan" and not tags & _AIR_SECTIONS:
                tags |= context & {"discharge", "return", "exhaust"}
    if "meter" in context:
        thermal = "thermal" in tags or tags & {"water", "steam", "gas", "naturalGas"}
        if "elec" in context and tags & (_ELEC_QUANTITIES | {"freq"}) and not thermal:
            tags.add("elec")
        if tags & {"energy", "volume", "flow", "power"}:
            tags |= context & {"gas", "naturalGas"}
        if "water" in context and tags & {"volume", "flow"}:
            tags |= context & {"water", "domestic", "chilled", "hot"}
    if "weatherStation" in context and tags & _WEATHER_OBSERVATIONS:
        tags.add("weather")
    if "coolingTower" in context and not own_component and words & {"start", "status", "command"}:
        tags.add("fan")  # a cooling tower is switched by its fan
    if "dualDuct" in context:
        _decks(tags, words)
    if context & {"ahu", "vav", "cav", "fcu"} and "valve" in tags:
        _coil_valve_water(tags, words)
    if not tags & _AIR_SECTIONS:
        with tags.rule("default-section", "the section a point on this equipment has by default"):
            _default_air_section(tags, words, context)
    if "sp" in words or "setpoint" in words:
        _plant_setpoint(tags, context)


def _coil_valve_water(tags: TagSet, words: set[str]) -> None:
    """The water of an air unit's coil valve that names none (``Clg_Valve_Cmd``).

    On an air handler or terminal unit, a valve is a coil's: a cooling valve
    carries chilled water (a DX coil has no valve), a heating, reheat or
    preheat valve hot water unless steam is named: the reading the equipment
    rules give ``chilledWaterCooling``/``hotWaterHeating`` from (VAVs.fandoc:
    a valve rules out electric reheat). A humidifier's valve is neither.
    """
    if tags & (WATER_WORDS | {"steam", "refrig", "gas", "naturalGas", "humidifier"}):
        return
    if words & {"cooling"} or "cool" in tags:
        tags |= {"chilled", "water"}
    elif words & {"heating", "reheat", "preheat"} or tags & {"heat", "reheat"}:
        tags |= {"hot", "water"}


def _weather(tags: TagSet) -> None:
    """A weather observation (Weather.fandoc): air quantities are of the air, not a duct.

    Haystack's weather points are ``weather air temp``, ``weather air
    humidity``..., with no duct section: a weather station reads the air
    outside, but the spec does not tag it ``outside``.
    """
    if "weather" not in tags:
        return
    if tags & {"temp", "humidity", "dewPoint", "wetBulb", "feelsLike"}:
        tags.add("air")


def _decks(tags: TagSet, words: set[str]) -> None:
    """In a dual-duct unit, "cooling"/"cold" air is the cold deck, "heating"/"hot" the hot deck."""
    if tags & (WATER_WORDS - {"hot", "cold"}) or "zone" in tags:
        return
    if not tags & (_AIR_QUANTITIES | {"damper"}):
        return
    if tags & {"cool", "cooling"} or "cold" in words:
        tags -= {"cool", "cooling", "discharge"}
        tags |= {"coldDeck", "air"}
    if tags & {"heat", "heating", "hot"}:
        tags -= {"heat", "heating", "hot", "discharge"}
        tags |= {"hotDeck", "air"}


def _default_air_section(tags: TagSet, words: set[str], context: frozenset[str]) -> None:
    """The section a point on an air unit has when its name gives none.

    The temperature, humidity and CO2 a terminal unit reads are the zone's; its
    damper and airflow are of air but get no section (VAVs.fandoc: "we
    typically omit a section tag for most points", only those that would clash
    with a zone point are ``inlet`` or ``discharge``). An air handler's
    unnamed fan is its supply (discharge) fan, and its static pressure is duct
    (discharge) static pressure.
    """
    if tags & _NOT_AIR or tags & WATER_WORDS:
        return
    if context & {"vav", "cav", "fcu"}:
        if tags & {"damper", "flow"}:
            # The substance is still air: a terminal unit moves nothing else.
            tags.add_because("air", "implied", "a terminal unit's damper and flow are of air")
        elif tags & {"temp", "humidity", "co2"} and not words & {"discharge", "supply"}:
            tags |= {"zone", "air"}
    if "ahu" in context and "building" not in words:
        if "fan" in tags:
            tags |= {"discharge", "air"}
        if "pressure" in tags and "static" in words:
            tags |= {"discharge", "air"}


def _plant_setpoint(tags: TagSet, context: frozenset[str]) -> None:
    """A chiller's or boiler's temperature setpoint is for the water it makes."""
    if "temp" not in tags or tags & (_AIR_SECTIONS | {"air", "entering", "refrig"}):
        return
    plant = (context | tags) & {"chiller", "boiler"}
    if not plant and not tags & {"chilled", "hot"}:
        return
    if "chiller" in plant and not tags & {"hot", "condenser"}:
        tags.add("chilled")
    elif "boiler" in plant and not tags & {"chilled", "condenser", "steam"}:
        tags.add("hot")
    if tags & {"chilled", "hot"}:
        tags |= {"water", "leaving"}
