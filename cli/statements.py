"""Payment statements for finance: a run's inputs, lines and totals as CSV or real ``.xlsx``."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

LINE_COLUMNS = ["client", "journey", "outcome", "instalment", "kind", "amount", "provider",
                "site", "cohort", "dispute", "reason"]


def _inputs(run: dict[str, Any]) -> list[list[Any]]:
    return [["run", run["run"]], ["as_of", run["as_of"].isoformat()],
            ["known_on", run["known_on"].isoformat()], ["rulesets", ", ".join(run["rulesets"])],
            ["position", run["position"]], ["digest", run["digest"]]]


def write_csv(run: dict[str, Any], path: Path) -> None:
    """One CSV: the inputs, then the lines, then totals per provider and per site."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerows(_inputs(run))
        writer.writerow([])
        writer.writerow(LINE_COLUMNS)
        for line in run["lines"]:
            writer.writerow(["" if line.get(c) is None else line.get(c) for c in LINE_COLUMNS])
        writer.writerow([])
        writer.writerow(["provider", "total"])
        writer.writerows(run["totals"].items())
        writer.writerow(["site", "total"])
        writer.writerows(run["site_totals"].items())
        writer.writerow(["total", run["total"]])


def write_xlsx(run: dict[str, Any], path: Path) -> None:
    """A workbook with sheets Inputs, Lines and Totals; amounts are numbers formatted as £."""
    from openpyxl import Workbook

    workbook = Workbook()
    inputs = workbook.active
    inputs.title = "Inputs"
    for row in _inputs(run):
        inputs.append(row)
    lines = workbook.create_sheet("Lines")
    lines.append(LINE_COLUMNS)
    for line in run["lines"]:
        lines.append([Decimal(line[c]) if c == "amount" else line.get(c) for c in LINE_COLUMNS])
    for cell in lines["F"][1:]:
        cell.number_format = "#,##0.00"
    sheet = workbook.create_sheet("Totals")
    sheet.append(["provider", "total"])
    for provider, amount in run["totals"].items():
        sheet.append([provider, Decimal(amount)])
    sheet.append([])
    sheet.append(["site", "total"])
    for site, amount in run["site_totals"].items():
        sheet.append([site, Decimal(amount)])
    sheet.append([])
    sheet.append(["total", Decimal(run["total"])])
    for column in sheet["B"]:
        column.number_format = "#,##0.00"
    workbook.save(path)
