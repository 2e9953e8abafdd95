"""Remittances (what was actually paid) and reconciliation against payment runs.

A remittance file is CSV with ``run, provider, amount, paid_on, reference``; each row is
checked like a record (its line, the field, the reason) and stored as an immutable event keyed
by its reference: the same reference with the same content again is a duplicate, with other
content a conflict.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from ledger.importer import UnreadableInput
from ledger.records import RecordError, iso_date
from ledger.refusals import Refused
from ledger.runs import PaymentRun, find_run, recorded_runs
from ledger.safety import check_strings
from ledger.store import Ledger

_NAMESPACE = uuid5(NAMESPACE_URL, "pbr:remittance")
COLUMNS = ("run", "provider", "amount", "paid_on", "reference")
REMITTANCE_TOPIC = "ledger.remittances:Remittance.Received"


class Remittance(Aggregate):
    """One payment made to a provider against a run."""

    class Received(Aggregate.Created):
        reference: str
        run_id: str
        provider: str
        amount: Decimal
        paid_on: date

    def __init__(self, reference: str, run_id: str, provider: str, amount: Decimal,
                 paid_on: date) -> None:
        self.reference, self.run_id, self.provider = reference, run_id, provider
        self.amount, self.paid_on = amount, paid_on

    @classmethod
    def create_id(cls, reference: str, **_: Any) -> UUID:
        return uuid5(_NAMESPACE, reference)


@dataclass
class RemittanceReport:
    accepted: int = 0
    duplicates: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)


def _row(row: dict[str, str | None], runs: dict[str, set[str]]) -> dict[str, Any]:
    for column in COLUMNS:
        if not (row.get(column) or "").strip():
            raise RecordError("missing_field", f"{column}: missing")
    values = {column: (row[column] or "").strip() for column in COLUMNS}
    check_strings(values)  # no control, bidi or invisible character (ledger.safety)
    if values["run"] not in runs:
        raise RecordError("unknown_run", f"run: no payment run {values['run']!r} is recorded")
    if values["provider"] not in runs[values["run"]]:
        raise RecordError("provider_not_in_run", f"provider: run {values['run']} has no lines "
                                                 f"for provider {values['provider']!r}")
    try:
        amount = Decimal(values["amount"])
    except InvalidOperation:
        raise RecordError("invalid_field", f"amount: {values['amount']!r} is not an amount"
                          ) from None
    try:
        whole_pence = amount.is_finite() and amount == amount.quantize(Decimal("0.01"))
    except InvalidOperation:  # an exponent beyond any amount, such as 1e999999
        whole_pence = False
    if not whole_pence:
        raise RecordError("invalid_field", "amount: must be in whole pence, e.g. 1250.00")
    try:
        paid_on = iso_date(values["paid_on"])
    except ValueError as error:
        raise RecordError("invalid_field", f"paid_on: {error}") from None
    return {"reference": values["reference"], "run_id": values["run"],
            "provider": values["provider"], "amount": amount.quantize(Decimal("0.01")),
            "paid_on": paid_on}


def import_remittances(ledger: Ledger, path: Path) -> RemittanceReport:
    """Check and store a remittance file; valid rows are kept when others are rejected. A row
    must name a recorded run and a provider with lines in it (payments decision 8)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise UnreadableInput(f"{path}: cannot read ({error})") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise UnreadableInput(f"{path}: the header lacks {', '.join(missing)}")
    runs = {run.run_id: set(run.provider_totals) for run in recorded_runs(ledger)}
    report = RemittanceReport()
    fresh: list[Remittance] = []
    seen: dict[str, dict[str, Any]] = {}
    for row in reader:
        try:
            values = _row(row, runs)
            previous = seen.get(values["reference"]) or _stored(ledger, values["reference"])
            if previous is not None:
                if previous != values:
                    raise RecordError("conflict", f"reference: {values['reference']} is already "
                                                  "recorded with other content")
                report.duplicates += 1
                continue
        except RecordError as error:
            report.rejects.append({"line": reader.line_num, "reference": row.get("reference"),
                                   "code": error.code, "reason": error.reason})
            continue
        seen[values["reference"]] = values
        fresh.append(Remittance(**values))
    if fresh:
        ledger.save(*fresh)  # one transaction: the file's valid rows, whole
    report.accepted = len(fresh)
    return report


def _stored(ledger: Ledger, reference: str) -> dict[str, Any] | None:
    try:
        found = ledger.repository.get(uuid5(_NAMESPACE, reference))
    except AggregateNotFoundError:
        return None
    return {"reference": found.reference, "run_id": found.run_id, "provider": found.provider,
            "amount": found.amount, "paid_on": found.paid_on}


def reconcile(ledger: Ledger, run_id: str | None = None) -> list[dict[str, Any]]:
    """Per run and provider: the statement's total against what was remitted. A run with no
    lines and no remittances has no rows; a run that is not recorded is refused."""
    if run_id is not None and find_run(ledger, run_id) is None:
        raise Refused("unknown_run", f"--run: no payment run {run_id!r} is recorded")
    remitted: dict[tuple[str, str], Decimal] = defaultdict(lambda: Decimal("0.00"))
    references: dict[tuple[str, str], list[str]] = defaultdict(list)
    for _, event in ledger.notifications(topics=[REMITTANCE_TOPIC]):
        remitted[(event.run_id, event.provider)] += event.amount
        references[(event.run_id, event.provider)].append(event.reference)
    rows = []
    for run in recorded_runs(ledger):
        if run_id is not None and run.run_id != run_id:
            continue
        rows += _run_rows(run, remitted, references)
    return rows


def _run_rows(run: PaymentRun.Taken, remitted: dict, references: dict) -> list[dict[str, Any]]:
    providers = set(run.provider_totals) | {p for (r, p) in remitted if r == run.run_id}
    rows = []
    for provider in sorted(providers):
        statement = Decimal(str(run.provider_totals.get(provider, "0.00")))
        paid = remitted.get((run.run_id, provider), Decimal("0.00"))
        rows.append({"run": run.run_id, "provider": provider, "statement": statement,
                     "remitted": paid, "difference": paid - statement,
                     "references": references.get((run.run_id, provider), [])})
    return rows
