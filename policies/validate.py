"""Validate a bundle: run ``policy.onnx`` and every baseline on the twin's scenario suite, apply gates.

How one scenario runs (:class:`Engine`):

- ``C = 1 + len(baselines)`` controllers x ``E`` episodes are stepped as one batch of ``C*E`` twin copies by
  one jitted, vmapped ``env.step`` per time step. Every controller gets the same reset keys and the
  same per-step keys for episode ``e`` (common random numbers), so return differences are paired.
- Each step the twin's observations are (optionally) corrupted on the policy side (the same corruption
  draws for every controller), then sanitised by :class:`~twingym.policies.sanitize.ObservationGuard`
  exactly as in deployment. The policy rows go to onnxruntime in one call (the whole batch); jittable
  baselines act inside the jitted step; other baselines are looped on the host per copy.
- Rows the guard flags ``fallback`` take the twin's fallback baseline action (its ``local_controller``,
  the controller the live twin runs in ``local`` mode, jittable or not; else the first jittable baseline
  that is not an oracle; with none, the policy's previous action), as deployment does. A fallback that
  runs on the host (``dc_opf``) acts on the flagged rows only, one call per row.
- Oracle baselines (``TwinEnv.oracle_baselines``: perfect foresight) run like the others; the record
  marks them and the gates never compare against them.
- An episode counts until its first ``terminated | truncated`` or the horizon
  ``min(suite.max_horizon, params.max_steps)``; return = sum of rewards, cost rate = cost per step.

Then equivalence (ONNX vs the bundle's numpy PolicySpec on rollout observations, plus the backend check
recorded at export), fuzz and latency evidence is gathered, gates are evaluated, and
``validation.json`` + ``report.html`` are written into the bundle.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs import copies, spaces
from twingym.envs.core import Baseline
from twingym.policies import bundle as bundle_mod
from twingym.policies import gates as gates_mod
from twingym.policies.export import action_error
from twingym.policies.kpis import Kpi, episode_figures, kpis_for, step_seconds
from twingym.policies.kpis import definitions as kpi_definitions
from twingym.policies.latency import measure_latency
from twingym.policies.manifest import ValidationRecord
from twingym.policies.paired import scenario_differences
from twingym.policies.runtime import OnnxPolicy
from twingym.policies.sanitize import ObservationGuard, sanitize_observation
from twingym.policies.scenarios import Corruption, Scenario, Suite, default_suite, load_suite, scenario_params

import twingym
from twingym import envs as twin_envs

POLICY = "policy"
N_EQUIVALENCE = 10_000


# ---- policy-side corruption ------------------------------------------------------------------------------
class Corruptor:
    """Sensor corruption drawn once per (episode, component) and applied to every controller's rows.

    ``__call__(raw (C, E, D)) -> seen (C, E, D)``: Gaussian noise, stale spells (value frozen at the last
    reported one), and non-finite readings (NaN, +inf, -inf in equal shares), see :class:`Corruption`.
    """

    def __init__(self, corruption: Corruption, seed: int, episodes: int, low: np.ndarray, high: np.ndarray):
        self.c = corruption
        self.rng = np.random.default_rng(seed)
        d = low.shape[0]
        self.stale_left = np.zeros((episodes, d), dtype=np.int64)
        span = (high.astype(np.float64) - low.astype(np.float64))
        self.span = np.where(np.isfinite(span), span, 1.0).astype(np.float32)
        self.reported: np.ndarray | None = None
        self.shape = (episodes, d)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        x = raw.astype(np.float32, copy=True)
        if self.c.noise_std_frac > 0:
            x = x + (self.rng.standard_normal(self.shape) * self.c.noise_std_frac * self.span)[None].astype(np.float32)
        if self.c.stale_prob > 0 and self.c.stale_steps > 0:
            start = (self.rng.random(self.shape) < self.c.stale_prob) & (self.stale_left == 0)
            self.stale_left[start] = self.c.stale_steps
            if self.reported is not None:
                x = np.where((self.stale_left > 0)[None], self.reported, x)
            self.stale_left = np.maximum(self.stale_left - 1, 0)
        if self.c.nonfinite_prob > 0:
            hit = self.rng.random(self.shape) < self.c.nonfinite_prob
            kind = self.rng.integers(0, 3, self.shape)
            bad = np.array([np.nan, np.inf, -np.inf], dtype=np.float32)[kind]
            x = np.where(hit[None], bad[None], x)
        self.reported = x
        return x


# ---- the rollout engine ----------------------------------------------------------------------------------
@dataclass
class ControllerRun:
    """Per-episode results of one controller in one scenario (arrays of shape (E,))."""

    returns: np.ndarray
    total_cost: np.ndarray
    lengths: np.ndarray
    fallback_frac: float | None = None
    trajectory: dict[str, np.ndarray] = field(default_factory=dict)  # episode 0: obs, action, reward, cost
    #: per-episode KPI figures (E,) by KPI key (see twingym.policies.kpis)
    kpis: dict[str, np.ndarray] = field(default_factory=dict)
    #: every episode's per-step series (T, E[, A]): reward, action and each KPI's per-step quantity
    series: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def cost_rate(self) -> float:
        return float(self.total_cost.sum() / max(self.lengths.sum(), 1))


def fallback_baseline(env: Any, params: Any, baselines: dict[str, Baseline]) -> str | None:
    """The baseline that takes over rows the observation guard flags: the twin's local controller
    (``TwinEnv.local_controller``, the one the live twin runs in ``local`` mode, whether it is jittable
    or runs on the host), else its first jittable baseline that is not an oracle (an oracle sees what
    a deployed controller cannot), else None."""
    ref = env.local_controller(params)
    oracles = set(getattr(env, "oracle_baselines", ()))
    if ref in baselines and ref not in oracles:
        return ref
    return next((n for n, b in baselines.items() if b.jittable and n not in oracles), None)


class Engine:
    """Batched rollouts of the policy and the baselines of one twin (compiled once per params structure)."""

    def __init__(self, env: Any, params: Any, policy: OnnxPolicy, baselines: dict[str, Baseline],
                 kpis: tuple[Kpi, ...] = ()):
        self.env = env
        self.kpis = tuple(kpis)
        self.policy = policy
        self.baselines = baselines
        self.jit_names = [n for n, b in baselines.items() if b.jittable]
        self.host_names = [n for n, b in baselines.items() if not b.jittable]
        self.names = [POLICY, *self.jit_names, *self.host_names]
        self.fallback = fallback_baseline(env, params, baselines)
        #: the fallback acts inside the jitted step (jittable) or on the host, row by row
        self.fallback_jitted = self.fallback is not None and baselines[self.fallback].jittable
        obs_space, act_space = env.observation_space(params), env.action_space(params)
        self.obs_shape = tuple(obs_space.shape)
        self.obs_dim = int(np.prod(self.obs_shape))
        self.act_shape = tuple(act_space.shape)
        self.act_dtype = np.dtype(act_space.dtype)
        self.low = obs_space.low_array.ravel() if isinstance(obs_space, spaces.Box) else np.full(self.obs_dim, -np.inf)
        self.high = obs_space.high_array.ravel() if isinstance(obs_space, spaces.Box) else np.full(self.obs_dim, np.inf)
        self._reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
        self._step = jax.jit(self._step_impl)

    def _act_rows(self, baseline: Baseline, carry: Any, rows: jax.Array, params: Any):
        obs = rows.reshape((rows.shape[0], *self.obs_shape))
        action, carry = jax.vmap(baseline.act, in_axes=(0, 0, None))(carry, obs, params)
        return jnp.asarray(action).reshape((rows.shape[0], *self.act_shape)).astype(self.act_dtype), carry

    def _host_fallback(self, pa: np.ndarray, rows: np.ndarray, flagged: np.ndarray, carries: list,
                       params: Any) -> np.ndarray:
        """``pa`` with each flagged row's action replaced by the host fallback's on that row's clean
        observation (``carries[j]``, row ``j``'s controller state, advances on its flagged steps)."""
        pa = pa.copy()
        act = self.baselines[self.fallback].act
        for j in np.flatnonzero(flagged):
            a, carries[j] = act(carries[j], rows[j].reshape(self.obs_shape), params)
            pa[j] = np.asarray(a).reshape(self.act_shape).astype(self.act_dtype)
        return pa

    def _step_impl(self, states, clean, policy_action, fallback_mask, carries, shadow, host_actions, ep_keys,
                   t, params):
        e = policy_action.shape[0]
        actions, new_carries = [], []
        for i, name in enumerate(self.jit_names):
            a, c = self._act_rows(self.baselines[name], carries[i], clean[1 + i], params)
            actions.append(a)
            new_carries.append(c)
        pa = policy_action
        if self.fallback_jitted:
            sa, shadow = self._act_rows(self.baselines[self.fallback], shadow, clean[0], params)
            mask = fallback_mask.reshape((e,) + (1,) * len(self.act_shape))
            pa = jnp.where(mask, sa, pa)
        all_actions = jnp.concatenate([pa[None], *(a[None] for a in actions), host_actions], axis=0)
        c = all_actions.shape[0]
        step_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(ep_keys, t)
        keys = jnp.tile(step_keys, (c,) + (1,) * (step_keys.ndim - 1)) if step_keys.ndim > 1 else jnp.tile(step_keys, c)
        flat_actions = all_actions.reshape((c * e, *self.act_shape))
        obs, states, reward, term, trunc, info = jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(
            keys, states, flat_actions, params)
        kpi_steps = tuple(jnp.asarray(k.step(info, params), jnp.float32).reshape(c, e) for k in self.kpis)
        return (states, obs, reward.reshape(c, e), (term | trunc).reshape(c, e), info["cost"].reshape(c, e),
                tuple(new_carries), shadow, all_actions, kpi_steps)

    def run(self, params: Any, *, episodes: int, horizon: int, seed: int, corruption: Corruption,
            collect: int = 0) -> tuple[dict[str, ControllerRun], np.ndarray]:
        """Roll out every controller for ``episodes`` paired episodes of at most ``horizon`` steps.

        Returns per-controller results and up to ``collect`` clean observations seen by all controllers'
        rows (policy first), ``(n, obs_dim)`` float32.
        """
        c, e, d = len(self.names), episodes, self.obs_dim
        root = jax.random.PRNGKey(seed)
        k_reset, k_steps = jax.random.split(root)
        reset_keys = jax.random.split(k_reset, e)
        ep_keys = jax.random.split(k_steps, e)
        obs, states = self._reset(jnp.tile(reset_keys, (c, 1)), params)
        carries = tuple(copies.broadcast(self.baselines[n].init(params), e) for n in self.jit_names)
        shadow = copies.broadcast(self.baselines[self.fallback].init(params), e) if self.fallback_jitted else ()
        host_fallback = ([self.baselines[self.fallback].init(params) for _ in range(e)]
                         if self.fallback is not None and not self.fallback_jitted else None)
        host_carries = {n: [self.baselines[n].init(params) for _ in range(e)] for n in self.host_names}
        guard = ObservationGuard(self.low, self.high)
        corruptor = Corruptor(corruption, seed + 7919, e, self.low, self.high) if corruption.active else None
        rewards, dones, costs, fallbacks, traj_obs, traj_act, kpi_steps = [], [], [], [], [], [], []
        seen_obs: list[np.ndarray] = []
        prev_pa = None
        for t in range(horizon):
            raw = np.asarray(obs, dtype=np.float32).reshape(c, e, d)
            seen = corruptor(raw) if corruptor is not None else raw
            clean, fb = guard.update(seen.reshape(c * e, d))
            clean, fb = clean.reshape(c, e, d), fb.reshape(c, e)
            pa = np.asarray(self.policy.act(clean[0])).reshape((e, *self.act_shape)).astype(self.act_dtype)
            if self.fallback is None and prev_pa is not None:
                pa = np.where(fb[0].reshape((e,) + (1,) * len(self.act_shape)), prev_pa, pa)
            if host_fallback is not None:
                pa = self._host_fallback(pa, clean[0], fb[0], host_fallback, params)
            host = np.zeros((len(self.host_names), e, *self.act_shape), dtype=self.act_dtype)
            for i, name in enumerate(self.host_names):
                row = 1 + len(self.jit_names) + i
                for j in range(e):
                    a, host_carries[name][j] = self.baselines[name].act(
                        host_carries[name][j], clean[row, j].reshape(self.obs_shape), params)
                    host[i, j] = np.asarray(a).reshape(self.act_shape)
            if collect and sum(len(s) for s in seen_obs) < collect:
                seen_obs.append(clean.reshape(c * e, d))
            states, obs, r, done, cost, carries, shadow, acts, kpi_t = self._step(
                states, jnp.asarray(clean), jnp.asarray(pa), jnp.asarray(fb[0]), carries, shadow,
                jnp.asarray(host), ep_keys, t, params)
            prev_pa = pa
            rewards.append(np.asarray(r))
            dones.append(np.asarray(done))
            costs.append(np.asarray(cost))
            fallbacks.append(fb[0])
            traj_obs.append(raw[:, 0])
            traj_act.append(np.asarray(acts).reshape(c, e, -1))
            kpi_steps.append(np.stack([np.asarray(k) for k in kpi_t]) if kpi_t else np.zeros((0, c, e)))
            alive_next = ~np.logical_or.accumulate(np.stack(dones), axis=0)[-1]
            if not alive_next.any():
                break
        r_arr, d_arr, c_arr = np.stack(rewards), np.stack(dones), np.stack(costs)  # (T, C, E)
        done_before = np.concatenate([np.zeros((1, c, e), bool), np.logical_or.accumulate(d_arr, axis=0)[:-1]])
        alive = ~done_before
        returns = (r_arr * alive).sum(0)
        total_cost = (c_arr * alive).sum(0)
        lengths = alive.sum(0)
        fb_arr = np.stack(fallbacks)
        act_arr, kpi_arr = np.stack(traj_act), np.stack(kpi_steps)   # (T, C, E, A), (T, K, C, E)
        out = {}
        for i, name in enumerate(self.names):
            n0 = int(lengths[i, 0])
            out[name] = ControllerRun(
                returns=returns[i].astype(np.float64), total_cost=total_cost[i].astype(np.float64),
                lengths=lengths[i],
                fallback_frac=float((fb_arr * alive[:, 0]).sum() / max(alive[:, 0].sum(), 1)) if name == POLICY else None,
                trajectory={"obs": np.stack(traj_obs)[:n0, i], "action": act_arr[:n0, i, 0],
                            "reward": r_arr[:n0, i, 0], "cost": c_arr[:n0, i, 0],
                            "fallback": fb_arr[:n0, 0] if name == POLICY else np.zeros(n0, bool)},
                kpis={k.key: episode_figures(k, kpi_arr[:, j, i], lengths[i], params)
                      for j, k in enumerate(self.kpis)},
                series={"reward": r_arr[:, i] * alive[:, i], "action": act_arr[:, i],
                        **{k.key: kpi_arr[:, j, i] * alive[:, i] for j, k in enumerate(self.kpis)}})
        collected = np.concatenate(seen_obs)[:collect] if seen_obs else np.zeros((0, d), np.float32)
        return out, collected


# ---- fuzz and latency ------------------------------------------------------------------------------------
SPECIALS = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, np.finfo(np.float32).max,
                     -np.finfo(np.float32).max, 0.0], dtype=np.float32)


