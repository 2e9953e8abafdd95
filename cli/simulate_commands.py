"""``pbr simulate``: write a simulated pilot in the CONTRACT.md record format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import fail, open_ledger
from ledger.importer import Importer
from ledger.simulation import SKEWS, parse_skew, write_pilot


def simulate(
    clients: Annotated[int, typer.Option("--clients", min=1, help="How many clients.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="The same seed gives the same file.")] = 1,
    out: Annotated[Path, typer.Option("--out", help="The JSON Lines file to write.")]
    = Path("pilot.jsonl"),
    db: Annotated[str | None, typer.Option(
        "--db", help="Also import the file into this ledger (an SQLAlchemy URL).",
        show_default=False)] = None,
    skew: Annotated[list[str] | None, typer.Option(
        "--skew", metavar="PROVIDER:KIND",
        help=f"Make a provider behave badly ({', '.join(SKEWS)}); may be repeated.",
        show_default=False)] = None,
) -> int:
    """Write a simulated multi-site pilot, April 2012 to March 2015 (see docs/simulation.md);
    with --db, import it into that ledger too; with --skew, some providers behave as the
    diagnostics are meant to catch (docs/diagnostics.md)."""
    skews: dict[str, str] = {}
    for text in skew or []:
        try:
            provider, kind = parse_skew(text)
        except ValueError as error:
            fail(f"--skew: {error}")
        if skews.get(provider, kind) != kind:
            fail(f"--skew: {provider} is given two kinds ({skews[provider]} and {kind})")
        skews[provider] = kind
    try:
        count = write_pilot(clients, seed, out, skews)
    except OSError as error:
        fail(f"--out: cannot write {out} ({error.strerror})")
    typer.echo(f"wrote {count:,} records for {clients:,} clients to {out}")
    if db is None:
        return 0
    ledger = open_ledger(db)
    report = Importer(ledger).run([out])
    ledger.close()
    typer.echo(f"imported into {db}: accepted {report.accepted:,}, duplicates "
               f"{report.duplicates:,}, rejected {report.rejected:,}")
    return 1 if report.rejected else 0


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
