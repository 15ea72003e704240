"""The twin checker: ``check_twin(env, params)`` runs the env kit on any twin, registered or not.

Every check is a named function of one :class:`TwinUnderCheck` (the env, its params and, when the
twin is registered, its id) that raises ``AssertionError`` naming what is wrong, or returns a
reason to skip. :data:`CHECKS` lists them in order:

- ``gymnasium_check_env`` / ``sb3_check_env``: gymnasium's and stable-baselines3's own checkers on
  the :class:`~twingym.envs.adapters.GymnasiumEnv` of the twin;
- ``same_key_same_trajectory``: one key gives one trajectory, another key a different one;
- ``random_steps_in_bounds``: ``rollout_steps`` random steps stay in the observation space, with
  finite float32 rewards, finite non-negative costs, and ``terminated``/``truncated`` kept apart;
- ``vmapped_batch_equals_single_copies``: ``jax.vmap`` over keys equals stepping each copy alone
  (to the twin's ``batch_parity_atol``);
- ``step_compiles_once``: a jitted, vmapped ``step`` compiles once for one batch shape;
- ``vector_adapters``: the gymnasium vector env (through ``gymnasium.make_vec`` when registered,
  next-step auto-reset as gymnasium's default) and the SB3 VecEnv step a batch and report the cost;
- ``render_rgb``: ``render`` gives a non-blank ``(H, W, 3)`` uint8 image (skipped without one);
- ``baselines_in_action_space``: every baseline acts inside the action space, and the reference
  baseline is one of them;
- ``labels_cover_components``: one unique ``(asset, name)`` label per observation/action component;
- ``scenarios_valid``: ``nominal`` is a scenario and every scenario's first observation is finite;
- ``nonfinite_actions``: a NaN or infinite action component steps exactly like the twin's
  ``safe_action`` there, with ``info["nonfinite_action"]`` counting it and 1 per component added to
  the cost (an integer action space refuses a non-finite value in the Gymnasium adapter).

``twingym envs check ID_OR_MODULE:CLASS`` runs the same from the command line.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from twingym.envs.core import TwinEnv


@dataclass(frozen=True)
class TwinUnderCheck:
    """The twin being checked: ``env``, its ``params``, its registered id (``None`` when unregistered),
    the param ``overrides`` that made ``params`` from the registered twin (used where a check builds
    the twin again by id) and the length of the single-copy random rollouts."""

    env: TwinEnv
    params: Any
    twin_id: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    rollout_steps: int = 1000


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict: ``status`` is ``passed``, ``failed`` or ``skipped``; ``detail`` says why."""

    name: str
    status: str
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


class TwinCheckError(AssertionError):
    """Raised by :func:`check_twin` when a check failed; ``results`` holds every verdict."""

    def __init__(self, results: list[CheckResult]) -> None:
        self.results = results
        failed = [r for r in results if r.status == "failed"]
        super().__init__("; ".join(f"{r.name}: {r.detail}" for r in failed))


@partial(jax.jit, static_argnums=(0, 3))
def random_rollout(env: TwinEnv, key: jax.Array, params: Any, num_steps: int):
    """Random actions for ``num_steps`` from one reset: first obs, then stacked obs, rewards, costs,
    terminated, truncated and final observations."""
    k_reset, k_run = jax.random.split(key)
    obs, state = env.reset(k_reset, params)
    space = env.action_space(params)

    def body(carry, k):
        state, _ = carry
        k_act, k_step = jax.random.split(k)
        action = space.sample(k_act)
        obs, state, reward, terminated, truncated, info = env.step(k_step, state, action, params)
        return (state, obs), (obs, reward, info["cost"], terminated, truncated,
                              info["final_observation"])

    _, out = jax.lax.scan(body, (state, obs), jax.random.split(k_run, num_steps))
    return (obs, *out)


# ---- the checks --------------------------------------------------------------------------------------
def _gymnasium_check_env(t: TwinUnderCheck) -> str | None:
    from gymnasium.utils.env_checker import check_env
    from twingym.envs.adapters import GymnasiumEnv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(GymnasiumEnv(t.env, t.params, render_mode=None), skip_render_check=True)
    return None


def _sb3_check_env(t: TwinUnderCheck) -> str | None:
    from stable_baselines3.common.env_checker import check_env
    from twingym.envs.adapters import GymnasiumEnv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(GymnasiumEnv(t.env, t.params), warn=False)
    return None


