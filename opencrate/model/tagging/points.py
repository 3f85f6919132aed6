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
from opencrate.model.tagging.function import decide_function
from opencrate.model.tagging.implied import COMPONENTS as _COMPONENTS
from opencrate.model.tagging.implied import WATER_QUANTITIES as _WATER_QUANTITIES
from opencrate.model.tagging.implied import WATER_WORDS as _WATER_WORDS
from opencrate.model.tagging.implied import add_implied_tags
from opencrate.model.tagging.vocabulary import (
    OBJECT_TYPE_FUNCTION,
    WORD_TAGS,
)
from opencrate.model.tagging.words import NameWords, read_name

__all__ = ["explain_point_tags", "suggest_point_tags"]

_FUNCTIONS: Final = frozenset({"sensor", "cmd", "sp"})
# Equipment a point can be "about" ("Chiller Status", "Boiler Enable").
_SUBJECT_TAGS: Final = {"chiller": "chiller", "boiler": "boiler"}
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
    add_implied_tags(tags, words, letters, unit=unit, kind=kind, context=context, unknown=unknown)
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