def fuzz_observations(low: np.ndarray, high: np.ndarray, seed: int = 0, n_random: int = 512) -> np.ndarray:
    """Fuzzed observations (n, obs_dim): every special value everywhere, in each single component, and
    random mixes on top of in-space observations; plus the bounds and 10x beyond them."""
    rng = np.random.default_rng(seed)
    d = low.shape[0]
    lo = np.where(np.isfinite(low), low, -1.0).astype(np.float32)
    hi = np.where(np.isfinite(high), high, 1.0).astype(np.float32)
    base = rng.uniform(lo, hi, size=(n_random, d)).astype(np.float32)
    rows = [np.tile(SPECIALS[:, None], (1, d))]
    cols = np.arange(d) if d <= 64 else rng.choice(d, 64, replace=False)
    for v in SPECIALS:
        single = np.tile(base[:1], (len(cols), 1))
        single[np.arange(len(cols)), cols] = v
        rows.append(single)
    mix = base.copy()
    mask = rng.random(mix.shape) < 0.3
    mix[mask] = SPECIALS[rng.integers(0, len(SPECIALS), mask.sum())]
    rows += [mix, lo[None], hi[None], (10 * lo - 1)[None], (10 * hi + 1)[None]]
    return np.concatenate(rows).astype(np.float32)


