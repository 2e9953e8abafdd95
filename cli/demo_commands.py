"""``pbr demo``: the main job end to end on a simulated pilot, on the embedded default."""

from __future__ import annotations

import io
import sys
import time
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, TextIO

import typer

from cli.common import fail, open_ledger, print_json, table
from cli.outcome_commands import outcome_json
from cli.payment_commands import run_json
from ledger.compare import compare
from ledger.diagnostics import diagnostics_document
from ledger.forecast import backtest_document
from ledger.importer import Importer
from ledger.refusals import Refused
from ledger.rulesets import OPTIONS, example_ruleset_text, option_rulesets
from ledger.runs import find_run, replay_run, take_run
from ledger.simulation import PILOT_START, write_pilot
from projections.diagnostics import quarters as calendar_quarters
from projections.engine import derive_all
from projections.payments import lines_digest

QUARTER_ENDS = [date(2012, 6, 30), date(2012, 9, 30), date(2012, 12, 31), date(2013, 3, 31),
                date(2013, 6, 30), date(2013, 9, 30), date(2013, 12, 31), date(2014, 3, 31),
                date(2014, 6, 30), date(2014, 9, 30), date(2014, 12, 31), date(2015, 3, 31)]
KNOWLEDGE_DELAY = timedelta(weeks=4)
OUTCOME_COLUMNS = ("outcome", "option", "achieved", "failed", "pending", "ineligible")


def demo(
    clients: Annotated[int, typer.Option("--clients", min=1, help="Simulated clients.")] = 1500,
    seed: Annotated[int, typer.Option("--seed", help="Simulation seed.")] = 1,
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's files.")]
    = Path("pbr-demo"),
    db: Annotated[str | None, typer.Option(
        "--db", help="SQLAlchemy URL of an empty ledger to use (default: a new SQLite file "
                     "OUT/pbr-demo.db, replacing the last demo's).", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> int:
    """Simulate a pilot, import it, publish the example ruleset, take and replay quarterly
    payment runs 2012-Q2 to 2015-Q1, and write an HTML report."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    database: str | Path = db or out / "pbr-demo.db"
    if db is None:
        for stale in out.glob("pbr-demo.db*"):
            stale.unlink()
    say = (lambda _: None) if as_json else (lambda text: typer.echo(text, err=True))
    records = out / "pilot.jsonl"
    say(f"simulating {clients:,} clients (seed {seed})…")
    count = write_pilot(clients, seed, records)
    ledger = open_ledger(db or f"sqlite:///{Path(database).resolve()}")
    ledger.publish_ruleset(example_ruleset_text())
    with typer.progressbar(length=count, label="importing", file=_progress_file(as_json)) as bar:
        report = Importer(ledger).run([records], progress=bar.update)
    if report.rejected:
        fail(f"the simulated pilot had {report.rejected} rejected records: "
             f"{report.rejects[0].reason}")
    runs, summary = [], []
    with typer.progressbar(QUARTER_ENDS, label="payment runs",
                           file=_progress_file(as_json)) as quarters:
        for quarter_end in quarters:
            try:
                run = take_run(ledger, quarter_end, quarter_end + KNOWLEDGE_DELAY)
            except Refused as refused:
                fail(f"{refused} ({refused.code})")
            runs.append(run_json(run))
    identical_all = True
    for run in runs:
        recorded, recomputed = replay_run(ledger, find_run(ledger, run["run"]))
        identical = recorded == recomputed and lines_digest(recomputed) == run["digest"]
        identical_all &= identical
        summary.append(_quarter_row(run, identical))
    last = QUARTER_ENDS[-1]
    by_client, _ = ledger.records_by_client(last + KNOWLEDGE_DELAY)
    results, _ = derive_all(by_client, ledger.rulesets(), last, last + KNOWLEDGE_DELAY)
    outcome_rows = _outcome_rows(results)
    say("comparing the draft's options and back-testing the forecast…")
    comparison = compare(ledger, [*ledger.rulesets(), *option_rulesets()], last, last)
    backtest = backtest_document(ledger, 4)
    say("diagnosing each quarter of the pilot…")
    diagnosis = diagnostics_document(ledger, calendar_quarters(PILOT_START, last),
                                     last + KNOWLEDGE_DELAY, by_quarter=True)
    # Both draw with matplotlib: imported only for the report.
    from cli.diagnostics_html import SECTION_STYLE, diagnostics_section
    from cli.report import html_report

    sections = [diagnostics_section(diagnosis)]

    html = out / "report.html"
    html.write_text(html_report(runs, [outcome_json(r) for r in results], summary, outcome_rows,
                                comparison, backtest, sections, SECTION_STYLE),
                    encoding="utf-8")
    seconds = time.perf_counter() - started
    if as_json:
        print_json({"clients": clients, "records": count, "runs": len(runs),
                    "all_replays_identical": identical_all, "report": str(html),
                    "database": str(database), "seconds": round(seconds, 1),
                    "quarters": [dict(zip(["quarter", "payments", "clawbacks", "net", "lines",
                                           "replay"], row, strict=True)) for row in summary],
                    "outcomes": [{"outcome": row[0], "option": row[1],
                                  **{status: int(count) for status, count in
                                     zip(OUTCOME_COLUMNS[2:], row[2:], strict=True)}}
                                 for row in outcome_rows]})
    else:
        typer.echo(table(summary, ["quarter", "payments", "clawbacks", "net", "lines",
                                   "replay"]))
        typer.echo("")
        typer.echo(table(outcome_rows, list(OUTCOME_COLUMNS)))
        typer.echo(f"\n{count:,} records, {len(runs)} runs, every replay "
                   f"{'identical' if identical_all else 'NOT identical'}; "
                   f"report: {html}; ledger: {database}; {seconds:.1f} s")
    ledger.close()
    return 0 if identical_all else 1


def _progress_file(quiet: bool) -> TextIO:
    """Progress goes to standard error, or nowhere when the output is one JSON document."""
    return io.StringIO() if quiet else sys.stderr


def _quarter_row(run: dict, identical: bool) -> list[str]:
    payments = sum((Decimal(line["amount"]) for line in run["lines"]
                    if line["kind"] != "clawback"), Decimal("0.00"))
    clawbacks = sum((Decimal(line["amount"]) for line in run["lines"]
                     if line["kind"] == "clawback"), Decimal("0.00"))
    return [run["as_of"].isoformat(), str(payments), str(clawbacks), str(payments + clawbacks),
            str(len(run["lines"])), "identical" if identical else "DIFFERENT"]


def _outcome_rows(results: list) -> list[list[str]]:
    counts: Counter = Counter((r.outcome, str(r.status)) for r in results)
    return [[name, option, *(str(counts[(name, status)]) for status in
                             ("achieved", "failed", "pending", "ineligible"))]
            for name, option in OPTIONS.items()
            if any(counts[(name, s)] for s in ("achieved", "failed", "pending", "ineligible"))]


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
