"""CLI verb ``twingym pipeline``: the main job, end to end on embedded defaults.

1. train the default wind-farm policy (``configs/wind_farm/ppo_jax.yaml``; any config by ``--config``,
   RLlib configs start a local Ray or join ``--ray-address``);
2. export it to an ONNX bundle;
3. validate the bundle against the twin's scenario suite (report path printed);
4. start a live twin (OPC UA on loopback) in a child process;
5. deploy the bundle against it for a short while (in shadow mode when validation failed: the
   policy's actions are computed and logged next to what the twin does, nothing is written), with
   a live dashboard of the twin on loopback (URL printed);
6. print a summary: return versus baseline, validation gates, fallbacks, and where every artefact is.

Every stage's options (the training config, the live twin's speed, the deploy time, the episode
count, the output folder) are checked before the first stage starts; a bad one stops the pipeline
with one line and creates no folder. Everything lands in one folder (default
``runs/pipeline-<time>/``). A stage that fails stops the pipeline with one line and a non-zero exit;
what earlier stages wrote stays on disk. Failed validation gates make the exit code 2 after the
shadow run and the summary.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from twingym.cli.dashboard_cmd import start_background
from twingym.cli.errors import UserError

#: wide enough for the summary tables when the output is a log rather than a terminal
console = Console() if sys.stdout.isatty() else Console(width=160)


def _stage(number: int, title: str) -> float:
    console.rule(f"[bold]{number}/5 {title}")
    return time.perf_counter()


def _done(start: float, what: str) -> None:
    console.print(f"[green]done[/] {what} ({time.perf_counter() - start:.0f} s)")


def _train_sets(overrides: list[str], out: Path) -> list[str]:
    return [*overrides, f"run.root={out}", "run.name=train"]


def preflight(config: str, overrides: list[str], out: Path, deploy_seconds: float, speed: float,
              episodes: int | None) -> None:
    """Check every stage's options before anything runs; raise a one-line error on the first bad one."""
    from twingym.live.server import ServerConfig
    from twingym.training import run_dir as rd
    from twingym.training.config import load_config
    from twingym.training.driver import check_twin

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    cfg = load_config(config, _train_sets(overrides, out))
    check_twin(cfg)
    rd.check_root(out)
    if episodes is not None and episodes < 1:
        raise UserError(f"--episodes must be >= 1, got {episodes}")
    if not (math.isfinite(deploy_seconds) and deploy_seconds > 0):
        raise UserError(f"--deploy-seconds must be a finite number > 0, got {deploy_seconds:g}")
    try:
        ServerConfig(twin_id=cfg.twin, speed=speed, duration=deploy_seconds).check()
    except ValueError as err:
        raise UserError(f"live twin: {err}") from None


def train_stage(config: str, overrides: list[str], out: Path, ray_address: str | None) -> tuple[Path, dict]:
    from twingym.training.driver import train_from_file

    if ray_address:  # RLlib runs join this cluster; without it they start a local Ray
        os.environ["RAY_ADDRESS"] = ray_address
    run_dir, summary = train_from_file(config, _train_sets(overrides, out))
    return Path(run_dir), summary or {}


