"""Static steady-state solution of a ROSCO tip-speed-ratio tracking controller on its rotor surface.

A root find on the ``Cq`` surface, independent of the single-turbine twin's time stepping: for each
hub-height wind speed ``U`` (uniform, steady, no yaw; speeds rotor side, ``N`` = gearbox ratio,
``R`` = ``WE_BladeRadius``) the controller that ``DISCON.IN`` describes with ``VS_ControlMode = 2``
(Abbas et al. 2022, ROSCO) holds, once every integrator has settled and its wind-speed estimate
equals ``U``:

- blade pitch at its lower limit ``beta_min(U) = max(PC_MinPit, PS_BldPitchMin(U))`` (peak
  shaving, ``PS_Mode = 1``: the table over ``PS_WindSpeeds``, interpolated at the estimate);
- the torque PI on the speed error to ``VS_TSRopt U / R``, clipped to
  ``[VS_MinOMSpd, VS_RefSpd] / N``: the rotor runs at that reference and the generator torque is
  the aerodynamic torque ``0.5 rho pi R^3 U^2 Cq(lambda, beta_min) / N``, as long as it lies in
  ``[VS_MinTq, Q_max]`` with ``Q_max = VS_RtTq`` (``VS_ConstPower = 0``) or
  ``min(VS_RtPwr / eta / (N omega), VS_MaxTq)`` (``VS_ConstPower = 1``);
- once the torque saturates at ``Q_max`` the rotor speeds up to the balance
  ``Q_aero(omega, beta_min) = N Q_max`` between the torque reference and ``PC_RefSpd``
  (pitch still at its limit);
- above rated the pitch PI holds ``PC_RefSpd`` and the pitch is the smallest one >= ``beta_min``
  with ``Q_aero(PC_RefSpd / N, beta) = N Q_max``.

The setpoint smoother (``SS_Mode``) only shifts references while both loops are active, so it
leaves these balances unchanged. Electrical power ``VS_GenEff Q_gen N omega``, thrust
``0.5 rho pi R^2 U^2 Ct``. Surfaces are read bilinearly, clamped at the grid edges
(:func:`twingym.envs.turbines.steady_state.rotor_coefficients`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from twingym.envs.turbines.floris_yaml import TurbineFileError
from twingym.envs.turbines.rosco import RoscoTurbine
from twingym.envs.turbines.steady_state import OperatingPoints, rotor_coefficients

#: ``VS_ControlMode`` of ROSCO's wind-speed-estimator TSR tracking torque control.
TSR_TRACKING_MODE = 2


@dataclass(frozen=True)
class TsrTrackingSettings:
    """The settings of a ROSCO TSR-tracking controller the steady state depends on (SI, HSS
    speeds in rad/s).

    Attributes:
        tsr_opt: ``VS_TSRopt``.
        min_gen_speed: ``VS_MinOMSpd``.
        vs_ref_speed: ``VS_RefSpd``, upper end of the torque controller's reference.
        pc_ref_speed: ``PC_RefSpd``, the pitch controller's reference.
        rated_torque: ``VS_RtTq`` (constant-torque region 3).
        max_torque, min_torque: ``VS_MaxTq``, ``VS_MinTq``.
        const_power: ``VS_ConstPower == 1``.
        rated_power_mech: W, ``VS_RtPwr / eta``.
        fine_pitch: rad, ``PC_MinPit``.
        ps_wind: (n,) m/s, ``PS_WindSpeeds`` (empty without peak shaving).
        ps_pitch: (n,) rad, ``PS_BldPitchMin``.
    """

    tsr_opt: float
    min_gen_speed: float
    vs_ref_speed: float
    pc_ref_speed: float
    rated_torque: float
    max_torque: float
    min_torque: float
    const_power: bool
    rated_power_mech: float
    fine_pitch: float
    ps_wind: np.ndarray
    ps_pitch: np.ndarray

    @classmethod
    def from_rosco(cls, turbine: RoscoTurbine) -> TsrTrackingSettings:
        """Settings from DISCON.IN; raises :class:`TurbineFileError` unless ``VS_ControlMode`` is 2."""
        d = turbine.discon
        mode = d.get("VS_ControlMode")
        if mode != TSR_TRACKING_MODE:
            raise TurbineFileError(f"VS_ControlMode {mode} is not ROSCO's TSR tracking "
                                   f"({TSR_TRACKING_MODE}), the torque control twingym flies from DISCON")

        def num(key: str) -> float:
            value = d.get(key)
            if not isinstance(value, float):
                raise TurbineFileError(f"DISCON file lacks the numeric setting {key!r}")
            return value

        peak_shaving = d.get("PS_Mode", 0.0) == 1.0
        ps_wind = np.atleast_1d(np.asarray(d.get("PS_WindSpeeds", []), np.float64)) if peak_shaving else np.zeros(0)
        ps_pitch = np.atleast_1d(np.asarray(d.get("PS_BldPitchMin", []), np.float64)) if peak_shaving else np.zeros(0)
        if ps_wind.shape != ps_pitch.shape or (peak_shaving and ps_wind.size == 0):
            raise TurbineFileError("PS_WindSpeeds and PS_BldPitchMin must be arrays of equal length")
        return cls(tsr_opt=num("VS_TSRopt"), min_gen_speed=num("VS_MinOMSpd"),
                   vs_ref_speed=turbine.rated_gen_speed, pc_ref_speed=num("PC_RefSpd"),
                   rated_torque=turbine.rated_gen_torque, max_torque=turbine.max_gen_torque,
                   min_torque=turbine.min_gen_torque, const_power=d.get("VS_ConstPower", 0.0) == 1.0,
                   rated_power_mech=turbine.rated_power / turbine.generator_efficiency,
                   fine_pitch=turbine.min_pitch, ps_wind=ps_wind, ps_pitch=ps_pitch)

    def min_pitch(self, wind: float) -> float:
        """rad, the pitch controller's lower limit at wind-speed estimate ``wind`` (m/s)."""
        if self.ps_wind.size == 0:
            return self.fine_pitch
        return max(self.fine_pitch, float(np.interp(wind, self.ps_wind, self.ps_pitch)))

    def torque_limit(self, gen_speed: float | np.ndarray) -> float | np.ndarray:
        """N m, the torque controller's upper limit at generator speed ``gen_speed`` (rad/s, any
        shape)."""
        if self.const_power:
            return np.minimum(self.rated_power_mech / np.maximum(gen_speed, 1e-6), self.max_torque)
        return self.rated_torque + 0.0 * np.asarray(gen_speed, dtype=np.float64)


