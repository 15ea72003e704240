"""AssemblyCell-v0: a serial assembly cell with finite buffers, failures, wear, maintenance and energy.

See :mod:`twingym.envs.assembly_cell.dynamics` for the model and its time-slot conventions and
:mod:`twingym.envs.assembly_cell.observation` for the observation and action layout with units.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs import spaces
from twingym.envs.assembly_cell import observation as ob
from twingym.envs.assembly_cell import residual
from twingym.envs.assembly_cell.dynamics import (
    default_cell_params,
    initial_state,
    reset_draws,
    standard_normal,
    step_draws,
    transition,
)
from twingym.envs.assembly_cell.types import AssemblyCellParams, AssemblyCellState
from twingym.envs.core import Baseline, Label, TwinEnv


class AssemblyCell(TwinEnv[AssemblyCellState, AssemblyCellParams]):
    """Serial assembly cell of M stations (default 5) and M-1 finite buffers; one step is one cycle.

    Observation: float32 ``(5M + M - 1 + 7,)`` = 36 for M = 5. Per station ``i``: ``is_up`` {0,1},
    ``is_failed`` {0,1}, ``in_maintenance`` {0,1}, ``wear_sensor`` [0, 2] (noisy wear, 1 = design
    life), ``speed_actual`` {0..3}; per buffer: ``level`` [0, N_i] parts; cell: ``price`` [0, 3]
    EUR/kWh, ``hour_sin``/``hour_cos`` [-1, 1], ``episode_progress`` [0, 1], ``backlog`` [0, 100]
    parts, ``finished_stock`` [0, 100] parts, ``demand_rate`` [0, 4] parts/cycle.

    Action: MultiDiscrete ``[4, 2] * M`` flattened, ``[speed_0, maintain_0, ...]``: speed 0 off,
    1 eco, 2 nominal, 3 boost; maintain 1 starts preventive maintenance of an up station. With
    ``action_mode = "residual"`` the action is MultiDiscrete ``[5, 3] * M`` overrides of the
    ``bottleneck_aware`` rule (0: as the rule; speed 1..4: level 0..3; maintain 1: no, 2: yes), zero
    action is the rule, and the observation ends with the rule's action (2M more components,
    :mod:`twingym.envs.assembly_cell.residual`).

    Reward: profit of the cycle (revenue of shipped parts minus energy, maintenance, repair, holding
    and backlog costs, EUR) times ``reward_scale``. ``info["cost"]``: backlog growth (parts, >= 0).
    Episodes last ``max_steps`` cycles (288 = one day of 5-minute cycles) and are truncated, never
    terminated. ``info`` also holds ``parts_in``, ``parts_out``, ``processed`` ((M,) bool: station
    moved a part this cycle), ``wip``, ``shipped``, ``orders``,
    ``failures``, ``maintenances``, ``energy_kwh``, ``price``, ``profit`` and ``backlog``.
    """

    reference_baseline = "run_to_failure"
    residual_controller = "bottleneck_aware"   # the rule the residual overrides act on

    # ---- params ---------------------------------------------------------------------------------
    def default_params(self) -> AssemblyCellParams:
        return default_cell_params()

    def make_params(self, **overrides: Any) -> AssemblyCellParams:
        """Default params with overrides; ``num_stations`` rebuilds the per-station arrays first."""
        m = overrides.pop("num_stations", None)
        base = self.default_params() if m is None else default_cell_params(int(m))
        if "max_steps" in overrides:
            base = base.replace(max_steps=int(overrides.pop("max_steps")))
        return residual.check_mode(self.replace_params(base, **overrides))

    def replace_params(self, params: AssemblyCellParams, **overrides: Any) -> AssemblyCellParams:
        """Fields replaced; an unknown ``action_mode`` raises ``ValueError`` naming the known ones."""
        return residual.check_mode(super().replace_params(params, **overrides))

    # ---- dynamics -------------------------------------------------------------------------------
    # All randomness of a reset or a step comes from one uniform draw (fewer PRNG calls: the
    # counter-based generator dominates the cost of a step on CPU).
    def reset_env(self, key: jax.Array, params: AssemblyCellParams) -> tuple[jax.Array, AssemblyCellState]:
        m, n = params.num_stations, reset_draws(params.num_stations)
        u = jax.random.uniform(key, (n + m,))
        state = initial_state(u[:n], params)
        return self._observe(standard_normal(u[n:]), state, params)

    def _observe(self, z: jax.Array, state: AssemblyCellState,
                 params: AssemblyCellParams) -> tuple[jax.Array, AssemblyCellState]:
        """The observation of ``state`` (sensor noise ``z``), and ``state`` holding the rule's action
        at it (residual mode)."""
        obs = ob.make_obs(z, state, params)
        rule = residual.rule_action(params, obs)
        return residual.observation(params, obs, rule), state.replace(rule_action=rule)

    def step_env(self, key: jax.Array, state: AssemblyCellState, action: jax.Array, params: AssemblyCellParams):
        m, n = params.num_stations, step_draws(params.num_stations)
        u = jax.random.uniform(key, (n + m,))
        applied = residual.applied_action(params, state.rule_action, action)
        new, out = transition(u[:n], state, applied, params)
        obs, new = self._observe(standard_normal(u[n:]), new, params)
        truncated = new.time >= params.max_steps
        info = {
            "cost": out.backlog_growth,
            "parts_in": out.parts_in,
            "parts_out": out.parts_out,
            "processed": out.produce,
            "wip": jnp.sum(new.buffers).astype(jnp.int32),
            "shipped": out.shipped,
            "orders": out.orders,
            "failures": out.failures,
            "maintenances": out.maintenances,
            "energy_kwh": out.energy_kwh,
            "price": out.price,
            "profit": out.profit,
            "backlog": new.backlog,
            "stations_down": jnp.sum(new.remaining > 0).astype(jnp.int32),  # failed or in maintenance
        }
        reward = out.profit * params.reward_scale
        return obs, new, reward, jnp.asarray(False), truncated, info

    # ---- spaces and labels ----------------------------------------------------------------------
    def observation_space(self, params: AssemblyCellParams) -> spaces.Box:
        low, high = residual.observation_bounds(params, *ob.obs_bounds(params))
        return spaces.Box(low=low, high=high)

    def action_space(self, params: AssemblyCellParams) -> spaces.MultiDiscrete:
        return spaces.MultiDiscrete(residual.nvec(params))

    def observation_labels(self, params: AssemblyCellParams) -> list[Label]:
        return ob.observation_labels(params.num_stations) + residual.observation_labels(params)

    def action_labels(self, params: AssemblyCellParams) -> list[Label]:
        return residual.action_labels(params)

    # ---- extras ---------------------------------------------------------------------------------
    def baselines(self) -> dict[str, Baseline]:
        from twingym.envs.assembly_cell.baselines import make_baselines
        return {name: residual.in_both_modes(b) for name, b in make_baselines().items()}

    def baseline_grid(self) -> dict[str, tuple[str, tuple[float, ...]]]:
        """The tunable baselines: name -> (params field it reads, grid of values to search)."""
        from twingym.envs.assembly_cell.baselines import TUNING_GRID
        return dict(TUNING_GRID)

    def tuned_baselines_file(self) -> Path:
        """Where the tuned values of :meth:`baseline_grid`'s fields are kept (read by the default params)."""
        from twingym.envs.assembly_cell.tuned import TUNED_FILE
        return TUNED_FILE

    def scenarios(self) -> dict[str, dict[str, Any]]:
        from twingym.envs.assembly_cell.scenarios import SCENARIOS
        return {name: dict(overrides) for name, overrides in SCENARIOS.items()}

    def schematic(self, params: AssemblyCellParams) -> dict[str, Any]:
        """A serial line: station count and the capacity of each buffer between them (parts)."""
        return {"kind": "assembly_cell", "stations": int(params.num_stations),
                "buffer_capacity": np.asarray(params.buffer_capacity).astype(int).tolist()}

    def render(self, state: AssemblyCellState, params: AssemblyCellParams) -> np.ndarray:
        from twingym.envs.assembly_cell.render import render_cell
        return render_cell(state, params)
