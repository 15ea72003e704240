"""stable-baselines3 PPO and SAC on the batched SB3 VecEnv adapter.

The twin batch is stepped in one jitted call (``twingym.envs.adapters.SB3VecEnv``), wrapped in
``VecMonitor`` (episode returns) and ``VecNormalize`` (observation normalisation; reward scaling for
PPO on request). A saved policy directory holds:

- ``model.zip``: the SB3 model (``PPO.load`` / ``SAC.load``);
- ``vecnormalize.pkl``: the ``VecNormalize`` statistics (SB3's own format, for resuming);
- ``obs_stats.npz``: ``mean``, ``var`` (obs_dim,), ``epsilon``, ``clip``: the observation
  normalisation the policy expects, readable without SB3;
- ``policy.json``: ``{"algo": "ppo"|"sac"}``.

Policies are plain MLPs (``net_arch``) so they export to :class:`PolicySpec`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from twingym.agents.policy_spec import DenseLayer, PolicySpec


class SB3PPOParams(BaseModel):
    """Hyperparameters of stable-baselines3 PPO (``backend: sb3_ppo``)."""

    model_config = ConfigDict(extra="forbid")
    backend: Literal["sb3_ppo"] = "sb3_ppo"
    num_envs: int = Field(16, gt=0, description="parallel env copies (one batched VecEnv)")
    n_steps: int = Field(128, gt=0, description="rollout length per env")
    batch_size: int = Field(256, gt=0, description="minibatch size")
    n_epochs: int = Field(4, gt=0, description="passes over each rollout")
    learning_rate: float = Field(3e-4, gt=0)
    gamma: float = Field(0.99, ge=0, le=1)
    gae_lambda: float = Field(0.95, ge=0, le=1)
    clip_range: float = Field(0.2, gt=0)
    ent_coef: float = Field(0.0, ge=0)
    vf_coef: float = Field(0.5, ge=0)
    max_grad_norm: float = Field(0.5, gt=0)
    hidden_sizes: list[int] = Field(default_factory=lambda: [64, 64])
    activation: Literal["tanh", "relu"] = "tanh"
    normalize_obs: bool = True
    normalize_rewards: bool = True
    torch_threads: int = Field(1, gt=0, description="torch CPU threads (small MLPs run best on one)")

    def batch_sizes(self) -> tuple[tuple[int, str], tuple[int, str]]:
        """(twin copies stepped at once, samples held for one update), each with its config expression."""
        return (self.num_envs, "agent.num_envs"), (self.num_envs * self.n_steps, "agent.num_envs * agent.n_steps")


class SB3SACParams(BaseModel):
    """Hyperparameters of stable-baselines3 SAC (``backend: sb3_sac``)."""

    model_config = ConfigDict(extra="forbid")
    backend: Literal["sb3_sac"] = "sb3_sac"
    num_envs: int = Field(4, gt=0, description="parallel env copies (one batched VecEnv)")
    learning_rate: float = Field(3e-4, gt=0)
    buffer_size: int = Field(200_000, gt=0)
    batch_size: int = Field(256, gt=0)
    learning_starts: int = Field(1000, ge=0)
    tau: float = Field(0.005, gt=0, le=1)
    gamma: float = Field(0.99, ge=0, le=1)
    train_freq: int = Field(1, gt=0, description="env steps (per env) between updates")
    gradient_steps: int = Field(1, description="gradient steps per update (-1: as many as env steps)")
    ent_coef: str | float = Field("auto", description="'auto' or a fixed entropy weight")
    hidden_sizes: list[int] = Field(default_factory=lambda: [256, 256])
    activation: Literal["relu", "tanh"] = "relu"
    normalize_obs: bool = True
    torch_threads: int = Field(1, gt=0, description="torch CPU threads (small MLPs run best on one)")

    def batch_sizes(self) -> tuple[tuple[int, str], tuple[int, str]]:
        """(twin copies stepped at once, samples held for one update), each with its config expression."""
        return (self.num_envs, "agent.num_envs"), (self.buffer_size, "agent.buffer_size")


SB3Params = SB3PPOParams | SB3SACParams

_ACT = {"tanh": "Tanh", "relu": "ReLU"}


def make_inner_vec_env(twin_id: str, env_params: dict[str, Any], hp: SB3Params, seed: int):
    """Batched twin (one jitted step for all copies) -> ``VecMonitor``."""
    from stable_baselines3.common.vec_env import VecMonitor
    from twingym.envs.adapters import SB3VecEnv

    return VecMonitor(SB3VecEnv(twin_id, hp.num_envs, seed=seed, **env_params))


def make_vec_env(twin_id: str, env_params: dict[str, Any], hp: SB3Params, seed: int):
    """Batched twin -> ``VecMonitor`` -> ``VecNormalize`` (rewards scaled only for PPO on request)."""
    from stable_baselines3.common.vec_env import VecNormalize

    venv = make_inner_vec_env(twin_id, env_params, hp, seed)
    norm_reward = bool(getattr(hp, "normalize_rewards", False))
    return VecNormalize(venv, norm_obs=hp.normalize_obs, norm_reward=norm_reward, gamma=hp.gamma)


def build_model(hp: SB3Params, venv: Any, seed: int):
    """A fresh SB3 model on ``venv`` (CPU, no SB3 logger output)."""
    import torch
    from stable_baselines3 import PPO, SAC

    torch.set_num_threads(hp.torch_threads)
    activation = getattr(torch.nn, _ACT[hp.activation])
    if isinstance(hp, SB3PPOParams):
        policy_kwargs = {"net_arch": {"pi": list(hp.hidden_sizes), "vf": list(hp.hidden_sizes)},
                         "activation_fn": activation}
        return PPO("MlpPolicy", venv, n_steps=hp.n_steps, batch_size=hp.batch_size, n_epochs=hp.n_epochs,
                   learning_rate=hp.learning_rate, gamma=hp.gamma, gae_lambda=hp.gae_lambda,
                   clip_range=hp.clip_range, ent_coef=hp.ent_coef, vf_coef=hp.vf_coef,
                   max_grad_norm=hp.max_grad_norm, policy_kwargs=policy_kwargs, seed=seed, device="cpu",
                   verbose=0)
    policy_kwargs = {"net_arch": list(hp.hidden_sizes), "activation_fn": activation}
    ent_coef: Any = hp.ent_coef
    return SAC("MlpPolicy", venv, learning_rate=hp.learning_rate, buffer_size=hp.buffer_size,
               batch_size=hp.batch_size, learning_starts=hp.learning_starts, tau=hp.tau, gamma=hp.gamma,
               train_freq=hp.train_freq, gradient_steps=hp.gradient_steps, ent_coef=ent_coef,
               policy_kwargs=policy_kwargs, seed=seed, device="cpu", verbose=0)


def save_policy(model: Any, venv: Any, directory: str | Path) -> None:
    """Write ``model.zip``, ``vecnormalize.pkl``, ``obs_stats.npz`` and ``policy.json``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / "model.zip")
    venv.save(str(directory / "vecnormalize.pkl"))
    dim = int(np.prod(venv.observation_space.shape))
    if venv.norm_obs:
        mean, var = venv.obs_rms.mean.reshape(-1), venv.obs_rms.var.reshape(-1)
        eps, clip = float(venv.epsilon), float(venv.clip_obs)
    else:
        mean, var, eps, clip = np.zeros(dim), np.ones(dim), 0.0, float("inf")
    np.savez(directory / "obs_stats.npz", mean=np.asarray(mean, np.float64), var=np.asarray(var, np.float64),
             epsilon=np.float64(eps), clip=np.float64(clip))
    algo = "sac" if type(model).__name__ == "SAC" else "ppo"
    (directory / "policy.json").write_text(json.dumps({"algo": algo}))


