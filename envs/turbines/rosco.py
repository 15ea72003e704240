"""ROSCO-format turbine data: rotor performance surfaces (``Cp_Ct_Cq.*.txt``) and ``DISCON.IN``.

The ROSCO toolbox (NREL, Apache-2.0) describes a rotor by three coefficient surfaces over tip-speed
ratio ``lambda = omega R / U`` and collective blade pitch ``beta``:

- ``Cp``: aerodynamic power ``P = 0.5 rho pi R^2 U^3 Cp``,
- ``Ct``: rotor thrust ``T = 0.5 rho pi R^2 U^2 Ct``,
- ``Cq``: aerodynamic torque ``Q = 0.5 rho pi R^3 U^2 Cq``,

and the reference controller by a ``DISCON.IN`` file of ``value ! Name - description`` lines.
This module reads both into plain numpy records; the single-turbine twin turns them into JAX
params. Any turbine given in that format loads: pass a path, or a bundled name
(``available_rotor_surfaces()``: ``NREL5MW``, ``IEA15MW``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"


class RoscoFileError(ValueError):
    """A ROSCO performance or DISCON file is missing, malformed, or lacks a required entry."""


@dataclass(frozen=True, eq=False)
class RotorPerformance:
    """Rotor coefficient surfaces over (tip-speed ratio, pitch).

    Attributes:
        name: where the tables came from (file name).
        pitch_deg: (n_pitch,) float64, deg, strictly increasing collective pitch grid.
        tsr: (n_tsr,) float64, dimensionless, strictly increasing tip-speed-ratio grid.
        cp, ct, cq: (n_tsr, n_pitch) float64 power, thrust and torque coefficients (rows: TSR,
            columns: pitch), dimensionless.
        wind_speed: wind speed (m/s) the tables were computed at (ROSCO writes one value).
    """

    name: str
    pitch_deg: np.ndarray
    tsr: np.ndarray
    cp: np.ndarray
    ct: np.ndarray
    cq: np.ndarray
    wind_speed: float

    def max_cp(self) -> tuple[float, float, float]:
        """``(cp_max, tsr_at_max, pitch_deg_at_max)`` over the grid points."""
        i, j = np.unravel_index(int(np.argmax(self.cp)), self.cp.shape)
        return float(self.cp[i, j]), float(self.tsr[i]), float(self.pitch_deg[j])


def available_rotor_surfaces() -> list[str]:
    """Names of the bundled ``Cp_Ct_Cq.<name>.txt`` files."""
    return sorted(p.name[len("Cp_Ct_Cq."):-len(".txt")] for p in DATA_DIR.glob("Cp_Ct_Cq.*.txt"))


def _resolve(name_or_path: str | Path, pattern: str, what: str, names: list[str]) -> Path:
    path = Path(name_or_path)
    if path.exists():
        return path
    if path.suffix or "/" in str(name_or_path):
        raise RoscoFileError(f"{what} file {str(path)!r} does not exist")
    bundled = DATA_DIR / pattern.format(name=name_or_path)
    if bundled.exists():
        return bundled
    raise RoscoFileError(f"unknown {what} {str(name_or_path)!r}: not a file and not one of the "
                         f"bundled ones ({', '.join(names)})")


def _numbers(line: str) -> list[float]:
    return [float(tok) for tok in line.split()]


def load_rotor_performance(name_or_path: str | Path = "NREL5MW") -> RotorPerformance:
    """Read a ROSCO ``Cp_Ct_Cq`` text file.

    The file holds, after ``#`` header lines, the pitch vector (deg), the TSR vector, the wind
    speed, then three blocks of ``n_tsr`` rows by ``n_pitch`` columns headed ``Power``, ``Thrust``
    and ``Torque coefficient``.

    Args:
        name_or_path: a bundled name (``"NREL5MW"``, ``"IEA15MW"``) or a path.

    Raises:
        RoscoFileError: the file is missing or its tables are inconsistent.
    """
    path = _resolve(name_or_path, "Cp_Ct_Cq.{name}.txt", "rotor performance",
                    available_rotor_surfaces())
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise RoscoFileError(f"cannot read {str(path)!r}: {exc}") from exc

    def first_numbers_after(marker: str) -> list[float]:
        for i, line in enumerate(lines):
            if line.lstrip().startswith("#") and marker.lower() in line.lower():
                for nxt in lines[i + 1:]:
                    if nxt.strip() and not nxt.lstrip().startswith("#"):
                        return _numbers(nxt)
        raise RoscoFileError(f"{path.name}: no section '{marker}'")

    def block_after(marker: str, rows: int, cols: int) -> np.ndarray:
        for i, line in enumerate(lines):
            if line.lstrip().startswith("#") and marker.lower() in line.lower():
                data = [_numbers(x) for x in lines[i + 1:] if x.strip() and not x.lstrip().startswith("#")]
                block = np.asarray(data[:rows], dtype=np.float64) if len(data) >= rows else None
                if block is None or block.shape != (rows, cols):
                    raise RoscoFileError(f"{path.name}: section '{marker}' is not {rows} x {cols}")
                return block
        raise RoscoFileError(f"{path.name}: no section '{marker}'")

    try:
        pitch = np.asarray(first_numbers_after("Pitch angle vector"), dtype=np.float64)
        tsr = np.asarray(first_numbers_after("TSR vector"), dtype=np.float64)
        wind = first_numbers_after("Wind speed vector")
        shape = (tsr.size, pitch.size)
        cp = block_after("Power coefficient", *shape)
        ct = block_after("Thrust coefficient", *shape)
        cq = block_after("Torque coefficient", *shape)
    except ValueError as exc:
        if isinstance(exc, RoscoFileError):
            raise
        raise RoscoFileError(f"{path.name}: unreadable number ({exc})") from exc
    for vec, label in ((pitch, "pitch"), (tsr, "TSR")):
        if vec.size < 2 or np.any(np.diff(vec) <= 0):
            raise RoscoFileError(f"{path.name}: {label} vector must be strictly increasing, >= 2 entries")
    if not all(np.all(np.isfinite(a)) for a in (cp, ct, cq)):
        raise RoscoFileError(f"{path.name}: non-finite coefficient")
    return RotorPerformance(name=path.name, pitch_deg=pitch, tsr=tsr, cp=cp, ct=ct, cq=cq,
                            wind_speed=float(wind[0]) if wind else float("nan"))


_DISCON_LINE = re.compile(r"^\s*(?P<values>[^!]*?)\s*!\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)")


def _discon_value(raw: str) -> float | np.ndarray | str:
    raw = raw.strip()
    if raw.startswith('"'):
        return raw.strip('"')
    tokens = raw.split()
    try:
        nums = [float(t) for t in tokens]
    except ValueError:
        return raw
    if len(nums) == 1:
        return nums[0]
    return np.asarray(nums, dtype=np.float64)


def parse_discon(name_or_path: str | Path = "DISCON.IN") -> dict[str, float | np.ndarray | str]:
    """Read a ROSCO ``DISCON.IN`` file into ``{name: value}``.

    Each setting line is ``<value(s)> ! <Name> - description``: one number gives a float, several
    give a float64 array, a quoted token gives a string. Section headers and comments are skipped.

    Args:
        name_or_path: a path, or ``"DISCON.IN"`` for the bundled NREL 5-MW file.
    """
    path = Path(name_or_path)
    if not path.exists():
        path = DATA_DIR / str(name_or_path)
        if not path.exists():
            raise RoscoFileError(f"DISCON file {str(name_or_path)!r} does not exist")
    settings: dict[str, float | np.ndarray | str] = {}
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip() or line.lstrip().startswith("!"):
            continue
        match = _DISCON_LINE.match(line)
        if match and match.group("values"):
            settings[match.group("name")] = _discon_value(match.group("values"))
    if not settings:
        raise RoscoFileError(f"{path.name}: no settings found")
    return settings


@dataclass(frozen=True, eq=False)
class RoscoTurbine:
    """What the single-turbine twin needs from ROSCO data, in SI units (LSS = rotor side,
    HSS = generator side).

    Attributes:
        performance: the Cp/Ct/Cq surfaces.
        rotor_radius: m (``WE_BladeRadius``).
        gearbox_ratio: HSS/LSS speed ratio (``WE_GearboxRatio``).
        inertia: kg m^2, total drivetrain inertia on the LSS (``WE_Jtot``).
        air_density: kg/m^3 (``WE_RhoAir``).
        rated_power: W, electrical (``VS_RtPwr``).
        generator_efficiency: 0..1 (``VS_GenEff`` / 100).
        rated_gen_speed: rad/s, HSS (``VS_RefSpd``).
        rated_gen_torque: N m, HSS (``VS_RtTq``).
        max_gen_torque: N m, HSS (``VS_MaxTq``).
        min_gen_torque: N m, HSS (``VS_MinTq``).
        max_torque_rate: N m/s, HSS (``VS_MaxRat``).
        min_pitch, max_pitch: rad (``PC_MinPit``, ``PC_MaxPit``).
        max_pitch_rate: rad/s, controller pitch-rate limit (``PC_MaxRat``).
        pitch_actuator_bandwidth: rad/s, first-order pitch actuator corner (``PA_CornerFreq``).
        discon: every DISCON setting, for controller gains.
    """

    performance: RotorPerformance
    rotor_radius: float
    gearbox_ratio: float
    inertia: float
    air_density: float
    rated_power: float
    generator_efficiency: float
    rated_gen_speed: float
    rated_gen_torque: float
    max_gen_torque: float
    min_gen_torque: float
    max_torque_rate: float
    min_pitch: float
    max_pitch: float
    max_pitch_rate: float
    pitch_actuator_bandwidth: float
    discon: dict

    @property
    def rated_rotor_speed(self) -> float:
        """rad/s, LSS."""
        return self.rated_gen_speed / self.gearbox_ratio


def load_rosco_turbine(discon: str | Path = "DISCON.IN", performance: str | Path | None = None,
                       defaults: dict | None = None) -> RoscoTurbine:
    """Load a turbine from a ``DISCON.IN`` and its rotor performance file.

    Args:
        discon: path of the DISCON file, or the name of a bundled one (``"DISCON.IN"``: NREL 5-MW,
            ``"DISCON.IEA15MW.IN"``: IEA 15-MW).
        performance: Cp/Ct/Cq file (path or bundled name); default: ``PerfFileName`` named in the
            DISCON file, relative to the DISCON file's folder (as ROSCO resolves it). Only for
            the bundled DISCON files, whose ``PerfFileName`` keeps the path of their source
            repository, is the file then looked up by name among the bundled surfaces.
        defaults: settings used where the DISCON file has none (e.g. ``{"VS_RtPwr": 15e6}``).

    Raises:
        RoscoFileError: a file is missing, or a setting the twin needs is absent (named).
    """
    settings = {**(defaults or {}), **parse_discon(discon)}
    discon_path = Path(discon) if Path(discon).exists() else DATA_DIR / str(discon)
    if performance is None:
        perf_name = settings.get("PerfFileName")
        if not isinstance(perf_name, str):
            raise RoscoFileError(f"{discon_path.name} names no PerfFileName; pass performance=")
        candidate = discon_path.parent / perf_name
        bundled = discon_path.resolve().parent == DATA_DIR
        if not candidate.exists() and not bundled:
            raise RoscoFileError(f"{discon_path.name}: its PerfFileName {perf_name!r} does not exist "
                                 f"relative to the DISCON file ({str(candidate)!r})")
        performance = candidate if candidate.exists() else DATA_DIR / Path(perf_name).name
    perf = load_rotor_performance(performance)

    def num(key: str) -> float:
        value = settings.get(key)
        if not isinstance(value, float):
            raise RoscoFileError(f"{discon_path.name} lacks the numeric setting {key!r}")
        return value

    return RoscoTurbine(
        performance=perf, rotor_radius=num("WE_BladeRadius"), gearbox_ratio=num("WE_GearboxRatio"),
        inertia=num("WE_Jtot"), air_density=num("WE_RhoAir"), rated_power=num("VS_RtPwr"),
        generator_efficiency=num("VS_GenEff") / 100.0, rated_gen_speed=num("VS_RefSpd"),
        rated_gen_torque=num("VS_RtTq"), max_gen_torque=num("VS_MaxTq"),
        min_gen_torque=num("VS_MinTq"), max_torque_rate=num("VS_MaxRat"),
        min_pitch=num("PC_MinPit"), max_pitch=num("PC_MaxPit"), max_pitch_rate=num("PC_MaxRat"),
        pitch_actuator_bandwidth=num("PA_CornerFreq"), discon=settings)
