"""Key performance indicators in physical units, per twin: what a control engineer reads in a report.

Each :class:`Kpi` has a per-step quantity taken from the twin's ``info`` (jittable, one value per
batch row) and a reduction of one episode's series to one figure (host side). Validation records
every KPI per controller and episode (paired, common random numbers), so the report can show
paired differences in MWh, $, parts or kN rather than in reward units.

The registry :data:`KPIS` maps a twin id to its KPIs; a twin without an entry gets none.

Damage-equivalent loads (DEL) count cycles with the maintained ``rainflow`` package (ASTM E1049-85,
the three-point method, half cycles for the residue) and take ``DEL = (sum n_i S_i^m / N_eq)^(1/m)``
with ``N_eq`` one cycle per simulated second (1 Hz equivalent frequency), in the load's physical
unit. Wöhler exponents: ``m = 4`` for the steel tower and drive shaft, ``m = 10`` for composite blades
(WindTurbine-v0 gives no blade root moment, so it has no blade DEL; see
``twingym.envs.wind_turbine.loads``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import rainflow as rainflow_counting


@dataclass(frozen=True)
class Kpi:
    """One indicator.

    Attributes:
        key: identifier in the validation record (``energy_mwh``).
        name: short human name (``energy produced``); unit: its unit (``MWh``).
        higher_is_better: direction of a good difference.
        step: ``(info, params) -> (N,)`` per-step quantity of every batch row (jittable).
        episode: ``(series (T,), params) -> float`` the figure of one episode from its series.
        per_step_unit: unit of the per-step series; series_name: what that series is (for plots of an
            episode, e.g. ``farm power`` in MW behind ``energy produced`` in MWh).
    """

    key: str
    name: str
    unit: str
    higher_is_better: bool
    step: Callable[[dict, Any], Any]
    episode: Callable[[np.ndarray, Any], float]
    per_step_unit: str
    series_name: str = ""


def step_seconds(params: Any) -> float:
    """Simulated seconds per step of a twin's params (``dt`` in s, ``dt_h`` or ``dt_hours`` in h)."""
    for name, scale in (("dt", 1.0), ("dt_h", 3600.0), ("dt_hours", 3600.0)):
        if hasattr(params, name):
            return float(getattr(params, name)) * scale
    return 1.0


def _dt_s(params: Any) -> float:
    return float(getattr(params, "dt", 1.0))


def _info(key: str) -> Callable[[dict, Any], Any]:
    return lambda info, params: info[key]


def _sum(scale: Callable[[Any], float] = lambda p: 1.0) -> Callable[[np.ndarray, Any], float]:
    return lambda series, params: float(np.sum(series) * scale(params))


#: Wöhler (S-N curve) exponents of the turbine's load paths: welded steel (tower, shaft) and the
#: glass-fibre composite of the blades.
WOHLER_STEEL = 4.0
WOHLER_COMPOSITE = 10.0
#: equivalent-cycle frequency of a DEL (Hz): one equivalent cycle per simulated second.
DEL_EQUIVALENT_HZ = 1.0


