"""What every command shares: the ``--db`` option, JSON output and one-line errors."""

from __future__ import annotations

import json
import sys
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, NoReturn

import typer

from ledger.cipher import KeyProblem
from ledger.records import iso_date
from ledger.store import Ledger, LedgerMissing

DbOption = Annotated[str | None, typer.Option(
    "--db", help="SQLAlchemy URL of the ledger (default: $PBR_DB, else sqlite:///pbr.db).",
    show_default=False)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print exactly one JSON document.")]


class UsageProblem(Exception):
    """Bad usage or unreadable input: one line on standard error, exit status 2."""


def fail(message: str) -> NoReturn:
    raise UsageProblem(message)


def open_ledger(db: str | None, create: bool = True, keyless: bool = False) -> Ledger:
    """The ledger at ``--db``. Reading commands pass ``create=False``: a ledger that does not
    exist is then an error (exit 2), not a new empty one."""
    try:
        ledger = Ledger(db, create=create, keyless=keyless)
    except (LedgerMissing, KeyProblem) as refused:
        fail(str(refused))
    except Exception as error:  # the database cannot be opened: say which and why, in one line
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        fail(f"cannot open the ledger database: {reason}")
    for notice in ledger.notices:
        sys.stderr.write(f"pbr: {notice}\n")
    return ledger


def parse_date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return iso_date(text)
    except ValueError as error:
        fail(f"{option}: {error}")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, default=_default, ensure_ascii=False) + "\n")


def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain text table: columns padded to their widest cell."""
    cells = [headers, *rows]
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
             .rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
