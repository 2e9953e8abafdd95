"""Payment statements for finance: a run's inputs, lines and totals as CSV files or an ``.xlsx``.

Three sections, each one table with one header row: ``inputs`` (field, value), ``lines`` (one
per run line) and ``totals`` (level ``provider`` / ``site`` / ``all``, name, total). CSV writes
each to its own file in a folder (``inputs.csv``, ``lines.csv``, ``totals.csv``), so each loads
as one table; the workbook has one sheet per section (payments decision 17).
"""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

LINE_COLUMNS = ["client", "journey", "outcome", "instalment", "kind", "amount", "provider",
                "site", "cohort", "dispute", "reason"]
INPUT_COLUMNS = ["field", "value"]
TOTAL_COLUMNS = ["level", "name", "total"]
AMOUNT_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"


def inputs_rows(run: dict[str, Any]) -> list[list[Any]]:
    """The run's recorded inputs, dates as ``date``."""
    return [["run", run["run"]], ["as_of", run["as_of"]], ["known_on", run["known_on"]],
            ["rulesets", ", ".join(run["rulesets"])], ["position", run["position"]],
            ["digest", run["digest"]],
            # RULES.md §9: the head the run rests on, for pbr verify --at --head
            ["chain_position", (run.get("chain") or {}).get("position")],
            ["chain_hash", (run.get("chain") or {}).get("hash")]]


def lines_rows(run: dict[str, Any]) -> list[list[Any]]:
    """One row per line; the amount as a ``Decimal``."""
    return [[Decimal(str(line[c])) if c == "amount" else line.get(c) for c in LINE_COLUMNS]
            for line in run["lines"]]


def totals_rows(run: dict[str, Any]) -> list[list[Any]]:
    """Per provider, per site and for the whole run."""
    return ([["provider", name, Decimal(str(amount))] for name, amount in run["totals"].items()]
            + [["site", name, Decimal(str(amount))]
               for name, amount in run["site_totals"].items()]
            + [["all", "", Decimal(str(run["total"]))]])


SECTIONS = (("inputs", INPUT_COLUMNS, inputs_rows), ("lines", LINE_COLUMNS, lines_rows),
            ("totals", TOTAL_COLUMNS, totals_rows))


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)


def write_csv(run: dict[str, Any], folder: Path) -> list[Path]:
    """``inputs.csv``, ``lines.csv`` and ``totals.csv`` in ``folder`` (created if need be)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, columns, rows in SECTIONS:
        path = folder / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(columns)
            writer.writerows([_csv_cell(value) for value in row] for row in rows(run))
        written.append(path)
    return written


def _cell(sheet: Any, value: Any) -> Any:
    """A cell's value as written: a date as a real date; a ``Decimal`` as a number written from
    its own digits. openpyxl would format a ``Decimal`` through a float (``"%.16g"``), which
    writes 99999999999.99 as 99999999999.99001; the Decimal's text, typed as a number, is exact.
    Any other value is written as it is."""
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, Decimal):
        cell = WriteOnlyCell(sheet, value=format(value, "f"))
        cell.data_type = "n"
        cell.number_format = AMOUNT_FORMAT
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = DATE_FORMAT
        return cell
    return value


def _sheet(workbook: Any, title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """One sheet, streamed: its layout first (a write-only sheet takes it before any row), then
    the bold header row and the rows, each written out as it is appended."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    sheet = workbook.create_sheet(title)
    for column, name in enumerate(columns, start=1):
        widest = max([len(name), *(len(_csv_cell(row[column - 1])) for row in rows)])
        sheet.column_dimensions[get_column_letter(column)].width = min(widest + 2, 60)
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for name in columns:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in rows:
        sheet.append([_cell(sheet, value) for value in row])


def write_xlsx(run: dict[str, Any], path: Path) -> None:
    """A workbook with sheets Inputs, Lines and Totals: a bold, frozen header row, columns as
    wide as their content, real dates and exact two-place amounts."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)  # a national run's lines are streamed, not held
    for name, columns, rows in SECTIONS:
        _sheet(workbook, name.capitalize(), columns, rows(run))
    workbook.save(path)
