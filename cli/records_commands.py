"""``pbr import``: append records from files."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import DbOption, JsonOption, fail, open_ledger, print_json
from ledger.importer import ImportContention, Importer, UnreadableInput
from ledger.safety import printable


def import_records(
    files: Annotated[list[Path], typer.Argument(help="JSON Lines (.jsonl) or CSV (.csv) files.",
                                                show_default=False)],
    rejects: Annotated[Path | None, typer.Option(
        "--rejects", help="Write each rejected line, with its reason, to this JSON Lines file.")]
    = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> int:
    """Append records; print accepted / duplicate / rejected counts (exit 1 if any rejected)."""
    ledger = open_ledger(db)
    importer = Importer(ledger)
    total = [0]

    def progress(count: int) -> None:
        total[0] += count
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{total[0]:,} lines read")
            sys.stderr.flush()

    try:
        report = importer.run(list(files), progress=progress)
    except (UnreadableInput, ImportContention) as error:
        fail(str(error))
    if sys.stderr.isatty() and total[0]:
        sys.stderr.write("\n")
    if rejects is not None:
        _write_rejects(rejects, report.rejects)
    if as_json:
        print_json({"accepted": report.accepted, "duplicates": report.duplicates,
                    "rejected": report.rejected, "retried": report.retried,
                    "rejects": [{"line": r.line, "source_id": r.source_id, "reason": r.reason,
                                 "code": r.code, "file": r.file} for r in report.rejects]})
    else:
        typer.echo(f"accepted {report.accepted}, duplicates {report.duplicates}, "
                   f"rejected {report.rejected}")
        for reject in report.rejects[:50]:
            source_id = printable(reject.source_id) if reject.source_id else "-"
            typer.echo(f"  {reject.file}:{reject.line} {source_id}: {reject.reason} "
                       f"({reject.code})")
        if report.rejected > 50:
            typer.echo(f"  … and {report.rejected - 50} more (use --rejects PATH or --json)")
    return 1 if report.rejected else 0


def _write_rejects(path: Path, rejects: list) -> None:
    try:
        # RULES.md §9: rejected lines hold client data; the file is its owner's alone.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        if stat.S_ISREG(os.fstat(descriptor).st_mode):  # an existing file is made private too
            os.fchmod(descriptor, 0o600)
        with open(descriptor, "w", encoding="utf-8") as out:
            for reject in rejects:
                out.write(json.dumps({**reject.as_json(), "record": reject.text}) + "\n")
    except OSError as error:
        fail(f"--rejects: cannot write {path} ({error.strerror})")


def register(app: typer.Typer) -> None:
    app.command("import")(import_records)
