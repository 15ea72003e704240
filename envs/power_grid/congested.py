"""PowerGridCongested-v0: IEEE 30-bus grid whose merit-order dispatch overloads lines.

The same twin as :class:`~twingym.envs.power_grid.env.PowerGrid` (same physics, actions and
observations), with a layout and economics that make the network bind:

* ``case30`` (pandapower, the MATPOWER IEEE 30-bus case) with the case's own branch ratings
  (MATPOWER ``rateA``: 130 / 90 / 70 / 65 / 32 / 16 MVA) times ``rating_scale`` 1.25;
* a wind farm at bus 26 (installed ``wind_share`` = 50% of the nominal peak load) behind the
  26-24 (16 MVA) and 27-5 / 27-7 (32 MVA each) corridor, a solar plant at bus 11 (30%), a battery
  at the wind bus;
* one-step (15-minute) forecast errors with the sizes of published very-short-term errors (see
  ``docs/twins/power_grid.md``): wind ``0.44 * wind_cf_std`` = 6.5% of capacity, load 1.3% per bus;
* overloads priced at the value of lost load (``overload_price`` = ``voll`` = 1000 $/MVAh): an
  overload the operator does not relieve by redispatch is relieved by shedding load;
* DC-OPF-on-forecast (``dc_opf``) as the baseline to beat, DC-OPF with perfect foresight
  (``dc_opf_foresight``) as an oracle reference.

Scenarios (:data:`SCENARIOS`): the congested ``nominal`` day, ``n_minus_1`` (corridor branch 27-5
out), ``forecast_error_x2`` (wind forecast errors twice as large), ``load_surge`` (+10% load).
The uncongested comparison day is :data:`UNCONGESTED` (every rating x 2.5: nothing binds).
"""

from __future__ import annotations

from typing import Any

from twingym.envs.core import Baseline
from twingym.envs.power_grid.env import PowerGrid
from twingym.envs.power_grid.types import PowerGridParams

#: build options and parameters of the congested family (see the module docstring)
FAMILY: dict[str, Any] = dict(
    case="case30", wind_buses=(26,), solar_buses=(11,), battery_buses=(26,), wind_share=0.5,
    solar_share=0.3, wind_cf_std=0.15, load_noise_std=0.03, overload_price=1000.0, rating_scale=1.25,
)
#: branch (row) of pandapower case30 from bus 5 to bus 27, one of the wind corridor's two exits
CORRIDOR_BRANCH = 40

SCENARIOS: dict[str, dict[str, float]] = {
    "nominal": {},
    "n_minus_1": {"n1_outage": 1.0, "n1_line": CORRIDOR_BRANCH},
    "forecast_error_x2": {"wind_cf_std": 0.3},
    "load_surge": {"load_scale": 1.1},
}
#: the same day with every case rating x 2.5: merit order is (near) optimal there
UNCONGESTED: dict[str, float] = {"rating_scale": 2.5}


class PowerGridCongested(PowerGrid):
    __doc__ = __doc__
    reference_baseline = "dc_opf"
    # dc_opf_foresight is an oracle that needs other params (foresight=1), so it is not one of
    # baselines() and cannot be named in oracle_baselines: see oracle_controllers()

    def default_params(self) -> PowerGridParams:
        return self.make_params()

    def make_params(self, case: str = FAMILY["case"], net: Any = None, check: bool = True,
                    **overrides: Any) -> PowerGridParams:
        """The family's params (:data:`FAMILY`) with ``overrides`` applied on top."""
        merged = {k: v for k, v in FAMILY.items() if k != "case"}
        merged.update(overrides)
        return super().make_params(case=case, net=net, check=check, **merged)

    def scenarios(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in SCENARIOS.items()}

    def oracle_controllers(self) -> dict[str, tuple[Baseline, dict[str, float]]]:
        """The oracles with the parameter overrides they run under: ``dc_opf_foresight`` is the
        ``dc_opf`` controller on the twin with ``foresight=1`` (the published next-step forecast
        is the realised next step). The realised day does not depend on ``foresight``, so on the
        same episode keys it faces exactly the days every other controller faces."""
        return {"dc_opf_foresight": (self.baselines()["dc_opf"], {"foresight": 1.0})}
