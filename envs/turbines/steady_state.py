"""Steady-state power and thrust curves of a turbine, derived from its ROSCO rotor surfaces and
reference-controller settings: the one source of turbine facts of both turbine twins.

For each hub-height wind speed ``U`` (uniform, steady, no yaw) the rotor runs where the
aerodynamic torque balances the generator torque of the reference controller (all speeds on the
rotor side, ``N`` = gearbox ratio, ``R`` = blade radius ``WE_BladeRadius``)::

    0.5 rho pi R^3 U^2 Cq(lambda, beta) = N Q_gen(N omega),       lambda = omega R / U

with the 2009 reference torque law ``Q_gen`` (Jonkman et al. 2009, NREL/TP-500-38060, Sec. 7.2):

- region 1.5, generator speed between ``cut_in_gen_speed`` (670 rpm) and
  ``rgn2_start_gen_speed`` (871 rpm): straight line from 0 to the region-2 curve (the minimum
  rotor speed of the turbine);
- region 2: ``Q_gen = k w^2`` with ``k = VS_Rgn2K`` (DISCON.IN). For the NREL 5-MW file
  ``k = 0.5 rho pi R^5 Cp_max / (lambda_opt^3 N^3)`` of the bundled surface exactly, so the rotor
  runs at the optimal tip-speed ratio (7.5) and fine pitch (``PC_MinPit``);
- region 2.5: the line of a generator with ``rgn25_slip`` (10 %) slip through
  ``(rgn3_speed / (1 + slip), 0)`` and ``(rgn3_speed, rated_power_mech / rgn3_speed)``, where
  ``rgn3_speed = rgn3_fraction * VS_RefSpd`` (99 %): the transition to the rated rotor speed;
- region 3 (generator speed >= ``rgn3_speed``): constant power ``rated_power_mech / w`` with
  ``rated_power_mech = VS_RtPwr / VS_GenEff``; the pitch controller holds the generator at
  ``PC_RefSpd`` and the pitch is the smallest one >= fine pitch at which
  ``0.5 rho pi R^3 U^2 Cq(lambda_rated, beta) omega_rated = rated_power_mech``.

Aerodynamic torque and power come from the ``Cq`` surface throughout, as in the twin's
dynamics (the file's ``Cq`` and ``Cp / lambda`` differ by their 6-digit rounding).
Below rated the pitch stays at fine pitch (the PI pitch controller saturates there). The rotor
runs at the highest stable balance (torque surplus falling through zero as speed rises) at or
below ``PC_RefSpd``; if there is none, the turbine is above rated. Electrical power is
``VS_GenEff * Q_gen * N * omega``; the thrust coefficient is ``Ct(lambda, beta)`` of the surface.
Surfaces are read by bilinear interpolation over (TSR, pitch), clamped at the grid edges except
above the highest TSR, extrapolated linearly there (the same reading as the single-turbine twin). Outside ``[cut_in, cut_out]`` the table gives zero
power and thrust coefficient, as FLORIS turbine tables do.

The result is a :class:`~twingym.envs.turbines.floris_yaml.TurbineCurves` (FLORIS-format table),
so the wind farm twin and FLORIS itself read the same curves the single-turbine twin flies. A
turbine spec YAML (``<name>.yaml`` with a ``rosco:`` section, see ``data/nrel_5MW_rosco.yaml``) names
the ROSCO files and adds what they lack (hub height, precone, cut-in/out, yaw-loss exponent).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import brentq
from twingym.envs.turbines.floris_yaml import TurbineCurves, TurbineFileError
from twingym.envs.turbines.rosco import DATA_DIR, RoscoTurbine, RotorPerformance

RPM = np.pi / 30.0  # rad/s per rpm
#: above the surfaces' highest tip-speed ratio they are extrapolated linearly up to this factor
#: times it, then held (a rotor at minimum speed in light wind runs above the tabulated range).
TSR_EXTRAPOLATION = 1.5

__all__ = [
    "OperatingPoints",
    "TorqueLaw",
    "curves_from_spec",
    "curves_from_turbine_spec",
    "rotor_coefficients",
    "spec_operating_points",
    "steady_operating_points",
    "table_wind_speeds",
]


@dataclass(frozen=True)
class TorqueLaw:
    """Generator-torque law of the 2009 NREL 5-MW reference controller (generator side, SI).

    Attributes:
        rgn2_k: N m / (rad/s)^2, region-2 gain ``VS_Rgn2K``.
        cut_in_gen_speed: rad/s, region 1 -> 1.5.
        rgn2_start_gen_speed: rad/s, region 1.5 -> 2.
        rgn3_gen_speed: rad/s, region 2.5 -> 3.
        sync_gen_speed: rad/s, zero-torque speed of the region-2.5 line.
        rated_power_mech: W, mechanical (shaft) power held in region 3.
        min_torque, max_torque: N m, generator torque limits (``VS_MinTq``, ``VS_MaxTq``).
    """

    rgn2_k: float
    cut_in_gen_speed: float
    rgn2_start_gen_speed: float
    rgn3_gen_speed: float
    sync_gen_speed: float
    rated_power_mech: float
    min_torque: float
    max_torque: float

    @classmethod
    def from_rosco(cls, turbine: RoscoTurbine, cut_in_gen_speed_rpm: float = 670.0,
                   rgn2_start_gen_speed_rpm: float = 871.0, rgn3_fraction: float = 0.99,
                   rgn25_slip: float = 0.10) -> TorqueLaw:
        """The law from DISCON.IN (``VS_Rgn2K``, ``VS_RefSpd``, ``VS_RtPwr``, ``VS_GenEff``, torque
        limits) and the 2009 report's region 1.5/2.5 settings (the defaults)."""
        rgn3 = rgn3_fraction * turbine.rated_gen_speed
        return cls(rgn2_k=float(turbine.discon["VS_Rgn2K"]), cut_in_gen_speed=cut_in_gen_speed_rpm * RPM,
                   rgn2_start_gen_speed=rgn2_start_gen_speed_rpm * RPM, rgn3_gen_speed=rgn3,
                   sync_gen_speed=rgn3 / (1.0 + rgn25_slip),
                   rated_power_mech=turbine.rated_power / turbine.generator_efficiency,
                   min_torque=turbine.min_gen_torque, max_torque=turbine.max_gen_torque)

    @property
    def rgn25_slope(self) -> float:
        """N m / (rad/s), slope of the region-2.5 line (rated torque at ``rgn3_gen_speed``)."""
        return self.rated_power_mech / self.rgn3_gen_speed / (self.rgn3_gen_speed - self.sync_gen_speed)

    @property
    def trans_gen_speed(self) -> float:
        """rad/s, region 2 -> 2.5: the lower speed where ``k w^2`` meets the region-2.5 line."""
        a = self.rgn25_slope
        disc = a * (a - 4.0 * self.rgn2_k * self.sync_gen_speed)
        if disc < 0:
            raise ValueError("the region-2 curve never meets the region-2.5 line")
        return float((a - np.sqrt(disc)) / (2.0 * self.rgn2_k))

    def torque(self, gen_speed: np.ndarray) -> np.ndarray:
        """Generator torque (N m) at generator speed ``gen_speed`` (rad/s, any shape)."""
        w = np.asarray(gen_speed, dtype=np.float64)
        k, w0, w1 = self.rgn2_k, self.cut_in_gen_speed, self.rgn2_start_gen_speed
        rgn15 = k * w1**2 * (w - w0) / (w1 - w0)
        rgn25 = self.rgn25_slope * (w - self.sync_gen_speed)
        below3 = np.where(w <= w0, 0.0, np.where(w < w1, rgn15,
                                                 np.where(w < self.trans_gen_speed, k * w**2, rgn25)))
        torque = np.where(w >= self.rgn3_gen_speed, self.rated_power_mech / np.maximum(w, 1e-3), below3)
        return np.clip(torque, self.min_torque, self.max_torque)


