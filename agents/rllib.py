"""Ray RLlib PPO on the current API stack (RLModule + Learner + EnvRunner + connectors).

- Env runners build the twin through ``twingym.envs.adapters.rllib_env_creator`` with gymnasium's
  ``vector_entry_point`` mode, so each runner steps its ``num_envs_per_env_runner`` copies in one
  jitted call.
- The policy is RLlib's default torch MLP RLModule with separate actor and critic encoders
  (``vf_share_layers=False``); observations pass RLlib's ``MeanStdFilter`` connector (stats kept in
  the env runners' connector state, merged across runners by RLlib).
- Failed env runners are restarted (``fault_tolerance(restart_failed_env_runners=True)``).

A saved policy directory (``final/``) holds ``module/`` (the RLModule checkpoint, loaded with
``RLModule.from_checkpoint``), ``obs_stats.npz`` (``mean``, ``std``, ``clip``: RLlib normalises as
``clip((x - mean) / (std + 1e-6), -clip, clip)``) and ``policy.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from twingym.agents.policy_spec import DenseLayer, PolicySpec

#: RLlib's MeanStdFilter adds this to the std (ray.rllib.utils.numpy.SMALL_NUMBER).
RLLIB_STD_EPS = 1e-6
ENV_NAME = "twingym_rllib_env"


class RLlibPPOParams(BaseModel):
    """Hyperparameters of RLlib PPO (``backend: rllib_ppo``)."""

    model_config = ConfigDict(extra="forbid")
    backend: Literal["rllib_ppo"] = "rllib_ppo"
    num_env_runners: int = Field(1, ge=0, description="remote env runner actors (0: sample in the driver)")
    num_envs_per_env_runner: int = Field(16, gt=0, description="twin copies per runner (one batched env)")
    rollout_fragment_length: int = Field(128, gt=0, description="steps per env per sample call")
    minibatch_size: int = Field(256, gt=0)
    num_epochs: int = Field(4, gt=0)
    learning_rate: float = Field(3e-4, gt=0)
    gamma: float = Field(0.99, ge=0, le=1)
    gae_lambda: float = Field(0.95, ge=0, le=1)
    clip_param: float = Field(0.2, gt=0)
    entropy_coeff: float = Field(0.0, ge=0)
    vf_loss_coeff: float = Field(0.5, ge=0)
    vf_clip_param: float = Field(10.0, gt=0)
    grad_clip: float = Field(0.5, gt=0)
    hidden_sizes: list[int] = Field(default_factory=lambda: [64, 64])
    activation: Literal["tanh", "relu"] = "tanh"
    normalize_obs: bool = True
    num_cpus: int = Field(2, gt=0, description="CPUs of the local Ray started when no cluster is given")

    @property
    def train_batch_size(self) -> int:
        return max(1, self.num_env_runners) * self.num_envs_per_env_runner * self.rollout_fragment_length

    def batch_sizes(self) -> tuple[tuple[int, str], tuple[int, str]]:
        """(twin copies stepped at once, samples held for one update), each with its config expression."""
        return ((max(self.num_env_runners, 1) * self.num_envs_per_env_runner,
                 "agent.num_env_runners * agent.num_envs_per_env_runner"),
                (self.train_batch_size,
                 "agent.num_env_runners * agent.num_envs_per_env_runner * agent.rollout_fragment_length"))


def init_ray(address: str | None, num_cpus: int) -> None:
    """Join ``address`` (or ``RAY_ADDRESS``) or start a small local Ray without dashboard."""
    import os

    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False, ignore_reinit_error=True)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
                 configure_logging=False)


def register_env() -> None:
    from ray.tune.registry import register_env as _register
    from twingym.envs.adapters import rllib_env_creator

    _register(ENV_NAME, rllib_env_creator)


def build_config(hp: RLlibPPOParams, twin_id: str, env_params: dict[str, Any], seed: int):
    """An RLlib ``PPOConfig`` for the twin (new API stack).

    The env config carries the twin's :func:`~twingym.envs.registry.portable_spec`, so the env runner
    processes register any twin registered here (built in or not) before building it.
    """
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.connectors.env_to_module import MeanStdFilter
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from twingym.envs.registry import portable_spec

    env_config = {"twin_id": twin_id, "param_overrides": dict(env_params), "seed": seed,
                  "twin": portable_spec(twin_id)}
    connector = (lambda env=None, spaces=None, device=None: MeanStdFilter()) if hp.normalize_obs else None
    config = (
        PPOConfig()
        .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
        .framework("torch")
        .environment(env=ENV_NAME, env_config=env_config, normalize_actions=True, clip_actions=False)
        .env_runners(num_env_runners=hp.num_env_runners, num_envs_per_env_runner=hp.num_envs_per_env_runner,
                     rollout_fragment_length=hp.rollout_fragment_length,
                     gym_env_vectorize_mode="vector_entry_point", env_to_module_connector=connector,
                     num_cpus_per_env_runner=1)
        .learners(num_learners=0)
        .training(lr=hp.learning_rate, gamma=hp.gamma, lambda_=hp.gae_lambda, clip_param=hp.clip_param,
                  entropy_coeff=hp.entropy_coeff, vf_loss_coeff=hp.vf_loss_coeff,
                  vf_clip_param=hp.vf_clip_param, grad_clip=hp.grad_clip,
                  train_batch_size_per_learner=hp.train_batch_size, minibatch_size=hp.minibatch_size,
                  num_epochs=hp.num_epochs)
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=list(hp.hidden_sizes),
                                                   fcnet_activation=hp.activation, vf_share_layers=False))
        .fault_tolerance(restart_failed_env_runners=True, max_num_env_runner_restarts=100)
        .debugging(seed=seed, log_level="ERROR")
        .reporting(metrics_num_episodes_for_smoothing=20)
    )
    return config


def obs_filter_state(algo: Any) -> dict[str, np.ndarray] | None:
    """``{"mean", "std", "clip"}`` of the env runners' MeanStdFilter (None without one)."""
    from ray.rllib.connectors.env_to_module import MeanStdFilter

    runner = algo.env_runner_group.local_env_runner
    pipeline = getattr(runner, "_env_to_module", None)
    if pipeline is None:
        return None
    for conn in pipeline.connectors:
        if isinstance(conn, MeanStdFilter):
            filters = conn._filters
            if not filters:
                return None
            f = next(iter(filters.values()))
            rs = f.running_stats
            return {"mean": np.asarray(rs.mean, np.float64), "std": np.asarray(rs.std, np.float64),
                    "clip": np.float64(f.clip if f.clip else np.inf)}
    return None


