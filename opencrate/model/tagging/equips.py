"""Haystack 4 tags for a piece of equipment, from its name.

The equipment's kind is the *last* equipment noun in the name: "Chiller Circ
Pump" is a pump, "AHU-2 SF VFD" is a VFD (of the supply fan). Words before it
qualify it: the water a pump moves (chilled, hot, condenser, domestic), the
air a fan moves (discharge, return, exhaust), what a meter measures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from opencrate.model.tagging.words import EQUIP_NOUNS, read_name

__all__ = ["equip_tags_from_words", "suggest_equip_tags"]

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
}

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


def suggest_equip_tags(name: str) -> frozenset[str]:
    """Suggest Project Haystack 4 marker tags for equipment named ``name``.

    ``"AHU-1"`` -> ``{equip, ahu, hvac}``; ``"VAV-101"`` -> ``{equip, vav, hvac}``;
    ``"Elec Meter 1"`` -> ``{equip, elec, meter}``; a water system that names no
    kind (``"CHWS"``) gets its water (``{equip, chilled, water}``); a name the
    tables do not recognise gives just ``{equip}``. Tags a name cannot tell (``siteMeter``,
    ``hotWaterHeating``, ``singleDuct``...) are never guessed.

    Raises :class:`~opencrate.errors.InvalidInput` when ``name`` has no letters
    or digits. Pure: no I/O, safe from any thread.
    """
    parsed = read_name(name, what="equipment name")
    # The equipment's own identifier ("AHU-1") is its kind here, not context.
    return equip_tags_from_words(parsed.written) | {"equip"}


def equip_tags_from_words(words: Sequence[str]) -> frozenset[str]:
    """Equipment tags from canonical words (shared with the point rules' context)."""
    nouns = [i for i, word in enumerate(words) if word in EQUIP_NOUNS]
    if not nouns:
        # "CHWS", "DHW", "Hot Water System": a water system with no kind named.
        waters = set(words) & {"chilled", "hot", "condenser", "domestic"}
        return frozenset(waters | {"water"}) if waters and "water" in words else frozenset()
    head_at = nouns[-1]
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
    if "dualduct" in present:
        tags.add("dualDuct")
    if head == "vav" and "fan" in before:
        tags.add("fanPowered")
    return frozenset(tags)
