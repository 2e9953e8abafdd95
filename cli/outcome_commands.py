"""``pbr outcomes``, ``pbr explain`` and ``pbr clock``: the derived outcomes, and why."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

from cli.common import DbOption, JsonOption, fail, open_ledger, parse_date, print_json, table
from ledger.explanations import Explanation, explain_client, offending_clocks
from ledger.rulesets import OPTIONS
from ledger.store import Ledger
from ledger.views import Projection
from projections.engine import derive_all, derive_client
from projections.model import ClientOutcomes, OutcomeResult, Unruled
from projections.offending import Clock

AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", help="The date outcomes are worked out as of (YYYY-MM-DD; default today).",
    show_default=False)]
KnownOnOption = Annotated[str | None, typer.Option(
    "--known-on", help="Use only records received on or before this date (default: --as-of).",
    show_default=False)]


def dates(as_of: str | None, known_on: str | None) -> tuple[date, date]:
    """``--as-of`` defaults to today and ``--known-on`` to ``--as-of`` (CONTRACT.md)."""
    as_of_date = parse_date(as_of, "--as-of") or date.today()
    return as_of_date, parse_date(known_on, "--known-on") or as_of_date


def outcome_json(result: OutcomeResult) -> dict[str, Any]:
    """One row of CONTRACT.md's ``pbr outcomes --json``, with a few additions."""
    row: dict[str, Any] = {
        "client": result.client, "journey": result.journey, "outcome": result.outcome,
        "option": result.option, "status": str(result.status),
        "evidence_on": result.evidence_on, "payable_on": result.payable_on,
        "amount": result.amount, "reason": result.reason, "explanation": result.explanation,
        "ruleset": result.ruleset, "provider": result.provider, "site": result.site,
        "cycle": result.cycle,
    }
    if result.instalments is not None:
        row["instalments"] = [{
            "n": i.n, "status": str(i.status), "evidence_on": i.evidence_on,
            "payable_on": i.payable_on, "amount": i.amount, "reason": i.reason,
            "explanation": i.explanation} for i in result.instalments]
    if result.cohort is not None:
        row["cohort"] = result.cohort
    return row


def citations_json(result: OutcomeResult) -> list[dict[str, Any]]:
    return [{"source_id": c.source_id, "on": c.on, "received_on": c.received_on, "what": c.what}
            for c in result.citations]


def unruled_json(unruled: Unruled) -> dict[str, Any]:
    return {"client": unruled.client, "journey": unruled.journey, "started_on": unruled.started_on}


def all_outcomes(ledger: Ledger, as_of: date, known_on: date,
                 ) -> tuple[list[OutcomeResult], list[Unruled]]:
    """Every outcome: read from the projection tables when they answer for E and K."""
    projection = Projection.existing(ledger)
    if projection is not None and projection.serves(as_of, known_on):
        return projection.outcomes()
    by_client, _ = ledger.records_by_client(known_on)
    return derive_all(by_client, ledger.rulesets(), as_of, known_on)


def _client_outcomes(ledger: Ledger, client: str, as_of: date, known_on: date) -> ClientOutcomes:
    derived = derive_client(ledger.client_events(client), ledger.rulesets(), as_of, known_on)
    if derived is None:
        fail(f"CLIENT: no client {client!r} is registered as known on {known_on}")
    return derived


