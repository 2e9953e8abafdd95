"""The fuzz (tests/reliability/fuzz.py) on each backend: thousands of mutated lines and a hundred
mutated rulesets, and not one traceback, exit outside 0-2 or invalid record stored."""

from __future__ import annotations

import os

import pytest

from tests.reliability.fuzz import failures, fuzz, verify_available

SEED = int(os.environ.get("PBR_FUZZ_SEED", "12"))


def test_mutated_lines_and_rulesets_never_break_the_ledger(db_url, tmp_path):
    figures = fuzz(db_url, seed=SEED, lines=2000, rulesets=100, folder=tmp_path)
    assert failures(figures) == [], figures
    assert figures["lines_accepted"] > 100 and figures["lines_rejected"] > 1000
    assert figures["rulesets_published"] > 10 and figures["rulesets_refused"] > 10
    # pbr verify runs whenever the installation has it, and must then say the ledger holds
    assert (figures["verify_exit"] == 0) if verify_available() else figures["verify_exit"] is None


def test_the_fuzz_runs_pbr_verify_when_the_installation_has_it(tmp_path, monkeypatch):
    import typer

    from cli.main import app

    if verify_available():
        pytest.skip("this installation has pbr verify: the fuzz above runs it on each backend")
    calls = []

    def verify(db: str = typer.Option(None, "--db")) -> None:
        calls.append(db)
        raise typer.Exit(1)  # a ledger that does not verify
    app.command("verify")(verify)
    try:
        assert verify_available()
        figures = fuzz(f"sqlite:///{tmp_path / 'pbr.db'}", seed=SEED, lines=16, rulesets=1,
                       folder=tmp_path)
    finally:
        app.registered_commands.pop()
    assert calls and figures["verify_exit"] == 1
    assert "pbr verify exit 1" in failures(figures)
    assert not verify_available()
