"""Diagnostic baselines (RULES.md §10): per indicator a ``low`` and ``high`` bound and its source.

A baseline file is TOML, validated here by pydantic the way a ruleset is: an unknown key, a
missing source or a bad value is refused with the key's dotted name. Each bound says which
concern a value beyond it raises (``creaming``, ``parking``, ``gaming``, ``adverse_outcome``)
and whether it is the project's judgement (``judgement = true``: no national figure fixes it) or
is worked out from the national figure the ``source`` names. The project ships one
(``ledger/data/baseline-england-2011-12.toml``); ``docs/diagnostics.md`` lists it.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ledger.rulesets import RulesetError, first_error

CONCERNS = ("creaming", "parking", "gaming", "adverse_outcome")
Concern = Literal["creaming", "parking", "gaming", "adverse_outcome"]
# The indicators a baseline may bound: RULES.md §10's rates, band_mix by band, and parked as a
# share of the journeys a year or more in treatment (``parked_rate``, docs/diagnostics.md).
BOUNDED = ("band_mix.1", "band_mix.2", "band_mix.3", "completion_rate", "drop_out_rate",
           "declined_rate", "parked_rate", "deaths_per_1000", "abstinent_at_review",
           "pairs_near_min_gap", "representation_rate")
SHIPPED = "data/baseline-england-2011-12.toml"


def _decimal(value: Any) -> Decimal:
    """A bound is a decimal string (``"0.3000"``); floats are refused as inexact."""
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a decimal string such as \"0.3000\"")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"{value!r} is not a non-negative number")
    return number


Bound = Annotated[Decimal, BeforeValidator(_decimal)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IndicatorBounds(_Strict):
    """One indicator's bounds: a value below ``low`` raises ``concern_low``, one above
    ``high`` raises ``concern_high``; a side without a bound is not flagged."""

    low: Bound | None = None
    high: Bound | None = None
    concern_low: Concern | None = None
    concern_high: Concern | None = None
    national: Bound | None = None  # the national figure the bounds are centred on, if any
    # A rate that grows with the period's length (deaths per 1,000 journeys open in it) is
    # bounded for a period of this many days, and the bounds scale with the period (decision 11).
    per_days: int | None = Field(default=None, ge=1)
    source: str = Field(min_length=1)
    judgement: bool

    @model_validator(mode="after")
    def _sides_have_concerns(self) -> IndicatorBounds:
        if self.low is not None and self.concern_low is None:
            raise ValueError("concern_low: missing (a low bound names its concern)")
        if self.high is not None and self.concern_high is None:
            raise ValueError("concern_high: missing (a high bound names its concern)")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError("low: is above high")
        if not self.judgement and self.national is None:
            raise ValueError("national: missing (a bound that is not judgement is worked out "
                             "from a national figure)")
        return self

    def concern(self, side: str) -> str | None:
        return self.concern_low if side == "low" else self.concern_high

    def bound(self, side: str, period_days: int) -> Decimal | None:
        """The bound on ``side`` for a period of ``period_days`` days (decision 11)."""
        bound = self.low if side == "low" else self.high
        if bound is None or self.per_days is None:
            return bound
        return (bound * period_days / self.per_days).quantize(Decimal("0.0001"))


class Baseline(_Strict):
    """A baseline: its id, where its figures come from, and the bounds per indicator."""

    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    min_denominator: int = Field(ge=1)
    min_denominator_source: str = Field(min_length=1)
    peer_min_providers: int = Field(ge=3)
    indicators: dict[str, IndicatorBounds]

    @field_validator("indicators")
    @classmethod
    def _known_indicators(cls, indicators: dict[str, IndicatorBounds],
                          ) -> dict[str, IndicatorBounds]:
        for name in indicators:
            if name not in BOUNDED:
                raise ValueError(f"{name}: not an indicator a baseline bounds "
                                 f"({', '.join(BOUNDED)})")
        return indicators


def parse_baseline(text: str) -> Baseline:
    """Parse and validate a baseline's TOML text; raise ``RulesetError`` naming the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RulesetError("", f"not valid TOML: {error}") from None
    try:
        return Baseline.model_validate(data)
    except ValidationError as error:
        raise first_error(error) from None


def read_baseline(path: Path | None) -> Baseline:
    """The baseline at ``path``, or the shipped one."""
    if path is None:
        return parse_baseline(shipped_baseline_text())
    return parse_baseline(path.read_text(encoding="utf-8"))


def shipped_baseline_text() -> str:
    return resources.files("ledger").joinpath(SHIPPED).read_text(encoding="utf-8")
