"""BACnet engineering units as the node model writes them: ``degrees-celsius`` -> ``°C``.

A device reports its objects' ``units`` as an enumeration name (bacpypes3
spells them ``degrees-celsius``; some tools ``degreesCelsius``). Nodes carry the
symbol an operator reads and the auto-tagger understands (``°C``, ``kW``,
``L/s``). Names this table does not know pass through unchanged; ``no-units``
means no unit.

:func:`engineering_units` goes the other way for the simulator (a scenario
point's ``°C`` -> ``degrees-celsius``); a symbol it does not know is
``no-units``.
"""

from __future__ import annotations

__all__ = ["display_unit", "engineering_units"]


def _fold(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


#: BACnet units name (bacpypes3's spelling) -> node unit symbol.
_UNITS: dict[str, str | None] = {
    "no-units": None,
    "degrees-celsius": "°C",
    "degrees-fahrenheit": "°F",
    "degrees-kelvin": "K",
    "delta-degrees-fahrenheit": "Δ°F",
    "delta-degrees-kelvin": "Δ°C",  # a kelvin step is a celsius step
    "percent": "%",
    "percent-relative-humidity": "%RH",
    "parts-per-million": "ppm",
    "watts": "W",
    "kilowatts": "kW",
    "megawatts": "MW",
    "watt-hours": "Wh",
    "kilowatt-hours": "kWh",
    "megawatt-hours": "MWh",
    "kilovolt-amperes": "kVA",
    "kilovolt-amperes-reactive": "kVAR",
    "amperes": "A",
    "milliamperes": "mA",
    "volts": "V",
    "kilovolts": "kV",
    "hertz": "Hz",
    "pascals": "Pa",
    "kilopascals": "kPa",
    "hectopascals": "hPa",
    "bars": "bar",
    "pounds-force-per-square-inch": "psi",
    "inches-of-water": "inH₂O",
    "cubic-feet-per-minute": "cfm",
    "liters-per-second": "L/s",
    "cubic-meters-per-hour": "m³/h",
    "us-gallons-per-minute": "gpm",
    "cubic-meters": "m³",
    "us-gallons": "gal",
    "btus-per-hour": "BTU/h",
    "kilo-btus-per-hour": "kBTU/h",
    "tons-refrigeration": "tonref",
    "kilojoules-per-kilogram-dry-air": "kJ/kg",
    "luxes": "lux",
    "foot-candles": "fc",
    "revolutions-per-minute": "rpm",
    "seconds": "s",
    "minutes": "min",
    "hours": "h",
}

_SYMBOLS: dict[str, str | None] = {_fold(name): symbol for name, symbol in _UNITS.items()}

#: Node unit symbol -> BACnet units name: the table reversed (the first name of a symbol), and
#: other spellings of a symbol that scenarios use.
_NAMES: dict[str, str] = {
    "l/s": "liters-per-second",
    "m3/h": "cubic-meters-per-hour",
    "lx": "luxes",
    "kvar": "kilovolt-amperes-reactive",
    "ΔK": "delta-degrees-kelvin",
}
for _name, _symbol in _UNITS.items():
    if _symbol is not None:
        _NAMES.setdefault(_symbol, _name)


def display_unit(units: str | None) -> str | None:
    """The node unit for a BACnet ``units`` name; unknown names unchanged, blank -> None."""
    if units is None or not units.strip():
        return None
    return _SYMBOLS.get(_fold(units), units)


def engineering_units(symbol: str | None) -> str:
    """The BACnet units name for a node unit symbol; ``"no-units"`` if unknown or none."""
    if symbol is None:
        return "no-units"
    return _NAMES.get(symbol.strip(), "no-units")
