"""The typed training config (pydantic v2): one YAML file per twin x agent under ``configs/``.

Top-level keys::

    twin: WindFarm-v0          # registered twin id
    env_params: {}             # twin parameter overrides (names checked against the twin)
    total_steps: 1000000       # env steps per seed
    seed: 0
    train_scenarios: []        # jax_ppo: train on a mixture of the twin's scenarios (copy i: i mod k)
    agent:                     # backend and its hyperparameters; ``backend`` selects the schema
      backend: jax_ppo         # a key of twingym.agents.backends.BACKENDS: jax_ppo | sb3_ppo | sb3_sac | rllib_ppo
      ...
    eval: {episodes: 64, every_steps: 0}
    checkpoint: {every_steps: 0, keep: 3}
    run: {root: runs, name: null}

Unknown keys and wrong types raise :class:`ConfigError` with one line naming the dotted key and what
was expected; so do batch sizes no machine can hold (:func:`check_batch_sizes`). ``--set key=value`` overrides (:func:`apply_overrides`) parse the value as a YAML scalar.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from twingym.agents.backends import BACKENDS


class ConfigError(ValueError):
    """A config problem, reported as one line naming the key."""


class EvalConfig(BaseModel):
    """Evaluation: deterministic policy vs the twin's baselines on common scenario seeds."""

    model_config = ConfigDict(extra="forbid")
    episodes: int = Field(64, gt=0, description="episodes of the final evaluation")
    every_steps: int = Field(0, ge=0, description="evaluate during training every N env steps (0: never)")
    during_episodes: int = Field(16, gt=0, description="episodes of each evaluation during training")
    seed: int = Field(12345, description="seed of the evaluation scenarios (shared by all controllers)")


class CheckpointConfig(BaseModel):
    """Checkpoints under ``RUN/checkpoints/``; the last ``keep`` are kept."""

    model_config = ConfigDict(extra="forbid")
    every_steps: int = Field(0, ge=0, description="checkpoint every N env steps (0: at every log chunk)")
    keep: int = Field(3, gt=0, description="number of checkpoints kept")


class RunConfig(BaseModel):
    """Where the run directory goes: ``root/name`` (name defaults to ``<twin>_<backend>_<time>``)."""

    model_config = ConfigDict(extra="forbid")
    root: str = Field("runs", description="parent folder of run directories")
    name: str | None = Field(None, description="run directory name")
    progress: bool = Field(True, description="show a rich progress bar")
    storage: str | None = Field(
        None, description="Ray cluster runs: a folder every node can reach (shared file system) for "
                          "the RLlib Algorithm checkpoints (STORAGE/<run name>/step_*); default: the run "
                          "directory")


#: the ``agent:`` section: one hyperparameter model per registered backend, chosen by ``backend``
AgentConfig = Annotated[Union[tuple(b.params_model() for b in BACKENDS.values())],  # noqa: UP007
                        Field(discriminator="backend")]


class TrainConfig(BaseModel):
    """A whole training run."""

    model_config = ConfigDict(extra="forbid")
    twin: str = Field(description="registered twin id, e.g. WindFarm-v0")
    env_params: dict[str, Any] = Field(default_factory=dict, description="twin parameter overrides")
    total_steps: int = Field(gt=0, description="env steps per seed")
    seed: int = Field(0, description="training seed")
    train_scenarios: list[str] = Field(
        default_factory=list,
        description="jax_ppo only: train on a mixture of the twin's scenarios (copy i of the batch runs "
                    "scenario i mod k, names may repeat to weight them); evaluation stays on env_params")
    agent: AgentConfig
    eval: EvalConfig = Field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    run: RunConfig = Field(default_factory=RunConfig)

    @property
    def backend(self) -> str:
        return self.agent.backend


#: most twin copies one run may step at once: 16.8 M (beyond it no single machine holds the states).
MAX_ENV_COPIES = 2**24
#: most samples one update may hold: arrays are indexed with int32 (2**31 - 1 elements).
MAX_UPDATE_SAMPLES = 2**31 - 1


