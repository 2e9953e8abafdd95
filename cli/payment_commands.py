"""``pbr payments``: take, list, show, replay and diff payment runs."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import DbOption, JsonOption, fail, open_ledger, parse_date, print_json, table
from ledger.integrity import Problem, verify
from ledger.refusals import Refused
from ledger.runs import (
    PaymentRun,
    diff_run,
    find_run,
    preview_run,
    recorded_runs,
    replay_differences,
    replay_run,
    run_head,
    take_run,
)
from ledger.store import Ledger
from projections.payments import line_json, lines_digest

STATEMENT_FORMATS = ("csv", "xlsx")

app = typer.Typer(help="Take, list, show, replay and compare payment runs.",
                  no_args_is_help=True)
RunArgument = Annotated[str, typer.Argument(metavar="RUN", help="A run id, e.g. R0001.",
                                            show_default=False)]


def run_json(run: PaymentRun.Taken | PaymentRun) -> dict[str, Any]:
    """CONTRACT.md's run document, with site totals, the digest and overpayments added."""
    return {"run": run.run_id, "as_of": run.as_of, "known_on": run.known_on,
            "rulesets": list(run.rulesets), "position": run.position,
            "lines": [{**line, "amount": str(line["amount"])}
                      for line in map(line_json, run.lines)],
            "totals": {k: str(v) for k, v in run.provider_totals.items()},
            "site_totals": {k: str(v) for k, v in run.site_totals.items()},
            "total": str(run.total), "digest": run.digest, "chain": _chain_json(run),
            "overpayments": [{**o, "paid": str(o["paid"]), "payable": str(o["payable"])}
                             for o in run.overpayments]}


def _chain_json(run: PaymentRun.Taken | PaymentRun) -> dict[str, Any] | None:
    head = run_head(run)
    return None if head is None else {"position": head[0], "hash": head[1]}


def _get_run(ledger: Ledger, run_id: str) -> PaymentRun.Taken:
    run = find_run(ledger, run_id)
    if run is None:
        fail(f"RUN: no payment run {run_id!r} is recorded (see pbr payments list)")
    return run


