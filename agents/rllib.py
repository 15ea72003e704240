"""Ray RLlib PPO on the current API stack (RLModule + Learner + EnvRunner + connectors).

- Env runners build the twin through ``twingym.envs.adapters.rllib_env_creator`` with gymnasium's
  ``vector_entry_point`` mode, so each runner steps its ``num_envs_per_env_runner`` copies in one
  jitted call.
- The policy is RLlib's default torch MLP RLModule with separate actor and critic encoders
  (``vf_share_layers=False``); observations pass RLlib's ``MeanStdFilter`` connector (stats kept in
  the env runners' connector state, merged across runners by RLlib).
- Failed env runners are restarted (``fault_tolerance(restart_failed_env_runners=True)``).
- On a cluster the Algorithm lives in an :class:`AlgorithmHost` actor placed, with its env runners
  and learners, in one placement group (``placement_strategy``, SPREAD by default: env runners go to
  distinct nodes where there are several); learners take ``num_gpus_per_learner`` GPUs each
  (``auto``: one where the cluster has GPUs). The driver talks to the host only: it receives results
  and policy archives as values, and checkpoints go to a path every node can reach.

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
    num_cpus_per_env_runner: float = Field(1, gt=0, description="CPUs reserved per env runner actor")
    num_cpus_for_main_process: float = Field(1, ge=0, description="CPUs reserved for the algorithm's own process")
    num_cpus_per_learner: float = Field(1, ge=0, description="CPUs reserved per learner (the algorithm's own "
                                        "process when num_learners is 0)")
    num_learners: int = Field(0, ge=0, description="remote learner actors (0: learn in the algorithm's process)")
    num_gpus_per_learner: float | Literal["auto"] = Field(
        "auto", description="GPUs per learner (the local one when num_learners is 0); auto: 1 when the "
                            "cluster has a GPU for every learner, else 0")
    placement_strategy: Literal["SPREAD", "PACK", "STRICT_SPREAD", "STRICT_PACK"] = Field(
        "SPREAD", description="placement group strategy of the algorithm, env runners and learners")

    @property
    def train_batch_size(self) -> int:
        return max(1, self.num_env_runners) * self.num_envs_per_env_runner * self.rollout_fragment_length

    def batch_sizes(self) -> tuple[tuple[int, str], tuple[int, str]]:
        """(twin copies stepped at once, samples held for one update), each with its config expression."""
        return ((max(self.num_env_runners, 1) * self.num_envs_per_env_runner,
                 "agent.num_env_runners * agent.num_envs_per_env_runner"),
                (self.train_batch_size,
                 "agent.num_env_runners * agent.num_envs_per_env_runner * agent.rollout_fragment_length"))


def register_env() -> None:
    from ray.tune.registry import register_env as _register
    from twingym.envs.adapters import rllib_env_creator

    _register(ENV_NAME, rllib_env_creator)


def gpus_per_learner(hp: RLlibPPOParams, cluster_gpus: float) -> float:
    """``num_gpus_per_learner`` with ``auto`` resolved against the cluster's GPU count."""
    if hp.num_gpus_per_learner != "auto":
        return float(hp.num_gpus_per_learner)
    return 1.0 if cluster_gpus >= max(1, hp.num_learners) else 0.0


def resolve_resources(hp: RLlibPPOParams, cluster_gpus: float) -> RLlibPPOParams:
    """``hp`` with ``num_gpus_per_learner`` fixed to a number for this cluster."""
    return hp.model_copy(update={"num_gpus_per_learner": gpus_per_learner(hp, cluster_gpus)})


def on_episode_end(*, episode: Any, metrics_logger: Any = None, **_: Any) -> None:
    """RLlib callback: log the episode's summed ``info["cost"]`` as ``episode_cost``."""
    if metrics_logger is None:
        return
    cost = 0.0
    for info in episode.get_infos():
        if isinstance(info, dict) and "cost" in info:
            cost += float(np.asarray(info["cost"]))
    metrics_logger.log_value("episode_cost", cost, reduce="mean", window=20)


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
                     num_cpus_per_env_runner=hp.num_cpus_per_env_runner)
        .learners(num_learners=hp.num_learners, num_gpus_per_learner=gpus_per_learner(hp, 0.0),
                  num_cpus_per_learner=hp.num_cpus_per_learner)
        .resources(placement_strategy=hp.placement_strategy, num_cpus_for_main_process=hp.num_cpus_for_main_process)
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