def check_batch_sizes(cfg: TrainConfig) -> None:
    """Refuse batch sizes beyond :data:`MAX_ENV_COPIES` / :data:`MAX_UPDATE_SAMPLES` (one line).

    Each backend's hyperparameter model says what its batch sizes are (``batch_sizes()``: twin copies
    stepped at once and samples held for one update, each with the config expression it comes from)
    and may name a further inconsistency (``batch_problem()``).
    """
    (copies, copies_what), (samples, samples_what) = cfg.agent.batch_sizes()
    if copies > MAX_ENV_COPIES:
        raise ConfigError(f"config key {copies_what.split(' ')[0]!r}: {copies_what} = {copies:,} twin copies; "
                          f"at most {MAX_ENV_COPIES:,} can be stepped at once")
    if samples > MAX_UPDATE_SAMPLES:
        raise ConfigError(f"config key {samples_what.split(' ')[0]!r}: {samples_what} = {samples:,} samples "
                          f"per update; at most {MAX_UPDATE_SAMPLES:,} (int32 indexing)")
    problem = getattr(cfg.agent, "batch_problem", lambda: None)()
    if problem:
        raise ConfigError(problem)


def _format_error(err: ValidationError) -> str:
    e = err.errors()[0]
    loc = [str(p) for p in e["loc"]]
    # drop the discriminator tag pydantic inserts into the location ("agent.jax_ppo.lr" -> "agent.lr")
    if len(loc) >= 2 and loc[0] == "agent" and loc[1] in BACKENDS:
        loc = [loc[0], *loc[2:]]
    key = ".".join(loc) or "config"
    kind, msg = e["type"], e["msg"]
    if kind == "extra_forbidden":
        return f"unknown config key {key!r}"
    if kind == "missing":
        return f"missing config key {key!r}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return f"config key {key}.backend must be one of {', '.join(BACKENDS)}"
    got = e.get("input")
    got_txt = f" (got {got!r})" if not isinstance(got, dict | list) else ""
    return f"config key {key!r}: {msg[0].lower() + msg[1:]}{got_txt}"


def parse_config(data: dict[str, Any]) -> TrainConfig:
    """Validate a config dict; raise :class:`ConfigError` with one line on the first problem."""
    if not isinstance(data, dict):
        raise ConfigError("a config must be a YAML mapping of keys to values")
    try:
        cfg = TrainConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(err)) from None
    check_batch_sizes(cfg)
    return cfg


def parse_scalar(text: str) -> Any:
    """A ``--set`` value parsed as YAML (``3e-4`` -> float, ``true`` -> bool, ``[64, 64]`` -> list)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    # YAML 1.1 reads "3e-4" as a string; accept it as a float
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``key.sub=value`` overrides applied (values parsed as YAML)."""
    import copy

    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        parts = key.strip().split(".")
        node = data
        for p in parts[:-1]:
            child = node.get(p)
            if child is None:
                child = node[p] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {p!r} is not a section")
            node = child
        node[parts[-1]] = parse_scalar(value)
    return data


def packaged_configs() -> Path:
    """The folder of configs shipped inside the package (``twingym.configs``)."""
    return Path(str(importlib.resources.files("twingym.configs")))


def resolve_config_path(ref: str) -> Path:
    """A config path, or a packaged name such as ``wind_farm/ppo_jax`` (``.yaml`` optional)."""
    path = Path(ref)
    if path.is_file():
        return path
    name = ref if ref.endswith((".yaml", ".yml")) else f"{ref}.yaml"
    candidates = [packaged_configs() / name]
    if name.startswith("configs/"):
        candidates.append(packaged_configs() / name[len("configs/"):])
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(f"config {ref!r} not found (neither a file nor a packaged config such as "
                            f"'wind_farm/ppo_jax')")


def load_yaml(path: str | Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a YAML mapping of keys to values")
    return data


def load_config(ref: str, overrides: list[str] | None = None) -> TrainConfig:
    """Load, override and validate a config (file path or packaged name)."""
    data = apply_overrides(load_yaml(resolve_config_path(ref)), overrides or [])
    return parse_config(data)


def dump_config(cfg: TrainConfig) -> str:
    """The resolved config as YAML (every default written out)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
