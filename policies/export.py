"""Export a trained policy to a bundle: ``export_spec`` (any PolicySpec) and ``export_run`` (a run dir).

``export_run(run_dir, out)`` asks the agents package for the run's :class:`PolicySpec`
(``twingym.agents.policy_spec_from_run``), builds ``policy.onnx``, checks it against the twin's spaces,
measures equivalence with the backend's own deterministic policy
(``twingym.agents.deterministic_actions``) on observations drawn from rollouts, and writes the bundle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from twingym.agents.policy_spec import PolicySpec
from twingym.envs import spaces
from twingym.policies import bundle as bundle_mod
from twingym.policies.manifest import Manifest, TwinRef
from twingym.policies.onnx_export import CONTINUOUS, action_dim, export_bytes, save_spec
from twingym.policies.runtime import OnnxPolicy

import twingym
from twingym import envs as twin_envs

if TYPE_CHECKING:
    from twingym.training.config import TrainConfig

#: equivalence tolerance of export against the backend: max |onnx - backend| / action range.
EQUIVALENCE_TOL = 1e-4


class ExportFailed(ValueError):
    """Export cannot proceed (one-line message for the CLI)."""


def check_spec_against_twin(spec: PolicySpec, obs_space: spaces.Space, act_space: spaces.Space) -> None:
    """Raise :class:`ExportFailed` when ``spec`` does not fit the twin's observation/action spaces."""
    obs_dim = int(np.prod(obs_space.shape))
    if spec.obs_dim != obs_dim:
        raise ExportFailed(f"policy expects {spec.obs_dim} observation components, the twin has {obs_dim}")
    width = action_dim(spec)
    t = spec.action_transform
    if isinstance(act_space, spaces.Box):
        if t not in CONTINUOUS:
            raise ExportFailed(f"twin has a continuous (Box) action space but the policy head is {t!r}")
        n = int(np.prod(act_space.shape)) or 1
        if width != n:
            raise ExportFailed(f"policy outputs {width} action components, the twin expects {n}")
        low, high = act_space.low_array.ravel(), act_space.high_array.ravel()
        tol = 1e-5 * np.maximum(1.0, np.abs(np.where(np.isfinite(high - low), high - low, 1.0)))
        if np.any(spec.action_low < low - tol) or np.any(spec.action_high > high + tol):
            raise ExportFailed("policy action bounds lie outside the twin's action space "
                               f"(policy {spec.action_low.tolist()}..{spec.action_high.tolist()}, "
                               f"twin {low.tolist()}..{high.tolist()})")
    elif isinstance(act_space, spaces.Discrete):
        if t != "argmax" or width != act_space.n:
            raise ExportFailed(f"twin has Discrete({act_space.n}) actions; policy head is {t!r} with {width} logits")
    elif isinstance(act_space, spaces.MultiDiscrete) and (
            t != "multi_argmax" or tuple(spec.nvec or ()) != tuple(act_space.nvec)):
        raise ExportFailed(f"twin has MultiDiscrete{tuple(act_space.nvec)} actions; policy head is {t!r} "
                           f"with nvec={spec.nvec}")


def action_error(a: np.ndarray, b: np.ndarray, act_space: spaces.Space) -> dict:
    """Disagreement of two action batches: continuous -> max |a-b| / range; discrete -> mismatch rate."""
    a = np.asarray(a).reshape(len(a), -1)
    b = np.asarray(b).reshape(len(b), -1)
    if isinstance(act_space, spaces.Box):
        span = (act_space.high_array - act_space.low_array).ravel().astype(np.float64)
        span = np.where(np.isfinite(span) & (span > 0), span, 1.0)
        err = np.abs(a.astype(np.float64) - b.astype(np.float64)) / span
        return {"metric": "max_abs_error_frac", "value": float(np.max(err)) if err.size else 0.0, "n": len(a)}
    mismatch = np.any(a.astype(np.int64) != b.astype(np.int64), axis=-1)
    return {"metric": "mismatch_frac", "value": float(np.mean(mismatch)) if len(a) else 0.0, "n": len(a)}


def rollout_observations(env: Any, params: Any, policy: OnnxPolicy, n: int = 10_000, n_envs: int = 100,
                         seed: int = 0) -> np.ndarray:
    """``n`` flattened observations (n, obs_dim) float32 visited by ``policy`` on the twin."""
    steps = -(-n // n_envs)
    act_space = env.action_space(params)
    keys = jax.random.split(jax.random.PRNGKey(seed), n_envs)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    @jax.jit
    def step(t, state, action, params):
        step_keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, t)
        return jax.vmap(env.step, in_axes=(0, 0, 0, None))(step_keys, state, action, params)[:2]

    out = []
    for t in range(steps):
        flat = np.asarray(obs, dtype=np.float32).reshape(n_envs, -1)
        out.append(flat)
        action = policy.act(flat).reshape((n_envs, *act_space.shape)).astype(np.dtype(act_space.dtype))
        obs, state = step(t, state, jnp.asarray(action), params)
    return np.concatenate(out)[:n]


