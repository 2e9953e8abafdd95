"""``pbr simulate --skew PROVIDER:KIND`` and what ``pbr diagnostics`` makes of it (RULES.md §10).

A skewed provider behaves as the response fears: ``creaming`` sends its band-3 clients
elsewhere, ``parking`` keeps its journeys open with no progress, ``review-timing`` holds the
second review just past the minimum gap. On the simulated pilot each is flagged with its
concern; the same pilot unskewed flags no provider at all (docs/diagnostics.md says why).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from io import StringIO

import pytest

from ledger.simulation import parse_skew, write_pilot
from tests.cli_runner import pbr

SKEWS = {"S1-P1": "creaming", "S2-P2": "parking", "S3-P3": "review-timing"}
CONCERNS = {"creaming": "creaming", "parking": "parking", "review-timing": "gaming"}


def _records(clients: int, skews: dict[str, str]) -> list[dict]:
    out = StringIO()
    write_pilot(clients, 3, out, skews)
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize("text, words", [
    ("S9-P1:creaming", "'S9-P1' is not a simulated provider"),
    ("S1-P1:greed", "the kind must be one of creaming, parking, review-timing"),
    ("S1-P1", "the kind must be one of"),
])
def test_a_skew_names_a_simulated_provider_and_a_known_kind(text, words):
    with pytest.raises(ValueError, match=words):
        parse_skew(text)


def test_bad_skews_on_the_command_line_are_one_line_and_exit_2(tmp_path):
    out = tmp_path / "p.jsonl"
    bad = pbr("simulate", "--clients", "10", "--out", out, "--skew", "S1-P9:parking")
    assert bad.exit_code == 2 and bad.stderr.startswith("pbr: --skew:")
    twice = pbr("simulate", "--clients", "10", "--out", out, "--skew", "S1-P1:parking",
                "--skew", "S1-P1:creaming")
    assert twice.exit_code == 2 and "two kinds" in twice.stderr


def test_no_skew_leaves_the_pilot_exactly_as_it_was_before_skews_existed():
    # The SHA-256 of write_pilot(300, 3) as the simulator wrote it before --skew was added.
    before = "38beb12a15c9fb63c6daeb40a2d72147e84d83757a862dddf1d3df690c30e0ad"
    assert hashlib.sha256(_plain(300).encode()).hexdigest() == before
    assert _records(300, {}) == [json.loads(line) for line in _plain(300).splitlines()]


def _plain(clients: int) -> str:
    out = StringIO()
    write_pilot(clients, 3, out)
    return out.getvalue()


def test_each_skew_does_what_it_says_to_its_provider_only():
    records = _records(3000, SKEWS)
    starts = [r for r in records if r["type"] == "treatment_started"]
    journeys = {(r["client"], r["journey"]): r["provider"] for r in starts}
    assert not [r for r in starts if r["provider"] == "S1-P1" and r.get("lasars_band") == 3]
    assert [r for r in starts if r["provider"] == "S1-P2" and r.get("lasars_band") == 3]
    ended = {journeys[(r["client"], r["journey"])] for r in records if r["type"] == "discharged"}
    assert "S2-P2" not in ended and "S2-P1" in ended
    reviews: dict[tuple[str, str], list[date]] = {}
    for r in records:
        if r["type"] == "top_recorded" and r["stage"] == "review":
            reviews.setdefault((r["client"], r["journey"]), []).append(date.fromisoformat(r["on"]))
    gaps = {provider: [sorted(days)[1] - sorted(days)[0] for key, days in reviews.items()
                       if journeys[key] == provider and len(days) > 1]
            for provider in ("S3-P3", "S3-P1")}
    assert gaps["S3-P3"] and all(timedelta(28) <= gap <= timedelta(33) for gap in gaps["S3-P3"])
    assert gaps["S3-P1"] and all(gap >= timedelta(150) for gap in gaps["S3-P1"])


def _provider_flags(tmp_path, skews: dict[str, str]) -> dict[str, set[str]]:
    db = f"sqlite:///{tmp_path / 'pilot.db'}"
    args = [a for provider, kind in skews.items() for a in ("--skew", f"{provider}:{kind}")]
    made = pbr("simulate", "--clients", "6000", "--seed", "3", "--out", tmp_path / "p.jsonl",
               "--db", db, *args)
    assert made.exit_code == 0, made.stderr
    from ledger.rulesets import example_ruleset_text
    (tmp_path / "rules.toml").write_text(example_ruleset_text())
    assert pbr("rules", "publish", tmp_path / "rules.toml", "--db", db).exit_code == 0
    result = pbr("diagnostics", "--from", "2013-01-01", "--to", "2013-12-31", "--known-on",
                 "2014-03-31", "--db", db, "--json")
    assert result.exit_code == 0, result.stderr
    return {g["provider"]: {f["concern"] for f in g["flags"]}
            for g in result.json()["groups"] if g["level"] == "provider" and g["flags"]}


def test_on_the_simulated_pilot_each_skewed_provider_is_flagged_with_its_concern(tmp_path):
    flagged = _provider_flags(tmp_path, SKEWS)
    for provider, kind in SKEWS.items():
        assert CONCERNS[kind] in flagged.get(provider, set()), (provider, flagged)


def test_the_same_pilot_unskewed_flags_no_provider(tmp_path):
    assert _provider_flags(tmp_path, {}) == {}
