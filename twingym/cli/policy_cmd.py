"""CLI verbs ``export``, ``validate`` and ``inspect``: policy bundles.

- ``twingym export RUN -o BUNDLE``: a training run directory (any backend) -> bundle dir or ``.zip``.
- ``twingym validate BUNDLE [--suite FILE] [--gates FILE]``: scenario suite + gates; writes
  ``validation.json`` and ``report.html`` into the bundle; exit 0 only when every gate passes (1 when a
  gate fails, 2 on a user error such as a tampered bundle).
- ``twingym inspect BUNDLE``: manifest, spaces and validation status; refuses a tampered bundle.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from twingym.cli.errors import UserError


def _user_errors():
    from twingym.policies.bundle import BundleError
    from twingym.policies.export import ExportFailed
    from twingym.policies.gates import GatesError
    from twingym.policies.onnx_export import ExportError
    from twingym.policies.scenarios import SuiteError
    return (BundleError, ExportFailed, ExportError, GatesError, SuiteError)


def _space_line(space: dict) -> str:
    if space["type"] == "Box":
        lows = [float(v) for v in space["low"]]
        highs = [float(v) for v in space["high"]]
        return f"Box{tuple(space['shape'])} {space['dtype']} [{min(lows):g} .. {max(highs):g}]"
    if space["type"] == "Discrete":
        return f"Discrete({space['n']})"
    return f"MultiDiscrete({space['nvec']})"


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        run: Path = typer.Argument(..., help="Training run directory (config.yaml, final/, summary.json)."),
        output: Path = typer.Option(..., "--output", "-o", help="Bundle to write: a directory, or a path ending in .zip."),
        force: bool = typer.Option(False, "--force", help="Overwrite an existing bundle."),
        no_check: bool = typer.Option(False, "--no-check",
                                      help="Skip the equivalence check against the backend's own policy."),
    ) -> None:
        """Export a trained policy to a bundle: policy.onnx + manifest.json (+ reference spec)."""
        from twingym.policies.export import export_run

        try:
            path = export_run(run, output, overwrite=force, check=not no_check)
        except _user_errors() as exc:
            raise UserError(str(exc)) from None
        from twingym.policies.bundle import load_bundle

        bundle = load_bundle(path)
        check = bundle.manifest.export_check
        console = Console()
        console.print(f"exported [bold]{bundle.twin_id}[/] policy ({bundle.manifest.backend}) to {path}")
        if check:
            verdict = "[green]ok[/]" if check["passed"] else "[red]MISMATCH[/]"
            console.print(f"equivalence with the backend over {check['n']} rollout observations: "
                          f"{check['metric']} = {check['value']:.2e} (limit {check['threshold']:g}) {verdict}")
        console.print(f"next: twingym validate {path}")

    @app.command("validate")
    def validate(
        bundle: Path = typer.Argument(..., help="Policy bundle (directory or .zip)."),
        suite: Path = typer.Option(None, "--suite", help="Scenario suite YAML (default: the twin's suite)."),
        gates: Path = typer.Option(None, "--gates", help="Gates YAML that tightens the defaults."),
        episodes: int = typer.Option(None, "--episodes", min=2, help="Episodes per scenario (overrides the suite)."),
        max_horizon: int = typer.Option(None, "--max-horizon", min=1, help="Longest episode, steps."),
        save_suite: Path = typer.Option(None, "--save-suite", help="Also write the suite used to this YAML file."),
        sign_key: Path = typer.Option(None, "--sign-key", help="Sign the validation record with this Ed25519 "
                                      "private key (twingym keys new); deploy --trust then accepts it."),
    ) -> None:
        """Validate a bundle on its twin's scenario suite; exit 0 only when every gate passes."""
        from twingym.policies.signing import SigningError, load_private_key
        from twingym.policies.validate import validate_bundle

        console = Console()
        try:
            key = load_private_key(sign_key) if sign_key is not None else None
            outcome = validate_bundle(bundle, suite=suite, gates_file=gates, episodes=episodes,
                                      max_horizon=max_horizon, progress=lambda m: console.print(f"  {m}"),
                                      sign_key=key)
        except (*_user_errors(), SigningError) as exc:
            raise UserError(str(exc)) from None
        record = outcome.record
        if save_suite is not None:
            import yaml
            save_suite.write_text(yaml.safe_dump(record.suite, sort_keys=False))
        table = Table(title=f"validation of {bundle} ({record.twin})")
        for col in ("gate", "verdict", "figure", "", "threshold", "tightest check"):
            table.add_column(col)
        for g in record.gates:
            fig = "-" if g["figure"] is None else f"{g['figure']:.4g}"
            thr = "-" if g["threshold"] is None else f"{g['threshold']:.4g}"
            table.add_row(g["name"], "[green]pass[/]" if g["passed"] else "[red]FAIL[/]", fig, g["op"] or "",
                          thr, escape(g["detail"]))
        console.print(table)
        from twingym.cli.paired_table import paired_table
        from twingym.policies.paired import return_differences

        console.print(paired_table(return_differences(record), "policy minus every baseline, per scenario"))
        console.print(f"report: {outcome.report_path}")
        signature = record.signature
        console.print(f"validation record signed by key {signature['key_id']}" if signature else
                      "validation record unsigned (local experiments; sign with --sign-key for deploy --trust)")
        if outcome.passed:
            console.print("[green]validation PASSED[/]: every gate passed")
            return
        from twingym.policies.gates import failure_line

        console.print(f"[red]validation FAILED[/]: {escape(failure_line(record.gates))}", soft_wrap=True)
        raise typer.Exit(1)

    @app.command("inspect")
    def inspect(
        bundle: Path = typer.Argument(..., help="Policy bundle (directory or .zip)."),
        as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
        trust: Path = typer.Option(None, "--trust", help="Public key or trust file: also say whether a "
                                   "trusted key signed the validation (as deploy --trust would)."),
    ) -> None:
        """Show a bundle's manifest, spaces and validation status (refuses a tampered bundle)."""
        from twingym.policies.bundle import BundleError, load_bundle, signature_status, validation_problem
        from twingym.policies.signing import SigningError, load_trusted_keys

        try:
            trusted = load_trusted_keys(trust) if trust is not None else None
            b = load_bundle(bundle)
        except (BundleError, SigningError) as exc:
            raise UserError(str(exc)) from None
        m = b.manifest
        if as_json:
            print(json.dumps(m.to_json(), indent=2, sort_keys=True))
            return
        console = Console()
        table = Table(title=f"bundle {bundle}", show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value")
        pol = m.policy or {}
        rows = [
            ("format version", str(m.format_version)),
            ("twin", m.twin.id),
            ("params hash", m.twin.params_hash),
            ("param overrides", json.dumps(m.twin.param_overrides or {})),
            ("backend", m.backend or "-"),
            ("run id", m.run_id or "-"),
            ("policy", f"{pol.get('action_transform', '?')} head, layers "
                       f"{[tuple(x[:2]) for x in pol.get('layers', [])]}"),
            ("observation space", _space_line(m.observation_space)),
            ("action space", _space_line(m.action_space)),
            ("observations", ", ".join(f"{a}.{n}[{u}]" for a, n, u in m.observation_labels)[:400]),
            ("actions", ", ".join(f"{a}.{n}[{u}]" for a, n, u in m.action_labels)),
        ]
        check = m.export_check
        if check:
            rows.append(("export check", f"{check['metric']} {check['value']:.2e} vs backend over {check['n']} obs"))
        for name, digest in sorted(m.files.items()):
            rows.append((name, f"sha256 {digest}"))
        problem = validation_problem(b, trusted)
        if problem is None:
            rec = b.validation()
            status = f"[green]VALIDATED[/]: all {len(rec.gates)} gates passed ({rec.created})"
        elif "failed validation gates" in problem:
            status = f"[red]FAILED[/]: {escape(problem)}"
        else:
            status = f"[yellow]NOT VALIDATED[/]: {escape(problem)}"
        try:
            signature = signature_status(b, trusted)[1] if b.validation() is not None else "-"
        except BundleError:  # an unreadable validation.json: the status above says why
            signature = "-"
        for k, v in rows:
            table.add_row(k, escape(v))
        table.add_row("validation", status)
        table.add_row("signature", escape(signature))
        console.print(table)
