"""Start, resume and dispatch a training run to its backend loop.

``start_run(cfg)`` creates the run directory and writes the resolved ``config.yaml``;
``train(cfg)`` runs it; ``resume(run_dir)`` reloads ``config.yaml`` and continues from the last
checkpoint. Each backend's train loop is named by its entry in :data:`twingym.agents.backends.BACKENDS`
(the built-in ones are ``jax_loop``, ``sb3_loop``, ``rllib_loop``).

Both hold the run directory's lock while they write (a second ``train --resume`` of the same run is
refused at once), and a new run that fails before its first logged step leaves no directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twingym.agents.backends import BACKENDS, backend
from twingym.envs import make
from twingym.training import run_dir as rd
from twingym.training.config import (
    ConfigError,
    TrainConfig,
    dump_config,
    load_config,
    load_yaml,
    parse_config,
)


def check_twin(cfg: TrainConfig) -> None:
    """Fail early (one line) on an unknown twin or a bad twin parameter override."""
    try:
        env, _ = make(cfg.twin, **cfg.env_params)
    except ValueError as err:
        raise ConfigError(f"env_params: {err}") from None
    if cfg.train_scenarios:
        if not backend(cfg.backend).train_scenarios:
            supported = ", ".join(n for n, b in BACKENDS.items() if b.train_scenarios)
            raise ConfigError(f"train_scenarios is supported by the {supported} backend only (this config uses "
                              f"{cfg.backend})")
        unknown = sorted(set(cfg.train_scenarios) - set(env.scenarios()))
        if unknown:
            raise ConfigError(f"train_scenarios: unknown scenario(s) {', '.join(unknown)} of {cfg.twin}; "
                              f"known: {', '.join(env.scenarios())}")


def start_run(cfg: TrainConfig) -> Path:
    """Create the run directory and write ``config.yaml`` (with the run name filled in).

    Across processes, process 0 creates it and the others get its path (they write nothing).
    """
    from twingym.training.distributed import broadcast_text, is_main

    name = cfg.run.name or rd.default_run_name(cfg.twin, cfg.backend)
    if not is_main():
        return Path(cfg.run.root) / broadcast_text(name)
    path = rd.create_run_dir(cfg.run.root, name)
    broadcast_text(path.name)
    cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"name": path.name})})
    (path / rd.CONFIG_FILE).write_text(dump_config(cfg))
    return path


def run_config(run_dir: str | Path) -> TrainConfig:
    """The resolved config saved in a run directory."""
    return parse_config(load_yaml(rd.require_run_dir(run_dir) / rd.CONFIG_FILE))


def _dispatch(cfg: TrainConfig, run_dir: Path, resume: bool, **kwargs: Any) -> dict[str, Any] | None:
    return backend(cfg.backend).train_function()(cfg, run_dir, resume=resume, **kwargs)


def train(cfg: TrainConfig, **kwargs: Any) -> tuple[Path, dict[str, Any] | None]:
    """Train ``cfg`` into a new run directory; returns ``(run_dir, summary)``.

    The directory is created once the config and the twin were checked; if the run then fails
    before it logged a step or wrote a checkpoint, the directory is removed again.
    """
    from twingym.training.distributed import is_main

    check_twin(cfg)
    rd.check_root(cfg.run.root)
    path = start_run(cfg)
    try:
        with _writer_lock(path):
            return path, _dispatch(cfg, path, resume=False, **kwargs)
    except BaseException:
        if is_main():
            rd.remove_if_unstarted(path)
        raise


def resume(run_dir: str | Path, **kwargs: Any) -> tuple[Path, dict[str, Any] | None]:
    """Continue the run in ``run_dir`` from its last checkpoint (refused while another holds it)."""
    path = rd.require_run_dir(run_dir)
    cfg = run_config(path)
    check_twin(cfg)
    with _writer_lock(path):
        return path, _dispatch(cfg, path, resume=True, **kwargs)


def _writer_lock(path: Path):
    """The run directory's lock, held by the process that writes (process 0 of several)."""
    import contextlib

    from twingym.training.distributed import is_main

    return rd.run_lock(path) if is_main() else contextlib.nullcontext()


def train_from_file(ref: str, overrides: list[str] | None = None, **kwargs: Any
                    ) -> tuple[Path, dict[str, Any] | None]:
    return train(load_config(ref, overrides), **kwargs)