def load_model(directory: str | Path, venv: Any = None):
    """Load ``model.zip`` with the right class (``venv`` attached when given)."""
    from stable_baselines3 import PPO, SAC

    directory = Path(directory)
    algo = json.loads((directory / "policy.json").read_text())["algo"]
    cls = SAC if algo == "sac" else PPO
    return cls.load(directory / "model.zip", env=venv, device="cpu")


def load_vecnormalize(directory: str | Path, venv: Any):
    from stable_baselines3.common.vec_env import VecNormalize

    return VecNormalize.load(str(Path(directory) / "vecnormalize.pkl"), venv)


def _obs_stats(directory: Path) -> dict[str, np.ndarray]:
    with np.load(directory / "obs_stats.npz") as d:
        return {k: d[k] for k in d.files}


def load_actor(directory: str | Path):
    """A host function ``obs (B, *obs_shape) -> actions`` running SB3's deterministic ``predict``."""
    directory = Path(directory)
    model = load_model(directory)
    s = _obs_stats(directory)
    shape = model.observation_space.shape

    def act(obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, np.float32)
        flat = obs.reshape(obs.shape[0], -1)
        z = np.clip((flat - s["mean"]) / np.sqrt(s["var"] + s["epsilon"]), -s["clip"], s["clip"])
        action, _ = model.predict(z.astype(np.float32).reshape(obs.shape[0], *shape), deterministic=True)
        return np.asarray(action)

    return act


