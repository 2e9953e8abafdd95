"""Recovery cycles (RULES.md §3) and instalment amounts (RULES.md §4, 1.2).

Within one cycle every entitlement (an outcome, or one instalment of it) is earned at most once,
so a cycle never pays more than each outcome's tariff.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from ledger.durations import months
from ledger.rulesets import Ruleset
from projections.model import Journey, previous_discharge

PENNY = Decimal("0.01")


def assign_cycles(journeys: Sequence[Journey], governing: Mapping[str, Ruleset | None],
                  ) -> dict[str, int]:
    """§3: each journey's recovery cycle, numbered from 1 in start order.

    The relapse policy is the one of the ruleset governing the later journey (decision 3);
    ``after_final_window`` starts a new cycle for a journey starting on or after ``D + window``
    (D the client's previous discharge, the window that of ``drug_free_final``, 12m where that
    outcome is off); ``every_journey`` gives each journey its own; ``never`` one per client.
    A journey with no ruleset follows the default policy.
    """
    ordered = sorted(journeys, key=lambda j: (j.started_on, j.journey))
    cycles: dict[str, int] = {}
    cycle = 0
    for number, journey in enumerate(ordered):
        ruleset = governing.get(journey.journey)
        if number == 0 or _starts_new_cycle(ordered, journey, ruleset):
            cycle += 1
        cycles[journey.journey] = cycle
    return cycles


def _starts_new_cycle(journeys: Sequence[Journey], journey: Journey,
                      ruleset: Ruleset | None) -> bool:
    """§3: D is the client's previous discharge, the latest dated on or before the journey's
    start (RULES.md §2, decision 17); with none, the journey stays in the cycle before it."""
    policy = ruleset.relapse if ruleset is not None else "after_final_window"
    if policy == "every_journey":
        return True
    previous = previous_discharge(journeys, journey)
    if policy == "never" or previous is None or previous.discharged_on is None:
        return False
    final = ruleset.outcomes.drug_free_final if ruleset is not None else None
    window = final.window if final is not None else months(12)
    return journey.started_on >= window.after(previous.discharged_on)


def split_instalments(amount: Decimal, count: int) -> list[Decimal]:
    """1.2 instalments: the amount split in whole pence, the remainder to the last instalment."""
    pence = int((amount / PENNY).to_integral_value())
    share = pence // count
    shares = [share] * count
    shares[-1] += pence - share * count
    return [Decimal(p) * PENNY for p in shares]