def actions_ok(actions: np.ndarray, act_space: spaces.Space) -> np.ndarray:
    """Per row: True where the action is finite and inside ``act_space``."""
    n = len(actions)
    a = np.asarray(actions).reshape(n, -1)
    if isinstance(act_space, spaces.Box):
        low, high = act_space.low_array.ravel(), act_space.high_array.ravel()
        a = a.astype(np.float64)
        return np.all(np.isfinite(a) & (a >= low) & (a <= high), axis=-1)
    upper = np.array([act_space.n]) if isinstance(act_space, spaces.Discrete) else np.asarray(act_space.nvec)
    return np.all((a >= 0) & (a < upper) & (a == np.floor(a)), axis=-1)


def fuzz_check(policy: OnnxPolicy, act_space: spaces.Space, low: np.ndarray, high: np.ndarray,
               seed: int = 0) -> dict:
    """Fuzz evidence: deployment path (sanitize -> onnx) on every fuzzed row, and the bare graph on
    the finite ones (extreme but finite readings must not break the graph either)."""
    fuzz = fuzz_observations(low, high, seed)
    last_good = sanitize_observation(fuzz_observations(low, high, seed + 1)[-4:-3], None, low, high)[0]
    clean, _ = sanitize_observation(fuzz, last_good, low, high)
    ok_sanitized = actions_ok(policy.act(clean), act_space)
    finite = fuzz[np.all(np.isfinite(fuzz), axis=-1)]
    ok_raw = actions_ok(policy.act(finite), act_space) if len(finite) else np.zeros(0, bool)
    return {"ok": int(ok_sanitized.sum() + ok_raw.sum()), "n": int(len(ok_sanitized) + len(ok_raw)),
            "sanitized_failures": int((~ok_sanitized).sum()), "raw_finite_failures": int((~ok_raw).sum())}


