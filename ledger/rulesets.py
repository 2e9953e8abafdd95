"""Rulesets (RULES.md §6, CONTRACT.md "Ruleset"): tariffs, lags, windows and policies as data.

A ruleset file is TOML, validated here by pydantic against exactly the schema of CONTRACT.md:
an unknown key, a missing tariff or a bad value is refused with the key's dotted name. Once
published a ruleset never changes; a change is a new ruleset with its own id.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Callable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ledger.durations import Duration, DurationError
from ledger.records import iso_date
from ledger.safety import TooDeep, check_toml_depth, printable

PENNY = Decimal("0.01")


def _duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    try:
        return Duration.parse(value)
    except DurationError as error:
        raise ValueError(str(error)) from None


_PLAIN_AMOUNT = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,2})?$")
_PLAIN_DECIMAL = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,12})?$")


def _money(value: Any, info: ValidationInfo) -> Decimal:
    """Money is a decimal string in pounds, written plainly: digits, then at most two places
    (floats are refused: they are not exact; a sign, an exponent, spaces or underscores are
    refused too: ``"+500"`` and ``"5e2"`` are not how an amount is written)."""
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a decimal string in pounds such as \"500.00\"")
    if not _published(info) and not _PLAIN_AMOUNT.match(value):
        raise ValueError(f"{value[:40]!r} is not an amount written as digits with at most two "
                         "decimal places, such as \"500.00\" (no sign, exponent or spaces)")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value[:40]!r} is not a decimal amount") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{value[:40]!r} is not a non-negative amount")
    try:
        whole_pence = amount == amount.quantize(PENNY)
    except InvalidOperation:
        whole_pence = False
    if not whole_pence:
        raise ValueError(f"{value[:40]!r} has fractions of a penny")
    return amount


def _published(info: ValidationInfo) -> bool:
    """Whether the text being read was published already: it is read as it was accepted then,
    so a check added since never makes a stored ruleset (and every run under it) unreadable."""
    return bool(info.context and info.context.get("published"))


def _exactly(kind: type, what: str) -> Callable[[Any, ValidationInfo], Any]:
    """A value of TOML's own type ``kind`` (``"no"`` is not false, ``"5"`` is not 5)."""
    def check(value: Any, info: ValidationInfo) -> Any:
        if type(value) is not kind and not _published(info):
            raise ValueError(f"{value!r} is not {what}")
        return value
    return check


Flag = Annotated[bool, BeforeValidator(_exactly(bool, "true or false"))]
Whole = Annotated[int, BeforeValidator(_exactly(int, "a whole number"))]


def _ratio(value: Any, info: ValidationInfo) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a decimal string such as \"1.5\"")
    if not _published(info) and not _PLAIN_DECIMAL.match(value):
        raise ValueError(f"{value[:40]!r} is not a decimal written as digits, such as \"1.5\" "
                         "(no sign, exponent or spaces)")
    try:
        ratio = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not ratio.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if ratio < 0 and not _published(info):
        raise ValueError(f"{value!r} is negative")
    return ratio


