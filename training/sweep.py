"""``twingym sweep``: hyperparameter search with Ray Tune; every trial is an ordinary run directory.

The sweep directory ``<run.root>/sweep_<twin>_<backend>_<time>/`` holds one run directory per trial
(named after the Tune trial), Tune's own state under ``tune/``, ``results.json`` (one row per trial,
best first) and ``best.yaml``: the best trial's config, which ``twingym train`` accepts as it is.

Search spaces are dotted config keys mapped to specs: ``loguniform:LOW:HIGH``, ``uniform:LOW:HIGH``,
``randint:LOW:HIGH``, ``choice:A,B,C`` (sampled) or ``grid:A,B,C`` (every value, in that order, in
each of the ``--samples`` repeats; values parsed as YAML). Without ``--param`` a default
space for the backend is used (its ``sweep_space`` in :data:`twingym.agents.backends.BACKENDS`).

Schedulers (:data:`SCHEDULERS`):

- ``fifo``: every trial runs its whole budget (any backend);
- ``asha``: asynchronous successive halving: at each rung (``grace_period`` x 2^k reports) a trial
  whose training return is below the median of those already recorded there stops;
- ``pbt``: population-based training (synchronous): every ``perturbation_interval`` checkpoints the
  trials in the bottom quarter (at least one of two) restart from a top trial's checkpoint with its values perturbed
  (``agent.learning_rate`` and ``agent.ent_coef`` at least, plus every searched key: ranges are
  resampled or scaled by 0.8/1.2, choices move to a neighbouring value).

``asha`` and ``pbt`` act on the reports JAX PPO trials make at each checkpoint (one per chunk:
``env_steps``, ``train_return``). Every trial ends with the final evaluation's ``return_mean``, which
ranks the trials. With PBT the best trial's *last* values are written to ``best.yaml``.

Trials need ``resources_per_trial`` (``{"cpu": 1, "gpu": 0}`` by default) and run on the Ray of
:mod:`twingym.training.ray_session` (a cluster with ``--ray-address``/``RAY_ADDRESS``); on a cluster
the sweep directory must be on a file system every node reaches.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from twingym.agents.backends import backend
from twingym.training import run_dir as rd
from twingym.training.config import ConfigError, TrainConfig, parse_config, parse_scalar


def parse_space(specs: dict[str, str]) -> dict[str, Any]:
    """Dotted key -> Ray Tune sampler."""
    from ray import tune

    space = {}
    for key, spec in specs.items():
        kind, _, rest = spec.partition(":")
        try:
            if kind in ("choice", "grid"):
                values = [parse_scalar(v) for v in rest.split(",")]
                space[key] = tune.choice(values) if kind == "choice" else tune.grid_search(values)
            elif kind in ("loguniform", "uniform", "randint"):
                low, high = (float(v) for v in rest.split(":"))
                space[key] = (tune.loguniform(low, high) if kind == "loguniform" else
                              tune.uniform(low, high) if kind == "uniform" else tune.randint(int(low), int(high)))
            else:
                raise ValueError
        except ValueError:
            raise ConfigError(f"sweep parameter {key}: bad spec {spec!r} (expected loguniform:LOW:HIGH, "
                              f"uniform:LOW:HIGH, randint:LOW:HIGH, choice:A,B,... or grid:A,B,...)") from None
    return space


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    for p in parts[:-1]:
        data = data.setdefault(p, {})
    data[parts[-1]] = value


def trial_config(base: dict[str, Any], sampled: dict[str, Any], root: str, name: str) -> TrainConfig:
    import copy

    data = copy.deepcopy(base)
    for key, value in sampled.items():
        _set_dotted(data, key, value)
    data["run"] = {**data.get("run", {}), "root": root, "name": name, "progress": False}
    return parse_config(data)


SCHEDULERS = ("fifo", "asha", "pbt")
#: PBT explores these keys (besides every searched key) when their agent has them.
PBT_KEYS = {"agent.learning_rate": "loguniform:1e-5:1e-2", "agent.ent_coef": "uniform:0.0:0.05"}


def _scheduler(name: str, specs: dict[str, str], grace_period: int, perturbation_interval: int):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining

    if name == "asha":
        return ASHAScheduler(time_attr="training_iteration", grace_period=grace_period, reduction_factor=2)
    if name == "pbt":
        # choices explore to a neighbouring value; ranges resample or scale by 0.8/1.2. Synchronous: at
        # every interval the whole population is ranked, so the bottom quarter always exploits
        mutations = {k: _choices(v) or sampler for (k, v), sampler in zip(specs.items(), parse_space(specs).values(),
                                                                        strict=True)}
        return PopulationBasedTraining(time_attr="training_iteration", perturbation_interval=perturbation_interval,
                                       hyperparam_mutations=mutations, quantile_fraction=0.25, synch=True)
    return FIFOScheduler()


def _choices(spec: str) -> list[Any] | None:
    kind, _, rest = spec.partition(":")
    return [parse_scalar(v) for v in rest.split(",")] if kind in ("choice", "grid") else None


RESTORES_FILE = "pbt_restores.jsonl"


def _restore_donor(run_dir: Path, cfg: TrainConfig, donor: Path, sampled: dict[str, Any]) -> None:
    """Make ``run_dir`` resume from the checkpoint folder ``donor`` under ``cfg``: another trial's (a
    PBT exploit) or its own (a paused trial resumed). One line per restore goes to
    ``RUN/pbt_restores.jsonl`` (env steps, checkpoint folder, the values now in force)."""
    import json
    import shutil

    from twingym.training.config import dump_config

    steps = int(rd.read_checkpoint_meta(donor)["env_steps"])
    shutil.rmtree(run_dir / rd.CHECKPOINTS, ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / rd.CONFIG_FILE).write_text(dump_config(cfg))
    shutil.copytree(donor, rd.checkpoint_dir(run_dir, steps))
    with open(run_dir / RESTORES_FILE, "a") as f:
        f.write(json.dumps({"env_steps": steps, "checkpoint": str(donor), "values": sampled}, default=str) + "\n")


def _trainable(base: dict[str, Any], root: str, reports: bool, twins: list[dict[str, Any]]):
    """The Tune function trainable: one run directory per trial, reports at each checkpoint.

    ``twins`` are the portable specs of the twins registered in the calling process, registered
    again in each trial worker."""

    def trainable(sampled: dict[str, Any]) -> None:
        from ray import tune
        from twingym.envs.registry import register_portable
        from twingym.training import driver

        for twin in twins:
            register_portable(twin)

        name = tune.get_context().get_trial_name()
        cfg = trial_config(base, sampled, root, name)
        run_dir = Path(root) / name

        def on_checkpoint(steps: int, last: dict[str, float], folder: Path) -> None:
            tune.report({"env_steps": steps, "train_return": last.get("train/episode_return", float("nan")),
                         "run_dir": str(run_dir)},
                        checkpoint=tune.Checkpoint.from_directory(str(folder)))

        hook = {"on_checkpoint": on_checkpoint} if reports else {}
        donor = tune.get_checkpoint()
        if donor is not None:  # PBT restarts this trial from a (possibly another trial's) checkpoint
            with donor.as_directory() as folder:
                _restore_donor(run_dir, cfg, Path(folder), sampled)
            run_dir, summary = driver.resume(run_dir, **hook)
        else:
            run_dir, summary = driver.train(cfg, **hook)
        final = summary["final_eval"] if summary else {}
        out = {"return_mean": final.get("policy", {}).get("return_mean", float("nan")), "run_dir": str(run_dir),
               "env_steps": summary["env_steps"] if summary else 0,
               "train_return": float((summary or {}).get("final_train_return") or float("nan"))}
        if final.get("difference"):
            out["difference_vs_reference"] = final["difference"]["mean"]
        tune.report(out)

    return trainable


def run_sweep(cfg: TrainConfig, samples: int, ray_address: str | None = None, max_concurrent: int = 0,
              params: dict[str, str] | None = None, scheduler: str = "fifo",
              resources_per_trial: dict[str, float] | None = None, grace_period: int = 1,
              perturbation_interval: int = 2) -> tuple[Path, list[dict[str, Any]]]:
    """Run ``samples`` trials; returns the sweep directory and one result row per trial (best first)."""
    from ray import tune
    from twingym.training.ray_session import ray_session

    if scheduler not in SCHEDULERS:
        raise ConfigError(f"unknown scheduler {scheduler!r}; expected one of {', '.join(SCHEDULERS)}")
    if scheduler != "fifo" and cfg.backend != "jax_ppo":
        raise ConfigError(f"the {scheduler} scheduler acts on checkpoint reports of jax_ppo trials; use "
                          f"--scheduler fifo for {cfg.backend}")
    resources = {"cpu": 1.0, "gpu": 0.0, **(resources_per_trial or {})}
    unknown = sorted(set(resources) - {"cpu", "gpu"})
    if unknown or any(v < 0 for v in resources.values()):
        raise ConfigError(f"resources_per_trial takes cpu and gpu (>= 0), got {resources_per_trial}")
    specs = {**(PBT_KEYS if scheduler == "pbt" else {}), **(params or backend(cfg.backend).sweep_space)}
    space = parse_space(specs)
    for key in specs:  # fail early on a key the schema does not know
        trial_config(cfg.model_dump(mode="json"), {key: _example(space[key])}, "/nonexistent", "check")
    sweep_dir = rd.create_run_dir(cfg.run.root, f"sweep_{cfg.twin}_{cfg.backend}_{time.strftime('%Y%m%d-%H%M%S')}")
    base = cfg.model_dump(mode="json")
    if scheduler != "fifo":
        base["checkpoint"] = {**base.get("checkpoint", {}), "every_steps": 0}  # a report per chunk
    root = str(sweep_dir.resolve())
    from twingym.envs.registry import portable_spec, registered

    twins = [portable_spec(twin_id) for twin_id in registered()]
    with ray_session(ray_address, num_cpus=int(getattr(cfg.agent, "num_cpus", 2))):
        tuner = tune.Tuner(
            tune.with_resources(_trainable(base, root, scheduler != "fifo", twins), resources),
            param_space=space,
            tune_config=tune.TuneConfig(num_samples=samples, max_concurrent_trials=max_concurrent or None,
                                        scheduler=_scheduler(scheduler, specs, grace_period, perturbation_interval),
                                        metric="train_return" if scheduler != "fifo" else "return_mean",
                                        mode="max"),
            run_config=tune.RunConfig(storage_path=root, name="tune", verbose=0))
        grid = tuner.fit()
    rows = []
    for res in grid:
        m = res.metrics or {}
        rows.append({"trial": Path(m.get("run_dir", "?")).name, "return_mean": m.get("return_mean", float("nan")),
                     "difference_vs_reference": m.get("difference_vs_reference"), "run_dir": m.get("run_dir"),
                     "env_steps": m.get("env_steps", 0), "iterations": int(m.get("training_iteration", 0)),
                     "status": _status(res, m), "config": dict(res.config or {}),
                     "error": str(res.error).splitlines()[0] if res.error else None})
    rows.sort(key=lambda r: -(r["return_mean"] if r["return_mean"] == r["return_mean"] else float("-inf")))
    write_results(sweep_dir, cfg, rows)
    return sweep_dir, rows


def write_results(sweep_dir: Path, cfg: TrainConfig, rows: list[dict[str, Any]]) -> Path | None:
    """``results.json`` (all rows) and ``best.yaml`` (the best finished trial's config; its run
    settings back to the base config's). Returns the path of ``best.yaml`` (None if no trial finished)."""
    import json

    from twingym.training.config import dump_config

    (sweep_dir / "results.json").write_text(json.dumps(rows, indent=1, default=str))
    finished = [r for r in rows if r["error"] is None and r["return_mean"] == r["return_mean"]]
    if not finished:
        return None
    best = trial_config(cfg.model_dump(mode="json"), finished[0]["config"], cfg.run.root, "x")
    best = best.model_copy(update={"run": cfg.run})
    path = sweep_dir / "best.yaml"
    path.write_text(f"# best of {len(rows)} trials of {sweep_dir.name}: {finished[0]['trial']}, final "
                    f"evaluation return {finished[0]['return_mean']:.4g}\n" + dump_config(best))
    return path


def _status(res: Any, metrics: dict[str, Any]) -> str:
    """``finished`` (final evaluation reported), ``stopped`` (by the scheduler) or ``error``."""
    if res.error:
        return "error"
    return "finished" if "return_mean" in metrics else "stopped"


def _example(sampler: Any) -> Any:
    if isinstance(sampler, dict) and "grid_search" in sampler:
        return sampler["grid_search"][0]
    return sampler.sample() if hasattr(sampler, "sample") else sampler


def results_table(rows: list[dict[str, Any]]):
    from rich.table import Table

    table = Table(title="sweep (best first)")
    for col in ("trial", "status", "iterations", "env steps", "return", "vs reference", "values", "error"):
        table.add_column(col)
    for r in rows:
        vals = ", ".join(f"{k.split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}"
                         for k, v in r["config"].items())
        diff = r["difference_vs_reference"]
        table.add_row(r["trial"], r.get("status", ""), str(r.get("iterations", "")),
                      f"{int(r.get('env_steps') or 0):,}", f"{r['return_mean']:.3f}",
                      "" if diff is None else f"{diff:+.3f}", vals, r["error"] or "")
    return table