def _same_key_same_trajectory(t: TwinUnderCheck) -> str | None:
    key = jax.random.key(7)
    first = jax.device_get(random_rollout(t.env, key, t.params, t.rollout_steps))
    second = jax.device_get(random_rollout(t.env, key, t.params, t.rollout_steps))
    other = jax.device_get(random_rollout(t.env, jax.random.key(8), t.params, t.rollout_steps))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b, err_msg="the same key gave two trajectories")
    assert not np.array_equal(first[1], other[1]), "different keys gave the same observations"
    return None


def _random_steps_in_bounds(t: TwinUnderCheck) -> str | None:
    obs0, obs, reward, cost, terminated, truncated, final_obs = jax.device_get(
        random_rollout(t.env, jax.random.key(0), t.params, t.rollout_steps))
    gym_space = t.env.observation_space(t.params).to_gymnasium()
    for o in (obs0, *obs, *final_obs):
        assert gym_space.contains(np.asarray(o, dtype=gym_space.dtype)), f"observation outside space: {o}"
    assert np.all(np.isfinite(reward)), "non-finite reward"
    assert np.all(np.isfinite(cost)) and np.all(cost >= 0), "cost must be finite and >= 0"
    assert reward.dtype == np.float32 and cost.dtype == np.float32, \
        f"reward and cost must be float32 (got {reward.dtype}, {cost.dtype})"
    assert terminated.dtype == np.bool_ and truncated.dtype == np.bool_, "terminated/truncated must be bool"
    assert not np.any(terminated & truncated), "terminated and truncated must be kept apart"
    return None


def _vmapped_batch_equals_single_copies(t: TwinUnderCheck) -> str | None:
    batch, steps = 4, 12
    keys = jax.random.split(jax.random.key(3), batch)
    batched = jax.device_get(jax.vmap(random_rollout, in_axes=(None, 0, None, None))(
        t.env, keys, t.params, steps))
    atol = t.env.batch_parity_atol(t.params)
    for i in range(batch):
        single = jax.device_get(random_rollout(t.env, keys[i], t.params, steps))
        for a, b in zip(batched, single, strict=True):
            np.testing.assert_allclose(np.asarray(a)[i], b, rtol=1e-5, atol=atol,
                                       err_msg=f"copy {i} of a vmapped batch differs from stepping it alone")
    return None


def _step_compiles_once(t: TwinUnderCheck) -> str | None:
    step = jax.jit(jax.vmap(t.env.step, in_axes=(0, 0, 0, None)))
    batch = 8
    keys = jax.random.split(jax.random.key(1), batch)
    _, state = jax.vmap(t.env.reset, in_axes=(0, None))(keys, t.params)
    space = t.env.action_space(t.params)
    for i in range(4):
        actions = jax.vmap(space.sample)(jax.random.split(jax.random.key(10 + i), batch))
        _, state, *_ = step(jax.random.split(jax.random.key(20 + i), batch), state, actions, t.params)
    assert step._cache_size() == 1, f"step compiled {step._cache_size()} times for one batch shape"
    return None


def _vector_adapters(t: TwinUnderCheck) -> str | None:
    import gymnasium
    from twingym.envs.adapters import JaxVectorEnv, SB3VecEnv

    if t.twin_id is not None:
        vec = gymnasium.make_vec(f"twingym/{t.twin_id}", num_envs=3, **t.overrides)
        assert isinstance(vec, JaxVectorEnv), f"gymnasium.make_vec gave {type(vec).__name__}"
    else:
        vec = JaxVectorEnv(t.env, num_envs=3, params=t.params)
    assert vec.metadata["autoreset_mode"] == gymnasium.vector.AutoresetMode.NEXT_STEP, \
        f"vector env auto-reset mode {vec.metadata['autoreset_mode']} (gymnasium's default is NEXT_STEP)"
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (3, *vec.single_observation_space.shape), f"vector reset gave shape {obs.shape}"
    obs, reward, terminated, _, infos = vec.step(vec.action_space.sample())
    assert reward.shape == (3,) and terminated.dtype == np.bool_ and "cost" in infos, "vector step"
    sb3 = (SB3VecEnv(t.twin_id, num_envs=3, seed=0, **t.overrides) if t.twin_id
           else SB3VecEnv(t.env, num_envs=3, params=t.params, seed=0))
    obs = sb3.reset()
    assert obs.shape == (3, *sb3.observation_space.shape), f"SB3 VecEnv reset gave shape {obs.shape}"
    obs, reward, _, infos = sb3.step(np.stack([sb3.action_space.sample() for _ in range(3)]))
    assert len(infos) == 3 and all("cost" in i for i in infos), "SB3 VecEnv infos lack the cost"
    return None


