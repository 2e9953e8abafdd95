"""A property of runs and disputes (RULES.md §5, §7), for any sequence of runs, disputes and
resolutions on the hand-written ledger: no provider is paid an adjustment for another provider's
journey, no adjustment is paid twice or before a run's knowledge reaches its resolution, every
upheld adjustment is paid once a run reaches it, and every run replays identically."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ledger.disputes import DisputeRefused, raise_dispute, read_disputes, resolve_dispute
from ledger.refusals import Refused
from ledger.runs import recorded_runs, replay_run, take_run
from ledger.store import Ledger
from projections.payments import line_json, lines_digest
from tests import hand_ledger

TODAY = date(2016, 6, 30)
PROVIDER_OF = {"C1": "P1", "C2": "P2", "C4": "P1", "C5": "P1", "C6": "P1"}
PROVIDERS = st.sampled_from(["P1", "P2"])
# Mostly on or after the last run's date; sometimes before it, to be refused.
OFFSET = st.one_of(st.integers(min_value=0, max_value=120), st.integers(-40, -1))

RUN = st.tuples(st.just("run"), st.integers(0, 400), st.integers(0, 60))
RAISE_LINE = st.tuples(st.just("raise_line"), PROVIDERS, st.integers(1, 3), st.integers(1, 4),
                       OFFSET)
RAISE_ENTITLEMENT = st.tuples(st.just("raise_entitlement"), PROVIDERS,
                              st.sampled_from(sorted(PROVIDER_OF)),
                              st.sampled_from(["offending_initial", "housing"]),
                              st.sampled_from([None, "J1", "J2"]), OFFSET)
RESOLVE = st.tuples(st.just("resolve"), st.integers(0, 5), st.booleans(),
                    st.integers(-50000, 50000), OFFSET)
# Weighted towards what makes adjustments: runs, raisings and resolutions, refused or not.
ACTIONS = st.one_of(RUN, RUN, st.tuples(st.just("run_back"), st.integers(1, 400)),
                    RAISE_LINE, RAISE_LINE, RAISE_ENTITLEMENT, RAISE_ENTITLEMENT, RESOLVE,
                    RESOLVE, RESOLVE)


class Story:
    """The sequence's state: the last run's dates, and the day things happen on."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.as_of = date(2012, 6, 30)
        self.known_on = self.as_of

    def act(self, action: tuple) -> None:
        kind, *args = action
        try:
            getattr(self, kind)(*args)
        except (DisputeRefused, Refused):
            pass

    def run(self, days: int, lag: int) -> None:
        as_of = min(self.as_of + timedelta(days=days), TODAY)
        known_on = min(max(self.known_on, as_of + timedelta(days=lag)), TODAY)
        take_run(self.ledger, as_of, known_on)
        self.as_of, self.known_on = as_of, known_on

    def run_back(self, days: int) -> None:
        before = len(recorded_runs(self.ledger))
        try:
            take_run(self.ledger, self.as_of, self.known_on - timedelta(days=days))
        finally:
            assert len(recorded_runs(self.ledger)) == before  # refused when it has runs

    def _day(self, offset: int) -> date:
        return self.as_of + timedelta(days=offset)

    def raise_line(self, provider: str, run: int, line: int, offset: int) -> None:
        raise_dispute(self.ledger, provider, self._day(offset), "line", today=TODAY, by="p",
                      run_id=f"R{run:04d}", line=line)

    def raise_entitlement(self, provider: str, client: str, outcome: str,
                          journey: str | None, offset: int) -> None:
        raise_dispute(self.ledger, provider, self._day(offset), "entitlement", today=TODAY,
                      by="p", client=client, outcome=outcome, journey=journey)

    def resolve(self, index: int, upheld: bool, pence: int, offset: int) -> None:
        found = read_disputes(self.ledger)
        if not found:
            return
        dispute = found[index % len(found)]
        amount = Decimal(pence).scaleb(-2) if upheld else None
        resolve_dispute(self.ledger, dispute.dispute_id, self._day(offset),
                        "upheld" if upheld else "rejected", amount, "panel", today=TODAY,
                        by="panel")


def check(ledger: Ledger) -> None:
    disputes = {d.dispute_id: d for d in read_disputes(ledger)}
    paid: dict[str, str] = {}
    runs = recorded_runs(ledger)
    for run in runs:
        for row in map(line_json, run.lines):
            if row["kind"] != "adjustment":
                continue
            dispute = disputes[row["dispute"]]
            assert row["provider"] == dispute.provider == PROVIDER_OF[row["client"]]
            assert dispute.resolved_on <= run.known_on
            assert row["dispute"] not in paid, f"{row['dispute']} paid in {paid} and {run.run_id}"
            paid[row["dispute"]] = run.run_id
    event(f"adjustments paid: {min(len(paid), 3)}{'+' if len(paid) >= 3 else ''}")
    for dispute in disputes.values():
        if dispute.resolution == "upheld" and runs[-1].known_on >= dispute.resolved_on:
            assert dispute.dispute_id in paid, f"{dispute.dispute_id} upheld but never paid"
    for run in runs:
        recorded, recomputed = replay_run(ledger, run)
        assert recorded == recomputed and lines_digest(recomputed) == run.digest


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ACTIONS, min_size=6, max_size=24))
def test_no_adjustment_goes_to_another_provider_or_is_paid_twice_and_replays_agree(actions):
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'pbr.db'}"
        hand_ledger.build(url, Path(folder))
        with Ledger(url) as ledger:
            story = Story(ledger)
            story.act(("run", 0, 0))
            for action in actions:
                story.act(action)
            story.act(("run", 9999, 9999))  # as of today, known today: reaches every resolution
            check(ledger)
