"""CLI verbs ``train`` (a config into a run directory, or ``--resume RUN``), ``evaluate`` (a run or a
baseline on common scenario seeds) and ``sweep`` (a Ray Tune search, one run directory per trial)."""

from __future__ import annotations

from pathlib import Path

import typer

from twingym.cli.errors import UserError

SET_HELP = "Override a config key: --set agent.learning_rate=1e-3 (value parsed as YAML); repeatable."


def register(app: typer.Typer) -> None:
    @app.command("train")
    def _train(
        config: str = typer.Argument(None, help="Config file, or a packaged name such as wind_farm/ppo_jax."),
        set_: list[str] = typer.Option([], "--set", help=SET_HELP),
        resume: Path = typer.Option(None, "--resume", help="Continue this run directory from its last checkpoint."),
        ray_address: str = typer.Option(None, "--ray-address", help="Join this Ray cluster (else RAY_ADDRESS): "
                                        "RLlib spreads its env runners over it; jax_ppo runs one process per "
                                        "node or GPU there."),
        no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
        coordinator: str = typer.Option(None, "--coordinator", help="JAX PPO across processes: HOST:PORT of "
                                        "process 0 (with --num-processes, --process-id; Slurm sets these itself)."),
        num_processes: int = typer.Option(None, "--num-processes", help="JAX PPO: number of processes (with "
                                          "--ray-address: default one per GPU, else one per node)."),
        process_id: int = typer.Option(None, "--process-id", help="JAX PPO: this process's index (0 writes)."),
        cpus_per_process: float = typer.Option(1.0, "--cpus-per-process", min=0.0,
                                               help="JAX PPO on Ray: CPUs each process reserves."),
    ) -> None:
        """Train an agent on a twin; writes a run directory (config, TensorBoard, checkpoints, final policy)."""
        from twingym.training.ray_session import address_env

        with address_env(ray_address):  # joined by RLlib (and Ray-launched jax_ppo) for this command only
            _train_command(config, set_, resume, ray_address, no_progress, coordinator, num_processes, process_id,
                           cpus_per_process)

    @app.command("evaluate")
    def _evaluate(
        target: str = typer.Argument(..., help="A run directory, or baseline:NAME (with --twin)."),
        twin: str = typer.Option(None, "--twin", help="Twin id (required for baseline:NAME)."),
        episodes: int = typer.Option(64, "--episodes", min=1, help="Episodes per controller."),
        seed: int = typer.Option(12345, "--seed", help="Seed of the shared scenario keys."),
        set_: list[str] = typer.Option([], "--set", help="Twin parameter override name=value; repeatable."),
        tune_baselines: bool = typer.Option(False, "--tune-baselines", help="First grid-search the tunable "
                                            "baselines on tuning seeds and write the chosen values for the twin."),
        scenario: list[str] = typer.Option([], "--scenario", help="A scenario of the twin (its parameter "
                                           "overrides on top of the run's), or all; repeatable (default: "
                                           "nominal, the run's own parameters)."),
        json_out: Path = typer.Option(None, "--json", help="Also write the figures and the paired table "
                                      "to this JSON file."),
    ) -> None:
        """Evaluate a trained policy (or a baseline) and every baseline of the twin on the same scenarios;
        print each controller's figures and the paired table (policy minus every baseline: mean, 95 %
        interval, n, verdict; oracle baselines marked)."""
        from twingym.cli.paired_table import paired_table
        from twingym.jsonlines import json_safe
        from twingym.training.cli_support import evaluate_target

        if tune_baselines:
            from twingym.policies.baseline_tuning import tune_target

            _console().print(*tune_target(target, twin, set_, seed, episodes), sep="\n")
        if json_out is not None and json_out.is_dir():
            raise UserError(f"--json {json_out} is a folder, not a file")
        evaluation = evaluate_target(target, twin, episodes, seed, set_, scenario)
        console = _console()
        for table in evaluation.tables():
            console.print(table)
        console.print(paired_table(evaluation.paired(), f"{evaluation.subject} minus every baseline, paired "
                                   f"({episodes} episodes, seed {seed})", evaluation.subject))
        if json_out is not None:
            import json

            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(json_safe(evaluation.to_json()), indent=1, allow_nan=False) + "\n")
            typer.echo(f"figures and paired table: {json_out}")

    @app.command("sweep")
    def _sweep(
        config: str = typer.Argument(..., help="Config file or packaged name (the base of every trial)."),
        samples: int = typer.Option(8, "--samples", min=1, help="Number of trials."),
        set_: list[str] = typer.Option([], "--set", help=SET_HELP),
        ray_address: str = typer.Option(None, "--ray-address", help="Join this Ray cluster (else RAY_ADDRESS)."),
        max_concurrent: int = typer.Option(0, "--max-concurrent", min=0, help="Trials at once (0: Ray decides)."),
        param: list[str] = typer.Option([], "--param", help="Search space entry key=SPEC, SPEC one of "
                                        "loguniform:LOW:HIGH, uniform:LOW:HIGH, randint:LOW:HIGH, choice:A,B,C, grid:A,B,C "
                                        "(every value); repeatable (default: a space per backend)."),
        scheduler: str = typer.Option("fifo", "--scheduler", help="fifo (whole budgets), asha (early stopping) "
                                      "or pbt (population-based training; jax_ppo)."),
        cpus_per_trial: float = typer.Option(1.0, "--cpus-per-trial", min=0, help="CPUs reserved per trial."),
        gpus_per_trial: float = typer.Option(0.0, "--gpus-per-trial", min=0, help="GPUs reserved per trial."),
        perturbation_interval: int = typer.Option(2, "--perturbation-interval", min=1,
                                                  help="pbt: checkpoints (chunks) between exploit/explore steps."),
    ) -> None:
        """Hyperparameter search with Ray Tune; every trial is a run directory; best.yaml trains the best."""
        from twingym.training.config import load_config
        from twingym.training.sweep import results_table, run_sweep

        cfg = load_config(config, list(set_))
        space = {}
        for item in param:
            key, sep, spec = item.partition("=")
            if not sep:
                raise UserError(f"--param expects key=SPEC, got {item!r}")
            space[key.strip()] = spec.strip()
        sweep_dir, rows = run_sweep(cfg, samples, ray_address=ray_address, max_concurrent=max_concurrent,
                                    params=space or None, scheduler=scheduler,
                                    resources_per_trial={"cpu": cpus_per_trial, "gpu": gpus_per_trial},
                                    perturbation_interval=perturbation_interval)
        _console().print(results_table(rows))
        typer.echo(f"sweep directory: {sweep_dir}")
        best = sweep_dir / "best.yaml"
        if best.is_file():
            typer.echo(f"best config: {best} (twingym train {best})")