def outcomes(
    as_of: AsOfOption = None,
    known_on: KnownOnOption = None,
    client: Annotated[str | None, typer.Option("--client", help="Only this client.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every outcome of every journey, as of a date with the knowledge of a date."""
    as_of_date, known_on_date = dates(as_of, known_on)
    ledger = open_ledger(db, create=False)
    if client is not None:
        derived = _client_outcomes(ledger, client, as_of_date, known_on_date)
        results, unruled = list(derived.outcomes), list(derived.unruled)
    else:
        results, unruled = all_outcomes(ledger, as_of_date, known_on_date)
    if as_json:
        print_json({"as_of": as_of_date, "known_on": known_on_date,
                    "outcomes": [outcome_json(r) for r in results],
                    "unruled": [unruled_json(u) for u in unruled]})
        return
    rows = [[r.client or r.cohort or "", r.journey or "", f"{r.outcome} ({r.option})",
             str(r.status), _text(r.evidence_on), _text(r.payable_on), _text(r.amount), r.reason]
            for r in results]
    typer.echo(f"as of {as_of_date}, known on {known_on_date}")
    typer.echo(table(rows, ["client", "journey", "outcome", "status", "evidence_on",
                            "payable_on", "amount", "reason"]) if rows else "no outcomes")
    for item in unruled:
        typer.echo(f"unruled: client {item.client} journey {item.journey} started "
                   f"{item.started_on} (no ruleset in force on that date)")


def explain(
    client: Annotated[str, typer.Argument(metavar="CLIENT", show_default=False)],
    outcome: Annotated[str | None, typer.Option(
        "--outcome", help="Only this outcome (its slug, e.g. offending_final).")] = None,
    as_of: AsOfOption = None,
    known_on: KnownOnOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Why each outcome of a client stands as it does, citing the records and the rule."""
    if outcome is not None and outcome not in OPTIONS:
        fail(f"--outcome: {outcome!r} is not an outcome ({', '.join(OPTIONS)})")
    as_of_date, known_on_date = dates(as_of, known_on)
    explained = explain_client(open_ledger(db, create=False), client, as_of_date, known_on_date,
                               outcome)
    if explained is None:
        fail(f"CLIENT: no client {client!r} is registered as known on {known_on_date}")
    if as_json:
        print_json({"client": client, "as_of": as_of_date, "known_on": known_on_date,
                    "outcomes": [{**outcome_json(e.result), "citations": citations_json(e.result),
                                  "retractions": list(e.retractions),
                                  "runs": [_run_line_json(line) for line in e.run_lines]}
                                 for e in explained.explanations],
                    "unruled": [unruled_json(u) for u in explained.unruled]})
        return
    typer.echo(f"client {client}, as of {as_of_date}, known on {known_on_date}")
    for explanation in explained.explanations:
        typer.echo("")
        typer.echo(_explanation_text(explanation))
    for item in explained.unruled:
        typer.echo(f"\njourney {item.journey} (started {item.started_on}) has no ruleset in "
                   "force on its start date: it has no outcomes")


def _run_line_json(line: dict[str, Any]) -> dict[str, Any]:
    return {**line, "amount": str(line["amount"])}


def _explanation_text(explanation: Explanation) -> str:
    result = explanation.result
    head = (f"journey {result.journey} · {result.outcome} (option {result.option}) · "
            f"{result.status}")
    if result.amount is not None:
        head += f" · £{result.amount} payable on {result.payable_on}"
    lines = [head, f"  rule set {result.ruleset}; reason {result.reason}",
             f"  {result.explanation}"]
    for instalment in result.instalments or ():
        money = f" £{instalment.amount}" if instalment.amount is not None else ""
        lines.append(f"  instalment {instalment.n}: {instalment.status}{money} — "
                     f"{instalment.explanation}")
    for citation in result.citations:
        received = (f", received {citation.received_on}" if citation.received_on is not None
                    else "")
        lines.append(f"  record {citation.source_id} (dated {citation.on}{received}): "
                     f"{citation.what}")
    for retraction in explanation.retractions:
        lines.append("  " + _retraction_text(retraction))
    if explanation.run_lines:
        lines.append("  paid and clawed back in the runs:")
        rows = [[line["run"], str(line["as_of"]), str(line["line"]),
                 "" if line["instalment"] is None else str(line["instalment"]), line["kind"],
                 str(line["amount"]), line["dispute"] or ""] for line in explanation.run_lines]
        table_text = table(rows, ["run", "as_of", "line", "instalment", "kind", "amount",
                                  "dispute"])
        lines += ["    " + row for row in table_text.splitlines()]
    else:
        lines.append("  no run has paid or clawed back this outcome")
    return "\n".join(lines)


def _retraction_text(retraction: dict[str, Any]) -> str:
    what = (f"{retraction['retracted_type']} record {retraction['retracts']} (dated "
            f"{retraction['retracted_on']}, received {retraction['retracted_received_on']})"
            if retraction["retracted_type"] else f"record {retraction['retracts']}")
    without = retraction["without_it"]
    amount = f", £{without['amount']}" if without["amount"] is not None else ""
    return (f"retraction {retraction['source_id']} (received {retraction['received_on']}) "
            f"withdrew {what}: {retraction['reason']}; without it this would be "
            f"{without['status']}{amount}")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def clock_json(clock: Clock) -> dict[str, Any]:
    return {
        "journey": clock.journey, "outcome": clock.outcome, "option": OPTIONS[clock.outcome],
        "window": str(clock.window), "status": str(clock.status), "reason": clock.reason,
        "explanation": clock.explanation, "current_start": clock.current_start,
        "target_on": clock.target_on, "evidence_on": clock.evidence_on,
        "reset_limit_on": clock.limit_on,
        "starts": [{"on": s.on, "cause": s.cause, "record": s.offence,
                    "offence_on": s.offence_on, "disposal": s.disposal,
                    "disposal_on": s.disposal_on, "release": s.release,
                    "released_on": s.released_on, "superseded_on": s.superseded_on}
                   for s in clock.starts],
    }


def clock(
    client: Annotated[str, typer.Argument(metavar="CLIENT", show_default=False)],
    as_of: AsOfOption = None,
    known_on: KnownOnOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """The offending clock of each journey: every start, each reset with the offence behind it,
    and the target date."""
    as_of_date, known_on_date = dates(as_of, known_on)
    ledger = open_ledger(db, create=False)
    clocks = offending_clocks(ledger, client, as_of_date, known_on_date)
    if clocks is None:
        fail(f"CLIENT: no client {client!r} is registered as known on {known_on_date}")
    if as_json:
        print_json({"client": client, "as_of": as_of_date, "known_on": known_on_date,
                    "clocks": [clock_json(c) for c in clocks]})
        return
    typer.echo(f"client {client}, as of {as_of_date}, known on {known_on_date}")
    if not clocks:
        typer.echo("no offending clock runs for this client's journeys")
    for item in clocks:
        typer.echo(f"\njourney {item.journey} · {item.outcome} (option "
                   f"{OPTIONS[item.outcome]}) · window {item.window} · {item.status}")
        for start in item.starts:
            typer.echo("  " + _start_text(start))
        if item.status == "failed":
            target = "none (the outcome failed)"
        else:
            target = str(item.target_on or "not known while in custody")
        typer.echo(f"  target: {target}" + (f"; reset limit {item.limit_on}"
                                            if item.limit_on else ""))
        typer.echo(f"  {item.explanation}")


def _start_text(start: Any) -> str:
    if start.cause == "journey_start":
        return f"start {start.on}: the journey's start (record {start.offence})"
    when = start.on or "unknown until release from custody"
    release = (f", released {start.released_on} (record {start.release})"
               if start.release else "")
    verb = "reset" if start.cause == "reset" else "pushed (offence on bail)"
    return (f"{verb} to {when}: offence dated {start.offence_on}, {start.disposal} disposed "
            f"{start.disposal_on} (record {start.offence}){release}")


def register(app: typer.Typer) -> None:
    app.command("outcomes")(outcomes)
    app.command("explain")(explain)
    app.command("clock")(clock)
