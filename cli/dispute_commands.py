"""``pbr disputes``: raise, note, resolve, list and show disputes (RULES.md §7)."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer

from cli.common import DbOption, JsonOption, fail, open_ledger, parse_date, print_json, table
from ledger.dispute_events import Dispute
from ledger.disputes import (
    DisputeRefused,
    note_dispute,
    raise_dispute,
    read_dispute,
    read_disputes,
    resolve_dispute,
)

app = typer.Typer(help="Raise, note, resolve, list and show disputes.", no_args_is_help=True)
DisputeArgument = Annotated[str, typer.Argument(metavar="DISPUTE", show_default=False)]
OnOption = Annotated[str | None, typer.Option("--on", help="The date (default today).",
                                              show_default=False)]
ByOption = Annotated[str | None, typer.Option(
    "--by", help="Who acts, recorded in the ledger (default: the operating system user).",
    show_default=False)]


def dispute_json(dispute: Dispute) -> dict[str, Any]:
    return {"dispute": dispute.dispute_id, "provider": dispute.provider,
            "raised_on": dispute.raised_on, "reason": dispute.reason, "run": dispute.run_id,
            "line": dispute.line, "client": dispute.client, "journey": dispute.journey,
            "outcome": dispute.outcome, "instalment": dispute.instalment, "site": dispute.site,
            "raised_by": dispute.raised_by,
            "notes": dispute.notes, "status": dispute.resolution or "open",
            "amount": None if dispute.amount is None else str(dispute.amount),
            "resolution_reason": dispute.resolution_reason, "resolved_on": dispute.resolved_on,
            "resolved_by": dispute.resolved_by}


def _today() -> date:
    """The day the command runs: read once here and given to the ledger's services."""
    return date.today()


def _default_by() -> str:
    """Payments decision 16: who acts, by default the operating system's user name."""
    try:
        return getpass.getuser() or "cli"
    except (KeyError, OSError):
        return "cli"


@app.command("raise")
def raise_command(
    provider: Annotated[str, typer.Option("--provider", help="The disputing provider.",
                                          show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="Why.", show_default=False)],
    run: Annotated[str | None, typer.Option("--run", help="A run id, with --line.")] = None,
    line: Annotated[int | None, typer.Option("--line", help="The run line (1 = first).")] = None,
    client: Annotated[str | None, typer.Option("--client", help="Or an entitlement's client")]
    = None,
    journey: Annotated[str | None, typer.Option(
        "--journey", help="The entitlement's journey (needed when the client has more than one "
                          "journey with the outcome).")] = None,
    outcome: Annotated[str | None, typer.Option(
        "--outcome", help="The entitlement's outcome slug, e.g. offending_final.")] = None,
    instalment: Annotated[int | None, typer.Option(
        "--instalment", help="The instalment number, for an outcome paid in instalments.")]
    = None,
    on: OnOption = None,
    by: ByOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Raise a dispute of a run line (--run, --line) or an entitlement (--client ...)."""
    today = _today()
    raised_on = parse_date(on, "--on") or today
    ledger = open_ledger(db)
    dispute = _act(lambda: raise_dispute(
        ledger, provider, raised_on, reason, today=today, by=by or _default_by(), run_id=run,
        line=line, client=client, journey=journey, outcome=outcome, instalment=instalment))
    _report(dispute, as_json, f"raised dispute {dispute.dispute_id}")


@app.command("note")
def note(
    dispute_id: DisputeArgument,
    text: Annotated[str, typer.Option("--note", help="The note.", show_default=False)],
    evidence: Annotated[list[str] | None, typer.Option(
        "--evidence", help="An evidence reference (repeatable).")] = None,
    on: OnOption = None,
    by: ByOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a note and evidence references to an open dispute."""
    today = _today()
    noted_on = parse_date(on, "--on") or today
    ledger = open_ledger(db)
    dispute = _act(lambda: note_dispute(ledger, dispute_id, noted_on, text,
                                        list(evidence or []), today=today,
                                        by=by or _default_by()))
    _report(dispute, as_json, f"noted on dispute {dispute_id}")


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
    by: ByOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Resolve a dispute: upheld with an adjustment paid in the first run that reaches the
    resolution date, or rejected."""
    today = _today()
    resolved_on = parse_date(on, "--on") or today
    value = _amount(amount)
    ledger = open_ledger(db)
    dispute = _act(lambda: resolve_dispute(ledger, dispute_id, resolved_on, resolution, value,
                                           reason, today=today, by=by or _default_by()))
    _report(dispute, as_json, f"dispute {dispute_id} {resolution}"
            + (f": adjustment {dispute.amount} in the first run recorded from now on whose "
               f"knowledge date is {resolved_on} or later" if resolution == "upheld" else ""))


def _act(action: Callable[[], Dispute]) -> Dispute:
    """Run one dispute service; its refusal becomes one line and exit 2, with its code."""
    try:
        return action()
    except DisputeRefused as refused:
        fail(f"{refused} ({refused.code})")


def _report(dispute: Dispute, as_json: bool, sentence: str) -> None:
    if as_json:
        print_json(dispute_json(dispute))
    else:
        typer.echo(sentence)


def _amount(amount: str | None) -> Decimal | None:
    if amount is None:
        return None
    try:
        return Decimal(amount)
    except InvalidOperation:
        fail(f"--amount: {amount!r} is not an amount in pounds, e.g. 250.00")


@app.command("list")
def list_disputes(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Every dispute and where it stands."""
    disputes = read_disputes(open_ledger(db, create=False))
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
    dispute = read_dispute(open_ledger(db, create=False), dispute_id)
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
        who = f" by {item['by']}" if item.get("by") else ""
        typer.echo(f"note {item['on']}{who}: {item['note']} (evidence: "
                   f"{', '.join(item['evidence']) or '-'})")
