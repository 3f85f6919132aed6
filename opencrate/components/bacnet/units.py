"""Units: the symbols OpenCrate points use and BACnet's engineering units, both ways.

:func:`engineering_units` names the ``BACnetEngineeringUnits`` value (bacpypes3's spelling,
``"degrees-celsius"``) for a point's unit symbol (``"°C"``); :func:`unit_symbol` goes back.
Symbols not listed map to ``"no-units"``; BACnet units not listed have no symbol (``None``).
"""

from __future__ import annotations

__all__ = ["ENGINEERING_UNITS", "engineering_units", "unit_symbol"]

#: Point unit symbol -> BACnet engineering units; the first symbol of a unit is its canonical one.
ENGINEERING_UNITS: dict[str, str] = {
    "°C": "degrees-celsius",
    "°F": "degrees-fahrenheit",
    "K": "degrees-kelvin",
    "ΔK": "delta-degrees-kelvin",
    "Pa": "pascals",
    "hPa": "hectopascals",
    "kPa": "kilopascals",
    "bar": "bars",
    "mbar": "millibars",
    "%": "percent",
    "%RH": "percent-relative-humidity",
    "ppm": "parts-per-million",
    "ppb": "parts-per-billion",
    "µg/m³": "micrograms-per-cubic-meter",
    "L/s": "liters-per-second",
    "l/s": "liters-per-second",
    "L/min": "liters-per-minute",
    "L/h": "liters-per-hour",
    "m³/h": "cubic-meters-per-hour",
    "m3/h": "cubic-meters-per-hour",
    "m³/s": "cubic-meters-per-second",
    "cfm": "cubic-feet-per-minute",
    "m/s": "meters-per-second",
    "W": "watts",
    "kW": "kilowatts",
    "W/m²": "watts-per-square-meter",
    "kWh": "kilowatt-hours",
    "MWh": "megawatt-hours",
    "kJ": "kilojoules",
    "MJ": "megajoules",
    "kVA": "kilovolt-amperes",
    "kvar": "kilovolt-amperes-reactive",
    "V": "volts",
    "mV": "millivolts",
    "kV": "kilovolts",
    "A": "amperes",
    "mA": "milliamperes",
    "Hz": "hertz",
    "Ω": "ohms",
    "kΩ": "kilohms",
    "lx": "luxes",
    "lux": "luxes",
    "rpm": "revolutions-per-minute",
    "s": "seconds",
    "min": "minutes",
    "h": "hours",
    "m": "meters",
    "m²": "square-meters",
    "m³": "cubic-meters",
    "L": "liters",
    "kg/h": "kilograms-per-hour",
    "°": "degrees-angular",
}

_SYMBOLS: dict[str, str] = {}
for _symbol, _units in ENGINEERING_UNITS.items():
    _SYMBOLS.setdefault(_units, _symbol)


def engineering_units(symbol: str | None) -> str:
    """The BACnet engineering units for a point's unit symbol; ``"no-units"`` if unknown or none."""
    if symbol is None:
        return "no-units"
    return ENGINEERING_UNITS.get(symbol.strip(), "no-units")


def unit_symbol(units: str) -> str | None:
    """The point unit symbol for BACnet engineering units (``"degrees-celsius"`` -> ``"°C"``)."""
    return _SYMBOLS.get(units)