def sync_obs_filters(algo: Any) -> None:
    """Pull the merged connector state of the remote runners into the local runner (if remote)."""
    group = algo.env_runner_group
    if group.num_remote_env_runners() > 0:
        group.sync_env_runner_states(config=algo.config, from_worker=None)


def save_policy(algo: Any, directory: str | Path, obs_space_shape: tuple[int, ...]) -> None:
    """``module/`` (RLModule checkpoint), ``obs_stats.npz`` and ``policy.json``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    module = algo.get_module()
    module.save_to_path(str((directory / "module").resolve()))
    stats = obs_filter_state(algo)
    dim = int(np.prod(obs_space_shape)) if obs_space_shape else 1
    if stats is None:
        stats = {"mean": np.zeros(dim), "std": np.ones(dim), "clip": np.float64(np.inf), "identity": np.True_}
    np.savez(directory / "obs_stats.npz", **stats)
    (directory / "policy.json").write_text(json.dumps({"algo": "ppo", "backend": "rllib_ppo"}))


def load_module(directory: str | Path):
    from ray.rllib.core.rl_module.rl_module import RLModule

    return RLModule.from_checkpoint(str((Path(directory) / "module").resolve()))


def _stats(directory: Path) -> dict[str, np.ndarray]:
    with np.load(directory / "obs_stats.npz") as d:
        return {k: d[k] for k in d.files}


def _normalise(obs: np.ndarray, s: dict[str, np.ndarray]) -> np.ndarray:
    if "identity" in s:
        return obs
    z = (obs - s["mean"].reshape(-1)) / (s["std"].reshape(-1) + RLLIB_STD_EPS)
    return np.clip(z, -s["clip"], s["clip"])


def load_actor(directory: str | Path):
    """A host function ``obs (B, *obs_shape) -> actions`` on RLlib's own inference path:
    normalise, ``forward_inference``, deterministic action distribution, unsquash to the bounds."""
    import torch
    from ray.rllib.core.columns import Columns
    from ray.rllib.utils.spaces.space_utils import unsquash_action

    directory = Path(directory)
    module = load_module(directory)
    s = _stats(directory)

    def act(obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, np.float32)
        flat = obs.reshape(obs.shape[0], -1)
        z = _normalise(flat, s).astype(np.float32).reshape(obs.shape)
        with torch.no_grad():
            out = module.forward_inference({Columns.OBS: torch.from_numpy(z)})
            dist = module.get_inference_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
            action = dist.to_deterministic().sample().cpu().numpy()
        return np.asarray(unsquash_action(action, module.action_space))

    return act


def deterministic_actions(directory: str | Path, obs: np.ndarray) -> np.ndarray:
    """RLlib's own deterministic actions for raw observations ``(B, *obs_shape)``."""
    return load_actor(directory)(obs)


