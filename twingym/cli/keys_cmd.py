"""CLI verb ``twingym keys new``: an Ed25519 key pair for signed validation."""

from __future__ import annotations

from pathlib import Path

import typer

from twingym.cli.errors import UserError


def register(app: typer.Typer) -> None:
    keys_app = typer.Typer(help="Keys for signed validation (validate --sign-key, deploy --trust).",
                           no_args_is_help=True)

    @keys_app.command("new")
    def new(
        folder: Path = typer.Option(Path("keys"), "--out", help="Folder for NAME.key and NAME.pub."),
        name: str = typer.Option("twingym", "--name", help="File name stem, also written into NAME.pub."),
    ) -> None:
        """Create NAME.key (private, mode 0600: keep it secret) and NAME.pub (give it to deployers)."""
        from twingym.policies.signing import SigningError, load_trusted_keys, new_key_pair

        if not name or "/" in name or name.startswith("."):
            raise UserError(f"--name {name!r} must be a plain file name")
        try:
            private, public = new_key_pair(folder, name)
        except SigningError as exc:
            raise UserError(str(exc)) from None
        (kid,) = load_trusted_keys(public)
        typer.echo(f"private key {private} (keep it secret; sign with: twingym validate BUNDLE --sign-key {private})")
        typer.echo(f"public key  {public} (key id {kid}; deploy with: twingym deploy BUNDLE --trust {public})")

    app.add_typer(keys_app, name="keys")
