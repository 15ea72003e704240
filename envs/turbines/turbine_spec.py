"""A turbine both turbine twins fly: ROSCO files plus the few facts they lack, by name or by path.

``load_turbine_spec(turbine)`` accepts

- a bundled spec name (``available_rosco_turbines()``: ``nrel_5MW_rosco``, ``iea_15MW_rosco``),
- a spec YAML path (FLORIS's top-level turbine fields plus a ``rosco:`` section naming the DISCON
  file, relative to the YAML), or
- a ``DISCON.IN`` path. Its ``PerfFileName`` is resolved relative to the DISCON file (as ROSCO
  does), and the facts DISCON does not hold come from a small YAML beside it:
  ``<DISCON name without suffix>.yaml`` (``DISCON.IN`` -> ``DISCON.yaml``) or else
  ``turbine.yaml``, holding the same fields as a spec (the ``rosco:`` section without
  ``discon``).

Spec fields (``hub_height`` required; the rest optional)::

    turbine_type: my_turbine           # name (default: the file's stem)
    hub_height: 150.0                  # m
    rated_power: 15.0e6                # W, only where DISCON lacks VS_RtPwr
    operation_model: cosine-loss       # FLORIS fields, carried into the wind farm's table
    power_thrust_table: {ref_tilt: 6.0, cosine_loss_exponent_yaw: 1.88, cosine_loss_exponent_tilt: 1.88}
    rosco:
      discon: DISCON.IN                # spec YAML only: the DISCON file, relative to the YAML
      performance: Cp_Ct_Cq.txt        # optional: overrides PerfFileName
      controller: rosco                # rosco (DISCON's TSR tracking, the default) | jonkman_2009
      torque_law: {...}                # jonkman_2009 only: region 1.5/2.5 settings (TorqueLaw)
      precone_deg: 4.0                 # swept rotor diameter 2 R cos(precone)
      pitch_rate_max_deg_s: 2.0        # pitch actuator rate limit (default: DISCON's PC_MaxRat)
      cut_in_wind_speed: 3.0           # m/s (wind farm table)
      cut_out_wind_speed: 25.0         # m/s
      wind_speed_step: 0.25            # m/s between wind farm table rows
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from twingym.envs.turbines.floris_yaml import TurbineFileError
from twingym.envs.turbines.rosco import DATA_DIR, RoscoTurbine, load_rosco_turbine

#: controller kinds a spec may name: DISCON's ROSCO TSR tracking, or the 2009 NREL 5-MW law.
CONTROLLERS = ("rosco", "jonkman_2009")


@dataclass(frozen=True, eq=False)
class TurbineSpec:
    """A ROSCO turbine with what its DISCON file lacks.

    Attributes:
        name: turbine type id.
        turbine: the loaded DISCON settings and rotor surfaces.
        controller: ``"rosco"`` or ``"jonkman_2009"``.
        hub_height: m.
        precone_deg: deg, blade precone (swept diameter ``2 R cos(precone)``).
        pitch_rate_max: rad/s, pitch actuator rate limit.
        torque_law: options of the 2009 torque law (``jonkman_2009`` only).
        data: the parsed YAML (FLORIS fields for the wind farm's table).
        source: where it was read from.
    """

    name: str
    turbine: RoscoTurbine
    controller: str
    hub_height: float
    precone_deg: float
    pitch_rate_max: float
    torque_law: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    source: str = ""

    @property
    def rosco_options(self) -> dict:
        """The spec's ``rosco:`` section."""
        return self.data.get("rosco") or {}


def available_rosco_turbines() -> list[str]:
    """Names of the bundled turbine specs with a ``rosco:`` section."""
    names = []
    for path in sorted(DATA_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if isinstance(data, dict) and "rosco" in data:
            names.append(path.stem)
    return names


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TurbineFileError(f"cannot read turbine file {str(path)!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise TurbineFileError(f"{path.name}: expected a mapping at the top level")
    return data


def _number(data: dict, key: str, where: str, default: float | None = None) -> float:
    if key not in data:
        if default is None:
            raise TurbineFileError(f"{where}: missing field {key!r}")
        return float(default)
    try:
        return float(data[key])
    except (TypeError, ValueError) as exc:
        raise TurbineFileError(f"{where}: field {key!r} must be a number, got {data[key]!r}") from exc


def spec_from_data(data: dict, discon: Path | str, where: str, base_dir: Path,
                   name: str | None = None) -> TurbineSpec:
    """Build a :class:`TurbineSpec` from parsed spec fields and the DISCON file they belong to."""
    opts = data.get("rosco") or {}
    if not isinstance(opts, dict):
        raise TurbineFileError(f"{where}: 'rosco' must be a mapping")
    controller = str(opts.get("controller", "jonkman_2009" if "torque_law" in opts else "rosco"))
    if controller not in CONTROLLERS:
        raise TurbineFileError(f"{where}: rosco.controller must be one of {', '.join(CONTROLLERS)}, "
                               f"got {controller!r}")
    hub_height = _number(data, "hub_height", where)
    defaults = {"VS_RtPwr": _number(data, "rated_power", where)} if "rated_power" in data else {}
    perf = opts.get("performance")
    perf_path = base_dir / str(perf) if perf is not None else None
    if perf_path is not None and not perf_path.exists():
        perf_path = DATA_DIR / Path(str(perf)).name if base_dir == DATA_DIR else perf_path
    try:
        turbine = load_rosco_turbine(discon, perf_path, defaults=defaults)
    except ValueError as exc:
        hint = " (or give 'rated_power' in the turbine YAML)" if "VS_RtPwr" in str(exc) else ""
        raise TurbineFileError(f"{where}: {exc}{hint}") from exc
    rate = _number(opts, "pitch_rate_max_deg_s", where, np.rad2deg(abs(turbine.max_pitch_rate)))
    law = opts.get("torque_law") or {}
    if not isinstance(law, dict):
        raise TurbineFileError(f"{where}: rosco.torque_law must be a mapping")
    return TurbineSpec(name=str(data.get("turbine_type", name or where)), turbine=turbine,
                       controller=controller, hub_height=hub_height,
                       precone_deg=_number(opts, "precone_deg", where, 0.0),
                       pitch_rate_max=float(np.deg2rad(rate)),
                       torque_law={k: float(v) for k, v in law.items()}, data=data, source=where)


def spec_from_yaml(path: Path) -> TurbineSpec:
    """A spec YAML with a ``rosco:`` section naming its DISCON file."""
    data = _read_yaml(path)
    opts = data.get("rosco")
    if not isinstance(opts, dict) or "discon" not in opts:
        raise TurbineFileError(f"{path.name}: a turbine spec needs a 'rosco' section with 'discon'")
    base = path.resolve().parent
    discon = base / str(opts["discon"])
    if not discon.exists():
        if base != DATA_DIR:
            raise TurbineFileError(f"{path.name}: rosco.discon {str(discon)!r} does not exist")
        discon = DATA_DIR / Path(str(opts["discon"])).name
    return spec_from_data(data, discon, where=path.name, base_dir=base, name=path.stem)


def spec_from_discon(path: Path) -> TurbineSpec:
    """A DISCON file with its geometry YAML beside it (module doc)."""
    stem = path.name.split(".")[0] if path.name.upper().endswith(".IN") else path.stem
    candidates = [path.with_name(f"{stem}.yaml"), path.with_name("turbine.yaml")]
    beside = next((c for c in candidates if c.exists()), None)
    if beside is None:
        raise TurbineFileError(f"{path.name}: the facts DISCON does not hold (hub_height, and "
                               f"rated_power where VS_RtPwr is absent) come from a YAML beside it: "
                               f"none of {', '.join(c.name for c in candidates)} exists in {str(path.parent)!r}")
    data = _read_yaml(beside)
    return spec_from_data(data, path, where=beside.name, base_dir=path.resolve().parent, name=stem)


def load_turbine_spec(turbine: str | Path) -> TurbineSpec:
    """Resolve a bundled spec name, a spec YAML path or a DISCON path (module doc).

    Raises:
        TurbineFileError: unknown name, missing file, or a missing field (named).
    """
    path = Path(turbine)
    if path.exists() and path.is_file():
        return spec_from_yaml(path) if path.suffix.lower() in (".yaml", ".yml") else spec_from_discon(path)
    if path.suffix or "/" in str(turbine):
        raise TurbineFileError(f"turbine file {str(path)!r} does not exist")
    bundled = DATA_DIR / f"{turbine}.yaml"
    names = available_rosco_turbines()
    if not bundled.exists() or path.stem not in names:
        raise TurbineFileError(f"unknown turbine {str(turbine)!r}: not a file and not one of the bundled "
                               f"ROSCO turbines ({', '.join(names)})")
    return spec_from_yaml(bundled)
