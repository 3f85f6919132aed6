"""Haystack 4 tags for a point, from its name, unit, object type and equipment.

The rules run over the canonical words of :mod:`.words` (``docs/reference/tagging.md``
lists every rule with examples). Each adds its tags to a
:class:`~.evidence.TagSet` under a rule name, so every tag comes back with
its reason and confidence (:func:`explain_point_tags`):

1. the function, exactly one of ``sensor``/``cmd``/``sp``, from the object
   type and the name's grammar (:mod:`.function`; only its weakest fallbacks
   look at the tags found below);
2. context-free words (``temperature`` -> ``temp``) from
   :data:`~.vocabulary.WORD_TAGS` (rule ``word``);
3. words whose tag depends on their neighbours (:func:`_word_tags`):
   ``supply``/``return`` are air sections for air but ``leaving``/``entering``
   for plant water (``section``), ``cooling`` is ``cool`` on a valve and
   ``cooling`` on a setpoint (``qualifier``);
4. what the unit says (``unit``: the quantity, energy vs power, a running
   total) and what the words imply (``implied``: ``elec``, ``air``, ``water``);
5. what the parent equipment adds (:func:`_inherit`, ``equip-context``): a
   point on a pump is a ``pump`` point, a VAV's temperature is the zone's
   (``default-section``);
6. site conventions, when the caller passes some (:mod:`.conventions`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from opencrate.errors import InvalidInput
from opencrate.model.tagging.conventions import Conventions, point_features
from opencrate.model.tagging.equips import equip_tags_from_words
from opencrate.model.tagging.evidence import DEFAULT_REVIEW_THRESHOLD, TagSet, TagSuggestion
from opencrate.model.tagging.function import QUANTITIES as _QUANTITIES
from opencrate.model.tagging.function import decide_function, runs
from opencrate.model.tagging.vocabulary import (
    OBJECT_TYPE_FUNCTION,
    TOTALIZED_UNITS,
    UNIT_TAGS,
    WORD_TAGS,
    fold_unit,
)
from opencrate.model.tagging.words import NameWords, read_name

__all__ = ["explain_point_tags", "suggest_point_tags"]

_FUNCTIONS: Final = frozenset({"sensor", "cmd", "sp"})
_COMPONENTS: Final = frozenset(
    {"fan", "pump", "damper", "valve", "filter", "humidifier", "compressor", "coil", "heater"}
)
_PLANT_NOUNS: Final = frozenset({"chiller", "boiler", "tower", "exchanger"})
# Equipment a point can be "about" ("Chiller Status", "Boiler Enable").
_SUBJECT_TAGS: Final = {"chiller": "chiller", "boiler": "boiler"}
_AIR_QUANTITIES: Final = frozenset(
    {"temp", "humidity", "pressure", "flow", "co2", "enthalpy", "dewPoint", "wetBulb"}
)
_WATER_QUANTITIES: Final = frozenset({"temp", "pressure", "flow", "volume"})
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
_WATER_WORDS: Final = frozenset({"water", "chilled", "hot", "condenser", "domestic", "cold"})
_NOT_AIR: Final = frozenset({"water", "steam", "refrig", "gas", "naturalGas"})
_WATER_QUALIFIERS: Final = frozenset({"chilled", "hot", "condenser", "domestic"})
_OTHER_SUBSTANCE_WORDS: Final = frozenset({"air", "steam", "refrigerant", "gas", "naturalgas"})
# What a point of a water system can be about the system's water.
_WATER_THINGS: Final = _WATER_QUANTITIES | {
    "pump",
    "valve",
    "entering",
    "leaving",
    "energy",
    "power",
}
_AIR_EQUIP: Final = frozenset({"ahu", "vav", "cav", "fcu", "fan"})
_PHASE_LETTERS: Final = frozenset({"a", "b", "c", "an", "bn", "cn", "ab", "bc", "ca"})

# What a point inherits from its equipment's tags (when it does not say otherwise).
_INHERITED_QUALIFIERS: Final = frozenset(
    {"chilled", "hot", "condenser", "domestic", "primaryLoop", "secondaryLoop", "circ"}
)


def suggest_point_tags(
    name: str,
    *,
    unit: str | None = None,
    object_type: str | None = None,
    equip_tags: Iterable[str] = (),
    value_kind: str | None = None,
    raw_name: str | None = None,
) -> frozenset[str]:
    """Suggest Project Haystack 4 marker tags for a point.

    ``name`` is whatever name the caller has: a display name ("Supply Air
    Temp") or a controller name ("SAT", "CH1_EntChwTemp"). ``raw_name``, when
    the caller has both, is the controller's own name; the evidence of both is
    combined. ``unit`` (``"°F"``, ``"kW"``, ...) names the quantity when the
    name does not; ``object_type`` is a BACnet object type (``"analog-input"``,
    ``"AI"``, ``"analogValue"``...) or Modbus register kind and decides
    sensor/cmd for hardware inputs and outputs; ``equip_tags`` are the tags of
    the parent equipment (a point on a pump gets ``pump``); ``value_kind`` is
    ``"number"``/``"bool"``/``"str"``/``"enum"`` (any case).

    The result always holds ``point`` and exactly one of ``sensor``, ``cmd``
    and ``sp``. A point the tagger cannot read at all is a ``sensor``.
    :func:`explain_point_tags` gives the same tags with the rule and
    confidence of each.

    Raises :class:`~opencrate.errors.InvalidInput` when ``name`` (or
    ``raw_name``) has no letters or digits, or ``object_type`` is not a BACnet
    object type or Modbus register kind. Pure: no I/O, safe from any thread.
    """
    return explain_point_tags(
        name,
        unit=unit,
        object_type=object_type,
        equip_tags=equip_tags,
        value_kind=value_kind,
        raw_name=raw_name,
    ).tags


def explain_point_tags(
    name: str,
    *,
    unit: str | None = None,
    object_type: str | None = None,
    equip_tags: Iterable[str] = (),
    value_kind: str | None = None,
    raw_name: str | None = None,
    writable: bool | None = None,
    conventions: Conventions | None = None,
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD,
) -> TagSuggestion:
    """The tags :func:`suggest_point_tags` gives, each with its rule and confidence.

    Same arguments and errors, plus: ``writable`` (a Modbus holding register
    or BACnet value object known to be writable, or not) refines the function
    of a soft point; ``conventions`` are site corrections learned by
    :func:`~.conventions.learn_conventions`, applied after the rules;
    ``review_threshold`` sets which tags count as low confidence
    (``needs_review`` on the result).
    """
    names = [read_name(name, what="point name")]
    if raw_name is not None and raw_name.strip():
        names.append(read_name(raw_name, what="raw_name"))
    hint = _object_function(object_type)
    address = None if object_type is not None else _object_address([name, raw_name])
    if address is not None:
        hint = _object_function(address)
    kind = (value_kind or "").strip().lower()
    context = frozenset(equip_tags)
    for parsed in names:
        context |= _context_tags(parsed)

    tags = TagSet()
    words: set[str] = set()
    letters: set[str] = set()
    for parsed in names:
        words |= parsed.word_set
        letters |= parsed.letters
        _word_tags(tags, parsed, _system_water(context))
    unknown = tuple(word for parsed in names for word in parsed.unknown)
    _implied_tags(tags, words, letters, unit=unit, kind=kind, context=context, unknown=unknown)
    percent = (unit or "").strip() == "%"
    function, rule, detail = decide_function(
        tags, names, hint=hint, kind=kind, writable=writable, percent=percent
    )
    if address is not None and rule == "object-type":
        rule, detail = (
            "object-address",
            f"the name starts with the object address {address}: {detail}",
        )
    tags.add_because(function, rule, detail)
    tags.add_because("point", "object-type", "every point is a point")
    if conventions:
        features = point_features(
            [name] + ([raw_name] if raw_name else []), unit=unit, equip_tags=equip_tags
        )
        corrected, applied = conventions.apply(features, frozenset(tags))
        for correction, tag in applied:
            if tag in corrected:
                if tag in _FUNCTIONS:
                    tags -= _FUNCTIONS
                tags.add_because(tag, "convention", correction.rule)
            else:
                tags.discard(tag)
    written = tuple(word for parsed in names for word in parsed.written)
    return tags.suggestion(words=written, unknown=unknown, review_threshold=review_threshold)


# "AI3", "BO-2", "AV_12 Zone Setpoint", "analogInput:3": a BACnet object address
# written into the name (Haystack's bacnetCur syntax, controllers' default names).
_ADDRESS: Final = re.compile(
    r"^\s*(AI|AO|AV|BI|BO|BV|MSI|MSO|MSV|analog-?input|analog-?output|analog-?value"
    r"|binary-?input|binary-?output|binary-?value)[\s:_-]?\d+\b",
    re.IGNORECASE,
)
_ADDRESS_CASE_SENSITIVE: Final = frozenset(
    {"ai", "ao", "av", "bi", "bo", "bv", "msi", "mso", "msv"}
)


def _object_address(names: Iterable[str | None]) -> str | None:
    """The object type a name's leading object address gives ("AI3" -> AI), if any."""
    for name in names:
        if not name:
            continue
        found = _ADDRESS.match(name)
        if found is None:
            continue
        prefix = found.group(1)
        # Short prefixes only in capitals: "Bo 1" or "Ai2" are words, not addresses.
        if prefix.lower() in _ADDRESS_CASE_SENSITIVE and not prefix.isupper():
            continue
        return prefix
    return None


def _object_function(object_type: str | None) -> str:
    if object_type is None:
        return ""
    folded = "".join(ch for ch in object_type.lower() if ch.isalnum())
    try:
        return OBJECT_TYPE_FUNCTION[folded]
    except KeyError:
        raise InvalidInput(
            f"unknown object type {object_type!r}: expected a BACnet object type "
            "(analog-input, binary-output, analog-value, ...) or a Modbus register kind",
            field="object_type",
        ) from None


def _context_tags(parsed: NameWords) -> frozenset[str]:
    # An identifier in the point's own name ("HHWP-1 S/S") tells the same as
    # the parent equipment's tags would.
    if not parsed.context:
        return frozenset()
    return equip_tags_from_words(parsed.context)


def _system_water(context: frozenset[str]) -> frozenset[str]:
    """The water a water plant or system carries (its points are about it)."""
    if "water" not in context or context & _AIR_EQUIP:
        return frozenset()
    return context & _WATER_QUALIFIERS


def _word_tags(tags: TagSet, parsed: NameWords, system_water: frozenset[str]) -> None:
    """Tags the name's own words give (rule steps 1 and 2)."""
    present = parsed.word_set
    own = TagSet()
    for word in parsed.words:
        with own.rule("word", f"the name says {word!r}"):
            own.update(WORD_TAGS.get(word, ()))
    names_water = bool(own & _WATER_THINGS or present & {"supply", "return"})
    names_substance = bool(present & (_WATER_WORDS | _OTHER_SUBSTANCE_WORDS))
    if system_water and names_water and not names_substance:
        with own.rule("equip-context", "a point of a water system is about its water"):
            own |= system_water | {"water"}
        present = present | {"water"}
    with own.rule("section", "supply/return read for air or for plant water"):
        _section_tags(own, present)
    with own.rule("qualifier", "cooling/heating read as a device or a mode"):
        _qualifier_tags(own, present)
    with own.rule("subject", "the equipment or thing the point is about"):
        _subject_tags(own, present)
    tags.merge(own)


def _section_tags(tags: TagSet, present: frozenset[str]) -> None:
    # Plant water is seen from the plant (supply leaves it), condenser water
    # from the chiller (its supply enters the chiller): haystack-reference §3.
    water = bool(present & _WATER_WORDS) and "air" not in present
    condenser = "condenser" in present
    if "supply" in present:
        # not Haystack 4: kept for seed 000's rules (architecture §4)
        tags.add_because("supply", "section", "'supply' kept beside its section (seed 000)")
        if water and condenser:
            tags.add_because("entering", "section", "condenser supply water enters the chiller")
        elif water:
            tags.add_because("leaving", "section", "plant supply water leaves the plant")
        else:
            tags.add_because("discharge", "section", "'supply' air is the discharge section")
    if "return" in present:
        if water and condenser:
            tags.add_because("leaving", "section", "condenser return water leaves the chiller")
        elif water:
            tags.add_because("entering", "section", "plant return water enters the plant")
        else:
            tags.add_because("return", "section", "'return' air")
    if "economizer" in present and not present & {"mode", "enable", "setpoint", "limit"}:
        with tags.rule("section", "an economizer command drives the outside air damper"):
            tags |= {"outside", "air", "damper"}
    if tags & {"hotDeck", "coldDeck"}:
        tags.discard("discharge")  # "Cold Deck SAT": the deck is the section


def _qualifier_tags(tags: TagSet, present: frozenset[str]) -> None:
    # cool/heat name what a device does (a cooling valve, a heat stage);
    # cooling/heating name a mode (a cooling setpoint, a heating enable).
    device = bool(present & {"valve", "coil"}) or not (
        tags & _QUANTITIES or present & {"setpoint", "enable", "mode"}
    )
    if "cooling" in present:
        tags.add("cool" if device else "cooling")
    if "heating" in present:
        tags.add("heat" if device else "heating")
    if "occupied" in present and present & {"setpoint", "min", "max", "limit", "effective"}:
        tags.discard("occupied")
        tags.add("occ")
    if "differential" in present and not tags & _QUANTITIES:
        tags.add("pressure")
    if "active" in present:
        # "Active Setpoint" (Trane) is the effective one; "Active Power" is real power.
        if "setpoint" in present:
            tags.add("effective")
        elif tags & {"power", "energy", "demand"}:
            tags.add("active")


def _subject_tags(tags: TagSet, present: frozenset[str]) -> None:
    if not tags & (_COMPONENTS | _QUANTITIES):
        tags.update(tag for word, tag in _SUBJECT_TAGS.items() if word in present)
    if "thermostat" in present and not tags & _QUANTITIES:
        tags |= {"zone", "air", "temp"}  # a thermostat reading or setpoint is zone temperature
    if "vfd" in present and not tags & _QUANTITIES and present & {"signal", "output", "command"}:
        tags.add("speed")  # what a drive is signalled is a speed


def _implied_tags(
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
        if sp_of_zone and not tags & _QUANTITIES:
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
    if not tags & _QUANTITIES:
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
    if "current" in tags and tags & (_QUANTITIES - {"current", "concentration"}):
        tags.discard("current")  # "current speed" is the present speed, not amperes
        if not tags & _ELEC_QUANTITIES:
            tags.discard("elec")
    if "elec" in tags and tags & _ELEC_QUANTITIES and letters & _PHASE_LETTERS:
        tags.add("phase")  # "Current A", "Volts BN"


def _substance_tags(tags: TagSet, words: set[str]) -> None:
    """``air`` for an air section with an air quantity, ``water`` for a water qualifier."""
    air_section = tags & _AIR_SECTIONS or "building" in words
    air_thing = tags & _AIR_QUANTITIES or tags & {"damper", "fan"}
    watery = tags & _WATER_WORDS and not tags & {"fan", "damper"}
    if air_section and air_thing and not tags & _NOT_AIR and not watery:
        tags.add("air")
    if tags & _AIR_GASES and not tags & _NOT_AIR - {"gas"}:
        tags.add("air")  # Xeto Co2Point: air co2 concentration; the other gases alike
    if "concentration" in tags:
        tags.discard("level")  # "CO2 Level" is its concentration
    if "evaporator" in tags and tags & {"valve", "flow"} and "refrig" not in tags:
        tags.add("chilled")  # a chiller's evaporator water is its chilled water
    qualified = tags & {"chilled", "hot", "condenser", "domestic"}
    wet = tags & _WATER_QUANTITIES or tags & {"entering", "leaving", "valve"}
    if qualified and wet and not tags & {"air", "refrig", "steam"}:
        tags.add("water")


def _inherit(tags: TagSet, words: set[str], context: frozenset[str]) -> None:
    """Add what the parent equipment says and the point's name does not."""
    if not context:
        return
    own = tags & _COMPONENTS
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
    if tags & (_WATER_WORDS | {"steam", "refrig", "gas", "naturalGas", "humidifier"}):
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
    if tags & (_WATER_WORDS - {"hot", "cold"}) or "zone" in tags:
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
    if tags & _NOT_AIR or tags & _WATER_WORDS:
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
