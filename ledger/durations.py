"""Durations of the rules: ``Nd``, ``Nw`` and ``Nm`` (RULES.md §1).

``D + Nm`` is N calendar months after D, on the same day of the month or the month's last day
where that day does not exist (2012-01-31 + 1m = 2012-02-29). ``python-dateutil``'s
``relativedelta`` implements exactly that clamping, so it is used rather than hand-written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import ClassVar

from dateutil.relativedelta import relativedelta

_DURATION = re.compile(r"^([0-9]{1,4})([dwm])$")


class DurationError(ValueError):
    """A duration that is not ``Nd``, ``Nw`` or ``Nm``."""


@dataclass(frozen=True, order=True)
class Duration:
    """A count of days, weeks or calendar months, as written in a ruleset."""

    count: int
    unit: str  # "d", "w" or "m"

    # Days and weeks are a fixed step, worked out on first use and kept (the engine adds
    # durations often); ``None`` for months, ``False`` while not yet worked out.
    _step: ClassVar[timedelta | None | bool] = False

    def _fixed_step(self) -> timedelta | None:
        step = None if self.unit == "m" else timedelta(
            days=self.count * (7 if self.unit == "w" else 1))
        object.__setattr__(self, "_step", step)
        return step

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _DURATION.match(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise DurationError(f"{text!r} is not a duration like 28d, 8w or 12m")
        return cls(int(match.group(1)), match.group(2))

    def after(self, start: date) -> date:
        """``start + self`` by RULES.md §1."""
        step = self._step
        if step is False:
            step = self._fixed_step()
        return _months_after(start, self.count) if step is None else start + step

    def before(self, end: date) -> date:
        """``end - self`` (months clamp to the month's last day, as for ``after``)."""
        step = self._step
        if step is False:
            step = self._fixed_step()
        return _months_after(end, -self.count) if step is None else end - step

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"


@lru_cache(maxsize=1 << 16)
def _months_after(start: date, count: int) -> date:
    """Calendar months after a date, or before it for a negative count (pure, so remembered: the
    engine asks the same often)."""
    return start + relativedelta(months=count)


def months(count: int) -> Duration:
    return Duration(count, "m")
