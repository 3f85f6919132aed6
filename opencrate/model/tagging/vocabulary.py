"""The tables behind the auto-tagger: word meanings, units, object types.

Everything the tagger knows about building-automation naming lives in this
module and in :mod:`.abbreviations` as data, so extending it means adding a
row, not a branch. The pipeline is:

1. :mod:`.tokens` splits a name into lower-case tokens and expands each
   token through :data:`~.abbreviations.ABBREVIATIONS` into *canonical words*
   (plain English such as ``"supply" "air" "temperature"``).
2. :mod:`.points` / :mod:`.equips` turn canonical words into Haystack 4 tags,
   using :data:`WORD_TAGS` for the context-free words and a few rules for the
   words whose tag depends on context (``supply`` is ``discharge`` for air but
   ``leaving`` for plant water, ``cooling`` is ``cool`` on a valve).

Canonical words are lower case.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["OBJECT_TYPE_FUNCTION", "TOTALIZED_UNITS", "UNIT_TAGS", "WORD_TAGS", "fold_unit"]


def _freeze(table: dict[str, tuple[str, ...]]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType(table)


# --- canonical words whose tags do not depend on context -------------------------------
#
# Words missing here either carry no tag ("building", "value") or are handled
# by a rule in points.py/equips.py (supply, return, cooling, heating, hot,
# status, command, setpoint, ...).
WORD_TAGS: Final = _freeze(
    {
        # substances
        "air": ("air",),
        "water": ("water",),
        "chilled": ("chilled",),
        "hot": ("hot",),
        "condenser": ("condenser",),
        "domestic": ("domestic",),
        "steam": ("steam",),
        "refrigerant": ("refrig",),
        "gas": ("gas",),
        "naturalgas": ("naturalGas",),
        "co2": ("co2", "concentration"),
        "pm25": ("pm25", "concentration"),
        "pm10": ("pm10", "concentration"),
        "pm01": ("pm01", "concentration"),
        "no2": ("no2", "concentration"),
        "nh3": ("nh3", "concentration"),
        "ch2o": ("ch2o", "concentration"),
        "o3": ("o3", "concentration"),
        "tvoc": ("tvoc", "concentration"),
        "carbonmonoxide": ("co", "concentration"),
        "fueloil": ("fuelOil",),
        "propane": ("propane",),
        "diesel": ("diesel",),
        "condensate": ("condensate",),
        "makeup": ("makeup",),
        "blowdown": ("blowdown",),
        "solar": ("solar",),
        "wind": ("wind",),
        "illuminance": ("illuminance",),
        "irradiance": ("irradiance",),
        "precipitation": ("precipitation",),
        "visibility": ("visibility",),
        "cloudage": ("cloudage",),
        "weathercond": ("weatherCond",),
        "atmospheric": ("atmospheric",),
        "direction": ("direction",),
        "feelslike": ("feelsLike",),
        "daytime": ("daytime",),
        "flue": ("flue",),
        "ventilation": ("ventilation",),
        "neutraldeck": ("neutralDeck", "air"),
        "tertiary": ("tertiaryLoop",),
        "avg": ("avg",),
        "magnitude": ("magnitude",),
        "angle": ("angle",),
        "import": ("import",),
        "export": ("export",),
        "net": ("net",),
        "reactive": ("reactive",),
        "apparent": ("apparent",),
        "totalized": ("hisTotalized",),
        "alarm": ("alarm",),
        "thd": ("thd",),
        "imbalance": ("imbalance",),
        "thermal": ("thermal",),
        # quantities
        "temperature": ("temp",),
        "pressure": ("pressure",),
        "flow": ("flow",),
        "humidity": ("humidity",),
        "enthalpy": ("enthalpy",),
        "dewpoint": ("dewPoint",),
        "wetbulb": ("wetBulb",),
        "power": ("power",),
        "energy": ("energy",),
        "demand": ("demand",),
        "speed": ("speed",),
        "frequency": ("freq",),
        "current": ("current",),
        "voltage": ("volt",),
        "pf": ("pf",),
        "volume": ("volume",),
        "level": ("level",),
        "load": ("load",),
        "efficiency": ("efficiency",),
        "concentration": ("concentration",),
        # sections and locations
        "discharge": ("discharge",),
        "hotdeck": ("hotDeck", "air"),
        "colddeck": ("coldDeck", "air"),
        "outside": ("outside",),
        "mixed": ("mixed",),
        "exhaust": ("exhaust",),
        "relief": ("exhaust",),
        "zone": ("zone",),
        "entering": ("entering",),
        "leaving": ("leaving",),
        "bypass": ("bypass",),
        "inlet": ("inlet",),
        "header": ("header",),
        "circulation": ("circ",),
        "primary": ("primaryLoop",),
        "secondary": ("secondaryLoop",),
        "evaporator": ("evaporator",),
        "weather": ("weather",),
        # qualifiers
        "occupied": ("occupied",),
        "unoccupied": ("unocc",),
        "effective": ("effective",),
        "min": ("min",),
        "max": ("max",),
        "delta": ("delta",),
        "differential": ("delta",),
        "total": ("total",),
        "accumulated": ("hisTotalized",),
        "phase": ("phase",),
        "isolation": ("isolation",),
        "reheat": ("reheat",),
        "enable": ("enable",),
        "elec": ("elec",),
        # components that appear on points
        "fan": ("fan",),
        "pump": ("pump",),
        "damper": ("damper",),
        "valve": ("valve",),
        "filter": ("filter",),
        "humidifier": ("humidifier",),
        "compressor": ("compressor",),
    }
)


# --- units -----------------------------------------------------------------------------
#
# Keyed by the unit folded with :func:`fold_unit`. Only used when the name
# itself names no quantity (and never for Bool points, whose "unit" is noise).
UNIT_TAGS: Final = _freeze(
    {
        "°f": ("temp",),
        "°c": ("temp",),
        "f": ("temp",),
        "c": ("temp",),
        "k": ("temp",),
        "degf": ("temp",),
        "degc": ("temp",),
        "δ°f": ("temp", "delta"),
        "δ°c": ("temp", "delta"),
        "%rh": ("humidity",),
        "rh": ("humidity",),
        "ppm": ("co2", "concentration"),
        # W is real power: Haystack's "active" (kVA apparent, kVAR reactive)
        "w": ("elec", "power", "active"),
        "kw": ("elec", "power", "active"),
        "mw": ("elec", "power", "active"),
        # Wh is active energy (Meters.fandoc), VARh reactive, VAh apparent
        "wh": ("elec", "energy", "active"),
        "kwh": ("elec", "energy", "active"),
        "mwh": ("elec", "energy", "active"),
        "kvarh": ("elec", "energy", "reactive"),
        "kvah": ("elec", "energy", "apparent"),
        "kva": ("elec", "power", "apparent"),
        "kvar": ("elec", "power", "reactive"),
        "a": ("elec", "current"),
        "ma": ("elec", "current"),
        "v": ("elec", "volt"),
        "kv": ("elec", "volt"),
        "btu/h": ("power",),
        "mmbtu/h": ("power",),
        "kbtu/h": ("power",),
        "tonref": ("power",),
        "ton": ("power",),
        "btu": ("energy",),
        "kbtu": ("energy",),
        "mmbtu": ("energy",),
        "therm": ("energy",),
        "tonrefh": ("energy",),
        "pa": ("pressure",),
        "kpa": ("pressure",),
        "hpa": ("pressure",),
        "bar": ("pressure",),
        "psi": ("pressure",),
        "inh2o": ("pressure",),
        "inh₂o": ("pressure",),
        "inwc": ("pressure",),
        "cfm": ("air", "flow"),
        "l/s": ("flow",),
        "m³/h": ("flow",),
        "m3/h": ("flow",),
        "gpm": ("flow",),
        "cfh": ("flow",),
        "scfh": ("flow",),
        "lb/h": ("flow",),
        "lb/hr": ("flow",),
        "lbs/hr": ("flow",),
        "kg/h": ("flow",),
        "gal/min": ("flow",),
        "ccf/h": ("flow",),
        "hz": ("freq",),
        "gal": ("volume",),
        "ccf": ("volume",),
        "m³": ("volume",),
        "m3": ("volume",),
        "ft³": ("volume",),
        "btu/lb": ("enthalpy",),
        "kj/kg": ("enthalpy",),
        "kw/ton": ("efficiency",),
        "lux": ("illuminance",),
        "lx": ("illuminance",),
        "fc": ("illuminance",),
    }
)


# Units of a running counter (Meters.fandoc: hisTotalized): energy and volume, not rates.
TOTALIZED_UNITS: Final = frozenset(
    {
        *("wh", "kwh", "mwh", "kvarh", "kvah"),  # electrical energy
        *("btu", "kbtu", "mmbtu", "therm", "tonrefh"),  # thermal energy
        *("gal", "ccf", "m³", "m3", "ft³", "l"),  # volume
    }
)


def fold_unit(unit: str) -> str:
    """Normalise a unit for lookup: lower case, no spaces or dots (``in w.c.`` -> ``inwc``)."""
    return "".join(unit.lower().split()).replace(".", "")


# --- BACnet and Modbus object types ----------------------------------------------------
#
# Folded object type (lower case, letters and digits only) -> the point function
# it implies, or "" when the type says nothing about function. Hardware inputs
# and outputs decide on their own; value objects (AV/BV/MSV) are soft points
# whose function the name decides, defaulting to ``sp`` (haystack-reference §2).
OBJECT_TYPE_FUNCTION: Final = MappingProxyType(
    {
        "analoginput": "sensor",
        "ai": "sensor",
        "binaryinput": "sensor",
        "bi": "sensor",
        "multistateinput": "sensor",
        "msi": "sensor",
        "accumulator": "sensor",
        "pulseconverter": "sensor",
        "analogoutput": "cmd",
        "ao": "cmd",
        "binaryoutput": "cmd",
        "bo": "cmd",
        "multistateoutput": "cmd",
        "mso": "cmd",
        "analogvalue": "value",
        "av": "value",
        "binaryvalue": "value",
        "bv": "value",
        "multistatevalue": "value",
        "msv": "value",
        "integervalue": "value",
        "positiveintegervalue": "value",
        "largeanalogvalue": "value",
        "schedule": "sp",
        "loop": "cmd",
        # Modbus register kinds
        "inputregister": "sensor",
        "discreteinput": "sensor",
        "coil": "cmd",
        "holdingregister": "value",
        # objects that carry no point function
        "device": "",
        "trendlog": "",
        "trendlogmultiple": "",
        "calendar": "",
        "notificationclass": "",
        "eventenrollment": "",
        "file": "",
        "program": "",
        "structuredview": "",
        "network": "",
        "characterstringvalue": "",
        "datetimevalue": "",
    }
)