@app.command("run")
def run_command(
    as_of: Annotated[str, typer.Option("--as-of", help="The run's date E (YYYY-MM-DD).",
                                       show_default=False)],
    known_on: Annotated[str | None, typer.Option(
        "--known-on", help="Use records received on or before this date (default: --as-of).",
        show_default=False)] = None,
    preview: Annotated[bool, typer.Option(
        "--preview", help="Compute and print the run exactly as it would be recorded; record "
                          "nothing (any dates, earlier knowledge too).")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Take and record a payment run as of a date, known on a date (never earlier than the
    last run's); or, with --preview, only show it."""
    as_of_date = parse_date(as_of, "--as-of")
    assert as_of_date is not None
    known_on_date = parse_date(known_on, "--known-on") or as_of_date
    ledger = open_ledger(db, create=not preview)
    try:
        run = (preview_run if preview else take_run)(ledger, as_of_date, known_on_date)
    except Refused as refused:
        fail(f"{refused} ({refused.code})")
    if as_json:
        print_json({**run_json(run), "preview": preview})
        return
    if preview:
        typer.echo("preview: nothing is recorded")
    _print_run(run)


def _print_run(run: PaymentRun.Taken | PaymentRun) -> None:
    typer.echo(f"run {run.run_id}: as of {run.as_of}, known on {run.known_on}, rulesets "
               f"{', '.join(run.rulesets) or '-'}, position {run.position}")
    head = run_head(run)
    typer.echo(f"chain head {head[0]} {head[1]} (check it: pbr verify --at {head[0]} --head "
               f"{head[1]})" if head is not None else "chain head: none (recorded before the "
               "ledger kept a chain)")
    rows = [[line["client"] or line.get("cohort") or "", line["journey"] or "",
             line["outcome"] or "", "" if line["instalment"] is None else str(line["instalment"]),
             line["kind"], str(line["amount"]), line["provider"] or "", line["site"] or ""]
            for line in map(line_json, run.lines)]
    if rows:
        typer.echo(table(rows, ["client", "journey", "outcome", "instalment", "kind", "amount",
                                "provider", "site"]))
    else:
        typer.echo("no lines")
    for provider, amount in run.provider_totals.items():
        typer.echo(f"total {provider}: {amount}")
    for site, amount in run.site_totals.items():
        typer.echo(f"total site {site}: {amount}")
    typer.echo(f"total: {run.total}")
    for over in run.overpayments:
        typer.echo(f"overpayment not clawed back (clawback = false): client {over['client']} "
                   f"journey {over['journey']} {over['outcome']}: paid {over['paid']}, "
                   f"payable {over['payable']}")


@app.command("list")
def list_runs(db: DbOption = None, as_json: JsonOption = False) -> None:
    """The recorded runs."""
    runs = recorded_runs(open_ledger(db, create=False))
    if as_json:
        print_json({"runs": [{"run": r.run_id, "as_of": r.as_of, "known_on": r.known_on,
                              "lines": len(r.lines), "total": str(r.total)} for r in runs]})
        return
    rows = [[r.run_id, r.as_of.isoformat(), r.known_on.isoformat(), str(len(r.lines)),
             str(r.total)] for r in runs]
    typer.echo(table(rows, ["run", "as_of", "known_on", "lines", "total"]) if rows
               else "no payment runs recorded")


@app.command("show")
def show(
    run_id: RunArgument,
    output_format: Annotated[str | None, typer.Option(
        "--format", help="Write a statement: csv (a folder of inputs.csv, lines.csv, "
                         "totals.csv) or xlsx (with --output).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", help="The statement: a folder for csv, a file for xlsx.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """A recorded run and its lines; or its statement as a CSV or Excel file."""
    run = _get_run(open_ledger(db, create=False), run_id)
    if output_format is not None or output is not None:
        if output_format is not None and output_format not in STATEMENT_FORMATS:
            fail(f"--format: {output_format!r} is not a statement format "
                 f"(choose {' or '.join(STATEMENT_FORMATS)})")
        if output_format is None or output is None:
            fail("--format csv|xlsx and --output PATH go together")
        from cli.statements import write_csv, write_xlsx
        writer = write_csv if output_format == "csv" else write_xlsx
        try:
            writer(run_json(run), output)
        except OSError as error:
            fail(f"--output: cannot write {output} ({error.strerror})")
        typer.echo(f"wrote {output}", err=as_json)
        return
    if as_json:
        print_json(run_json(run))
    else:
        _print_run(run)


@app.command("replay")
def replay(run_id: RunArgument, db: DbOption = None, as_json: JsonOption = False) -> int:
    """Recompute a run from its recorded inputs; exit 1 unless identical to the penny."""
    ledger = open_ledger(db, create=False)
    run = _get_run(ledger, run_id)
    held = verify(ledger, at=run.position)
    if not held.ok:
        assert held.problem is not None
        return _replay_refused(run, held.problem, as_json)
    recorded, recomputed = replay_run(ledger, run)
    identical = lines_digest(recomputed) == run.digest and recorded == recomputed
    differences = [] if identical else replay_differences(recorded, recomputed, run.digest)
    if as_json:
        print_json({"run": run.run_id, "identical": identical, "differences": differences,
                    "digest": run.digest, "recomputed_digest": lines_digest(recomputed)})
    elif identical:
        typer.echo(f"run {run.run_id} replays identically: {len(recorded)} lines, total "
                   f"{run.total}, digest {run.digest[:16]}")
    else:
        typer.echo(f"run {run.run_id} does NOT replay identically "
                   f"({len(differences)} difference(s)):")
        for difference in differences:
            typer.echo(f"  {replay_difference_text(difference)}")
    return 0 if identical else 1


def _replay_refused(run: PaymentRun.Taken, problem: Problem, as_json: bool) -> int:
    """RULES.md §9: a replay proves nothing over a store that no longer holds what the run
    rested on; the first bad position is named and nothing is replayed (exit 1)."""
    if as_json:
        print_json({"run": run.run_id, "identical": False, "differences": [],
                    "verified": False, "problem": {"position": problem.position,
                                                    "reason": problem.reason,
                                                    "detail": problem.detail}})
    else:
        typer.echo(f"run {run.run_id} cannot be replayed: the store up to its position "
                   f"{run.position} does not verify: position {problem.position}: "
                   f"{problem.reason}: {problem.detail}")
    return 1


def _entitlement_text(d: dict[str, Any]) -> str:
    """An entitlement in words, naming only what it has (never "None")."""
    parts = [f"client {d['client']}" if d.get("client") else f"cohort {d.get('cohort') or '-'}"]
    if d.get("journey"):
        parts.append(f"journey {d['journey']}")
    parts.append(d.get("outcome") or "")
    if d.get("instalment") is not None:
        parts.append(f"instalment {d['instalment']}")
    if d.get("dispute"):
        parts.append(f"(dispute {d['dispute']})")
    return " ".join(part for part in parts if part)


def replay_difference_text(d: dict[str, Any]) -> str:
    if d["change"] == "digest":
        return (f"every line agrees but the recorded digest {d['recorded']} differs from the "
                f"recomputed digest {d['recomputed']}")
    what = f"{_entitlement_text(d)}, {d['kind']}"
    if d["change"] == "added":
        return f"{what}: not in the recorded run; the replay has {d['recomputed']}"
    if d["change"] == "dropped":
        return f"{what}: recorded {d['recorded']}; the replay has no such line"
    changes = "; ".join(f"{name} recorded {_shown(v['recorded'])}, replayed "
                        f"{_shown(v['recomputed'])}" for name, v in d["fields"].items())
    return f"{what}: {changes}"


def _shown(value: Any) -> str:
    return "(none)" if value is None or value == "" else str(value)


@app.command("diff")
def diff(
    run_id: RunArgument,
    today: Annotated[str | None, typer.Option(
        "--today", help="Today's date for the knowledge used (default: the real today).",
        show_default=False)] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """What today's knowledge would change in a run, line by line, and the records behind it."""
    ledger = open_ledger(db, create=False)
    run = _get_run(ledger, run_id)
    now = parse_date(today, "--today") or date.today()
    try:
        differences = diff_run(ledger, run, now)
    except Refused as refused:
        fail(f"{refused} ({refused.code})")
    if as_json:
        print_json({"run": run.run_id, "known_on": now, "differences": differences})
        return
    if not differences:
        typer.echo(f"today's knowledge changes nothing in run {run.run_id}")
    for d in differences:
        records = ", ".join(f"{r['source_id']} ({r['type']}, received {r['received_on']})"
                            for r in d["records"]) or "no new records of this client"
        recorded = "no line" if d["recorded"] is None else d["recorded"]
        now_text = "no line" if d["recomputed"] is None else d["recomputed"]
        typer.echo(f"{_entitlement_text(d)}: recorded {recorded}, now {now_text} — "
                   f"{d['reason']}; records: {records}")