def deterministic_actions(directory: str | Path, obs: np.ndarray) -> np.ndarray:
    """SB3's own deterministic ``predict`` on raw observations ``(B, *obs_shape)``."""
    return load_actor(directory)(obs)


def _linears(module: Any) -> list[Any]:
    import torch

    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


def _dense(linear: Any, activation: str) -> DenseLayer:
    return DenseLayer(linear.weight.detach().cpu().numpy().T.astype(np.float32).copy(),
                      linear.bias.detach().cpu().numpy().astype(np.float32).copy(), activation)  # type: ignore[arg-type]


def policy_spec(directory: str | Path) -> PolicySpec:
    """The deterministic policy of a saved SB3 PPO/SAC as a :class:`PolicySpec`."""
    import gymnasium
    import torch

    directory = Path(directory)
    model = load_model(directory)
    s = _obs_stats(directory)
    policy = model.policy
    space = model.action_space
    act_name = "tanh"
    if isinstance(model.policy, torch.nn.Module):
        fn = getattr(policy, "activation_fn", torch.nn.Tanh)
        act_name = "relu" if fn is torch.nn.ReLU else "tanh"
    algo = json.loads((directory / "policy.json").read_text())["algo"]
    if algo == "sac":
        hidden = _linears(policy.actor.latent_pi)
        head = policy.actor.mu
        transform = "tanh_scale"
    else:
        hidden = _linears(policy.mlp_extractor.policy_net)
        head = policy.action_net
        transform = "clip"
    layers = [_dense(m, act_name) for m in hidden] + [_dense(head, "none")]
    low = high = None
    nvec = None
    if isinstance(space, gymnasium.spaces.Box):
        low, high = space.low.reshape(-1).astype(np.float32), space.high.reshape(-1).astype(np.float32)
    elif isinstance(space, gymnasium.spaces.Discrete):
        transform, nvec = "argmax", (int(space.n),)
    elif isinstance(space, gymnasium.spaces.MultiDiscrete):
        transform, nvec = "multi_argmax", tuple(int(n) for n in space.nvec)
    obs_dim = int(np.prod(model.observation_space.shape))
    return PolicySpec(obs_dim=obs_dim, obs_mean=s["mean"].astype(np.float32), obs_var=s["var"].astype(np.float32),
                      layers=layers, action_transform=transform,  # type: ignore[arg-type]
                      action_low=low, action_high=high, nvec=nvec, obs_epsilon=float(s["epsilon"]),
                      obs_clip=float(s["clip"]), backend=f"sb3_{algo}",
                      extra={"action_shape": list(space.shape)})
