"""What the live twin's variables say about themselves: units, ranges, descriptions, IEC names.

- Engineering units follow OPC UA Part 8's ``EUInformation`` rule: the UN/CEFACT Recommendation 20
  common code (``MAW`` megawatt, ``DD`` degree, ``C62`` one, ...) turned into the Int32 ``UnitId``
  (each character's byte shifted in: ``"MAW"`` -> ``0x4D4157``), namespace
  :data:`UNECE_NAMESPACE`. A unit string with no Recommendation 20 code (``EUR/kWh``,
  ``parts/cycle``) keeps ``UnitId = -1`` and its text as display name.
- ``EURange``: the observation space's bounds for measurements, the action bounds for setpoints,
  applied values and baseline suggestions (omitted where a bound is infinite).
- Descriptions: ``"<asset> <name> (<unit>): <role>, range <low> .. <high>"``, plus the IEC 61400-25
  data object for the wind twins.
- IEC 61400-25-2 names (:func:`iec_name`) for the wind twins' variables where a logical node's data
  object means the same quantity (``WTUR.W``, ``WROT.RotSpd``, ``WROT.BlPthAngVal``,
  ``WMET.HorWdSpd``, ``WMET.HorWdDir``); docs/live-twin.md lists them and where twingym departs.

No JAX here; asyncua only for the ``EUInformation`` and ``Range`` structures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from asyncua import ua

UNECE_NAMESPACE = "http://www.opcfoundation.org/UA/units/un/cefact"

#: unit string used in twin labels -> (Recommendation 20 common code, unit name)
UNECE_CODES: dict[str, tuple[str, str]] = {
    "1": ("C62", "one (dimensionless)"),
    "%": ("P1", "percent"),
    "m": ("MTR", "metre"),
    "m/s": ("MTS", "metre per second"),
    "s": ("SEC", "second"),
    "h": ("HUR", "hour"),
    "deg": ("DD", "degree (unit of angle)"),
    "deg/s": ("E96", "degree per second"),
    "rad": ("C81", "radian"),
    "rpm": ("M46", "revolution per minute"),
    "W": ("WTT", "watt"),
    "kW": ("KWT", "kilowatt"),
    "MW": ("MAW", "megawatt"),
    "kWh": ("KWH", "kilowatt hour"),
    "MWh": ("MWH", "megawatt hour"),
    "kV": ("KVT", "kilovolt"),
    "MVA": ("MVA", "megavolt - ampere"),
    "N m": ("NU", "newton metre"),
    "kN m": ("B48", "kilonewton metre"),
    "parts": ("H87", "piece"),
    "kg": ("KGM", "kilogram"),
}


def unit_id(code: str) -> int:
    """Part 8's Int32 ``UnitId`` of a Recommendation 20 common code (up to three characters)."""
    if not 1 <= len(code) <= 3 or not code.isascii():
        raise ValueError(f"a UN/CEFACT common code has 1 to 3 ASCII characters, got {code!r}")
    value = 0
    for ch in code:
        value = (value << 8) | ord(ch)
    return value


def _base_unit(unit: str) -> str:
    """``"1 (x VS_MaxRat)"`` is dimensionless with a note: its code is that of ``"1"``."""
    text = unit.strip()
    return "1" if text.startswith("1 (") else text


def eu_information(unit: str) -> ua.EUInformation:
    """The ``EngineeringUnits`` value of a label's unit string."""
    code = UNECE_CODES.get(_base_unit(unit))
    if code is None:
        return ua.EUInformation(NamespaceUri=UNECE_NAMESPACE, UnitId=-1, DisplayName=ua.LocalizedText(unit),
                                Description=ua.LocalizedText(f"{unit} (no UN/CEFACT Recommendation 20 code)"))
    return ua.EUInformation(NamespaceUri=UNECE_NAMESPACE, UnitId=unit_id(code[0]),
                            DisplayName=ua.LocalizedText(unit), Description=ua.LocalizedText(code[1]))


def eu_range(low: float, high: float) -> ua.Range | None:
    """``EURange`` of finite bounds (None when either is infinite or NaN)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return ua.Range(Low=float(low), High=float(high))


#: (twin id, variable name) -> IEC 61400-25-2 logical node and data object
IEC_61400_25: dict[tuple[str, str], str] = {
    ("WindFarm-v0", "wind_speed"): "WMET.HorWdSpd",
    ("WindFarm-v0", "wind_direction"): "WMET.HorWdDir",
    ("WindFarm-v0", "power"): "WTUR.W",
    ("WindTurbine-v0", "rotor_speed"): "WROT.RotSpd",
    ("WindTurbine-v0", "pitch"): "WROT.BlPthAngVal",
    ("WindTurbine-v0", "power"): "WTUR.W",
}


def iec_name(twin_id: str, name: str) -> str | None:
    """The IEC 61400-25-2 data object of a wind twin's variable, or None where none fits."""
    return IEC_61400_25.get((twin_id.split(":")[0], name))


#: what a variable of each group is, for its description
ROLES = {
    "Measurements": "measured by the twin (read-only)",
    "Setpoints": "setpoint written by clients, applied from the next step",
    "Applied": "setpoint applied during the last step (read-only)",
    "Baseline": "the reference baseline's suggestion for the next step (read-only)",
}


@dataclass(frozen=True)
class VariableInfo:
    """Self-description of one published variable."""

    description: str
    units: ua.EUInformation
    range: ua.Range | None
    iec_name: str | None


def variable_info(twin_id: str, asset: str, group: str, name: str, unit: str, low: float,
                  high: float) -> VariableInfo:
    """Description, engineering units, EURange and IEC name of one variable."""
    iec = iec_name(twin_id, name)
    span = f", range {low:g} .. {high:g}" if math.isfinite(low) and math.isfinite(high) else ""
    text = f"{asset} {name.replace('_', ' ')} ({unit}): {ROLES.get(group, group)}{span}"
    if iec:
        text += f"; IEC 61400-25-2 {iec}"
    return VariableInfo(description=text, units=eu_information(unit), range=eu_range(low, high),
                        iec_name=iec)
