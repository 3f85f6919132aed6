"""Abbreviations of building-automation names, token -> canonical words.

``SAT`` -> supply air temperature, ``Clg`` -> cooling, ``ChwsTemp``'s ``chws``
-> chilled water supply. Plain tables plus two generated families: air-path
prefixes with a quantity or component letter (``RAT``, ``OAD``, ``DAH``) and
plant-water prefixes with a section letter (``CHWS``, ``HWR``, ``CWE``,
``HHWP``). Every canonical word used here is itself a key mapping to itself,
so the tokenizer recognises spelled-out names too.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["ABBREVIATIONS", "CANONICAL_WORDS", "SEGMENT_ONLY", "SUFFIX_LETTERS"]


def _freeze(table: dict[str, tuple[str, ...]]) -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType(table)


# Plant water prefixes, combined below with section letters (CHWS, HWR, CWE, ...).
_WATER_PREFIXES: Final = {
    "chw": ("chilled", "water"),
    "hw": ("hot", "water"),
    "hhw": ("hot", "water"),
    "cw": ("condenser", "water"),
    "cdw": ("condenser", "water"),
    "dhw": ("domestic", "hot", "water"),
    "ghw": ("hot", "water"),  # glycol hot water
    "dcw": ("domestic", "cold", "water"),
}
_WATER_SECTIONS: Final = {
    "s": ("supply",),
    "r": ("return",),
    "e": ("entering",),
    "l": ("leaving",),
    "p": ("pump",),
    "v": ("valve",),
    "f": ("flow",),
    "t": ("temperature",),
}

# Air-path prefixes, combined with quantity/component letters (SAT, RAH, OAD, ...).
_AIR_PREFIXES: Final = {
    "sa": ("supply", "air"),
    "da": ("discharge", "air"),
    "ra": ("return", "air"),
    "oa": ("outside", "air"),
    "osa": ("outside", "air"),
    "ma": ("mixed", "air"),
    "ea": ("exhaust", "air"),
    "za": ("zone", "air"),
}
_AIR_SUFFIXES: Final = {
    "t": ("temperature",),
    "h": ("humidity",),
    "d": ("damper",),
    "f": ("flow",),
    "p": ("pressure",),
}

_WORDS: dict[str, tuple[str, ...]] = {
    # sections
    "supply": ("supply",),
    "sup": ("supply",),
    "sply": ("supply",),
    "supp": ("supply",),
    "discharge": ("discharge",),
    "dis": ("discharge",),
    "disch": ("discharge",),
    "dsch": ("discharge",),
    "return": ("return",),
    "ret": ("return",),
    "rtn": ("return",),
    "rt": ("return",),
    "outside": ("outside",),
    "outdoor": ("outside",),
    "osa": ("outside", "air"),
    "mixed": ("mixed",),
    "mix": ("mixed",),
    "exhaust": ("exhaust",),
    "exh": ("exhaust",),
    "relief": ("relief",),
    "rel": ("relief",),
    "rlf": ("relief",),
    "zone": ("zone",),
    "zn": ("zone",),
    "space": ("zone",),
    "spc": ("zone",),
    "room": ("zone",),
    "rm": ("zone",),
    "entering": ("entering",),
    "enter": ("entering",),
    "ent": ("entering",),
    "inlet": ("entering",),
    "leaving": ("leaving",),
    "leave": ("leaving",),
    "leav": ("leaving",),
    "lvg": ("leaving",),
    "outlet": ("leaving",),
    "duct": ("discharge", "air"),
    "deck": ("deck",),
    "bypass": ("bypass",),
    "byp": ("bypass",),
    "header": ("header",),
    "hdr": ("header",),
    "primary": ("primary",),
    "pri": ("primary",),
    "secondary": ("secondary",),
    "sec": ("secondary",),
    "circulation": ("circulation",),
    "circ": ("circulation",),
    "cp": ("circulation", "pump"),
    # substances
    "air": ("air",),
    "airflow": ("air", "flow"),
    "water": ("water",),
    "wtr": ("water",),
    "chilled": ("chilled",),
    "chiller": ("chiller",),
    "hot": ("hot",),
    "cold": ("cold",),
    "condenser": ("condenser",),
    "condensor": ("condenser",),
    "cond": ("condenser",),
    "domestic": ("domestic",),
    "steam": ("steam",),
    "stm": ("steam",),
    "refrigerant": ("refrigerant",),
    "refrig": ("refrigerant",),
    "gas": ("gas",),
    "ng": ("naturalgas",),
    "co2": ("co2",),
    # Haystack 4 substances and gases beyond air and water (phScience substance.trio)
    "pmtwofive": ("pm25",),
    "pmten": ("pm10",),
    "pmone": ("pm01",),
    "nitrogendioxide": ("no2",),
    "ammonia": ("nh3",),
    "formaldehyde": ("ch2o",),
    "ozone": ("o3",),
    "tvoc": ("tvoc",),
    "voc": ("tvoc",),
    "carbonmonoxide": ("carbonmonoxide",),
    "fueloil": ("fueloil",),
    "propane": ("propane",),
    "diesel": ("diesel",),
    "condensate": ("condensate",),
    "makeup": ("makeup",),
    "blowdown": ("blowdown",),
    "solar": ("solar",),
    "wind": ("wind",),
    "illuminance": ("illuminance",),
    "lux": ("illuminance",),
    "irradiance": ("irradiance",),
    "radiation": ("irradiance",),
    "precipitation": ("precipitation",),
    "precip": ("precipitation",),
    "rainfall": ("precipitation",),
    "visibility": ("visibility",),
    "cloudage": ("cloudage",),
    "cloudiness": ("cloudage",),
    "atmospheric": ("atmospheric",),
    "barometric": ("atmospheric",),
    "baro": ("atmospheric",),
    "direction": ("direction",),
    "dir": ("direction",),
    "feelslike": ("feelslike",),
    "sunrise": ("daytime",),  # H3 sunrise -> H4 daytime (Changes3to4)
    "sunset": ("daytime",),
    "daytime": ("daytime",),
    "flue": ("flue",),
    "ventilation": ("ventilation",),
    "neutraldeck": ("neutraldeck",),
    "tertiary": ("tertiary",),
    "average": ("avg",),
    "avg": ("avg",),
    "magnitude": ("magnitude",),
    "mag": ("magnitude",),
    "angle": ("angle",),
    "import": ("import",),
    "imported": ("import",),
    "export": ("export",),
    "exported": ("export",),
    "net": ("net",),
    "reactive": ("reactive",),
    "apparent": ("apparent",),
    "real": ("active",),  # real power is active power (Meters.fandoc)
    "totalized": ("totalized",),
    "consumption": ("consumption",),
    "usage": ("consumption",),
    # more general controller abbreviations (coil, plant and static pressure points)
    "lat": ("leaving", "air", "temperature"),  # a coil's leaving air
    "ewt": ("entering", "water", "temperature"),
    "lwt": ("leaving", "water", "temperature"),
    "swt": ("supply", "water", "temperature"),
    "rwt": ("return", "water", "temperature"),
    "bsp": ("building", "static", "pressure"),
    "ssp": ("supply", "static", "pressure"),
    "wbt": ("wetbulb",),
    "high": ("high",),
    "hi": ("high",),
    "low": ("low",),
    "lo": ("low",),
    "medium": ("medium",),
    "med": ("medium",),
    "prf": ("status",),  # proof
    "fbk": ("sensor",),  # feedback
    "ltg": ("lighting",),
    "nsb": ("unoccupied", "setpoint"),  # night setback
    "thd": ("thd",),  # total harmonic distortion (Meters.fandoc)
    "imbalance": ("imbalance",),
    "unbalance": ("imbalance",),
    "delivered": ("import",),  # utility meters: delivered to the site is imported
    "received": ("export",),
    "btu": ("thermal",),  # a BTU (thermal) meter
    "thermal": ("thermal",),
    "adjust": ("adjust",),  # a thermostat's setpoint adjustment is a setpoint
    "adjustment": ("adjust",),
    "adj": ("adjust",),
    "offset": ("adjust",),
    "elec": ("elec",),
    "electric": ("elec",),
    "electrical": ("elec",),
    # quantities
    "temperature": ("temperature",),
    "temp": ("temperature",),
    "tmp": ("temperature",),
    "pressure": ("pressure",),
    "press": ("pressure",),
    "pres": ("pressure",),
    "prs": ("pressure",),
    "static": ("static", "pressure"),
    "dp": ("differential", "pressure"),
    "dpress": ("differential", "pressure"),
    "flow": ("flow",),
    "flw": ("flow",),
    "flo": ("flow",),
    "cfm": ("air", "flow"),
    "gpm": ("flow",),
    "humidity": ("humidity",),
    "humid": ("humidity",),
    "hum": ("humidity",),
    "rh": ("humidity",),
    "enthalpy": ("enthalpy",),
    "enth": ("enthalpy",),
    "dewpoint": ("dewpoint",),
    "dewpt": ("dewpoint",),
    "wetbulb": ("wetbulb",),
    "wb": ("wetbulb",),
    "tsp": ("temperature", "setpoint"),  # Metasys "DA-TSP"
    "psp": ("pressure", "setpoint"),  # "DA-PSP"
    "ctl": ("control",),  # Siemens "CTL TEMP", "CTL STPT": the controlled value
    "control": ("control",),
    "comd": ("command",),  # Siemens "VLV COMD"
    "power": ("power",),
    "pwr": ("power",),
    "kw": ("elec", "power"),
    "energy": ("energy",),
    "kwh": ("elec", "energy"),
    "demand": ("demand",),
    "speed": ("speed",),
    "spd": ("speed",),
    "frequency": ("frequency",),
    "freq": ("frequency",),
    "hz": ("frequency",),
    "current": ("current",),
    "curr": ("current",),
    "amps": ("current",),
    "amp": ("current",),
    "voltage": ("voltage",),
    "volts": ("voltage",),
    "volt": ("voltage",),
    "pf": ("pf",),
    "volume": ("volume",),
    "vol": ("volume",),
    "level": ("level",),
    "lvl": ("level",),
    "load": ("load",),
    "tons": ("power",),
    "efficiency": ("efficiency",),
    "eff": ("efficiency",),
    "position": ("position",),
    "pos": ("position",),
    "capacity": ("capacity",),
    "percent": ("percent",),
    "pct": ("percent",),
    # functions
    "setpoint": ("setpoint",),
    "setpt": ("setpoint",),
    "stpt": ("setpoint",),
    "spt": ("setpoint",),  # at the start of a name: space temperature (words.read_name)
    "limit": ("limit",),
    "lim": ("limit",),
    "lmt": ("limit",),
    "alarm": ("alarm",),
    "alm": ("alarm",),
    "fault": ("alarm",),
    "sp": ("sp",),  # setpoint, or supply before a fan/drive/air: see tokens.rewrite_pairs
    "set": ("setpoint",),
    "desired": ("setpoint",),
    "command": ("command",),
    "cmd": ("command",),
    "cmnd": ("command",),
    "signal": ("signal",),
    "sig": ("signal",),
    "output": ("output",),
    "out": ("output",),
    "status": ("status",),
    "sts": ("status",),
    "stat": ("thermostat",),
    "state": ("status",),
    "sensor": ("sensor",),
    "sens": ("sensor",),
    "reading": ("sensor",),
    "feedback": ("sensor",),
    "fdbk": ("sensor",),
    "fb": ("sensor",),
    "actual": ("actual",),
    "act": ("actual",),
    "open": ("open",),
    "closed": ("open",),
    "proof": ("status",),
    "enable": ("enable",),
    "enabled": ("enable",),
    "enab": ("enable",),
    "enbl": ("enable",),
    "ena": ("enable",),
    "en": ("enable",),
    "ss": ("start", "stop"),
    "start": ("start",),
    "stop": ("stop",),
    "run": ("run",),
    "mode": ("mode",),
    "schedule": ("schedule",),
    "sched": ("schedule",),
    "stage": ("stage",),
    "stg": ("stage",),
    "calculated": ("calculated",),
    "calc": ("calculated",),
    "computed": ("calculated",),
    # qualifiers
    "cooling": ("cooling",),
    "cool": ("cooling",),
    "clg": ("cooling",),
    "heating": ("heating",),
    "heat": ("heating",),
    "htg": ("heating",),
    "occupied": ("occupied",),
    "occupancy": ("occupied",),
    "occ": ("occupied",),
    "unoccupied": ("unoccupied",),
    "unocc": ("unoccupied",),
    "unoc": ("unoccupied",),
    "effective": ("effective",),
    "min": ("min",),
    "minimum": ("min",),
    "max": ("max",),
    "maximum": ("max",),
    "delta": ("delta",),
    "differential": ("differential",),
    "diff": ("differential",),
    "dif": ("differential",),
    "total": ("total",),
    "tot": ("total",),
    "accumulated": ("accumulated",),
    "accum": ("accumulated",),
    "phase": ("phase",),
    "isolation": ("isolation",),
    "iso": ("isolation",),
    "reheat": ("reheat",),
    "rht": ("reheat",),
    "preheat": ("preheat",),
    "weather": ("weather",),
    "building": ("building",),
    "bldg": ("building",),
    "evaporator": ("evaporator",),
    "evap": ("evaporator",),
    "humidify": ("humidify",),
    "dehumidify": ("dehumidify",),
    "dehumid": ("dehumidify",),
    "dehum": ("dehumidify",),
    # components and equipment
    "fan": ("fan",),
    "sf": ("supply", "fan"),
    "rf": ("return", "fan"),
    "ef": ("exhaust", "fan"),
    "pump": ("pump",),
    "pmp": ("pump",),
    "damper": ("damper",),
    "dmpr": ("damper",),
    "dmp": ("damper",),
    "dpr": ("damper",),
    "valve": ("valve",),
    "vlv": ("valve",),
    "filter": ("filter",),
    "flt": ("filter",),
    "humidifier": ("humidifier",),
    "compressor": ("compressor",),
    "comp": ("compressor",),
    "vfd": ("vfd",),
    "drv": ("vfd",),
    "drive": ("vfd",),
    "coil": ("coil",),
    "heater": ("heater",),
    "htr": ("heater",),
    "economizer": ("economizer",),
    "economize": ("economizer",),
    "econ": ("economizer",),
    "ahu": ("ahu",),
    "rtu": ("rtu",),
    "rooftop": ("rtu",),
    "doas": ("doas",),
    "mau": ("mau",),
    "vav": ("vav",),
    "cav": ("cav",),
    "fcu": ("fcu",),
    "crac": ("crac",),
    "boiler": ("boiler",),
    "blr": ("boiler",),
    "chlr": ("chiller",),
    "chr": ("chiller",),
    "ch": ("chiller",),
    "tower": ("tower",),
    "twr": ("tower",),
    "ct": ("cooling", "tower"),
    "ctp": ("cooling", "tower", "pump"),
    "hx": ("heat", "exchanger"),
    "exchanger": ("exchanger",),
    "plant": ("plant",),
    "meter": ("meter",),
    "mtr": ("meter",),
    "thermostat": ("thermostat",),
    "tstat": ("thermostat",),
    "motor": ("motor",),
    "lights": ("lighting",),
    "lighting": ("lighting",),
    "light": ("lighting",),
    "system": ("system",),
    "panel": ("panel",),
    "pnl": ("panel",),
    "panelboard": ("panel",),
    "switchboard": ("panel",),
    "swbd": ("panel",),
    "switchgear": ("panel",),
    "swgr": ("panel",),
    "mdp": ("main", "panel"),  # main distribution panel
    "msb": ("main", "panel"),  # main switchboard
    "circuit": ("circuit",),
    "ckt": ("circuit",),
    "cct": ("circuit",),
    "main": ("main",),
    "luminaire": ("luminaire",),
    "heatpump": ("heatpump",),
    "wshp": ("heatpump",),  # water-source heat pump
    "ashp": ("heatpump",),
    "gshp": ("heatpump",),
    "mcc": ("panel",),  # motor control centre
    "submeter": ("meter",),
    "uv": ("unitvent",),  # unit ventilator
    "unitvent": ("unitvent",),
    "crah": ("crac",),
    "box": ("vav",),  # a VAV box
    "fpb": ("fan", "vav"),  # fan-powered box
    "sys": ("system",),
    "hru": ("heat", "recovery"),
    "dd": ("dualduct", "vav"),
    "dual": ("dual",),
}


def _combine(
    prefixes: Mapping[str, tuple[str, ...]], suffixes: Mapping[str, tuple[str, ...]]
) -> dict[str, tuple[str, ...]]:
    combined: dict[str, tuple[str, ...]] = {}
    for prefix, words in prefixes.items():
        combined[prefix] = words
        for suffix, more in suffixes.items():
            combined[prefix + suffix] = words + more
    return combined


# SAT -> supply air temperature, OAD -> outside air damper, ...
for _key, _value in _combine(_AIR_PREFIXES, _AIR_SUFFIXES).items():
    _WORDS.setdefault(_key, _value)
# CHWS -> chilled water supply, HWRT -> hot water return temperature, CWP -> condenser water pump.
_WATER_SECTIONS_T = {k + "t": (*v, "temperature") for k, v in _WATER_SECTIONS.items()}
for _key, _value in _combine(_WATER_PREFIXES, {**_WATER_SECTIONS, **_WATER_SECTIONS_T}).items():
    _WORDS.setdefault(_key, _value)
for _key, _value in _WATER_PREFIXES.items():
    _WORDS.setdefault("p" + _key + "p", ("primary", *_value, "pump"))  # PCHWP
    _WORDS.setdefault("s" + _key + "p", ("secondary", *_value, "pump"))  # SCHWP
# Common fixed abbreviations that the patterns above do not produce.
_WORDS.update(
    {
        "dat": ("discharge", "air", "temperature"),
        "oat": ("outside", "air", "temperature"),
        "zat": ("zone", "air", "temperature"),
        "znt": ("zone", "air", "temperature"),
        "zt": ("zone", "air", "temperature"),
        "dsp": ("discharge", "static", "pressure"),
        "hwp": ("hot", "water", "pump"),
    }
)

ABBREVIATIONS: Final = _freeze(_WORDS)

# Single letters (and two ambiguous pairs) are only trusted inside an
# all-capitals run that the segmenter has to split (HWRTEMP -> hw r temp,
# HRUWEtemp -> hru w e temp); standing alone ("Current A") they mean
# something else.
SEGMENT_ONLY: Final = _freeze(
    {
        "s": ("supply",),
        "r": ("return",),
        "e": ("entering",),
        "l": ("leaving",),
        "w": ("water",),
        "a": ("air",),
        "hc": ("heating", "coil"),  # HCALTemp: heating coil air leaving temp
        "cc": ("cooling", "coil"),  # but a lone "(CC)" suffix is not a cooling coil
    }
)

CANONICAL_WORDS: Final = frozenset(w for words in _WORDS.values() for w in words)

# A lone letter written as a suffix after another word ("SF-S", "CLG-O",
# "BLR-C", the Metasys habit). Tried only after merging it into the word before
# failed ("DA-T" is first read as "DAT", "CHW-S" as "CHWS").
SUFFIX_LETTERS: Final = _freeze(
    {
        "t": ("temperature",),
        "h": ("humidity",),
        "p": ("pressure",),
        "f": ("flow",),
        "s": ("status",),
        "c": ("command",),
        "o": ("output",),
    }
)
