"""Payment periods (RULES.md §1): calendar quarters, or months where the ruleset says so."""

from __future__ import annotations

from calendar import monthrange
from datetime import date


def period_end(day: date, payment_period: str) -> date:
    """The last day of the payment period that ``day`` falls in.

    Quarters are Jan-Mar, Apr-Jun, Jul-Sep and Oct-Dec (they coincide with UK financial-year
    quarters); ``payment_period = "month"`` uses calendar months.
    """
    month = day.month if payment_period == "month" else ((day.month - 1) // 3) * 3 + 3
    return date(day.year, month, monthrange(day.year, month)[1])
