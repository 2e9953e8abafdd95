"""``pbr disputes``: raise, note, resolve, list and show disputes (RULES.md §7)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer

from cli.common import DbOption, JsonOption, fail, open_ledger, parse_date, print_json, table
from ledger.rulesets import OPTIONS
from ledger.runs import Dispute, find_run, raise_dispute, read_dispute, read_disputes
from projections.payments import line_json

app = typer.Typer(help="Raise, note, resolve, list and show disputes.", no_args_is_help=True)
DisputeArgument = Annotated[str, typer.Argument(metavar="DISPUTE", show_default=False)]
OnOption = Annotated[str | None, typer.Option("--on", help="The date (default today).",
                                              show_default=False)]


def dispute_json(dispute: Dispute) -> dict[str, Any]:
    return {"dispute": dispute.dispute_id, "provider": dispute.provider,
            "raised_on": dispute.raised_on, "reason": dispute.reason, "run": dispute.run_id,
            "line": dispute.line, "client": dispute.client, "journey": dispute.journey,
            "outcome": dispute.outcome, "instalment": dispute.instalment, "site": dispute.site,
            "notes": dispute.notes, "status": dispute.resolution or "open",
            "amount": None if dispute.amount is None else str(dispute.amount),
            "resolution_reason": dispute.resolution_reason, "resolved_on": dispute.resolved_on}


@app.command("raise")
def raise_command(
    provider: Annotated[str, typer.Option("--provider", help="The disputing provider.",
                                          show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="Why.", show_default=False)],
    run: Annotated[str | None, typer.Option("--run", help="A run id, with --line.")] = None,
    line: Annotated[int | None, typer.Option("--line", help="The run line (1 = first).")] = None,
    client: Annotated[str | None, typer.Option("--client", help="Or an entitlement's client")]
    = None,
    journey: Annotated[str | None, typer.Option("--journey")] = None,
    outcome: Annotated[str | None, typer.Option("--outcome")] = None,
    instalment: Annotated[int | None, typer.Option("--instalment")] = None,
    on: OnOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Raise a dispute of a run line (--run, --line) or an entitlement (--client ...)."""
    ledger = open_ledger(db)
    target: dict[str, Any] = {"client": client, "journey": journey, "outcome": outcome,
                              "instalment": instalment, "site": None, "run_id": run,
                              "line": line}
    if run is not None:
        recorded = find_run(ledger, run)
        if recorded is None:
            fail(f"--run: no payment run {run!r}")
        if line is None or not 1 <= line <= len(recorded.lines):
            fail(f"--line: run {run} has lines 1 to {len(recorded.lines)}")
        row = line_json(recorded.lines[line - 1])
        target.update({k: row[k] for k in ("client", "journey", "outcome", "instalment",
                                           "site")})
    elif client is None or outcome is None:
        fail("name a run line (--run and --line) or an entitlement (--client and --outcome)")
    elif outcome not in OPTIONS:
        fail(f"--outcome: {outcome!r} is not an outcome")
    else:
        history = ledger.client(client)
        if history is None:
            fail(f"--client: no client {client!r} is registered")
        target["site"] = history.site
    dispute = raise_dispute(ledger, provider, parse_date(on, "--on") or date.today(), reason,
                            **target)
    if as_json:
        print_json(dispute_json(dispute))
    else:
        typer.echo(f"raised dispute {dispute.dispute_id}")


@app.command("note")
def note(
    dispute_id: DisputeArgument,
    text: Annotated[str, typer.Option("--note", help="The note.", show_default=False)],
    evidence: Annotated[list[str] | None, typer.Option(
        "--evidence", help="An evidence reference (repeatable).")] = None,
    on: OnOption = None,
    db: DbOption = None,
) -> None:
    """Add a note and evidence references to an open dispute."""
    ledger = open_ledger(db)
    dispute = _open_dispute(ledger, dispute_id)
    dispute.note(parse_date(on, "--on") or date.today(), text, list(evidence or []))
    ledger.save(dispute)
    typer.echo(f"noted on dispute {dispute_id}")


@app.command("resolve")
def resolve(
    dispute_id: DisputeArgument,
    resolution: Annotated[str, typer.Option("--resolution", help="upheld or rejected.",
                                            show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="Why.", show_default=False)],
    amount: Annotated[str | None, typer.Option(
        "--amount", help="The adjustment in pounds, e.g. 250.00 or -100.00 (upheld only).")]
    = None,
    on: OnOption = None,
    db: DbOption = None,
) -> None:
    """Resolve a dispute: upheld with an adjustment paid in the next run, or rejected."""
    if resolution not in ("upheld", "rejected"):
        fail("--resolution: upheld or rejected")
    value = _amount(amount, resolution)
    ledger = open_ledger(db)
    dispute = _open_dispute(ledger, dispute_id)
    dispute.resolve(parse_date(on, "--on") or date.today(), resolution, value, reason)
    ledger.save(dispute)
    typer.echo(f"dispute {dispute_id} {resolution}"
               + (f": adjustment {value} in the next run" if resolution == "upheld" else ""))


def _amount(amount: str | None, resolution: str) -> Decimal:
    if resolution == "rejected":
        if amount is not None:
            fail("--amount: a rejected dispute has no adjustment")
        return Decimal("0.00")
    try:
        value = Decimal(amount or "")
    except InvalidOperation:
        fail("--amount: an upheld dispute needs an amount in pounds, e.g. 250.00")
    if not value.is_finite() or value != value.quantize(Decimal("0.01")):
        fail("--amount: whole pence, e.g. 250.00")
    return value.quantize(Decimal("0.01"))


def _open_dispute(ledger: Any, dispute_id: str) -> Dispute:
    dispute = read_dispute(ledger, dispute_id)
    if dispute is None:
        fail(f"DISPUTE: no dispute {dispute_id!r}")
    if dispute.resolution is not None:
        fail(f"DISPUTE: {dispute_id} is already resolved ({dispute.resolution})")
    return dispute


@app.command("list")
def list_disputes(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Every dispute and where it stands."""
    disputes = read_disputes(open_ledger(db))
    if as_json:
        print_json({"disputes": [dispute_json(d) for d in disputes]})
        return
    rows = [[d.dispute_id, d.provider, d.raised_on.isoformat(), d.client or "", d.outcome or "",
             d.resolution or "open", "" if d.amount is None else str(d.amount)]
            for d in disputes]
    typer.echo(table(rows, ["dispute", "provider", "raised_on", "client", "outcome", "status",
                            "amount"]) if rows else "no disputes")


@app.command("show")
def show(dispute_id: DisputeArgument, db: DbOption = None, as_json: JsonOption = False) -> None:
    """One dispute: what was disputed, every note, and the resolution."""
    dispute = read_dispute(open_ledger(db), dispute_id)
    if dispute is None:
        fail(f"DISPUTE: no dispute {dispute_id!r}")
    document = dispute_json(dispute)
    if as_json:
        print_json(document)
        return
    for key, value in document.items():
        if key != "notes":
            typer.echo(f"{key}: {'' if value is None else value}")
    for item in dispute.notes:
        typer.echo(f"note {item['on']}: {item['note']} (evidence: "
                   f"{', '.join(item['evidence']) or '-'})")