def rotor_coefficients(perf: RotorPerformance, tsr: np.ndarray, pitch_deg: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(Cp, Ct, Cq)`` of the surfaces at tip-speed ratio ``tsr`` and pitch ``pitch_deg`` (deg),
    bilinear over the grid, clamped at its edges except above the highest TSR, where the last cell
    is extrapolated linearly up to ``TSR_EXTRAPOLATION`` times it (a rotor at minimum speed in
    light wind; inputs broadcast together)."""
    tsr, pitch = np.broadcast_arrays(np.asarray(tsr, np.float64), np.asarray(pitch_deg, np.float64))
    x = np.clip(tsr, perf.tsr[0], TSR_EXTRAPOLATION * perf.tsr[-1])   # above the grid: extrapolated
    y = np.clip(pitch, perf.pitch_deg[0], perf.pitch_deg[-1])
    i = np.clip(np.searchsorted(perf.tsr, x, side="right") - 1, 0, perf.tsr.size - 2)
    j = np.clip(np.searchsorted(perf.pitch_deg, y, side="right") - 1, 0, perf.pitch_deg.size - 2)
    fx = (x - perf.tsr[i]) / (perf.tsr[i + 1] - perf.tsr[i])
    fy = (y - perf.pitch_deg[j]) / (perf.pitch_deg[j + 1] - perf.pitch_deg[j])

    def read(table: np.ndarray) -> np.ndarray:
        return ((1 - fx) * ((1 - fy) * table[i, j] + fy * table[i, j + 1])
                + fx * ((1 - fy) * table[i + 1, j] + fy * table[i + 1, j + 1]))

    return read(perf.cp), read(perf.ct), read(perf.cq)


@dataclass(frozen=True)
class OperatingPoints:
    """Steady operating points over wind speed (each array ``(n,)``, float64).

    Attributes:
        wind_speed: m/s, hub height.
        rotor_speed: rad/s (rotor side).
        pitch_deg: deg, collective blade pitch.
        tsr: tip-speed ratio.
        power: W, electrical.
        thrust_coefficient: rotor Ct (dimensionless, referred to ``pi R^2``).
        thrust: N, rotor thrust.
        region: 1.5, 2, 2.5 or 3 (the torque-law branch at the operating point; 3 = pitching).
    """

    wind_speed: np.ndarray
    rotor_speed: np.ndarray
    pitch_deg: np.ndarray
    tsr: np.ndarray
    power: np.ndarray
    thrust_coefficient: np.ndarray
    thrust: np.ndarray
    region: np.ndarray


def _one_point(turbine: RoscoTurbine, law: TorqueLaw, u: float) -> tuple[float, float, float]:
    """``(rotor speed rad/s, pitch deg, generator torque N m)`` at wind ``u`` (m/s)."""
    perf, n, r, rho = turbine.performance, turbine.gearbox_ratio, turbine.rotor_radius, turbine.air_density
    fine = np.rad2deg(turbine.min_pitch)
    ref_speed = float(turbine.discon.get("PC_RefSpd", turbine.rated_gen_speed)) / n
    q_scale = 0.5 * rho * np.pi * r**3 * u**2

    def surplus(om):  # aerodynamic minus generator torque on the rotor side, N m
        return q_scale * rotor_coefficients(perf, om * r / u, fine)[2] - n * law.torque(n * om)

    grid = np.linspace(0.05 * ref_speed, ref_speed, 2001)
    s = surplus(grid)
    if s[-1] <= 0.0:  # balance below the pitch controller's set speed: fine pitch
        falls = np.nonzero((s[:-1] > 0.0) & (s[1:] <= 0.0))[0]
        if falls.size == 0:
            return 0.0, fine, 0.0  # no stable balance on the grid: parked
        k = int(falls[-1])
        om = grid[k + 1] if s[k + 1] == 0.0 else brentq(surplus, grid[k], grid[k + 1], xtol=1e-12)
        return float(om), float(fine), float(law.torque(n * om))
    # above rated: rotor at the set speed, pitch where aerodynamic power meets rated mechanical
    # power (from Cq, as the balance above: the file's Cq and Cp / TSR differ by rounding)
    tsr = ref_speed * r / u

    def excess(beta):
        return q_scale * ref_speed * rotor_coefficients(perf, tsr, beta)[2] - law.rated_power_mech

    betas = np.linspace(fine, perf.pitch_deg[-1], 3501)
    e = excess(betas)
    crossing = np.nonzero((e[:-1] > 0.0) & (e[1:] <= 0.0))[0]
    if crossing.size == 0:
        raise TurbineFileError(f"no pitch in [{fine}, {perf.pitch_deg[-1]}] deg limits power to rated "
                               f"at {u} m/s: the surface does not cover this wind speed")
    k = int(crossing[0])
    beta = betas[k + 1] if e[k + 1] == 0.0 else brentq(excess, betas[k], betas[k + 1], xtol=1e-12)
    return ref_speed, float(beta), float(law.rated_power_mech / (ref_speed * n))


def steady_operating_points(turbine: RoscoTurbine, wind_speeds: np.ndarray,
                            law: TorqueLaw | None = None) -> OperatingPoints:
    """Steady operating points of ``turbine`` under ``law`` (default: the 2009 law from its
    DISCON settings) at ``wind_speeds`` (m/s, ``(n,)``, each > 0)."""
    law = TorqueLaw.from_rosco(turbine) if law is None else law
    ws = np.asarray(wind_speeds, dtype=np.float64).reshape(-1)
    if np.any(ws <= 0):
        raise ValueError("wind speeds must be positive")
    pts = np.array([_one_point(turbine, law, float(u)) for u in ws]).reshape(-1, 3)
    omega, pitch, torque = pts.T
    tsr = omega * turbine.rotor_radius / ws
    _, ct, _ = rotor_coefficients(turbine.performance, tsr, pitch)
    gen = omega * turbine.gearbox_ratio
    region = np.where(pitch > np.rad2deg(turbine.min_pitch) + 1e-9, 3.0,
                      np.where(gen >= law.rgn3_gen_speed, 3.0,
                               np.where(gen < law.rgn2_start_gen_speed, 1.5,
                                        np.where(gen >= law.trans_gen_speed, 2.5, 2.0))))
    return OperatingPoints(
        wind_speed=ws, rotor_speed=omega, pitch_deg=pitch, tsr=tsr,
        power=turbine.generator_efficiency * torque * gen, thrust_coefficient=ct,
        thrust=0.5 * turbine.air_density * np.pi * turbine.rotor_radius**2 * ws**2 * ct, region=region)


def table_wind_speeds(cut_in: float, cut_out: float, rated: float, step: float = 0.25) -> np.ndarray:
    """Table abscissa (m/s): 0 and just below cut-in (zero power), ``cut_in .. cut_out`` every
    ``step`` plus the exact rated wind speed (so linear interpolation keeps the rated kink), just
    above cut-out and 50 m/s (zero power)."""
    inner = np.arange(cut_in, cut_out + 1e-9, step)
    inner = np.union1d(np.round(inner, 9), [rated])
    return np.concatenate([[0.0, cut_in - 0.1], inner, [cut_out + 0.1, 50.0]])


def _data_file(name: str, base: Path) -> Path:
    path = base / name
    return path if path.exists() else DATA_DIR / Path(name).name


_CACHE: dict[tuple, TurbineCurves] = {}


def spec_operating_points(spec, wind_speeds: np.ndarray) -> OperatingPoints:
    """Static steady operating points of a :class:`~twingym.envs.turbines.turbine_spec.TurbineSpec`
    under the controller it names: the 2009 torque law (:func:`steady_operating_points`) or ROSCO's
    TSR tracking (:func:`twingym.envs.turbines.tsr_tracking.tsr_tracking_operating_points`)."""
    from twingym.envs.turbines.tsr_tracking import tsr_tracking_operating_points

    if spec.controller == "jonkman_2009":
        try:
            law = TorqueLaw.from_rosco(spec.turbine, **spec.torque_law)
        except TypeError as exc:
            raise TurbineFileError(f"{spec.source}: unknown torque_law setting ({exc})") from exc
        return steady_operating_points(spec.turbine, wind_speeds, law)
    return tsr_tracking_operating_points(spec.turbine, wind_speeds)


def spec_rated_wind_speed(spec, highest: float = 25.0) -> float:
    """Lowest wind speed (m/s, at most ``highest``) at which ``spec`` reaches rated power under
    its controller."""
    target = spec.turbine.rated_power * (1.0 - 1e-5)  # DISCON rounds VS_RtTq and PC_RefSpd

    def short(u):
        return float(spec_operating_points(spec, [u]).power[0]) - target

    lo, hi = 3.0, float(highest)
    if short(hi) < 0:
        raise TurbineFileError(f"{spec.source}: the turbine never reaches rated power below {hi} m/s")
    for _ in range(60):  # bisection: power is monotone in wind speed below rated
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if short(mid) < 0 else (lo, mid)
    return hi


def curves_from_turbine_spec(spec) -> TurbineCurves:
    """FLORIS-format :class:`TurbineCurves` of a turbine spec: its static operating points every
    ``wind_speed_step`` from cut-in to cut-out plus the exact rated wind speed (module doc)."""
    opts, data = spec.rosco_options, spec.data
    table = data.get("power_thrust_table") or {}
    cut_in = float(opts.get("cut_in_wind_speed", 3.0))
    cut_out = float(opts.get("cut_out_wind_speed", 25.0))
    ws = table_wind_speeds(cut_in, cut_out, spec_rated_wind_speed(spec, cut_out), float(opts.get("wind_speed_step", 0.25)))
    inside = (ws >= cut_in - 1e-9) & (ws <= cut_out + 1e-9)
    pts = spec_operating_points(spec, ws[inside])
    power, ct = np.zeros_like(ws), np.zeros_like(ws)
    power[inside] = np.minimum(pts.power, spec.turbine.rated_power)   # rated exactly in region 3
    ct[inside] = pts.thrust_coefficient
    for a in (ws, power, ct):
        a.setflags(write=False)
    turbine = spec.turbine
    return TurbineCurves(
        name=spec.name, wind_speed=ws, power=power, thrust_coefficient=ct,
        rotor_diameter=float(2.0 * turbine.rotor_radius * np.cos(np.deg2rad(spec.precone_deg))),
        hub_height=float(spec.hub_height), ref_air_density=turbine.air_density,
        cosine_loss_exponent_yaw=float(table.get("cosine_loss_exponent_yaw", 1.88)),
        cosine_loss_exponent_tilt=float(table.get("cosine_loss_exponent_tilt", 1.88)),
        ref_tilt=float(table.get("ref_tilt", 5.0)),
        tsr=float(turbine.discon.get("VS_TSRopt", turbine.performance.max_cp()[1])),
        operation_model=str(data.get("operation_model", "cosine-loss")))


def curves_from_spec(data: dict, base_dir: Path = DATA_DIR, where: str = "turbine") -> TurbineCurves:
    """Derive :class:`TurbineCurves` from a turbine spec (parsed YAML with a ``rosco:`` section,
    fields in :mod:`twingym.envs.turbines.turbine_spec`; its files relative to ``base_dir``, or
    bundled). Results are cached per spec and file contents."""
    from twingym.envs.turbines.turbine_spec import spec_from_data

    spec_opts = data.get("rosco")
    if not isinstance(spec_opts, dict) or "discon" not in spec_opts:
        raise TurbineFileError(f"{where}: the 'rosco' section needs at least 'discon'")
    if "hub_height" not in data:
        raise TurbineFileError(f"{where}: missing field 'hub_height'")
    discon = _data_file(str(spec_opts["discon"]), base_dir)
    perf = spec_opts.get("performance")
    perf_path = _data_file(str(perf), base_dir) if perf is not None else None
    files = [p for p in (discon, perf_path) if p is not None and p.exists()]
    key = (repr(sorted((k, repr(v)) for k, v in data.items())), str(base_dir),
           tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files))
    if key in _CACHE:
        return _CACHE[key]
    spec = spec_from_data(data, discon, where=where, base_dir=base_dir)
    curves = curves_from_turbine_spec(spec)
    if "rotor_diameter" in data and not np.isclose(float(data["rotor_diameter"]), curves.rotor_diameter,
                                                   rtol=1e-3):
        raise TurbineFileError(f"{where}: rotor_diameter {data['rotor_diameter']} disagrees with "
                               f"2 WE_BladeRadius cos(precone) = {curves.rotor_diameter:.3f} m")
    _CACHE[key] = curves
    return curves