class AlgorithmHost:
    """One RLlib PPO Algorithm, owned by a Ray actor in the run's placement group.

    Methods return plain values (result dicts, archive bytes), so the driver may run on any node.
    """

    def __init__(self, hp: RLlibPPOParams, twin_id: str, env_params: dict[str, Any], seed: int) -> None:
        register_env()
        config = build_config(hp, twin_id, env_params, seed).callbacks(on_episode_end=on_episode_end)
        self.algo = config.build_algo()

    def train(self) -> dict[str, Any]:
        return self.algo.train()

    def save(self, path: str) -> None:
        """An Algorithm checkpoint at ``path`` (a directory every node can reach)."""
        self.algo.save_to_path(path)

    def restore(self, path: str) -> None:
        self.algo.restore_from_path(path)

    def policy_archive(self, obs_space_shape: tuple[int, ...]) -> bytes:
        """The current policy as :func:`save_policy` writes it, packed as a ``.tar`` archive."""
        import io
        import tarfile
        import tempfile

        sync_obs_filters(self.algo)
        with tempfile.TemporaryDirectory() as tmp:
            save_policy(self.algo, tmp, obs_space_shape)
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                tar.add(tmp, arcname=".")
        return buf.getvalue()

    def env_runner_nodes(self) -> list[str]:
        """Ray node id of every remote env runner."""
        import ray

        return list(self.algo.env_runner_group.foreach_env_runner(
            lambda _runner: ray.get_runtime_context().get_node_id(), local_env_runner=False))

    def stop(self) -> None:
        self.algo.stop()


def unpack_policy(archive: bytes, directory: str | Path) -> Path:
    """Extract a :meth:`AlgorithmHost.policy_archive` into ``directory`` (replacing its content)."""
    import io
    import shutil
    import tarfile

    directory = Path(directory)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r") as tar:
        tar.extractall(directory, filter="data")
    return directory


def _summed(bundles: list[dict[str, float]]) -> dict[str, float]:
    total: dict[str, float] = {}
    for bundle in bundles:
        for k, v in bundle.items():
            total[k] = total.get(k, 0.0) + v
    return total


def start_host(hp: RLlibPPOParams, twin_id: str, env_params: dict[str, Any], seed: int,
               timeout_s: float = 120.0):
    """Reserve the run's placement group and start its :class:`AlgorithmHost`; returns ``(host, pg)``.

    ``hp.num_gpus_per_learner`` must be resolved (:func:`resolve_resources`). Raises ``ValueError``
    naming the bundles when the cluster cannot place them within ``timeout_s``.
    """
    import ray
    from ray.rllib.algorithms.ppo import PPO
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    register_env()
    factory = PPO.default_resource_request(build_config(hp, twin_id, env_params, seed))
    # bundle 0 hosts the algorithm (env runner i takes bundle i); a head reserving nothing keeps a
    # token CPU share so that it stays in the group (RLlib's factory drops an empty head bundle)
    bundles = ([{"CPU": 0.01}] if factory.head_bundle_is_empty else []) + factory.bundles
    have = ray.cluster_resources()
    short = {k: v for k, v in _summed(bundles).items() if v > have.get(k, 0.0) + 1e-9}
    if short:
        raise ValueError(f"the Ray cluster has too few resources for the run: it needs {short} in all "
                         f"(bundles {bundles}), the cluster has {have}: lower agent.num_env_runners / "
                         f"num_cpus_per_env_runner / num_learners / num_gpus_per_learner")
    pg = placement_group(bundles, strategy=factory.strategy)
    try:
        ray.get(pg.ready(), timeout=timeout_s)
    except ray.exceptions.GetTimeoutError:
        remove_placement_group(pg)
        raise ValueError(f"the Ray cluster could not place the run's bundles {bundles} (strategy "
                         f"{factory.strategy}) within {timeout_s:.0f} s: it is busy, or no node fits one "
                         f"bundle") from None
    main = bundles[0]
    host = ray.remote(AlgorithmHost).options(
        num_cpus=main.get("CPU", 0), num_gpus=main.get("GPU", 0), max_restarts=0,
        scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=0,
                                                             placement_group_capture_child_tasks=True),
    ).remote(hp, twin_id, env_params, seed)
    return host, pg


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
