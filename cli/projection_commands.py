"""``pbr projections rebuild|status|follow``: the projection tables reports and runs read."""

from __future__ import annotations

import io
import signal
import sys
import time
from datetime import date
from typing import Annotated, Any, TextIO

import typer

from cli.common import DbOption, JsonOption, fail, open_ledger, parse_date, print_json
from ledger.views import Projection, ProjectionMissing

app = typer.Typer(help="The projection tables: outcome states, entitlements and offending "
                       "clocks, kept current from the ledger.", no_args_is_help=True)


def _progress_file(quiet: bool) -> TextIO:
    return io.StringIO() if quiet else sys.stderr


@app.command("rebuild")
def rebuild(
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="The date the tables are derived as of, on the knowledge of that date "
                        "(YYYY-MM-DD; default: the projection's date, else today).",
        show_default=False)] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Derive every client again into the projection tables, in one transaction."""
    ledger = open_ledger(db)
    projection = Projection(ledger)
    day = parse_date(as_of, "--as-of") or projection.as_of() or date.today()
    started = time.perf_counter()
    with typer.progressbar(length=1, label="deriving", file=_progress_file(as_json)) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        position = projection.rebuild(day, progress=progress)
    seconds = time.perf_counter() - started
    status = projection.status()
    if as_json:
        print_json({**_status_json(status), "seconds": round(seconds, 3)})
    else:
        typer.echo(f"rebuilt as of {day} through position {position}: {status.clients:,} "
                   f"clients, {status.outcomes:,} outcome rows, {status.entitlements:,} "
                   f"achieved entitlements, {status.clocks:,} clocks in {seconds:.1f} s")
    ledger.close()


@app.command("status")
def status(db: DbOption = None, as_json: JsonOption = False) -> int:
    """Where the projection stands: its date, its position and how far behind the ledger it is."""
    ledger = open_ledger(db, create=False)
    try:
        current = Projection(ledger).status()
    except ProjectionMissing as missing:
        fail(str(missing))
    finally:
        ledger.close()
    if as_json:
        print_json(_status_json(current))
    else:
        state = "current" if current.behind == 0 else f"{current.behind:,} events behind"
        typer.echo(f"as of {current.as_of} (rulesets {', '.join(current.rulesets) or 'none'}); "
                   f"position {current.position} of {current.head}: {state}")
        typer.echo(f"{current.clients:,} clients, {current.outcomes:,} outcome rows, "
                   f"{current.entitlements:,} achieved entitlements, {current.clocks:,} clocks")
    return 0 if current.behind == 0 else 1


@app.command("follow")
def follow(
    seconds: Annotated[float | None, typer.Option(
        "--for", help="Stop after this many seconds (default: until interrupted).",
        show_default=False)] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Keep the tables current as records arrive (PostgreSQL: woken by the ledger's NOTIFY).
    With --json, print one document when it stops: where it started and stopped."""
    ledger = open_ledger(db)
    if ledger.datastore.engine.dialect.name != "postgresql":
        ledger.close()
        fail("follow needs a PostgreSQL ledger (--db postgresql://…); on SQLite run "
             "`pbr projections rebuild` or let reports catch up when they read")
    projection = Projection(ledger)
    try:
        position = projection.catch_up()
    except ProjectionMissing as missing:
        fail(str(missing))
    typer.echo(f"following from position {position}", err=True)
    deadline = None if seconds is None else time.monotonic() + seconds
    stop = _stop_on_terminate()
    with ledger.recorder.subscribe(gt=position) as subscription:
        _follow(projection, subscription, deadline, stop)
    stopped = projection.position()
    typer.echo(f"stopped at position {stopped}", err=True)
    ledger.close()
    if as_json:
        print_json({"followed_from": position, "stopped_at": stopped,
                    "applied": stopped - position})


def _follow(projection: Projection, subscription: Any, deadline: float | None,
            stop: dict[str, bool]) -> None:
    """Catch up whenever the subscription reports an event the tables have not applied."""
    import threading

    def stop_later() -> None:
        while not stop["now"] and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.2)
        subscription.stop()

    threading.Thread(target=stop_later, daemon=True).start()
    for notification in subscription:
        if notification.id > projection.position():
            position = projection.catch_up()
            typer.echo(f"applied through position {position}", err=True)


def _stop_on_terminate() -> dict[str, bool]:
    stop = {"now": False}

    def handler(*_: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def _status_json(current: Any) -> dict[str, Any]:
    return {"as_of": current.as_of, "rulesets": current.rulesets, "position": current.position,
            "head": current.head, "behind": current.behind,
            "rebuilt_through": current.rebuilt_through, "clients": current.clients,
            "outcomes": current.outcomes, "entitlements": current.entitlements,
            "clocks": current.clocks}
