"""``twingym sweep``: hyperparameter search with Ray Tune; every trial is an ordinary run directory.

The sweep directory ``<run.root>/sweep_<twin>_<backend>_<time>/`` holds one run directory per trial
(named after the Tune trial) and Tune's own state under ``tune/``. Each trial trains with the base
config plus its sampled values and reports the final evaluation's mean return (maximised).

Search spaces are dotted config keys mapped to specs: ``loguniform:LOW:HIGH``, ``uniform:LOW:HIGH``,
``randint:LOW:HIGH`` or ``choice:A,B,C`` (values parsed as YAML). Without ``--param`` a default
space for the backend is used (its ``sweep_space`` in :data:`twingym.agents.backends.BACKENDS`).

Twins registered in the calling process (a researcher's own twin, the test twins) are registered
again inside the trial workers, with the caller's ``sys.path``.
"""

from __future__ import annotations

import os
import sys
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
            if kind == "choice":
                space[key] = tune.choice([parse_scalar(v) for v in rest.split(",")])
            elif kind in ("loguniform", "uniform", "randint"):
                low, high = (float(v) for v in rest.split(":"))
                space[key] = (tune.loguniform(low, high) if kind == "loguniform" else
                              tune.uniform(low, high) if kind == "uniform" else tune.randint(int(low), int(high)))
            else:
                raise ValueError
        except ValueError:
            raise ConfigError(f"sweep parameter {key}: bad spec {spec!r} (expected loguniform:LOW:HIGH, "
                              f"uniform:LOW:HIGH, randint:LOW:HIGH or choice:A,B,...)") from None
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


def _registrations() -> list[tuple[str, str]]:
    from twingym.envs import registered

    return [(s.id, s.entry_point) for s in registered().values()]


def run_sweep(cfg: TrainConfig, samples: int, ray_address: str | None = None, max_concurrent: int = 0,
              params: dict[str, str] | None = None) -> tuple[Path, list[dict[str, Any]]]:
    """Run ``samples`` trials; returns the sweep directory and one result row per trial (best first)."""
    import ray
    from ray import tune

    specs = params or backend(cfg.backend).sweep_space
    space = parse_space(specs)
    for key in specs:  # fail early on a key the schema does not know
        trial_config(cfg.model_dump(mode="json"), {key: _example(space[key])}, "/nonexistent", "check")
    sweep_dir = rd.create_run_dir(cfg.run.root, f"sweep_{cfg.twin}_{cfg.backend}_{time.strftime('%Y%m%d-%H%M%S')}")
    base = cfg.model_dump(mode="json")
    root = str(sweep_dir.resolve())
    regs, paths = _registrations(), list(sys.path)

    def trainable(sampled: dict[str, Any]) -> dict[str, Any]:
        import twingym.envs as twin_envs
        from twingym.training import driver

        for p in paths:
            if p not in sys.path:
                sys.path.append(p)
        for twin_id, entry in regs:
            if twin_id not in twin_envs.registered():
                twin_envs.register(twin_id, entry)
        name = tune.get_context().get_trial_name()
        run_dir, summary = driver.train(trial_config(base, sampled, root, name))
        final = summary["final_eval"] if summary else {}
        out = {"return_mean": final.get("policy", {}).get("return_mean", float("nan")), "run_dir": str(run_dir)}
        if final.get("difference"):
            out["difference_vs_reference"] = final["difference"]["mean"]
        return out

    address = ray_address or os.environ.get("RAY_ADDRESS")
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=getattr(cfg.agent, "num_cpus", 2), include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
    try:
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}), param_space=space,
            tune_config=tune.TuneConfig(num_samples=samples, metric="return_mean", mode="max",
                                        max_concurrent_trials=max_concurrent or None),
            run_config=tune.RunConfig(storage_path=str(sweep_dir.resolve()), name="tune", verbose=0))
        grid = tuner.fit()
    finally:
        if started_here:
            ray.shutdown()
    rows = []
    for res in grid:
        m = res.metrics or {}
        rows.append({"trial": Path(m.get("run_dir", "?")).name, "return_mean": m.get("return_mean", float("nan")),
                     "difference_vs_reference": m.get("difference_vs_reference"), "run_dir": m.get("run_dir"),
                     "config": dict(res.config or {}), "error": str(res.error).splitlines()[0] if res.error else None})
    rows.sort(key=lambda r: -(r["return_mean"] if r["return_mean"] == r["return_mean"] else float("-inf")))
    return sweep_dir, rows


def _example(sampler: Any) -> Any:
    return sampler.sample() if hasattr(sampler, "sample") else sampler


def results_table(rows: list[dict[str, Any]]):
    from rich.table import Table

    table = Table(title="sweep (best first)")
    for col in ("trial", "return", "vs reference", "values", "error"):
        table.add_column(col)
    for r in rows:
        vals = ", ".join(f"{k.split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}"
                         for k, v in r["config"].items())
        diff = r["difference_vs_reference"]
        table.add_row(r["trial"], f"{r['return_mean']:.3f}", "" if diff is None else f"{diff:+.3f}", vals,
                      r["error"] or "")
    return table
