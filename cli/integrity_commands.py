"""``pbr verify`` and ``pbr keys generate`` (RULES.md §9)."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from cli.common import DbOption, JsonOption, fail, open_ledger, print_json
from ledger.cipher import KEY_VARIABLE, generate_key
from ledger.integrity import Verification, verify

_HEX_HASH = re.compile(r"[0-9a-fA-F]{64}")

keys_app = typer.Typer(help="Encryption keys for the ledger (PBR_CIPHER_KEY).",
                       no_args_is_help=True)


def verify_command(
    at: Annotated[int | None, typer.Option(
        "--at", help="With --head: check the ledger up to this position against a head "
                     "printed earlier.", show_default=False)] = None,
    head: Annotated[str | None, typer.Option(
        "--head", help="The head's hash (64 hex digits) printed at --at.",
        show_default=False)] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> int:
    """Recompute the chain and every run's line digest: exit 0 and the head, or exit 1 and the
    first bad position."""
    if (at is None) != (head is None):
        fail("--at POSITION and --head HASH go together")
    if at is not None and at < 0:
        fail(f"--at: {at} is not a position (0 or more)")
    if head is not None and not _HEX_HASH.fullmatch(head):
        fail("--head: a head's hash is 64 hexadecimal digits")
    ledger = open_ledger(db, create=False, keyless=True)
    try:
        found = verify(ledger, at, head)
    finally:
        ledger.close()
    if as_json:
        print_json(found.as_json())
    else:
        typer.echo(verification_text(found, at))
    return 0 if found.ok else 1


def verification_text(found: Verification, at: int | None) -> str:
    position, digest = found.head
    if found.problem is None:
        scope = f" up to position {at}" if at is not None else ""
        checked = " and matches the head given" if at is not None else ""
        what = ("their chain and every run's line digest" if found.runs_checked else
                f"their chain (run digests not checked: {KEY_VARIABLE} is not set)")
        return (f"ledger verified{scope}: {found.events:,} events, {what}{checked}; head "
                f"{position} {digest.hex()}")
    problem = found.problem
    return (f"ledger NOT verified: position {problem.position}: {problem.reason}: "
            f"{problem.detail} (last good head {position} {digest.hex()})")


@keys_app.command("generate")
def generate() -> None:
    """Print a new encryption key; the ledger encrypts when PBR_CIPHER_KEY holds one. Keep it
    safe: an encrypted ledger cannot be read without it."""
    typer.echo(generate_key())
    typer.echo(f"set {KEY_VARIABLE} to this key before the ledger's first use; keep a copy "
               "safe: without it the ledger cannot be read", err=True)


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_command)
    app.add_typer(keys_app, name="keys")
