"""What an equipment's points say about it.

An equipment whose points are a discharge-air temperature, a supply-fan
command and a mixed-air damper is an air handler whatever its name says; one
whose points are an airflow and a damper (and perhaps a reheat valve) is a
VAV box; a panel of kW/kWh points is an electricity meter. Besides
the kind, the points tell the Haystack 4 configuration choices no name
carries (haystack-reference §4): a hot-water valve is ``hotWaterHeating``, a
chilled-water (or any cooling) valve ``chilledWaterCooling``, hot and cold
deck points ``dualDuct``, a fan on a terminal unit ``fanPowered``. Choices
the points do not imply (``pressureIndependent``, ``variableAirVolume``) are
left to a person.

Each kind is scored by the points that are *distinctive* of it; the best
score wins when it is backed by at least two points (or by half of them when
the equipment has only a few).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from opencrate.model.tagging.evidence import TagSet

__all__ = ["KIND_TAGS", "equip_kind_from_points", "tags_from_points"]

Tags = frozenset[str]

# Kind -> its markers (as the name rules give them).
KIND_TAGS: Final[dict[str, tuple[str, ...]]] = {
    "ahu": ("ahu", "hvac"),
    "vav": ("vav", "hvac"),
    "fcu": ("fcu", "hvac"),
    "elec meter": ("elec", "meter"),
    "gas meter": ("gas", "meter"),
    "chiller": ("chiller", "hvac"),
    "boiler": ("boiler", "hvac"),
    "pump": ("pump", "hvac"),
}


def _air(tags: Tags, *need: str) -> bool:
    return "air" in tags and all(tag in tags for tag in need)


# Kind -> tests of a point that are distinctive of that kind.
_DISTINCTIVE: Final[dict[str, tuple[Callable[[Tags], bool], ...]]] = {
    "ahu": (
        lambda t: _air(t, "mixed"),
        lambda t: _air(t, "outside", "damper"),
        lambda t: _air(t, "return") and bool(t & {"temp", "fan", "damper", "humidity"}),
        lambda t: "fan" in t and "discharge" in t and "vav" not in t,
        lambda t: "filter" in t,
        lambda t: bool(t & {"hotDeck", "coldDeck"}) and "temp" in t,
    ),
    "vav": (
        # A box's airflow: on its discharge or decks, or with no section at all
        # (VAVs.fandoc omits it); an AHU's airflows name theirs (outside, return).
        lambda t: _air(t, "flow") and not t & {"outside", "mixed", "return", "exhaust"},
        lambda t: "damper" in t and not t & {"outside", "mixed", "return", "exhaust"},
        lambda t: "reheat" in t,
    ),
    "fcu": (),  # only from its name: its points (fan, valve, zone temp) are an AHU's too
    "elec meter": (lambda t: "elec" in t and bool(t & {"power", "energy", "demand"}),),
    "gas meter": (lambda t: bool(t & {"gas", "naturalGas"}) and bool(t & {"volume", "flow"}),),
    "chiller": (
        lambda t: "chilled" in t and bool(t & {"leaving", "entering"}) and "temp" in t,
        lambda t: "condenser" in t and "water" in t,
        lambda t: "compressor" in t or "evaporator" in t,
    ),
    "boiler": (lambda t: "boiler" in t, lambda t: "hot" in t and "leaving" in t and "temp" in t),
    "pump": (lambda t: "pump" in t,),
}


def equip_kind_from_points(points: Sequence[Tags]) -> tuple[str, int] | None:
    """The kind the points point to and how many points back it, or ``None``."""
    if not points:
        return None
    scores = {
        kind: sum(1 for tags in points if any(test(tags) for test in tests))
        for kind, tests in _DISTINCTIVE.items()
    }
    # A terminal unit's damper and flow also score for an AHU's return damper;
    # an AHU's mixed/outside/return points never belong to a VAV.
    best = max(scores, key=lambda kind: (scores[kind], -list(_DISTINCTIVE).index(kind)))
    score = scores[best]
    if score >= 2 or (score >= 1 and score * 2 >= len(points)):
        return best, score
    return None


def tags_from_points(tags: TagSet, points: Sequence[Tags]) -> None:
    """Add the configuration choices and metering the points show (rule ``equip-points``)."""
    if not points:
        return
    every = frozenset().union(*points)
    air_unit = bool(tags & {"ahu", "vav", "cav", "fcu"})
    if air_unit:
        with tags.rule("equip-points", "a hot-water valve or coil heats it"):
            if any("valve" in t and "hot" in t and "water" in t for t in points):
                tags.add("hotWaterHeating")
        with tags.rule("equip-points", "a steam valve heats it"):
            if any("valve" in t and "steam" in t for t in points):
                tags.add("steamHeating")
        with tags.rule("equip-points", "a chilled-water or cooling valve cools it"):
            if any("valve" in t and t & {"chilled", "cool"} for t in points):
                tags.add("chilledWaterCooling")
        with tags.rule("equip-points", "a compressor or DX stage cools it"):
            if any("compressor" in t or "dx" in t for t in points):
                tags.add("dxCooling")
        with tags.rule("equip-points", "an electric heater or heat stage heats it"):
            if any("elec" in t and t & {"heat", "heater"} for t in points):
                tags.add("elecHeating")
        with tags.rule("equip-points", "a gas valve or burner heats it"):
            if any(t & {"naturalGas", "gas"} and t & {"heat", "valve"} for t in points):
                tags.add("naturalGasHeating")
        with tags.rule("equip-points", "hot and cold deck points: two ducts"):
            if every & {"hotDeck", "coldDeck"}:
                tags.add("dualDuct")
            elif any("discharge" in t and "air" in t for t in points):
                tags.add("singleDuct")
    if "vav" in tags:
        if "fan" in every:
            with tags.rule("equip-points", "a terminal unit with a fan of its own"):
                tags.add("fanPowered")
        with tags.rule("equip-points", "a VAV's reheat or heating valve is hot-water reheat"):
            # VAVs.fandoc: reheat is elec, hot water or steam; a valve rules out elec.
            reheat = [t for t in points if "valve" in t and t & {"reheat", "heat"}]
            if reheat and not any("steam" in t for t in reheat):
                tags.add("hotWaterHeating")
        # Not pressureIndependent from an airflow sensor: VAVs.fandoc makes it a
        # choice (the damper holds a flow setpoint, whatever the duct pressure)
        # that a measured airflow does not imply; a person tells it.
    if "ahu" in tags:
        with tags.rule("equip-points", "duct static pressure control: it feeds VAV boxes"):
            if any("pressure" in t and "discharge" in t and "air" in t for t in points):
                tags.add("vavZone")
        # Not variableAirVolume from a supply-fan speed: AHUs.fandoc says only that
        # the choice is "typically" the VFD, and constant-volume units get VFDs for
        # balancing and soft start; a person tells it.
    if "meter" not in tags:
        with tags.rule("equip-points", "it has kW/kWh points: it meters electricity"):
            metered = [t for t in points if "elec" in t and t & {"power", "energy"}]
            if metered:
                tags |= {"elec", "meter"}