def _bracketed_root(f, lo: float, hi: float, n: int = 2001) -> float | None:
    """First sign change of ``f`` (vectorised) from + to - on ``[lo, hi]``, refined by Brent's method."""
    xs = np.linspace(lo, hi, n)
    ys = np.asarray(f(xs), dtype=np.float64)
    idx = np.nonzero((ys[:-1] > 0.0) & (ys[1:] <= 0.0))[0]
    if idx.size == 0:
        return None
    k = int(idx[0])
    return float(xs[k + 1]) if ys[k + 1] == 0.0 else float(brentq(lambda x: float(f(x)), xs[k], xs[k + 1],
                                                                  xtol=1e-13))


def operating_point(s: TsrTrackingSettings, q_aero, gearbox_ratio: float, rotor_radius: float, u: float,
                    max_pitch_deg: float) -> tuple[float, float, float, float]:
    """``(rotor speed rad/s, pitch deg, generator torque N m, region)`` at wind ``u`` (m/s), with
    ``q_aero(omega rad/s, pitch deg) -> N m`` the rotor's aerodynamic torque at ``u`` (broadcasting
    over array arguments)."""
    n, r = gearbox_ratio, rotor_radius
    beta_min = float(np.rad2deg(s.min_pitch(u)))
    om_ref = float(np.clip(s.tsr_opt * u / r * n, s.min_gen_speed, s.vs_ref_speed)) / n
    om_pc = s.pc_ref_speed / n
    torque = float(q_aero(om_ref, beta_min)) / n
    region = 1.5 if om_ref * n <= s.min_gen_speed * (1 + 1e-12) else (
        2.5 if om_ref * n >= s.vs_ref_speed * (1 - 1e-12) else 2.0)
    if torque < s.min_torque:  # torque at its floor: the rotor slows to the balance at VS_MinTq
        om = _bracketed_root(lambda w: n * s.min_torque - q_aero(w, beta_min), 0.01 * om_ref, om_ref)
        return (0.0 if om is None else om), beta_min, s.min_torque, 1.0
    if torque <= float(s.torque_limit(om_ref * n)):
        return om_ref, beta_min, torque, region
    # torque saturated: the rotor speeds up towards PC_RefSpd at the pitch limit
    om = _bracketed_root(lambda w: q_aero(w, beta_min) - n * s.torque_limit(n * w), om_ref, om_pc)
    if om is not None:
        return om, beta_min, float(s.torque_limit(n * om)), 2.5
    limit = float(s.torque_limit(n * om_pc))
    beta = _bracketed_root(lambda b: q_aero(om_pc, b) - n * limit, beta_min, max_pitch_deg, 3501)
    if beta is None:
        raise TurbineFileError(f"no pitch in [{beta_min:.3f}, {max_pitch_deg}] deg limits the rotor "
                               f"torque at {u} m/s: the surface does not cover this wind speed")
    return om_pc, beta, limit, 3.0


def tsr_tracking_operating_points(turbine: RoscoTurbine, wind_speeds: np.ndarray) -> OperatingPoints:
    """Steady operating points of ``turbine`` under its ROSCO TSR-tracking controller (module doc)
    at ``wind_speeds`` (m/s, ``(n,)``, each > 0). ``region``: 1 torque floor, 1.5 minimum rotor
    speed, 2 TSR tracking, 2.5 rated speed or torque below rated power, 3 pitching."""
    settings = TsrTrackingSettings.from_rosco(turbine)
    ws = np.asarray(wind_speeds, dtype=np.float64).reshape(-1)
    if np.any(ws <= 0):
        raise ValueError("wind speeds must be positive")
    perf, r = turbine.performance, turbine.rotor_radius

    def point(u: float) -> tuple[float, float, float, float]:
        q_scale = 0.5 * turbine.air_density * np.pi * r**3 * u**2

        def q_aero(om, beta_deg):
            return q_scale * rotor_coefficients(perf, np.asarray(om) * r / u, beta_deg)[2]

        return operating_point(settings, q_aero, turbine.gearbox_ratio, r, u, float(perf.pitch_deg[-1]))

    pts = np.array([point(float(u)) for u in ws]).reshape(-1, 4)
    omega, pitch, torque, region = pts.T
    tsr = omega * turbine.rotor_radius / ws
    _, ct, _ = rotor_coefficients(turbine.performance, tsr, pitch)
    return OperatingPoints(
        wind_speed=ws, rotor_speed=omega, pitch_deg=pitch, tsr=tsr,
        power=turbine.generator_efficiency * torque * turbine.gearbox_ratio * omega, thrust_coefficient=ct,
        thrust=0.5 * turbine.air_density * np.pi * turbine.rotor_radius**2 * ws**2 * ct, region=region)
