"""Turbine definitions in FLORIS's turbine-YAML format: ``load_floris_turbine(name_or_path)``.

FLORIS describes a turbine by its power and thrust-coefficient curves over hub-height wind speed
plus a few scalars (rotor diameter, hub height, the air density the curves hold at, the exponent
of the cosine power loss in yaw). Users keep libraries of such files; this module reads them into
a plain :class:`TurbineCurves` record (numpy arrays, SI units) that both turbine twins use.

Two layouts of the file are understood:

- FLORIS v4 (``power_thrust_table`` holding ``wind_speed``, ``power`` in kW and
  ``thrust_coefficient``; ``ref_air_density``, ``cosine_loss_exponent_yaw`` ...);
- FLORIS v3 (``power_thrust_table`` holding ``wind_speed``, ``power`` as the power *coefficient*
  Cp and ``thrust`` as Ct; ``generator_efficiency``, ``ref_density_cp_ct``, ``pP`` at top level).
  Cp is turned into electrical power with ``P = 0.5 rho A Cp U^3 * generator_efficiency``.

A third form is twingym's own turbine spec: the FLORIS top-level fields plus a ``rosco:``
section naming a ``DISCON.IN`` (and its ``Cp_Ct_Cq`` surfaces) instead of a table; the curves are
then derived from the rotor surfaces and controller settings
(:mod:`twingym.envs.turbines.steady_state`), the same data the single-turbine twin flies.

Bundled turbines (``available_turbines()``):

- ``nrel_5MW_rosco`` (the twins' default): the NREL 5-MW reference turbine derived from ROSCO's
  surfaces and ``DISCON.IN`` (peak Cp 0.466) under the 2009 reference controller;
- ``iea_15MW_rosco``: the IEA 15-MW reference turbine derived from its ROSCO surfaces and
  ``DISCON.IEA15MW.IN`` under that ROSCO controller;
- ``nrel_5MW``: FLORIS's own NREL 5-MW table (FAST steady states, peak Cp ~0.482, 2.4-3.4 % more
  power below rated), under FLORIS's name.

A ``DISCON.IN`` path loads too (with its geometry YAML beside it,
:mod:`twingym.envs.turbines.turbine_spec`).

:func:`floris_turbine_dict` writes any :class:`TurbineCurves` back as a FLORIS v4 turbine
dictionary, so FLORIS can be handed exactly the curves twingym uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

DATA_DIR = Path(__file__).resolve().parent / "data"


class TurbineFileError(ValueError):
    """A turbine YAML file is missing, unreadable or lacks a required field."""


@dataclass(frozen=True, eq=False)
class TurbineCurves:
    """Power and thrust curves of one turbine type, in SI units.

    Attributes:
        name: turbine type id (``turbine_type`` in the file).
        wind_speed: (n,) float64, m/s, strictly increasing hub-height wind speeds of the table.
        power: (n,) float64, W, electrical power at ``ref_air_density`` and zero yaw.
        thrust_coefficient: (n,) float64, dimensionless rotor thrust coefficient Ct.
        rotor_diameter: m.
        hub_height: m.
        ref_air_density: kg/m^3, air density at which the curves hold.
        cosine_loss_exponent_yaw: exponent pP of the yaw power loss ``P ~ cos(gamma)^pP``.
        cosine_loss_exponent_tilt: exponent of the tilt power loss (unused at the reference tilt).
        ref_tilt: deg, shaft tilt at which the curves hold.
        tsr: nominal tip-speed ratio below rated (dimensionless).
        operation_model: FLORIS operation model named in the file (``cosine-loss`` by default).
    """

    name: str
    wind_speed: np.ndarray
    power: np.ndarray
    thrust_coefficient: np.ndarray
    rotor_diameter: float
    hub_height: float
    ref_air_density: float = 1.225
    cosine_loss_exponent_yaw: float = 1.88
    cosine_loss_exponent_tilt: float = 1.88
    ref_tilt: float = 5.0
    tsr: float = 8.0
    operation_model: str = "cosine-loss"

    @property
    def rated_power(self) -> float:
        """Largest power of the table, W."""
        return float(np.max(self.power))

    @property
    def cut_in_wind_speed(self) -> float:
        """Lowest table wind speed with positive power, m/s."""
        return float(self.wind_speed[np.argmax(self.power > 0)])

    @property
    def cut_out_wind_speed(self) -> float:
        """Highest table wind speed with positive power, m/s."""
        idx = np.nonzero(self.power > 0)[0]
        return float(self.wind_speed[idx[-1]])

    @property
    def rated_wind_speed(self) -> float:
        """Lowest wind speed reaching 99.9 % of rated power, m/s."""
        return float(self.wind_speed[np.argmax(self.power >= 0.999 * self.rated_power)])

    @property
    def rotor_area(self) -> float:
        """Swept area, m^2."""
        return float(np.pi * self.rotor_diameter**2 / 4.0)


def available_turbines() -> list[str]:
    """Names of the turbine YAML files bundled in ``twingym/envs/turbines/data``."""
    return sorted(p.stem for p in DATA_DIR.glob("*.yaml"))


def _resolve(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise TurbineFileError(f"turbine file {str(path)!r} does not exist")
        return path
    bundled = DATA_DIR / f"{name_or_path}.yaml"
    if bundled.exists():
        return bundled
    raise TurbineFileError(f"unknown turbine {str(name_or_path)!r}: not a file and not one of the "
                           f"bundled turbines ({', '.join(available_turbines())}); another of FLORIS's "
                           f"library turbines loads by the path of its YAML")


def _require(table: dict, key: str, where: str):
    if key not in table:
        raise TurbineFileError(f"{where}: missing field {key!r}")
    return table[key]


def parse_floris_turbine(data: dict, where: str = "turbine", base_dir: Path = DATA_DIR) -> TurbineCurves:
    """Build :class:`TurbineCurves` from an already-parsed FLORIS turbine dictionary (or a
    twingym turbine spec with a ``rosco:`` section; its files are looked up in ``base_dir``, then
    among the bundled ones)."""
    if not isinstance(data, dict):
        raise TurbineFileError(f"{where}: expected a mapping at the top level")
    if "rosco" in data:
        from twingym.envs.turbines.steady_state import curves_from_spec

        return curves_from_spec(data, base_dir=base_dir, where=where)
    table = _require(data, "power_thrust_table", where)
    ws = np.asarray(_require(table, "wind_speed", where), dtype=np.float64)
    diameter = float(_require(data, "rotor_diameter", where))
    hub = float(_require(data, "hub_height", where))
    if "thrust_coefficient" in table:  # FLORIS v4: power in kW
        power = np.asarray(table["power"], dtype=np.float64) * 1e3
        ct = np.asarray(table["thrust_coefficient"], dtype=np.float64)
        rho = float(table.get("ref_air_density", 1.225))
        p_exp = float(table.get("cosine_loss_exponent_yaw", 1.88))
        t_exp = float(table.get("cosine_loss_exponent_tilt", 1.88))
        ref_tilt = float(table.get("ref_tilt", 5.0))
    elif "thrust" in table:  # FLORIS v3: power is Cp
        cp = np.asarray(_require(table, "power", where), dtype=np.float64)
        ct = np.asarray(table["thrust"], dtype=np.float64)
        rho = float(data.get("ref_density_cp_ct", data.get("ref_air_density", 1.225)))
        eff = float(data.get("generator_efficiency", 1.0))
        power = 0.5 * rho * (np.pi * diameter**2 / 4.0) * cp * ws**3 * eff
        p_exp = float(data.get("pP", 1.88))
        t_exp = float(data.get("pT", 1.88))
        ref_tilt = float(data.get("ref_tilt_cp_ct", data.get("ref_tilt", 5.0)))
    else:
        raise TurbineFileError(f"{where}: power_thrust_table needs 'thrust_coefficient' (FLORIS v4) "
                               "or 'thrust' (FLORIS v3)")
    if not (ws.shape == power.shape == ct.shape) or ws.ndim != 1 or ws.size < 2:
        raise TurbineFileError(f"{where}: wind_speed, power and thrust tables must be 1-D of equal "
                               f"length >= 2 (got {ws.shape}, {power.shape}, {ct.shape})")
    if np.any(np.diff(ws) <= 0):
        raise TurbineFileError(f"{where}: wind_speed must be strictly increasing")
    if not (np.all(np.isfinite(power)) and np.all(np.isfinite(ct))):
        raise TurbineFileError(f"{where}: power and thrust tables must be finite")
    return TurbineCurves(
        name=str(data.get("turbine_type", where)), wind_speed=ws, power=power,
        thrust_coefficient=ct, rotor_diameter=diameter, hub_height=hub, ref_air_density=rho,
        cosine_loss_exponent_yaw=p_exp, cosine_loss_exponent_tilt=t_exp, ref_tilt=ref_tilt,
        tsr=float(data.get("TSR", 8.0)), operation_model=str(data.get("operation_model", "cosine-loss")))


def load_floris_turbine(name_or_path: str | Path) -> TurbineCurves:
    """Read a FLORIS turbine YAML (v3 or v4 layout) or a ROSCO-derived spec into :class:`TurbineCurves`.

    Args:
        name_or_path: a bundled turbine name (``available_turbines()``), a path to a ``.yaml``
            file (FLORIS v3/v4 table, or a twingym spec with a ``rosco:`` section), or a path to
            a ``DISCON.IN`` with its geometry YAML beside it.

    Raises:
        TurbineFileError: the file is missing, is not YAML, or lacks a required field.
    """
    raw = Path(name_or_path)
    if raw.is_file() and raw.suffix.lower() not in (".yaml", ".yml"):
        from twingym.envs.turbines.steady_state import curves_from_turbine_spec
        from twingym.envs.turbines.turbine_spec import spec_from_discon

        return curves_from_turbine_spec(spec_from_discon(raw))
    path = _resolve(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TurbineFileError(f"cannot read turbine file {str(path)!r}: {exc}") from exc
    return parse_floris_turbine(data, where=path.name, base_dir=path.resolve().parent)


def floris_turbine_dict(curves: TurbineCurves) -> dict:
    """FLORIS v4 turbine dictionary of ``curves`` (power in kW), for ``FlorisModel`` configs."""
    return {
        "turbine_type": curves.name,
        "hub_height": float(curves.hub_height),
        "rotor_diameter": float(curves.rotor_diameter),
        "TSR": float(curves.tsr),
        "operation_model": curves.operation_model,
        "power_thrust_table": {
            "ref_air_density": float(curves.ref_air_density),
            "ref_tilt": float(curves.ref_tilt),
            "cosine_loss_exponent_yaw": float(curves.cosine_loss_exponent_yaw),
            "cosine_loss_exponent_tilt": float(curves.cosine_loss_exponent_tilt),
            "wind_speed": [float(v) for v in curves.wind_speed],
            "power": [float(v) / 1e3 for v in curves.power],
            "thrust_coefficient": [float(v) for v in curves.thrust_coefficient],
        },
    }
