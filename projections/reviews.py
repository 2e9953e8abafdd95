"""Pairs of review TOPs (RULES.md §4, "Pairs of review TOPs"; used by 1.1, 1.3, 4.1, 4.4).

The draft asks for a condition "at the last two TOP reviews where this was in the last 12
months". Read in claim order, a qualifying pair is two consecutive review-stage TOPs of the
journey, r1 before r2, with ``r2 - 12m < r1``, ``r2 - r1 >= min_review_gap`` and the condition
true at both. The outcome's fact date is r2 of the first qualifying pair.
"""

from __future__ import annotations

from collections.abc import Callable

from ledger.durations import Duration, months
from ledger.events import TopRecorded
from projections.model import Journey

Condition = Callable[[TopRecorded], bool]
TWELVE_MONTHS = months(12)


def reviews(journey: Journey) -> tuple[TopRecorded, ...]:
    """The journey's review-stage TOPs in date order (source id breaks a tie)."""
    return journey.tops_at("review")


def is_qualifying_pair(first: TopRecorded, second: TopRecorded, condition: Condition,
                       min_review_gap: Duration) -> bool:
    """Both within 12 months (``r2 - 12m < r1``), at least the minimum gap apart, both meet it."""
    within_year = TWELVE_MONTHS.before(second.on) < first.on
    far_enough = min_review_gap.after(first.on) <= second.on
    return within_year and far_enough and condition(first) and condition(second)


def first_qualifying_pair(journey: Journey, condition: Condition, min_review_gap: Duration,
                          ) -> tuple[TopRecorded, TopRecorded] | None:
    """The first pair of consecutive reviews that qualifies, in claim order."""
    ordered = reviews(journey)
    if len(ordered) < 2:
        return None
    for first, second in zip(ordered, ordered[1:], strict=False):
        if is_qualifying_pair(first, second, condition, min_review_gap):
            return first, second
    return None


def start_top(journey: Journey) -> TopRecorded | None:
    """The journey's start TOP: its first start-stage TOP."""
    starts = journey.tops_at("start")  # in date order
    return starts[0] if starts else None
