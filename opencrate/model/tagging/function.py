"""A point's function, exactly one of ``sensor``, ``cmd`` and ``sp``, decided first.

The function comes from the strongest evidence there is (haystack-reference
§2, "Function"):

1. a hardware object type: AI/BI/MSI and Modbus input registers and discrete
   inputs are inputs (``sensor``), AO/BO/MSO and Modbus coils are outputs
   (``cmd``), whatever the name says;
2. the name's grammar. A setpoint word anywhere (``SP``, ``Stpt``, ``SPT``
   after a quantity, ``Setpoint``, ``Sched``) makes it ``sp``; an explicit
   reading word (``Sensor``, ``Actual``, ``Feedback``) makes it a ``sensor``.
   Otherwise BMS names are noun compounds whose *last* function word is the
   head: ``Start Stop Status`` is a status (``sensor``), ``Status Command``
   a command, ``Damper Cmd Feedback`` a reading;
3. a limit (``Min``, ``Max``, ``Limit``) or an ``effective`` value is a
   setpoint;
4. a valve, a damper or a position with no measured quantity is the command
   to it; a speed with no reading word is a drive's speed command;
5. a soft point (AV/BV/MSV, a Modbus holding register) that the name does not
   decide is ``sp``, or a ``sensor`` when it is known not to be writable;
6. a Bool that only names a component or a stage is its command;
7. a measured quantity with nothing else is a reading (``sensor``), and so,
   with the least confidence, is anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from opencrate.model.tagging.words import NameWords

__all__ = ["QUANTITIES", "decide_function", "runs"]

QUANTITIES: Final = frozenset(
    {
        "temp",
        "pressure",
        "flow",
        "humidity",
        "co2",
        "enthalpy",
        "dewPoint",
        "wetBulb",
        "power",
        "energy",
        "demand",
        "speed",
        "freq",
        "current",
        "volt",
        "pf",
        "volume",
        "level",
        "load",
        "efficiency",
        "concentration",
        "illuminance",
    }
)
_COMPONENTS: Final = frozenset(
    {"fan", "pump", "damper", "valve", "filter", "humidifier", "compressor", "coil", "heater"}
)

_SWITCHED: Final = frozenset({"fan", "pump", "compressor", "heater", "humidifier"})
_DRIVEN: Final = frozenset({"fan", "pump", "vfd", "compressor", "motor"})
_SP_WORDS: Final = frozenset({"setpoint", "schedule", "adjust"})
# Words that say outright that the value is read back.
_READING_WORDS: Final = frozenset({"sensor", "actual"})
_SENSOR_WORDS: Final = frozenset({"status", "sensor", "actual", "open", "alarm"})
_CMD_WORDS: Final = frozenset(
    {"command", "signal", "output", "start", "stop", "enable", "mode", "stage"}
)
_LIMIT_WORDS: Final = frozenset({"min", "max", "limit", "effective"})
_METERED: Final = frozenset({"power", "energy", "demand", "current", "volt", "pf"})


def decide_function(
    tags: frozenset[str] | set[str],
    names: Sequence[NameWords],
    *,
    hint: str,
    kind: str,
    writable: bool | None = None,
    percent: bool = False,
) -> tuple[str, str, str]:
    """``(function, rule, detail)`` for a point; see the module docstring.

    ``tags`` are the tags found so far, ``names`` the point's names as read,
    ``hint`` the object type's function (``sensor``/``cmd``/``sp``, ``value``
    for a soft point, ``""`` for none), ``kind`` the value kind, lower case;
    ``percent`` whether the unit is ``%``.
    """
    if hint in ("sensor", "cmd", "sp"):
        return hint, "object-type", f"the object type is {_HINT_WORDS[hint]}"
    words = frozenset(word for parsed in names for word in parsed.words)
    if "weather" in tags and not words & _SP_WORDS:
        return "sensor", "grammar", "a weather observation is a sensor (Weather.fandoc)"
    if words & _SP_WORDS:
        said = sorted(words & _SP_WORDS)[0]
        return "sp", "grammar", f"the name says {said!r}"
    if words & _READING_WORDS:
        said = sorted(words & _READING_WORDS)[0]
        return "sensor", "grammar", f"the name says {said!r}: a value read back"
    for parsed in names:
        head = _head(parsed.words)
        if head is not None:
            function = "sensor" if head in _SENSOR_WORDS else "cmd"
            return function, "grammar", f"the last function word is {head!r}"
    # "Min OA Damper" names a damper (the minimum outside air one); "Max OA
    # Damper Pos" is a limit on a damper's position.
    component_named = tags & {"damper", "valve"} and not words & {"position", "flow"}
    if words & _LIMIT_WORDS and not tags & _METERED and not component_named:
        said = sorted(words & _LIMIT_WORDS)[0]
        return "sp", "grammar", f"{said!r}: a limit or effective value is a setpoint"
    if (tags & {"valve", "damper"} or "position" in words) and not tags & QUANTITIES:
        return "cmd", "grammar", "a valve or damper position is its command"
    if "speed" in tags and "freq" not in tags and (tags | words) & _DRIVEN:
        return "cmd", "function-guess", "a machine's speed with no reading word is its command"
    if hint == "value":
        if writable is False:
            return "sensor", "soft-point", "a value object that cannot be written is a reading"
        return "sp", "soft-point", "a soft point (AV/BV/MSV, holding register) is a setpoint"
    if kind == "bool" and not tags & QUANTITIES and tags & (_COMPONENTS | {"cool", "heat"}):
        return "cmd", "function-guess", "a Bool naming a component or stage switches it"
    if not tags & QUANTITIES and tags & _SWITCHED:
        # Meters.fandoc's example: "RTU-1 Fan" is the fan's cmd point.
        return "cmd", "function-guess", "a point named for a machine alone is its command"
    if percent and tags & {"cool", "heat"} and not tags & QUANTITIES:
        return "cmd", "function-guess", "a heating or cooling signal in % is an output"
    if tags & QUANTITIES:
        return "sensor", "implied", "a measured quantity with no command or setpoint word"
    return "sensor", "fallback", "nothing in the name decides: a reading"


_HINT_WORDS: Final = {
    "sensor": "an input (AI/BI/MSI, input register, discrete input)",
    "cmd": "an output (AO/BO/MSO, coil)",
    "sp": "a schedule",
}


def _head(words: Sequence[str]) -> str | None:
    """The last function word of a name: the head of the noun compound.

    ``open``/``closed`` only decide alone ("Valve Open" is its end switch):
    beside another function word they name the states ("Damper Command
    (open/closed)").
    """
    found = [word for word in words if word in _SENSOR_WORDS or word in _CMD_WORDS]
    strong = [word for word in found if word != "open"]
    chosen = strong or found
    return chosen[-1] if chosen else None


def runs(tags: frozenset[str] | set[str], words: frozenset[str] | set[str], kind: str) -> bool:
    """Whether a status/command word means on/off (``run``) rather than a value."""
    if words & {"enable", "mode", "occupied", "unoccupied", "setpoint", "position"}:
        return False
    if "damper" in tags or (tags & QUANTITIES and kind != "bool"):
        return False
    if tags & {"valve", "isolation"} and "status" not in words:
        return False  # a valve command sets a position; only its status is open/closed
    return kind in ("bool", "") or "status" in words