def export_spec(spec: PolicySpec, out: str | Path, *, twin_id: str, param_overrides: dict | None = None,
                backend: str = "", run_id: str = "", training_config: dict | None = None,
                backend_actions: Any = None, n_check: int = 10_000, overwrite: bool = False) -> Path:
    """Write a bundle for ``spec`` acting on ``twin_id`` (with ``param_overrides``).

    ``backend_actions(obs) -> actions``, when given, is the backend's own deterministic policy; its
    agreement with ``policy.onnx`` on ``n_check`` rollout observations is recorded in the manifest as
    ``export_check`` (validation's equivalence gate reads it).
    """
    overrides = dict(param_overrides or {})
    env, params = twin_envs.make(twin_id, **overrides)
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    check_spec_against_twin(spec, obs_space, act_space)
    onnx_bytes = export_bytes(spec, doc=f"twingym policy for {twin_id} ({backend or spec.backend})",
                              metadata={"twin_id": twin_id, "backend": backend or spec.backend,
                                        "run_id": run_id})
    export_check = None
    if backend_actions is not None:
        policy = OnnxPolicy(onnx_bytes, action_shape=tuple(act_space.shape))
        obs = rollout_observations(env, params, policy, n=n_check)
        reference = np.asarray(backend_actions(obs))
        err = action_error(policy.act(obs), reference, act_space)
        threshold = EQUIVALENCE_TOL if err["metric"] == "max_abs_error_frac" else 0.0
        export_check = {"reference": "backend deterministic_actions", **err, "threshold": threshold,
                        "passed": bool(err["value"] <= threshold)}
    files = {bundle_mod.POLICY_FILE: onnx_bytes, bundle_mod.SPEC_FILE: save_spec(spec)}
    manifest = Manifest(
        twin=TwinRef(id=twin_id, params_hash=bundle_mod.params_hash(params), param_overrides=overrides),
        observation_space=bundle_mod.space_to_json(obs_space),
        action_space=bundle_mod.space_to_json(act_space),
        observation_labels=[list(lb) for lb in env.observation_labels(params)],
        action_labels=[list(lb) for lb in env.action_labels(params)],
        backend=backend or spec.backend, run_id=run_id, training_config=training_config or {},
        files=bundle_mod.file_digests(files), export_check=export_check, twingym_version=twingym.__version__,
        policy={"obs_dim": spec.obs_dim, "action_transform": spec.action_transform,
                "layers": [[int(x) for x in layer.weight.shape] + [layer.activation] for layer in spec.layers],
                "obs_clip": spec.obs_clip, "input": "observation", "output": "action"})
    return bundle_mod.write_bundle(out, files, manifest, overwrite=overwrite)


# ---- run directories --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunInfo:
    """What export needs from a training run directory: its typed config and the raw mapping it came from.

    ``run_id`` is the run directory's name; ``raw`` is ``config.yaml`` as written (the manifest's
    ``training_config``).
    """

    config: TrainConfig
    raw: dict[str, Any]
    run_id: str


def run_info(run_dir: Path) -> RunInfo:
    """The run directory's ``config.yaml`` parsed by the training schema (one-line :class:`ExportFailed`)."""
    from twingym.training.config import ConfigError, load_yaml, parse_config

    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise ExportFailed(f"{run_dir} is not a training run directory (no config.yaml)")
    try:
        raw = load_yaml(config_path)
        cfg = parse_config(raw)
    except ConfigError as exc:
        raise ExportFailed(f"{config_path}: {exc}" if str(config_path) not in str(exc) else str(exc)) from None
    return RunInfo(config=cfg, raw=raw, run_id=run_dir.name)


def export_run(run_dir: str | Path, out: str | Path, *, overwrite: bool = False, check: bool = True,
               n_check: int = 10_000) -> Path:
    """Export a training run (any backend) through ``twingym.agents.policy_spec_from_run``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ExportFailed(f"run directory {run_dir} does not exist")
    from twingym.agents import deterministic_actions, policy_spec_from_run

    info = run_info(run_dir)
    spec = policy_spec_from_run(run_dir)
    backend_actions = (lambda obs: deterministic_actions(run_dir, obs)) if check else None
    return export_spec(spec, out, twin_id=info.config.twin, param_overrides=info.config.env_params,
                       backend=spec.backend or info.config.backend, run_id=info.run_id,
                       training_config=info.raw, backend_actions=backend_actions,
                       n_check=n_check, overwrite=overwrite)
