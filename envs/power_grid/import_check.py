"""Check an imported grid under do-nothing: does the case survive one day of the default scenario?

A case imported with ``make_params(net=...)`` solves exactly, but its own ratings and dispatch
may not survive the twin's day (load profile, renewables, protection): case89pegase, for one,
trips lines on its first step and blacks out on its third under the zero action. This module
steps one episode of the default scenario with the safe ("do-nothing") action, records what
fails (which branch trips, at what loading, against which limit; overloads; a blackout) and turns
it into one warning that offers the two documented fixes: derived ratings (``ratings="derived"``,
:func:`derive_ratings`) or a scaled load (``load_scale``).

Derived ratings: a case's own ratings fit its own dispatch, while the twin dispatches the fleet
economically (network-blind) and adds renewables, so its flows can be far from the case's. With
``ratings="derived"`` every branch is rated from the twin's own do-nothing day instead: the largest
current the branch carries over one episode of the default scenario (protection off), divided by
``rating_base_loading`` (0.7: the busiest hour loads it to 70 %), floored at ``rating_floor_share``
(0.3) of the median rating.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs.power_grid.network import Network

#: loading the suggested ``load_scale`` aims at for the most loaded branch (fraction of rating)
TARGET_LOADING = 0.95
#: rating (pu) given to every branch while the twin's own flows are measured: nothing trips
PROBE_RATING_PU = 1e3


class ImportedNetWarning(UserWarning):
    """An imported net trips, overloads or blacks out under do-nothing (the message says where)."""


@dataclass(frozen=True)
class Trip:
    """A branch that tripped: ``step`` (1-based), ``branch`` (a readable name), ``loading``
    (fraction of rating on that step), ``limit`` (which protection rule fired), rating MVA."""

    step: int
    branch: str
    loading: float
    limit: str
    rating_mva: float


@dataclass(frozen=True)
class DoNothingReport:
    """What one do-nothing episode of the default scenario did to an imported net."""

    name: str
    steps: int                                   # steps run (the episode, or up to the blackout)
    trips: list[Trip] = field(default_factory=list)
    blackout_step: int | None = None
    overloaded: dict[str, float] = field(default_factory=dict)   # branch -> max loading (fraction)
    max_loading: float = 0.0                     # before the first trip (what load_scale acts on)

    @property
    def ok(self) -> bool:
        return not self.trips and self.blackout_step is None and not self.overloaded

    def suggested_load_scale(self) -> float:
        """``load_scale`` that would bring the most loaded branch near ``TARGET_LOADING`` if flows
        scaled with load (two decimals, rounded down)."""
        return math.floor(100 * TARGET_LOADING / self.max_loading) / 100 if self.max_loading > 0 else 1.0

    def message(self, load_scale: float, load_scale_works: bool) -> str:
        """One paragraph: what fails first, how much more, and the fixes with their arguments.

        ``load_scale``/``load_scale_works``: the scaled-load fix and whether a do-nothing episode
        with it passed (it is offered only then).
        """
        parts = []
        if self.trips:
            first = self.trips[0]
            parts.append(f"{first.branch} trips on step {first.step} at {100 * first.loading:.0f} % of its "
                         f"{first.rating_mva:.4g} MVA rating ({first.limit})")
            if len(self.trips) > 1:
                more = sorted({t.branch for t in self.trips[1:]} - {first.branch})
                parts.append(f"{len(self.trips) - 1} more trips ({', '.join(more[:4])}"
                             f"{', ...' if len(more) > 4 else ''})")
        if self.blackout_step is not None:
            parts.append(f"blackout on step {self.blackout_step}")
        untripped = {b: v for b, v in self.overloaded.items() if b not in {t.branch for t in self.trips}}
        if untripped:
            worst = max(untripped, key=untripped.get)
            parts.append(f"{len(untripped)} branches overloaded without tripping (worst {worst} at "
                         f"{100 * untripped[worst]:.0f} %)")
        fix = ("Fix: make_params(net=..., ratings='derived') rates every branch from the twin's own "
               "do-nothing day (70 % at its busiest)")
        if load_scale_works:
            fix += f", or load_scale={load_scale:g} scales every load down until the day passes"
        else:
            fix += (f"; scaling the load does not help here (load_scale={load_scale:g} still fails: the "
                    "twin's economic dispatch, not the load level, drives these flows)")
        return (f"imported net {self.name!r} under do-nothing over one episode of the default scenario: "
                + "; ".join(parts) + f". {fix}. check=False skips this check.")


@partial(jax.jit, static_argnums=0)
def _do_nothing_rollout(env: Any, key: jax.Array, params: Any):
    """One episode from ``key`` with the safe action; per step: loading (L,), status after
    protection (L,), blackout flag, and whether the episode was still running."""
    k_reset, k_run = jax.random.split(key)
    _, state = env.reset(k_reset, params)
    zeros = jnp.zeros(env.action_space(params).shape, jnp.float32)

    def body(carry, k):
        state, alive = carry
        action = env.safe_action(state, zeros, params)
        _, new, _, terminated, _, info = env.step(k, state, action, params)
        out = (new.loading, new.status, info["blackout"], alive)
        return (new, alive & ~terminated), out

    init = (state, jnp.bool_(True))
    _, out = jax.lax.scan(body, init, jax.random.split(k_run, params.max_steps))
    return state.status, out


def _branch_name(network: Network, j: int) -> str:
    a, b = network.bus_ids[network.br_from[j]], network.bus_ids[network.br_to[j]]
    kind = "trafo" if network.br_is_trafo[j] else "line"
    return f"{kind} {int(network.br_ids[j])} (bus {int(a)}-{int(b)})"


def check_do_nothing(env: Any, params: Any, network: Network, seed: int = 0) -> DoNothingReport:
    """Run one do-nothing episode of ``params`` (the default scenario) and report what failed."""
    status0, (loading, status, blackout, alive) = jax.device_get(
        _do_nothing_rollout(env, jax.random.key(seed), params))
    rating_mva = np.asarray(params.rating_pu) * params.sn_mva
    hard = float(params.trip_hard)
    steps = int(alive.sum())
    trips: list[Trip] = []
    overloaded: dict[str, float] = {}
    max_loading = 0.0
    before = np.asarray(status0) > 0
    for k in range(steps):
        on = before
        over = on & (loading[k] > 1.0)
        for j in np.flatnonzero(over):
            name = _branch_name(network, j)
            overloaded[name] = max(overloaded.get(name, 0.0), float(loading[k][j]))
        if not trips:
            max_loading = max(max_loading, float(np.max(np.where(on, loading[k], 0.0), initial=0.0)))
        for j in np.flatnonzero(on & (status[k] <= 0)):
            limit = (f"above the {100 * hard:.0f} % hard limit" if loading[k][j] > hard else
                     f"above 100 % for {params.overload_steps} steps")
            trips.append(Trip(k + 1, _branch_name(network, j), float(loading[k][j]), limit, float(rating_mva[j])))
        before = status[k] > 0
    black = np.flatnonzero(np.asarray(blackout[:steps]))
    return DoNothingReport(name=str(params.case), steps=steps, trips=trips,
                           blackout_step=int(black[0]) + 1 if len(black) else None,
                           overloaded=overloaded, max_loading=max_loading)


def derive_ratings(env: Any, params: Any, base_loading: float = 0.7, floor_share: float = 0.3,
                   seed: int = 0) -> Any:
    """``params`` with every branch rated from the twin's do-nothing day (see the module docstring).

    ``rating = max_t |I_t| / base_loading`` (pu at 1 pu voltage) over one episode from ``seed``
    with protection unable to trip, floored at ``floor_share`` x the median rating.
    """
    probe = params.replace(rating_pu=jnp.full_like(params.rating_pu, PROBE_RATING_PU))
    _, (loading, _, _, alive) = jax.device_get(_do_nothing_rollout(env, jax.random.key(seed), probe))
    current = np.max(np.where(np.asarray(alive)[:, None], loading, 0.0), axis=0) * PROBE_RATING_PU
    rating = current / base_loading
    positive = rating[rating > 0]
    floor = floor_share * float(np.median(positive)) if len(positive) else 1.0
    return params.replace(rating_pu=jnp.asarray(np.maximum(rating, floor), params.rating_pu.dtype))


def warn_if_failing(env: Any, params: Any, network: Network) -> DoNothingReport:
    """:func:`check_do_nothing`, and an :class:`ImportedNetWarning` with its message if it fails."""
    report = check_do_nothing(env, params, network)
    if not report.ok:
        scale = round(float(params.load_scale) * report.suggested_load_scale(), 4)
        scaled = params.replace(load_scale=jnp.asarray(scale, params.load_scale.dtype))
        works = check_do_nothing(env, scaled, network).ok
        warnings.warn(report.message(scale, works), ImportedNetWarning, stacklevel=3)
    return report