def _render_rgb(t: TwinUnderCheck) -> str | None:
    _, state = t.env.reset(jax.random.key(0), t.params)
    try:
        image = t.env.render(jax.device_get(state), t.params)
    except NotImplementedError:
        return "the twin has no render()"
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, \
        f"render() must give (H, W, 3) uint8, got {image.shape} {image.dtype}"
    assert image.shape[0] >= 32 and image.shape[1] >= 32, f"render() image {image.shape} is too small"
    assert image.std() > 0, "render() returned a blank image"
    return None


def _baselines_in_action_space(t: TwinUnderCheck) -> str | None:
    space = t.env.action_space(t.params).to_gymnasium()
    obs, _ = t.env.reset(jax.random.key(0), t.params)
    for name, baseline in t.env.baselines().items():
        carry = baseline.init(t.params)
        action, _ = baseline.act(carry, obs, t.params) if baseline.jittable else \
            baseline.act(carry, np.asarray(obs), t.params)
        action = np.asarray(action, dtype=space.dtype).reshape(space.shape)
        assert space.contains(action), f"baseline {name} acted outside the action space: {action}"
    if t.env.reference_baseline is not None:
        assert t.env.reference_baseline in t.env.baselines(), \
            f"reference baseline {t.env.reference_baseline!r} is not one of the baselines"
    for name in t.env.oracle_baselines:
        assert name in t.env.baselines() and name != t.env.reference_baseline, \
            f"oracle baseline {name!r} is not one of the baselines, or is the reference baseline"
    return None


def _labels_cover_components(t: TwinUnderCheck) -> str | None:
    obs_labels = t.env.observation_labels(t.params)
    act_labels = t.env.action_labels(t.params)
    n_obs = int(np.prod(t.env.observation_space(t.params).shape))
    n_act = max(1, int(np.prod(t.env.action_space(t.params).shape)))
    assert len(obs_labels) == n_obs, f"{len(obs_labels)} observation labels for {n_obs} components"
    assert len(act_labels) == n_act, f"{len(act_labels)} action labels for {n_act} components"
    names = [(lab.asset, lab.name) for lab in obs_labels + act_labels]
    assert len(set(names)) == len(names), "observation/action labels must be unique (asset, name)"
    return None


def _scenarios_valid(t: TwinUnderCheck) -> str | None:
    from twingym.envs.registry import make

    scenarios = t.env.scenarios()
    assert "nominal" in scenarios, "scenarios() must include 'nominal'"
    for name, overrides in scenarios.items():
        params = (make(t.twin_id, **t.overrides, **overrides)[1] if t.twin_id
                  else t.env.make_params(**overrides))
        obs, _ = t.env.reset(jax.random.key(0), params)
        assert jnp.all(jnp.isfinite(obs)), f"scenario {name} gave a non-finite first observation"
    return None


def _nonfinite_actions(t: TwinUnderCheck) -> str | None:
    from twingym.envs.adapters import GymnasiumEnv

    space = t.env.action_space(t.params)
    single = GymnasiumEnv(t.env, params=t.params)
    single.reset(seed=0)
    if not jnp.issubdtype(space.dtype, jnp.floating):
        try:
            single.step(np.full(space.shape, np.nan))
        except ValueError as exc:
            assert "non-finite action" in str(exc), f"unclear refusal of a NaN action: {exc}"
            return None
        raise AssertionError("a NaN action for an integer action space was not refused")
    _, state = t.env.reset(jax.random.key(0), t.params)
    action = space.sample(jax.random.key(1))
    safe = t.env.safe_action(state, action, t.params)
    assert space.to_gymnasium().contains(np.asarray(safe, dtype=space.dtype).reshape(space.shape)), \
        f"safe_action {safe} is outside the action space"
    flat, safe_flat = action.reshape(-1), jnp.asarray(safe).reshape(-1)
    bad = flat.at[0].set(jnp.nan).at[-1].set(jnp.inf).reshape(action.shape)
    fixed = flat.at[0].set(safe_flat[0]).at[-1].set(safe_flat[-1]).reshape(action.shape)
    n_bad = 1 if action.size == 1 else 2
    step = jax.jit(t.env.step)
    out_bad = jax.device_get(step(jax.random.key(2), state, bad, t.params))
    out_ref = jax.device_get(step(jax.random.key(2), state, fixed, t.params))
    np.testing.assert_array_equal(out_bad[0], out_ref[0], err_msg="a NaN action did not step like the safe one")
    assert int(out_bad[5]["nonfinite_action"]) == n_bad and int(out_ref[5]["nonfinite_action"]) == 0, \
        "info['nonfinite_action'] does not count the replaced components"
    assert abs(float(out_bad[5]["cost"]) - float(out_ref[5]["cost"]) - n_bad) < 1e-4, \
        "each replaced component must add 1 to info['cost']"
    obs, reward, *_, info = single.step(np.full(space.shape, np.nan, dtype=np.float32))
    assert single.observation_space.contains(obs) and np.isfinite(reward), "NaN action gave a bad step"
    assert info["nonfinite_action"] == action.size, "the Gymnasium adapter lost the non-finite count"
    return None