def _train_command(config: str | None, set_: list[str], resume: Path | None, ray_address: str | None,
                   no_progress: bool, coordinator: str | None, num_processes: int | None, process_id: int | None,
                   cpus_per_process: float) -> None:
    """The ``train`` verb: a local run, one of several ``jax.distributed`` processes, or jax_ppo on Ray."""
    from twingym.training import distributed, driver
    from twingym.training.config import load_config

    on_ray = bool(ray_address) and coordinator is None and process_id is None
    layout = None if on_ray else distributed.from_flags(coordinator, num_processes, process_id)
    if resume is not None:
        if config is not None or set_:
            raise UserError("--resume RUN continues a run with its saved config; give no CONFIG or --set")
        cfg = driver.run_config(resume)
    else:
        if config is None:
            raise UserError("give a CONFIG (e.g. configs/wind_farm/ppo_jax.yaml) or --resume RUN")
        overrides = list(set_) + (["run.progress=false"] if no_progress else [])
        cfg = load_config(config, overrides)
    if on_ray and cfg.backend == "jax_ppo":
        _train_jax_on_ray(ray_address, cfg, resume, num_processes, cpus_per_process)
        return
    if on_ray and num_processes is not None:
        raise UserError(f"--num-processes with --ray-address runs jax_ppo processes on Ray; {cfg.backend} "
                        f"sizes itself from its config (agent.num_env_runners)")
    if (layout is not None or distributed.slurm_tasks() > 1) and cfg.backend != "jax_ppo":
        if layout is not None:
            raise UserError(f"--coordinator/--num-processes/--process-id run jax_ppo across processes; "
                            f"{cfg.backend} scales with Ray (--ray-address)")
    elif distributed.initialize(layout):
        typer.echo(f"process {distributed.process_index()} of {distributed.process_count()}", err=True)
    if resume is not None:
        run_dir, summary = driver.resume(resume)
    else:
        run_dir, summary = driver.train(cfg)
    if distributed.is_main():
        _print_summary(run_dir, summary)


def _train_jax_on_ray(address: str, cfg, resume: Path | None, num_processes: int | None,
                      cpus_per_process: float) -> None:
    """``jax_ppo`` as one ``jax.distributed`` process per node or GPU of the Ray cluster at ``address``."""
    from twingym.training.ray_jax import ClusterLaunchError, train_on_ray

    try:
        run_dir, summary, procs = train_on_ray(address, cfg=None if resume else cfg, resume_dir=resume,
                                               num_processes=num_processes, cpus_per_process=cpus_per_process)
    except ClusterLaunchError as err:
        raise UserError(str(err)) from None
    nodes = len({p["node_id"] for p in procs})
    typer.echo(f"jax_ppo on Ray: {len(procs)} processes on {nodes} node(s), {procs[0]['device_count']} devices",
               err=True)
    _print_summary(run_dir, summary)


def _console():
    """A rich console; wide enough for the tables when output is not a terminal."""
    import sys

    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


def _print_summary(run_dir: Path, summary: dict | None) -> None:
    if summary is None:
        typer.echo(f"stopped; resume with: twingym train --resume {run_dir}")
        return
    final = summary.get("final_eval", {})
    pol = final.get("policy", {})
    typer.echo(f"run directory: {run_dir}")
    typer.echo(f"env steps: {summary['env_steps']:,}  wall time: {summary['wall_time_s']:.1f} s  "
               f"({summary['steps_per_s']:,.0f} steps/s)")
    if pol:
        typer.echo(f"policy return: {pol['return_mean']:.3f} [{pol['return_ci_low']:.3f}, "
                   f"{pol['return_ci_high']:.3f}] over {pol['episodes']} episodes, mean cost {pol['cost_mean']:.4f}")
    if final.get("reference"):
        ref, d = final["reference_eval"], final["difference"]
        verdict = "beats" if d["better"] else "does not beat"
        typer.echo(f"reference {final['reference']}: {ref['return_mean']:.3f}; difference {d['mean']:+.3f} "
                   f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] -> policy {verdict} the reference")
    if final.get("paired"):
        from twingym.cli.paired_table import paired_table
        from twingym.stats import Difference

        _console().print(paired_table([Difference.from_json(r) for r in final["paired"]],
                                      f"policy minus every baseline ({final['episodes']} episodes, seed "
                                      f"{final['seed']})"))
