"""One place that turns user-facing errors into a single clear line and a non-zero exit."""

from __future__ import annotations

import sys

import typer
from typer import Abort, Exit

try:  # newer typer vendors click as typer._click; older typer uses click itself
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover
    from click import ClickException


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit code 2, no traceback."""


#: exception types whose message is shown as-is to the user (one line, exit 2). KeyError covers
#: twingym.envs.UnknownTwinError without importing the registry (and JAX) for every verb.
USER_ERRORS: tuple[type[BaseException], ...] = (UserError, FileNotFoundError, ValueError, KeyError)


def run_guarded(app: typer.Typer, argv: list[str] | None = None) -> int:
    """Run ``app``; return its exit code. User errors print ``twingym: error: <message>``."""
    try:
        result = app(args=argv, standalone_mode=False)
        if isinstance(result, int):  # click returns Exit's code when not standalone
            return result
    except Exit as exc:
        return int(exc.exit_code or 0)
    except Abort:
        print("twingym: aborted", file=sys.stderr)
        return 130
    except ClickException as exc:
        exc.show()
        return int(exc.exit_code or 2)
    except USER_ERRORS as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, KeyError) and message.startswith("'") and message.endswith("'"):
            message = message[1:-1]
        print(f"twingym: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("twingym: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the machine refused (full disk, permissions): one line, exit 1
        print(f"twingym: error: {os_error_line(exc)}", file=sys.stderr)
        return 1
    return 0


def os_error_line(exc: OSError) -> str:
    """One line for an ``OSError``: its message, and the file it is about when it names one."""
    text = exc.strerror or str(exc)
    if exc.filename and str(exc.filename) not in text:
        text = f"{text}: {exc.filename}"
    return (text.strip().splitlines() or [type(exc).__name__])[0]

