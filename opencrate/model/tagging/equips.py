"""Haystack 4 tags for a piece of equipment, from its name.

The equipment's kind is the *last* equipment noun in the name: "Chiller Circ
Pump" is a pump, "AHU-2 SF VFD" is a VFD (of the supply fan). Words before it
qualify it: the water a pump moves (chilled, hot, condenser, domestic), the
air a fan moves (discharge, return, exhaust), what a meter measures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from opencrate.model.tagging.conventions import Conventions, equip_features
from opencrate.model.tagging.equip_points import (
    KIND_TAGS,
    equip_kind_from_points,
    tags_from_points,
)
from opencrate.model.tagging.evidence import DEFAULT_REVIEW_THRESHOLD, TagSet, TagSuggestion
from opencrate.model.tagging.words import EQUIP_NOUNS, read_name

__all__ = ["equip_tags_from_words", "explain_equip_tags", "suggest_equip_tags"]

# Equipment noun -> its Haystack 4 markers (``hvac`` added for HVAC kinds).
_KINDS: Final[dict[str, tuple[str, ...]]] = {
    "ahu": ("ahu", "hvac"),
    "rtu": ("ahu", "rtu", "hvac"),
    "doas": ("ahu", "doas", "hvac"),
    "mau": ("ahu", "mau", "hvac"),
    "vav": ("vav", "hvac"),
    "cav": ("cav", "hvac"),
    "fcu": ("fcu", "hvac"),
    "crac": ("fcu", "crac", "hvac"),
    "boiler": ("boiler", "hvac"),
    "chiller": ("chiller", "hvac"),
    "tower": ("coolingTower", "hvac"),
    "pump": ("pump", "hvac"),
    "fan": ("fan", "hvac"),
    "exchanger": ("heatExchanger", "hvac"),
    "plant": ("plant", "hvac"),
    "thermostat": ("thermostat", "hvac"),
    "vfd": ("vfd", "hvac"),
    "motor": ("motor", "hvac"),
    "meter": ("meter",),
    "system": ("hvac",),
    "lighting": (),
    "panel": ("panel", "elec"),
    "unitvent": ("fcu", "unitVent", "hvac"),
    "weatherstation": ("weatherStation",),
    "luminaire": ("luminaire",),
    "heatpump": ("heatPump", "hvac"),  # AHUs.fandoc: an airHandlingEquip
    "circuit": ("circuit",),  # ElecPanels.fandoc: "circuit equip", the panel is "elec panel"
}

# Markers that name what a piece of equipment is (a name with one needs no guess).
_KIND_MARKERS: Final = frozenset(
    tag for kind, tags in _KINDS.items() if kind != "system" for tag in tags[:1]
) | {
    "meter",
    "plant",
    "coolingTower",
    "heatExchanger",
    "panel",
    "circuit",
    "weatherStation",
    "luminaire",
}
# Words that make a meter the site's main meter (Meters.fandoc: siteMeter).
_SITE_WORDS: Final = frozenset({"main", "site", "building", "whole", "service"})

# Qualifying words -> tags, per equipment kind that accepts them.
_WATER_QUALIFIERS: Final = {
    "chilled": ("chilled",),
    "hot": ("hot",),
    "condenser": ("condenser",),
    "domestic": ("domestic",),
    "steam": ("steam",),
    "primary": ("primaryLoop",),
    "secondary": ("secondaryLoop",),
    "circulation": ("circ",),
}
_AIR_QUALIFIERS: Final = {
    "supply": ("discharge",),
    "discharge": ("discharge",),
    "return": ("return",),
    "exhaust": ("exhaust",),
    "relief": ("exhaust",),
    "outside": ("outside",),
}
_METERED: Final = {
    "elec": ("elec",),
    "power": ("elec",),
    "energy": ("elec",),
    "gas": ("gas",),
    "naturalgas": ("naturalGas",),
    "water": ("water", "domestic"),
    "steam": ("steam",),
    "chilled": ("chilled", "water"),
    "hot": ("hot", "water"),
}


def suggest_equip_tags(name: str, *, points: Iterable[Iterable[str]] = ()) -> frozenset[str]:
    """Suggest Project Haystack 4 marker tags for equipment named ``name``.

    ``"AHU-1"`` -> ``{equip, ahu, hvac}``; ``"VAV-101"`` -> ``{equip, vav, hvac}``;
    ``"Elec Meter 1"`` -> ``{equip, elec, meter}``; a water system that names no
    kind (``"CHWS"``) gets its water (``{equip, chilled, water}``); a name the
    tables do not recognise gives just ``{equip}``.

    ``points`` are the tag sets of the equipment's points (their suggested or
    real tags). They are evidence too: the kind when the name names none
    (an equipment whose points are mixed air, outside air damper and supply
    fan is an AHU), and the configuration choices no name carries
    (``hotWaterHeating``, ``chilledWaterCooling``, ``singleDuct``/``dualDuct``,
    ``fanPowered``, ``vavZone``; ``elec meter`` for kW/kWh points). Without
    points, those are never guessed. :func:`explain_equip_tags` gives the
    rule and confidence of each tag.

    Raises :class:`~opencrate.errors.InvalidInput` when ``name`` has no letters
    or digits. Pure: no I/O, safe from any thread.
    """
    return explain_equip_tags(name, points=points).tags


def explain_equip_tags(
    name: str,
    *,
    points: Iterable[Iterable[str]] = (),
    conventions: Conventions | None = None,
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD,
) -> TagSuggestion:
    """The tags :func:`suggest_equip_tags` gives, each with its rule and confidence.

    ``conventions`` are site corrections (:func:`~.conventions.learn_conventions`
    over :func:`~.conventions.equip_features`), applied after the rules.
    """
    parsed = read_name(name, what="equipment name")
    point_tags = [frozenset(tags) for tags in points]
    tags = TagSet()
    with tags.rule("word", "the equipment noun in the name"):
        # The equipment's own identifier ("AHU-1") is its kind here, not context.
        tags |= equip_tags_from_words(parsed.written)
    found = equip_kind_from_points(point_tags)
    # A name that says "system" names its kind (a hot-water system with a pump's
    # point is not a pump); Haystack 4 has system entities of their own.
    named_system = "system" in parsed.written
    if found is not None and not tags & _KIND_MARKERS and not named_system:
        kind, backing = found
        with tags.rule("equip-points", f"{backing} of its points are typical of a {kind}"):
            tags |= KIND_TAGS[kind]
    tags_from_points(tags, point_tags)
    tags.add_because("equip", "object-type", "every equipment is an equip")
    if conventions:
        corrected, applied = conventions.apply(
            equip_features(name, point_tags=point_tags), frozenset(tags)
        )
        for correction, tag in applied:
            if tag in corrected:
                tags.add_because(tag, "convention", correction.rule)
            else:
                tags.discard(tag)
    return tags.suggestion(
        words=parsed.written, unknown=parsed.unknown, review_threshold=review_threshold
    )


def equip_tags_from_words(words: Sequence[str]) -> frozenset[str]:
    """Equipment tags from canonical words (shared with the point rules' context)."""
    nouns = [i for i, word in enumerate(words) if word in EQUIP_NOUNS]
    if not nouns:
        # "CHWS", "DHW", "Hot Water System": a water system with no kind named.
        waters = set(words) & {"chilled", "hot", "condenser", "domestic"}
        return frozenset(waters | {"water"}) if waters and "water" in words else frozenset()
    # The kind is the last noun that names one ("CKT-4 Lighting" is a circuit).
    kinds = [i for i in nouns if _KINDS[words[i]]] or nouns
    head_at = kinds[-1]
    head = words[head_at]
    before = set(words[:head_at])
    present = set(words)
    tags = set(_KINDS[head])
    if head in ("vfd", "motor"):
        for driven in ("fan", "pump"):
            if driven in before:
                tags.add(driven)
                head = driven
    if head in ("pump", "boiler", "plant", "exchanger", "system", "tower"):
        for word in before:
            tags.update(_WATER_QUALIFIERS.get(word, ()))
    if head == "fan":
        for word in before:
            tags.update(_AIR_QUALIFIERS.get(word, ()))
    if head == "plant":
        if "boiler" in before and not tags & {"steam", "chilled"}:
            tags.add("hot")
        if tags & {"chilled", "hot", "condenser"}:
            tags.add("water")
    if head == "meter":
        for word in before:
            tags.update(_METERED.get(word, ()))
        if present & _SITE_WORDS:
            tags.add("siteMeter")
    if "dualduct" in present:
        tags.add("dualDuct")
    if head == "vav" and "fan" in before:
        tags.add("fanPowered")
    return frozenset(tags)
