"""The ``pbr`` command (CONTRACT.md "Command line")."""

from __future__ import annotations

import sys

import typer
import typer.main

from cli import (
    demo_commands,
    diagnostics_commands,
    dispute_commands,
    outcome_commands,
    payment_commands,
    projection_commands,
    records_commands,
    remittance_commands,
    rules_commands,
    simulate_commands,
)
from cli.common import UsageProblem

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
    sys.exit(result if isinstance(result, int) else 0)


def _die(message: str) -> None:
    sys.stderr.write(f"pbr: {message}\n")
    sys.exit(2)


if __name__ == "__main__":
    main()
