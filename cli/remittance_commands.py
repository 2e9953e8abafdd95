"""``pbr remittances import`` and ``pbr reconcile``: what was paid against what was due."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import DbOption, JsonOption, fail, open_ledger, print_json, table
from ledger.importer import UnreadableInput
from ledger.refusals import Refused
from ledger.remittances import import_remittances, reconcile

app = typer.Typer(help="Import remittances (what was actually paid).", no_args_is_help=True)


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV: run, provider, amount, paid_on, reference.",
                                         show_default=False)],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> int:
    """Record remittances; a reference already recorded with the same content is a duplicate."""
    try:
        report = import_remittances(open_ledger(db), file)
    except UnreadableInput as error:
        fail(str(error))
    if as_json:
        print_json({"accepted": report.accepted, "duplicates": report.duplicates,
                    "rejected": len(report.rejects), "rejects": report.rejects})
    else:
        typer.echo(f"accepted {report.accepted}, duplicates {report.duplicates}, "
                   f"rejected {len(report.rejects)}")
        for reject in report.rejects:
            typer.echo(f"  line {reject['line']} {reject['reference'] or '-'}: {reject['reason']}")
    return 1 if report.rejects else 0


def reconcile_command(
    run: Annotated[str | None, typer.Option("--run", help="Only this run.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> int:
    """Per run and provider, the statement against what was remitted; exit 1 on a difference."""
    try:
        rows = reconcile(open_ledger(db, create=False), run)
    except Refused as refused:
        fail(f"{refused} ({refused.code})")
    open_differences = [row for row in rows if row["difference"] != 0]
    if as_json:
        print_json({"reconciled": not open_differences,
                    "rows": [{**r, "statement": str(r["statement"]),
                              "remitted": str(r["remitted"]),
                              "difference": str(r["difference"])} for r in rows]})
    else:
        typer.echo(table([[r["run"], r["provider"], str(r["statement"]), str(r["remitted"]),
                           str(r["difference"]), ", ".join(r["references"])] for r in rows],
                         ["run", "provider", "statement", "remitted", "difference",
                          "references"]) if rows else
                   f"run {run} has no lines and no remittances: nothing to reconcile" if run
                   else "no runs to reconcile")
        typer.echo("reconciled" if not open_differences else
                   f"{len(open_differences)} difference(s) remain")
    return 1 if open_differences else 0