def load_cycles(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rainflow cycles of a load series: ``(ranges, counts)``, counts 1 (full cycle) or 0.5 (half
    cycle of the residue), cycles of equal range merged.

    Counted by the maintained ``rainflow`` package (ASTM E1049-85 section 5.4.4, the three-point
    method), on the series' reversals."""
    cycles = rainflow_counting.count_cycles(np.asarray(series, dtype=np.float64))
    if not cycles:
        return np.zeros(0), np.zeros(0)
    ranges, counts = np.asarray(cycles, dtype=np.float64).T
    return ranges, counts


def damage_equivalent_load(series: np.ndarray, m: float, n_equivalent: float) -> float:
    """``(sum n_i S_i^m / N_eq)^(1/m)``: the constant load range that, repeated ``n_equivalent``
    times, does the damage (Miner's rule, Wöhler exponent ``m``) of the rainflow cycles of
    ``series``; in the series' unit. 0 for a series without cycles or ``n_equivalent <= 0``."""
    ranges, counts = load_cycles(series)
    if not len(ranges) or n_equivalent <= 0:
        return 0.0
    return float((np.sum(counts * ranges ** m) / n_equivalent) ** (1.0 / m))


def _del(m: float) -> Callable[[np.ndarray, Any], float]:
    """Episode DEL at :data:`DEL_EQUIVALENT_HZ` (``N_eq`` = simulated seconds x 1 Hz)."""
    return lambda series, params: damage_equivalent_load(
        np.asarray(series), m, len(series) * step_seconds(params) * DEL_EQUIVALENT_HZ)


def _per_shift(series: np.ndarray, params: Any, hours: float = 8.0) -> float:
    duration_h = len(series) * float(params.dt_hours)
    return float(np.sum(series) / duration_h * hours) if duration_h > 0 else float("nan")


KPIS: dict[str, tuple[Kpi, ...]] = {
    "WindFarm-v0": (
        Kpi("energy_mwh", "energy produced", "MWh", True, _info("farm_power_mw"),
            _sum(lambda p: _dt_s(p) / 3600.0), "MW", "farm power"),
        Kpi("freestream_energy_mwh", "energy without wakes (free-stream wind)", "MWh", True,
            _info("available_power_mw"), _sum(lambda p: _dt_s(p) / 3600.0), "MW", "free-stream power"),
        Kpi("yaw_travel_deg", "yaw travel (all turbines)", "deg", False, _info("yaw_travel_deg"), _sum(), "deg",
            "yaw travel per step"),
    ),
    "PowerGrid-v0": (
        Kpi("cost_usd", "operating cost", "$", False, _info("dollars"), _sum(), "$", "cost per step"),
        Kpi("overload_mvah", "overload energy above line ratings", "MVAh", False, _info("overload_mva"),
            _sum(lambda p: float(p.dt_h)), "MVA", "overload"),
        Kpi("trips", "line trips", "trips", False, _info("trips"), _sum(), "trips", "trips per step"),
        Kpi("curtailed_mwh", "renewable energy curtailed", "MWh", False, _info("curtailed_mw"),
            _sum(lambda p: float(p.dt_h)), "MW", "curtailment"),
    ),
    "AssemblyCell-v0": (
        Kpi("parts_per_shift", "parts shipped per 8-h shift", "parts", True, _info("shipped"), _per_shift,
            "parts", "parts shipped per cycle"),
        Kpi("downtime_station_h", "station downtime (failed or in maintenance)", "station-h", False,
            _info("stations_down"), _sum(lambda p: float(p.dt_hours)), "stations", "stations down"),
        Kpi("energy_kwh", "energy used", "kWh", False, _info("energy_kwh"), _sum(), "kWh", "energy per cycle"),
        Kpi("profit_eur", "profit", "EUR", True, _info("profit"), _sum(), "EUR", "profit per cycle"),
    ),
    "WindTurbine-v0": (
        Kpi("energy_mwh", "energy produced", "MWh", True, lambda info, p: info["power"] / 1e6,
            _sum(lambda p: _dt_s(p) / 3600.0), "MW", "electrical power"),
        Kpi("tower_base_del_knm", "tower-base fore-aft moment DEL (m = 4, 1 Hz)", "kN m", False,
            lambda info, p: info["tower_base_moment"] / 1e3, _del(WOHLER_STEEL), "kN m",
            "tower-base fore-aft moment"),
        Kpi("shaft_torque_del_knm", "low-speed shaft torque DEL (m = 4, 1 Hz)", "kN m", False,
            lambda info, p: info["shaft_torque"] / 1e3, _del(WOHLER_STEEL), "kN m", "low-speed shaft torque"),
    ),
}


def kpis_for(twin_id: str) -> tuple[Kpi, ...]:
    """The KPIs of ``twin_id`` (empty when it has none registered)."""
    return KPIS.get(twin_id, ())


def episode_figures(kpi: Kpi, series: np.ndarray, lengths: np.ndarray, params: Any) -> np.ndarray:
    """Per-episode figures ``(E,)`` of one controller from its per-step series ``(T, E)``."""
    return np.array([kpi.episode(series[: int(n), j], params) for j, n in enumerate(lengths)], dtype=np.float64)


def definitions(kpis: tuple[Kpi, ...]) -> list[dict[str, Any]]:
    """The JSON description of KPIs stored in the validation record."""
    return [{"key": k.key, "name": k.name, "unit": k.unit, "higher_is_better": k.higher_is_better,
             "per_step_unit": k.per_step_unit, "series_name": k.series_name or k.name} for k in kpis]
