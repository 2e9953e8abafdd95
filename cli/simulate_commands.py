"""``pbr simulate``: write a simulated pilot in the CONTRACT.md record format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import fail
from ledger.simulation import write_pilot


def simulate(
    clients: Annotated[int, typer.Option("--clients", min=1, help="How many clients.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="The same seed gives the same file.")] = 1,
    out: Annotated[Path, typer.Option("--out", help="The JSON Lines file to write.")]
    = Path("pilot.jsonl"),
) -> None:
    """Write a simulated multi-site pilot, April 2012 to March 2015 (see docs/simulation.md)."""
    try:
        count = write_pilot(clients, seed, out)
    except OSError as error:
        fail(f"--out: cannot write {out} ({error.strerror})")
    typer.echo(f"wrote {count:,} records for {clients:,} clients to {out}")


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
