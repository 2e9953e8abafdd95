"""``pbr rules``: publish, list and show rulesets."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

import typer

from cli.common import DbOption, JsonOption, fail, open_ledger, print_json, table
from ledger.importer import UnreadableInput, check_regular_file
from ledger.rulesets import OPTIONS, RulesetError
from ledger.store import RulesetConflict

app = typer.Typer(help="Publish, list and show rulesets.", no_args_is_help=True)


@app.command("publish")
def publish(
    file: Annotated[Path, typer.Argument(help="The ruleset, a TOML file.", show_default=False)],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate and publish a ruleset (publishing the same content again does nothing)."""
    try:
        check_regular_file(file)
    except UnreadableInput as error:
        fail(str(error))
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"{file}: cannot read ({getattr(error, 'strerror', None) or error})")
    ledger = open_ledger(db)
    try:
        ruleset, published = ledger.publish_ruleset(text)
    except RulesetError as error:
        fail(f"{file}: {error} ({error.code})")
    except RulesetConflict as error:
        fail(f"{file}: {error}")
    if as_json:
        print_json({"id": ruleset.id, "published": published})
    elif published:
        typer.echo(f"published ruleset {ruleset.id} (effective from {ruleset.effective_from})")
    else:
        typer.echo(f"ruleset {ruleset.id} is already published with this content; nothing to do")


@app.command("list")
def list_rulesets(db: DbOption = None, as_json: JsonOption = False) -> None:
    """The published rulesets."""
    rulesets = open_ledger(db, create=False).rulesets()
    if as_json:
        print_json({"rulesets": [{"id": r.id, "effective_from": r.effective_from,
                                  "sites": list(r.sites),
                                  "outcomes": r.outcomes.switched_on()} for r in rulesets]})
        return
    if not rulesets:
        typer.echo("no rulesets published")
        return
    rows = [[r.id, r.effective_from.isoformat(), ",".join(r.sites),
             " ".join(f"{name}({OPTIONS[name]})" for name in r.outcomes.switched_on())]
            for r in rulesets]
    typer.echo(table(rows, ["id", "effective_from", "sites", "outcomes"]))


@app.command("show")
def show(
    ruleset_id: Annotated[str, typer.Argument(metavar="ID", show_default=False)],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """One published ruleset, exactly as published."""
    text = open_ledger(db, create=False).ruleset_text(ruleset_id)
    if text is None:
        fail(f"ID: no ruleset {ruleset_id!r} is published")
    if as_json:
        print_json({"id": ruleset_id, "ruleset": tomllib.loads(text), "toml": text})
    else:
        typer.echo(text.rstrip())