DurationField = Annotated[Duration, BeforeValidator(_duration), PlainSerializer(str)]
Money = Annotated[Decimal, BeforeValidator(_money), PlainSerializer(str)]
DecimalText = Annotated[Decimal, BeforeValidator(_ratio), PlainSerializer(str)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Outcome(_Strict):
    """What every outcome has: a tariff (pounds) and a minimum data lag."""

    tariff: Money
    lag: DurationField


class DrugFreeInitial(Outcome):
    """1.1 ``drug_free_initial``."""

    alcohol_max_days: Whole = Field(default=0, ge=0, le=28)


class DrugReductionInitial(Outcome):
    """1.3 ``drug_reduction_initial``."""

    reliable_change_days: Whole = Field(ge=1, le=28)
    alcohol_max_days: Whole = Field(default=0, ge=0, le=28)


class PlannedDischargeInitial(Outcome):
    """1.4 ``planned_discharge_initial``."""


class Instalmented(Outcome):
    """An outcome paid at the end of a window, or in instalments through it."""

    window: DurationField
    instalments: tuple[DurationField, ...] = ()

    @model_validator(mode="after")
    def _last_instalment_is_the_window(self) -> Instalmented:
        if self.instalments:
            offsets = [i.after(date(2000, 1, 31)) for i in self.instalments]
            if offsets != sorted(set(offsets)):
                raise ValueError("instalments: offsets must increase")
            if self.instalments[-1].after(date(2000, 1, 31)) != self.window.after(
                date(2000, 1, 31)
            ) or self.instalments[-1] != self.window:
                raise ValueError(
                    f"instalments: the last offset ({self.instalments[-1]}) must equal "
                    f"the window ({self.window})"
                )
        return self


class DrugFreeFinal(Instalmented):
    """1.2 ``drug_free_final``: window 6m, 12m (default) or 18m."""

    window: DurationField = Duration(12, "m")

    @field_validator("window")
    @classmethod
    def _window_is_a_draft_option(cls, window: Duration) -> Duration:
        if window not in (Duration(6, "m"), Duration(12, "m"), Duration(18, "m")):
            raise ValueError("window must be 6m, 12m or 18m (the draft's options for 1.2)")
        return window


class EmploymentFinal(Outcome):
    """2.1 ``employment_final``."""

    sustain: DurationField = Duration(26, "w")


class EmploymentInitial(Outcome):
    """2.2 ``employment_initial``."""


class Offending(Instalmented):
    """3.1 ``offending_initial`` and 3.2 ``offending_final``, individual or cohort measure."""

    measure: Literal["individual", "cohort"] = "individual"
    tariff: Money = Decimal("0")  # a cohort measure pays by steps; see _tariff_or_steps
    clock_reset: Flag = True
    reset_limit: DurationField = Duration(12, "m")
    trigger_offences_only: Flag = False
    metric: Literal["binary", "frequency"] | None = None
    baseline: DecimalText | None = None
    cohort_start: date | None = None
    cohort_by: Literal["site", "provider"] = "site"
    steps: tuple[tuple[DecimalText, Money], ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _tariff_or_steps(cls, data: Any) -> Any:
        if isinstance(data, dict):
            measure = data.get("measure", "individual")
            if measure == "individual" and "tariff" not in data:
                raise ValueError("tariff: missing (an individual measure needs a tariff)")
            if measure == "cohort":
                for key in ("metric", "baseline", "cohort_start", "steps"):
                    if key not in data:
                        raise ValueError(f"{key}: missing (a cohort measure needs it)")
        return data

    @model_validator(mode="after")
    def _steps_increase(self) -> Offending:
        thresholds = [threshold for threshold, _ in self.steps]
        if thresholds != sorted(set(thresholds)):
            raise ValueError("steps: thresholds must increase")
        if self.measure == "cohort" and (self.baseline is None or self.baseline <= 0):
            raise ValueError("baseline: must be greater than 0")
        return self


class OffendingInitial(Offending):
    """3.1: window 6m; ``clock_reset`` is off unless the ruleset turns it on."""

    window: DurationField = Duration(6, "m")
    clock_reset: Flag = False


class OffendingFinal(Offending):
    """3.2: window 12m; the clock always resets (draft, footnote 8)."""

    window: DurationField = Duration(12, "m")


class Injecting(Outcome):
    """4.1 ``injecting``."""


class Housing(Outcome):
    """4.2 ``housing``."""


class HepatitisB(Outcome):
    """4.3 ``hepatitis_b``."""


class WellbeingNorm(_Strict):
    psychological_health: Whole = Field(ge=0, le=20)
    physical_health: Whole = Field(ge=0, le=20)
    quality_of_life: Whole = Field(ge=0, le=20)


class Wellbeing(Outcome):
    """4.4 ``wellbeing``: the draft leaves the threshold open, so it is a parameter."""

    mode: Literal["norm", "improvement"] = "norm"
    norm: WellbeingNorm | None = None
    min_improvement: Whole = Field(default=4, ge=1, le=20)

    @model_validator(mode="after")
    def _norm_given(self) -> Wellbeing:
        if self.mode == "norm" and self.norm is None:
            raise ValueError("norm: missing (mode = \"norm\" needs the three norms)")
        return self


class Outcomes(_Strict):
    """The outcomes a ruleset switches on; an outcome not in the file is off."""

    drug_free_initial: DrugFreeInitial | None = None
    drug_reduction_initial: DrugReductionInitial | None = None
    planned_discharge_initial: PlannedDischargeInitial | None = None
    drug_free_final: DrugFreeFinal | None = None
    employment_final: EmploymentFinal | None = None
    employment_initial: EmploymentInitial | None = None
    offending_initial: OffendingInitial | None = None
    offending_final: OffendingFinal | None = None
    injecting: Injecting | None = None
    housing: Housing | None = None
    hepatitis_b: HepatitisB | None = None
    wellbeing: Wellbeing | None = None

    def switched_on(self) -> list[str]:
        return [name for name in type(self).model_fields if getattr(self, name) is not None]


# The draft's option number of every outcome: every output names an outcome by slug and option.
OPTIONS: dict[str, str] = {
    "drug_free_initial": "1.1",
    "drug_free_final": "1.2",
    "drug_reduction_initial": "1.3",
    "planned_discharge_initial": "1.4",
    "employment_final": "2.1",
    "employment_initial": "2.2",
    "offending_initial": "3.1",
    "offending_final": "3.2",
    "injecting": "4.1",
    "housing": "4.2",
    "hepatitis_b": "4.3",
    "wellbeing": "4.4",
}


class Ruleset(_Strict):
    """A published ruleset (CONTRACT.md)."""

    id: str = Field(min_length=1, max_length=100)
    effective_from: date
    sites: tuple[str, ...] = Field(min_length=1)
    payment_period: Literal["quarter", "month"] = "quarter"
    min_review_gap: DurationField = Duration(28, "d")
    relapse: Literal["after_final_window", "every_journey", "never"] = "after_final_window"
    clawback: Flag = True
    pay_if_died: Flag = False
    band_multipliers: dict[Literal["1", "2", "3"], DecimalText] = Field(
        default_factory=lambda: {"1": Decimal("1.0"), "2": Decimal("1.0"), "3": Decimal("1.0")}
    )
    outcomes: Outcomes

    @field_validator("band_multipliers")
    @classmethod
    def _all_bands(cls, multipliers: dict[str, Decimal]) -> dict[str, Decimal]:
        missing = {"1", "2", "3"} - set(multipliers)
        if missing:
            raise ValueError(f"missing band(s) {', '.join(sorted(missing))}")
        return multipliers

    def applies_to_site(self, site: str) -> bool:
        return site in self.sites or "*" in self.sites

    def multiplier(self, band: int | None) -> Decimal:
        """RULES.md §6: the LASARS band's multiplier; band 1 when absent."""
        return self.band_multipliers[str(band or 1)]

    def amount(self, tariff: Decimal, band: int | None) -> Decimal:
        """Tariff x band multiplier, rounded half up to the penny (RULES.md §4, §6)."""
        return (tariff * self.multiplier(band)).quantize(PENNY, rounding=ROUND_HALF_UP)


class RulesetError(ValueError):
    """A ruleset file that is refused; ``key`` names the dotted key at fault, ``code`` the
    reason: ``not_toml``, ``too_deep``, ``unknown_key``, ``missing_key`` or ``invalid_value``."""

    def __init__(self, key: str, message: str, code: str = "invalid_value") -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.code = code


def first_error(error: ValidationError) -> RulesetError:
    """The error to report: an unknown key before anything else, since a misspelt key
    (``lagg``) is what also makes its intended key (``lag``) look missing."""
    errors = error.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    key = ".".join(printable(str(part)) for part in first["loc"])
    message, code = first["msg"], "invalid_value"
    if first["type"] == "extra_forbidden":
        message, code = "unknown key", "unknown_key"
    elif first["type"] == "missing":
        message, code = "missing", "missing_key"
    message = message.removeprefix("Value error, ")
    # A model-level check names its key in its message ("tariff: missing ...").
    if ": " in message and message.split(": ", 1)[0].replace("_", "").isalnum():
        inner, message = message.split(": ", 1)
        key = f"{key}.{inner}" if key else inner
        if message.startswith("missing"):
            code = "missing_key"
    return RulesetError(key, message, code)


def parse_ruleset(text: str, published: bool = False) -> Ruleset:
    """Parse and validate a ruleset's TOML text; raise :class:`RulesetError` naming the key.

    ``published``: the text was accepted when it was published and is read back as it was
    then; the checks added since (TOML's own booleans and whole numbers, no negative ratio,
    dates only ``YYYY-MM-DD`` up to the last date handled) apply to what is published now.
    """
    try:
        check_toml_depth(text)
    except TooDeep as error:
        raise RulesetError("", str(error), "too_deep") from None
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError) as error:
        raise RulesetError("", f"not valid TOML: {printable(str(error), 120)}",
                           "not_toml") from None
    if isinstance(data.get("band_multipliers"), dict):
        data["band_multipliers"] = {str(k): v for k, v in data["band_multipliers"].items()}
    dates = [("effective_from", data, "effective_from")] + [
        (f"outcomes.{outcome}.cohort_start", terms, "cohort_start")
        for outcome, terms in _table(data.get("outcomes")).items() if isinstance(terms, dict)]
    for key, holder, name in dates:
        if name not in holder:
            continue
        try:
            holder[name] = _ruleset_date(holder[name], published)
        except ValueError as error:
            raise RulesetError(key, str(error)) from None
    try:
        return Ruleset.model_validate(data, context={"published": published})
    except ValidationError as error:
        raise first_error(error) from None


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _ruleset_date(value: Any, published: bool) -> Any:
    """A ruleset's date: ``"YYYY-MM-DD"`` or a TOML date, as :func:`iso_date` checks it."""
    if not published:
        return iso_date(value)
    return date.fromisoformat(value) if isinstance(value, str) else value


def ruleset_digest(ruleset: Ruleset) -> str:
    """A digest of a ruleset's meaning (not its formatting): equal content, equal digest."""
    canonical = json.dumps(ruleset.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def example_ruleset_text() -> str:
    """The example ruleset of CONTRACT.md, shipped inside the package."""
    return resources.files("ledger").joinpath("data/example-2012.toml").read_text()


def option_rulesets() -> list[Ruleset]:
    """The draft's alternatives shipped beside the example (``data/options``), by id."""
    folder = resources.files("ledger").joinpath("data/options")
    return sorted((parse_ruleset(entry.read_text()) for entry in folder.iterdir()
                   if entry.name.endswith(".toml")), key=lambda ruleset: ruleset.id)


def select_ruleset(rulesets: list[Ruleset], site: str, on: date) -> Ruleset | None:
    """RULES.md §6: the ruleset in force for a site on a date.

    Site-specific rulesets win over ``*``; among those, the latest ``effective_from`` on or
    before the date. Ties on both are broken by id so the choice never depends on order.
    """
    in_force = [r for r in rulesets if r.effective_from <= on and r.applies_to_site(site)]
    specific = [r for r in in_force if site in r.sites]
    candidates = specific or in_force
    if not candidates:
        return None
    return max(candidates, key=lambda r: (r.effective_from, r.id))
