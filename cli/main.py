"""The ``pbr`` command (CONTRACT.md "Command line")."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path

import typer
import typer.main

from cli import (
    commissioning_commands,
    demo_commands,
    diagnostics_commands,
    dispute_commands,
    integrity_commands,
    outcome_commands,
    payment_commands,
    projection_commands,
    records_commands,
    remittance_commands,
    rules_commands,
    simulate_commands,
    user_commands,
)
from cli.common import UsageProblem
from ledger.failures import storage_problem

# The PostgreSQL driver logs a warning when it cleans up after a failed batch insert (a batch
# that lost a race, which the importer retries); people see the command's own one line only.
logging.getLogger("psycopg").addHandler(logging.NullHandler())

# typer runs on click; recent releases carry their own copy of it, older ones import it.
click = getattr(typer.main, "_click", None) or typer.main.click  # type: ignore[attr-defined]

app = typer.Typer(
    name="pbr",
    help="The outcome-payments ledger for Payment by Results in drug recovery.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
records_commands.register(app)
app.add_typer(rules_commands.app, name="rules")
outcome_commands.register(app)
app.add_typer(payment_commands.app, name="payments")
app.add_typer(dispute_commands.app, name="disputes")
app.add_typer(remittance_commands.app, name="remittances")
app.command("reconcile")(remittance_commands.reconcile_command)
app.add_typer(projection_commands.app, name="projections")
simulate_commands.register(app)
demo_commands.register(app)
commissioning_commands.register(app)
integrity_commands.register(app)
user_commands.register(app)
diagnostics_commands.register(app)


_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())
_EXITS = tuple({typer.Exit, getattr(click.exceptions, "Exit", typer.Exit)})
_ABORTS = tuple({typer.Abort, getattr(click.exceptions, "Abort", typer.Abort)})


def main(argv: list[str] | None = None) -> None:
    """Run ``pbr``: errors of usage or input are one line on standard error and exit 2."""
    try:
        result = app(args=argv, standalone_mode=False)
    except UsageProblem as problem:
        _die(str(problem))
    except _NO_ARGS_IS_HELP as help_shown:
        typer.echo(help_shown.ctx.get_help())
        sys.exit(0)
    except click.exceptions.UsageError as error:
        _die(error.format_message().replace("\n", " "))
    except _EXITS as done:
        sys.exit(getattr(done, "exit_code", 0))
    except _ABORTS:
        _die("interrupted")
    except KeyboardInterrupt:
        _die("interrupted; every batch committed before the interruption is kept")
    except BrokenPipeError:  # the reader went away (``pbr outcomes | head``): nothing to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    except Exception as error:  # noqa: BLE001 - the one place every other error ends
        _unexpected(error)
    sys.exit(result if isinstance(result, int) else 0)


def _die(message: str, status: int = 2) -> None:
    sys.stderr.write(f"pbr: {message}\n")
    sys.exit(status)


def _unexpected(error: Exception) -> None:
    """A database that cannot be written is the user's to fix (exit 2); anything else is a
    fault of the ledger (exit 3). Either way one line, naming no data: a driver's message can
    quote a statement's values. ``PBR_DEBUG=1`` shows the traceback instead."""
    if os.environ.get("PBR_DEBUG") == "1":
        raise error
    problem = storage_problem(error)
    if problem is not None:
        _die(f"{problem}; nothing of the unfinished transaction was written (what was "
             "committed before it is kept whole)")
    _die(f"unexpected error ({type(error).__name__} at {_where(error)}); nothing of the "
         "unfinished transaction was written. Set PBR_DEBUG=1 to see the traceback", 3)


def _where(error: BaseException) -> str:
    """The innermost frame of the ledger's own code that the error passed through."""
    root = Path(__file__).resolve().parent.parent
    place = "?"
    for frame, line in traceback.walk_tb(error.__traceback__):
        path = Path(frame.f_code.co_filename).resolve()
        if path.is_relative_to(root) and ".venv" not in path.parts:
            place = f"{path.relative_to(root)}:{line}"
    return place


if __name__ == "__main__":
    main()