# ---- orchestration ---------------------------------------------------------------------------------------
def _figure_stats(values: np.ndarray) -> dict:
    """Mean, 95 % half-width and the per-episode values of one KPI of one controller."""
    n = len(values)
    return {"mean": float(values.mean()), "ci95": float(1.96 * values.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0,
            "values": [float(x) for x in values]}


def _stats(run: ControllerRun) -> dict:
    r = run.returns
    n = len(r)
    out = {"mean_return": float(r.mean()), "std_return": float(r.std(ddof=1)) if n > 1 else 0.0,
           "ci95_return": float(1.96 * r.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0,
           "cost_rate": run.cost_rate, "mean_length": float(run.lengths.mean()),
           "returns": [float(x) for x in r]}
    if run.kpis:
        out["kpis"] = {key: _figure_stats(values) for key, values in run.kpis.items()}
    if run.fallback_frac is not None:
        out["fallback_frac"] = run.fallback_frac
    return out


@dataclass
class Outcome:
    """What ``validate_bundle`` produced: the sealed record, the report path, and the raw runs."""

    record: ValidationRecord
    passed: bool
    report_path: Path | None
    runs: dict[str, dict[str, ControllerRun]]

    @property
    def failed_gates(self) -> list[str]:
        return self.record.gates_not_passed()


def open_for_validation(path: str | Path) -> tuple[bundle_mod.Bundle, Any, Any, str]:
    """``(bundle, env, params, params_hash)``: the bundle and its twin rebuilt from the manifest's
    overrides; :class:`BundleError` when the twin no longer hashes as it did at export."""
    bundle = bundle_mod.load_bundle(path)
    twin = bundle.manifest.twin
    env, params = twin_envs.make(twin.id, **(twin.param_overrides or {}))
    digest = bundle_mod.params_hash(params)
    if digest != twin.params_hash:
        raise bundle_mod.BundleError(
            f"twin {twin.id} built from the manifest's overrides has params hash {digest[7:19]}..., the "
            f"policy was exported for {twin.params_hash[7:19]}...: the twin changed since export")
    return bundle, env, params, digest


def resolve_suite(suite: Suite | str | Path | None, env: Any, params: Any, twin_id: str,
                  episodes: int | None = None, max_horizon: int | None = None) -> Suite:
    """The suite to run: the twin's default, a loaded file or the given one, with the overrides."""
    if suite is None:
        suite = default_suite(env, params, twin_id)
    elif not isinstance(suite, Suite):
        suite = load_suite(suite)
    if suite.twin != twin_id:
        raise bundle_mod.BundleError(f"suite is for twin {suite.twin}, the bundle's policy acts on {twin_id}")
    if episodes is not None:
        suite.episodes = episodes
    if max_horizon is not None:
        suite.max_horizon = max_horizon
    return suite


def suite_baselines(env: Any, suite: Suite, twin_id: str) -> dict[str, Baseline]:
    """The twin's baselines the suite compares against (all of them unless the suite names some)."""
    all_baselines = env.baselines() or {}
    if suite.baselines is None:
        return all_baselines
    unknown = sorted(set(suite.baselines) - set(all_baselines))
    if unknown:
        raise bundle_mod.BundleError(f"suite names unknown baseline {unknown[0]!r}; {twin_id} has "
                                     f"{', '.join(all_baselines) or 'none'}")
    return {n: all_baselines[n] for n in suite.baselines}


@dataclass
class ScenarioResults:
    """Every scenario of a suite run: raw ``runs``, the record's ``scenarios`` entries (the gates'
    evidence) and the clean nominal observations ``collected`` ``(n, obs_dim)`` for equivalence."""

    runs: dict[str, dict[str, ControllerRun]]
    records: dict[str, dict]
    collected: np.ndarray


def run_scenarios(engine: Engine, env: Any, overrides: dict, suite: Suite,
                  say: Callable[[str], None]) -> ScenarioResults:
    """Roll out the policy and the baselines on every scenario of ``suite``."""
    out = ScenarioResults({}, {}, np.zeros((0, engine.obs_dim), np.float32))
    oracles = set(getattr(env, "oracle_baselines", ()))
    for i, scenario in enumerate(suite.scenarios):
        t0 = time.perf_counter()
        p = scenario_params(env, overrides, scenario)
        max_steps = getattr(p, "max_steps", None)
        horizon = min(suite.max_horizon, int(max_steps)) if max_steps else suite.max_horizon
        result, obs = engine.run(p, episodes=suite.episodes, horizon=horizon, seed=suite.seed * 1000 + i,
                                 corruption=scenario.corruption,
                                 collect=N_EQUIVALENCE if scenario.kind == "nominal" else 0)
        if len(obs):
            out.collected = np.concatenate([out.collected, obs])
        out.runs[scenario.name] = result
        stats = {name: _stats(run) for name, run in result.items()}
        out.records[scenario.name] = {"kind": scenario.kind, "description": scenario.description,
                                      "horizon": horizon, "controllers": stats}
        best = max((n for n in stats if n != POLICY and n not in oracles), key=lambda n: stats[n]["mean_return"],
                   default=None)
        say(f"{scenario.name}: policy {stats[POLICY]['mean_return']:.4g}"
            + (f", best baseline {best} {stats[best]['mean_return']:.4g}" if best else "")
            + "".join(f", oracle {n} {stats[n]['mean_return']:.4g}" for n in stats if n in oracles)
            + f" ({time.perf_counter() - t0:.1f}s)")
    return out


def equivalence_evidence(bundle: bundle_mod.Bundle, policy: OnnxPolicy, act_space: spaces.Space,
                         collected: np.ndarray, fuzz_rows: np.ndarray, low: np.ndarray,
                         high: np.ndarray) -> list[dict]:
    """ONNX vs the bundle's numpy PolicySpec on up to :data:`N_EQUIVALENCE` observations (topped up
    with sanitised fuzz rows), plus the backend check recorded at export."""
    equivalence = []
    reference = bundle.reference_spec()
    if reference is not None:
        eq_obs = collected[:N_EQUIVALENCE]
        if len(eq_obs) < N_EQUIVALENCE:  # top up with sanitised fuzz rows (inside the space)
            eq_obs = np.concatenate([eq_obs, sanitize_observation(fuzz_rows, None, low, high)[0]])
        err = action_error(policy.act(eq_obs), reference.act(eq_obs).reshape((len(eq_obs), *act_space.shape)),
                           act_space)
        equivalence.append({"reference": "bundle PolicySpec (numpy)", **err})
    export_check = bundle.manifest.export_check
    if export_check:
        equivalence.append({"reference": export_check.get("reference", "backend at export"),
                            "metric": export_check["metric"], "value": export_check["value"],
                            "n": export_check["n"]})
    return equivalence


def _say_latency(say: Callable[[str], None], latency: dict) -> None:
    say(f"latency: p50 {latency['p50_ms']:.3f} ms, p99 {latency['p99_ms']:.3f} ms (best of {latency['rounds']} "
        f"rounds of {latency['n']} calls)" + (f"; machine loaded (load {latency['load_avg']:.1f} > "
                                              f"{latency['cores']} cores): reported, not gated"
                                              if latency["loaded"] else ""))


def write_report(bundle: bundle_mod.Bundle, record: ValidationRecord,
                 runs: dict[str, dict[str, ControllerRun]], sign_key: Any = None) -> tuple[ValidationRecord, Path]:
    """Render ``report.html``, seal ``record`` into the bundle (signed with ``sign_key``, an Ed25519
    private key, when given); returns the written record and the report's path (the ``.zip`` itself
    for a zipped bundle)."""
    from twingym.policies.report import render_report

    html = render_report(record, runs, bundle.manifest)
    record = bundle_mod.write_validation(bundle, record, {bundle_mod.REPORT_FILE: html.encode("utf-8")},
                                         sign_key)
    return record, (bundle.path / bundle_mod.REPORT_FILE if not bundle.is_zip else bundle.path)


def validate_bundle(path: str | Path, *, suite: Suite | str | Path | None = None,
                    gates_file: str | Path | None = None, episodes: int | None = None,
                    max_horizon: int | None = None, write: bool = True,
                    progress: Callable[[str], None] | None = None, sign_key: Any = None) -> Outcome:
    """Validate the bundle at ``path`` (see the module docstring); writes ``validation.json`` and
    ``report.html`` into it unless ``write`` is False, signed with ``sign_key`` (an Ed25519 private
    key, :func:`twingym.policies.signing.load_private_key`) when given."""
    say = progress or (lambda msg: None)
    t_start = time.perf_counter()
    bundle, env, params, digest = open_for_validation(path)
    twin_id = bundle.twin_id
    suite = resolve_suite(suite, env, params, twin_id, episodes, max_horizon)
    gates = gates_mod.load_gates(gates_file, twin_id, say=progress)
    act_space = bundle.action_space()
    policy = OnnxPolicy(bundle.policy_bytes, action_shape=tuple(act_space.shape))
    kpis = kpis_for(twin_id)
    engine = Engine(env, params, policy, suite_baselines(env, suite, twin_id), kpis)
    results = run_scenarios(engine, env, bundle.manifest.twin.param_overrides or {}, suite, say)

    fuzz_rows = fuzz_observations(engine.low, engine.high, seed=suite.seed)
    equivalence = equivalence_evidence(bundle, policy, act_space, results.collected, fuzz_rows, engine.low,
                                       engine.high)
    say("equivalence: " + ", ".join(f"{e['metric']} {e['value']:.2e} (n={e['n']})" for e in equivalence))
    fuzz = fuzz_check(policy, act_space, engine.low, engine.high, seed=suite.seed)
    say(f"fuzz: {fuzz['ok']}/{fuzz['n']} finite in-bounds actions")
    sample = (results.collected if len(results.collected)
              else sanitize_observation(fuzz_rows, None, engine.low, engine.high)[0])
    latency = measure_latency(bundle.policy_bytes, sample)
    _say_latency(say, latency)
    oracles = [n for n in getattr(env, "oracle_baselines", ()) if n in engine.names]
    gate_records = gates_mod.evaluate({"scenarios": results.records, "twin": twin_id, "oracle_baselines": oracles,
                                       "kpi_keys": [k.key for k in kpis], "equivalence": equivalence,
                                       "fuzz": fuzz, "latency": latency}, gates)
    passed = all(g["passed"] for g in gate_records)
    paired = [d.to_json() for name, scen in results.records.items()
              for d in scenario_differences(name, scen, oracles)]
    record = ValidationRecord(
        twingym_version=twingym.__version__, created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        twin=twin_id, params_hash=digest, suite=suite.to_dict(), gates_config=gates,
        fallback_baseline=engine.fallback, reference_baseline=getattr(env, "reference_baseline", None),
        oracle_baselines=oracles, paired=paired, passed=passed,
        failed_gates=[g["name"] for g in gate_records if not g["passed"]], gates=gate_records,
        scenarios=results.records, kpis=kpi_definitions(kpis), step_seconds=step_seconds(params),
        equivalence=equivalence, fuzz=fuzz, latency=latency, elapsed_s=round(time.perf_counter() - t_start, 2))
    report_path = None
    if write:
        record, report_path = write_report(bundle, record, results.runs, sign_key)
    return Outcome(record=record, passed=passed, report_path=report_path, runs=results.runs)


__all__ = ["Engine", "Outcome", "Scenario", "ScenarioResults", "equivalence_evidence", "fuzz_check", "measure_latency",
           "open_for_validation", "resolve_suite", "run_scenarios", "suite_baselines", "validate_bundle",
           "write_report"]