def run_pipeline(config: str, overrides: list[str], out: Path, deploy_seconds: float, speed: float,
                 episodes: int | None, ray_address: str | None, dashboard_port: int | None = 0) -> int:
    """Run all stages; return 0 when validation passed and the policy controlled the live twin.

    A policy that fails validation still meets the live twin, in shadow mode only (its actions are
    computed and logged, nothing is written); the summary is printed and a ``UserError`` (exit 2)
    names the failed gates.
    """
    from twingym.cli.pipeline_summary import validation_paired
    from twingym.live.background import free_port, spawn_server
    from twingym.live.server import ServerConfig
    from twingym.policies.bundle import load_bundle
    from twingym.policies.deploy.loop import DeployConfig, deploy
    from twingym.policies.export import export_run
    from twingym.policies.gates import failure_line
    from twingym.policies.validate import validate_bundle

    preflight(config, overrides, out, deploy_seconds, speed, episodes)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    artefacts: dict[str, str] = {}

    t0 = _stage(1, f"train ({config})")
    try:
        run_dir, train_summary = train_stage(config, overrides, out, ray_address)
    except BaseException:
        if created and not any(out.iterdir()):  # training left nothing: no empty pipeline folder
            out.rmdir()
        raise
    artefacts["run directory"] = str(run_dir)
    _done(t0, f"training into {run_dir}")

    t0 = _stage(2, "export")
    bundle_path = export_run(run_dir, out / "bundle", overwrite=True)
    artefacts["bundle"] = str(bundle_path)
    _done(t0, f"bundle {bundle_path}")

    t0 = _stage(3, "validate")
    outcome = validate_bundle(bundle_path, episodes=episodes, progress=lambda m: console.print(f"  {m}"))
    artefacts["validation report"] = str(outcome.report_path)
    gates = Table(title="validation gates")
    for col in ("gate", "verdict", "detail"):
        gates.add_column(col)
    for gate in outcome.record.gates:
        verdict = "[green]pass[/]" if gate.get("passed") else "[red]FAIL[/]"
        gates.add_row(str(gate.get("name")), verdict, escape(str(gate.get("detail", ""))))
    console.print(gates)
    console.print(f"report: {outcome.report_path}")
    _done(t0, "validation " + ("passed" if outcome.passed else f"FAILED ({', '.join(outcome.failed_gates)})"))
    shadow = not outcome.passed
    if shadow:
        console.print("[yellow]validation failed: the policy is NOT given control of the live twin; it "
                      "runs in shadow mode (actions computed and logged, nothing written)[/]")

    twin = load_bundle(bundle_path).manifest.twin   # the live twin runs with the bundle's param overrides
    twin_id = twin.id
    t0 = _stage(4, f"live twin {twin_id} (OPC UA, loopback, speed x{speed:g})")
    server_cfg = ServerConfig(twin_id=twin_id, overrides=dict(twin.param_overrides), speed=speed,
                              port=free_port(), seed=1, record=str(out / "live" / "record.jsonl"))
    server = spawn_server(server_cfg, log_dir=out / "live")
    artefacts["live twin record"] = str(server.record_path)
    _done(t0, f"serving at {server.endpoint}")
    page = None
    try:
        t0 = _stage(5, f"deploy for {deploy_seconds:g} s" + (" (shadow mode)" if shadow else ""))
        deploy_log = out / "deploy" / "deploy.jsonl"
        if dashboard_port is not None:
            page = start_background(server.endpoint, dashboard_port, events_log=str(deploy_log))
            artefacts["live dashboard (during deploy)"] = page.url
            console.print(f"dashboard: {page.url}", markup=False)
        summary = deploy(DeployConfig(bundle=str(bundle_path), endpoint=server.endpoint, shadow=shadow,
                                      duration=deploy_seconds, log=str(deploy_log)),
                         handle_signals=False)
        artefacts["deploy log"] = summary.log_path
        _done(t0, f"{summary.steps} steps, {summary.fallbacks} fallbacks")
    finally:
        if page is not None:
            page.stop()
        server.stop()
    _summary(train_summary, outcome, summary, artefacts, t_all)
    (out / "pipeline.json").write_text(json.dumps({"artefacts": artefacts, "train": train_summary,
                                                   "validation_passed": outcome.passed,
                                                   "paired": [d.to_json() for d in validation_paired(outcome.record)],
                                                   "deploy": _deploy_dict(summary)}, indent=1, default=str))
    if shadow:
        raise UserError(f"validation failed ({failure_line(outcome.record.gates)}): the policy ran in shadow mode "
                        f"only. Report: {outcome.report_path}")
    failure = summary.failure()
    if failure:
        console.print(f"[red]deploy {failure}[/]")
        return 1
    return 0


def _deploy_dict(summary) -> dict:
    return {"steps": summary.steps, "policy_steps": summary.policy_steps,
            "fallback_steps": summary.fallback_steps, "fallbacks": summary.fallbacks,
            "missed_steps": summary.missed_steps, "reward_sum": summary.reward_sum,
            "episode_returns": summary.episode_returns, "log": summary.log_path}


def _summary(train_summary: dict, outcome, deploy_summary, artefacts: dict[str, str], t_all: float) -> None:
    from twingym.cli.paired_table import paired_table
    from twingym.cli.pipeline_summary import summary_rows, summary_table, validation_paired

    console.rule("[bold]summary")
    rows = summary_rows(train_summary, outcome.record, outcome.passed, outcome.failed_gates, deploy_summary,
                        time.perf_counter() - t_all)
    console.print(summary_table(rows))
    console.print(paired_table(validation_paired(outcome.record), "validated policy minus every baseline, "
                               "per scenario"))
    console.print("[bold]where everything is[/]")
    for what, where in artefacts.items():
        console.print(f"  {what}: {where}", markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command("pipeline")
    def pipeline(
        config: str = typer.Option("wind_farm/ppo_jax", help="Training config (packaged name or path)."),
        set_: list[str] = typer.Option(None, "--set", help="Config override key=value (repeatable)."),
        out: Path = typer.Option(None, help="Output folder (default runs/pipeline-<time>)."),
        deploy_seconds: float = typer.Option(60.0, help="Wall seconds of live deployment."),
        speed: float = typer.Option(20.0, help="Live twin speed factor (simulated s per wall s)."),
        episodes: int = typer.Option(None, help="Validation episodes per scenario (suite default)."),
        ray_address: str = typer.Option(None, "--ray-address", envvar="RAY_ADDRESS",
                                        help="Join this Ray cluster for RLlib configs (default: local Ray)."),
        dashboard: int = typer.Option(0, "--dashboard", help="Port of the live dashboard served during the "
                                      "deploy stage (0: a free port; -1: none)."),
    ) -> None:
        """Main job: train, export, validate, serve a live twin and deploy the policy to it."""
        folder = out or Path("runs") / f"pipeline-{time.strftime('%Y%m%d-%H%M%S')}"
        console.print(f"[bold]twingym pipeline[/]: artefacts under {folder}")
        code = run_pipeline(config, list(set_ or []), folder, deploy_seconds, speed, episodes, ray_address,
                            dashboard_port=None if dashboard < 0 else dashboard)
        raise typer.Exit(code)