#: the env kit, in the order it runs: name -> check
CHECKS: dict[str, Callable[[TwinUnderCheck], str | None]] = {
    "gymnasium_check_env": _gymnasium_check_env,
    "sb3_check_env": _sb3_check_env,
    "same_key_same_trajectory": _same_key_same_trajectory,
    "random_steps_in_bounds": _random_steps_in_bounds,
    "vmapped_batch_equals_single_copies": _vmapped_batch_equals_single_copies,
    "step_compiles_once": _step_compiles_once,
    "vector_adapters": _vector_adapters,
    "render_rgb": _render_rgb,
    "baselines_in_action_space": _baselines_in_action_space,
    "labels_cover_components": _labels_cover_components,
    "scenarios_valid": _scenarios_valid,
    "nonfinite_actions": _nonfinite_actions,
}


def run_check(name: str, twin: TwinUnderCheck) -> CheckResult:
    """Run one check of :data:`CHECKS`; a failure or an error becomes a ``failed`` result."""
    try:
        skip = CHECKS[name](twin)
    except Exception as exc:  # a check reports any failure of the twin, not only assertions
        text = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in text if line.strip())[:500] or type(exc).__name__
        if not isinstance(exc, AssertionError):
            detail = f"{type(exc).__name__}: {detail}"
        return CheckResult(name, "failed", detail)
    return CheckResult(name, "skipped", skip) if skip else CheckResult(name, "passed")


def check_twin(env: TwinEnv | str, params: Any = None, *, twin_id: str | None = None,
               overrides: dict[str, Any] | None = None, checks: list[str] | None = None,
               rollout_steps: int = 1000, raise_on_failure: bool = True) -> list[CheckResult]:
    """Run the env kit on a twin; returns one :class:`CheckResult` per check.

    Args:
        env: a :class:`TwinEnv` instance or a registered id.
        params: the twin's params (its defaults when ``None``; with an id, ``make``'s).
        overrides: param overrides (with an id: given to ``make``; with an instance and no ``params``:
            applied to its defaults).
        twin_id: the registered id of an ``env`` instance, when it has one (enables the gymnasium
            registry check of ``gymnasium.make_vec``); taken from ``env.id`` when ``make`` built it.
        checks: names of :data:`CHECKS` to run (all when ``None``).
        rollout_steps: length of the single-copy random rollouts.
        raise_on_failure: raise :class:`TwinCheckError` naming every failed check.
    """
    from twingym.envs.registry import make, registered

    overrides = dict(overrides or {})
    if isinstance(env, str):
        twin_id = env
        env, made = make(env, **overrides)
        params = made if params is None else params
    else:
        twin_id = twin_id or (getattr(env, "id", None) if getattr(env, "id", None) in registered() else None)
        params = env.make_params(**overrides) if params is None else params
    unknown = sorted(set(checks or []) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown check {unknown[0]!r}; the checks are {', '.join(CHECKS)}")
    subject = TwinUnderCheck(env, params, twin_id, overrides, rollout_steps)
    results = [run_check(name, subject) for name in (checks or CHECKS)]
    if raise_on_failure and any(r.status == "failed" for r in results):
        raise TwinCheckError(results)
    return results


__all__ = ["CHECKS", "CheckResult", "TwinCheckError", "TwinUnderCheck", "check_twin", "random_rollout", "run_check"]