def _linears(module: Any) -> list[Any]:
    import torch

    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


def policy_spec(directory: str | Path) -> PolicySpec:
    """The deterministic RLlib policy as a :class:`PolicySpec` (actor encoder -> pi head)."""
    import gymnasium

    directory = Path(directory)
    module = load_module(directory)
    s = _stats(directory)
    act = module.model_config.get("fcnet_activation", "tanh") if isinstance(module.model_config, dict) \
        else module.model_config.fcnet_activation
    head_act = module.model_config.get("head_fcnet_activation", "relu") if isinstance(module.model_config, dict) \
        else module.model_config.head_fcnet_activation
    enc = _linears(module.encoder.actor_encoder)
    head = _linears(module.pi)
    layers = [DenseLayer(m.weight.detach().numpy().T.astype(np.float32).copy(),
                         m.bias.detach().numpy().astype(np.float32).copy(), act) for m in enc]
    layers += [DenseLayer(m.weight.detach().numpy().T.astype(np.float32).copy(),
                          m.bias.detach().numpy().astype(np.float32).copy(), head_act) for m in head]
    layers[-1].activation = "none"
    space = module.action_space
    low = high = nvec = None
    if isinstance(space, gymnasium.spaces.Box):
        a = int(np.prod(space.shape))
        # dist inputs are [mean, log_std]; the deterministic action uses the mean half
        layers[-1].weight, layers[-1].bias = layers[-1].weight[:, :a].copy(), layers[-1].bias[:a].copy()
        low, high = space.low.reshape(-1).astype(np.float32), space.high.reshape(-1).astype(np.float32)
        transform = "scale_clip" if np.all(np.isfinite(low)) and np.all(np.isfinite(high)) else "clip"
    elif isinstance(space, gymnasium.spaces.Discrete):
        transform, nvec = "argmax", (int(space.n),)
    else:
        transform, nvec = "multi_argmax", tuple(int(n) for n in space.nvec)
    dim = int(np.prod(module.observation_space.shape))
    if "identity" in s:
        mean, var, eps, clip = np.zeros(dim), np.ones(dim), 0.0, float("inf")
    else:
        # RLlib divides by (std + 1e-6): the same as sqrt(var' + 0) with var' = (std + 1e-6)^2
        mean, var, eps, clip = s["mean"], (s["std"] + RLLIB_STD_EPS) ** 2, 0.0, float(s["clip"])
    return PolicySpec(obs_dim=dim, obs_mean=np.asarray(mean, np.float32).reshape(-1),
                      obs_var=np.asarray(var, np.float32).reshape(-1), layers=layers,
                      action_transform=transform,  # type: ignore[arg-type]
                      action_low=low, action_high=high, nvec=nvec, obs_epsilon=eps, obs_clip=clip,
                      backend="rllib_ppo", extra={"action_shape": list(space.shape)})
