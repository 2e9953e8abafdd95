"""Pydantic models of every record type in CONTRACT.md: the check each imported line passes.

A line that fails is rejected with a reason that names the field; one that passes becomes the
keyword arguments of its :mod:`ledger.events` event, with real ``date`` values.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, ValidationError

SUBSTANCES = ("opiates", "crack", "cocaine", "alcohol", "cannabis", "amphetamines", "other")
Substance = Literal["opiates", "crack", "cocaine", "alcohol", "cannabis", "amphetamines", "other"]
DISCHARGE_REASONS = (
    "completed_drug_free", "completed_occasional_user", "transferred", "dropped_out", "prison",
    "declined", "treatment_withdrawn", "moved_away", "died", "other",
)
DISPOSALS = (
    "caution", "reprimand", "warning", "custody", "suspended_sentence", "community_sentence",
    "fine", "discharge", "penalty_notice", "cannabis_warning",
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The last date a record, a ruleset or a command may name: windows, lags and instalments are
# added to dates, and the calendar has to go on long enough after it for every one of them.
LATEST_DATE = date(2999, 12, 31)


def iso_date(value: Any) -> date:
    """A date written ``YYYY-MM-DD`` (only that form), on or before :data:`LATEST_DATE`."""
    if isinstance(value, datetime):
        raise ValueError(f"{value!r} is a date and time, not a date YYYY-MM-DD")
    if isinstance(value, date):
        day = value
    elif not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError(f"{value!r} is not a date YYYY-MM-DD")
    else:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value} is not a real date") from None
    if day > LATEST_DATE:
        raise ValueError(f"{day} is after {LATEST_DATE}, the last date the ledger handles")
    return day



IsoDate = Annotated[date, BeforeValidator(iso_date)]
Text = Annotated[str, Field(min_length=1, max_length=200, strict=True)]
Days = Annotated[int, Field(ge=0, le=28, strict=True)]
Score = Annotated[int, Field(ge=0, le=20, strict=True)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source_id: Text
    received_on: IsoDate
    client: Text

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its class and values only: import workers send validated records back."""
        return _rebuild_record, (type(self), self.__dict__, self.__pydantic_fields_set__)


def _rebuild_record(model: type[_Record], values: dict[str, Any],
                    fields_set: set[str]) -> _Record:
    """The validated record again, as it was pickled (no validation: it was validated)."""
    record = model.__new__(model)
    record.__setstate__({"__dict__": values, "__pydantic_fields_set__": fields_set,
                         "__pydantic_extra__": None, "__pydantic_private__": None})
    return record


class ClientRegistered(_Record):
    type: Literal["client_registered"]
    site: Text
    date_of_birth: IsoDate


class TreatmentStarted(_Record):
    type: Literal["treatment_started"]
    journey: Text
    provider: Text
    on: IsoDate
    substances: list[Substance] = Field(min_length=1)
    injecting: StrictBool
    housing: Literal["nfa", "problem", "none"]
    hepb_vaccination_needed: StrictBool
    lasars_band: Annotated[int, Field(ge=1, le=3, strict=True)] | None = None


class TopRecorded(_Record):
    type: Literal["top_recorded"]
    journey: Text
    on: IsoDate
    stage: Literal["start", "review", "exit"]
    days_used: dict[Substance, Days] = Field(default_factory=dict)
    injecting_days: Days | None = None
    acute_housing_problem: StrictBool | None = None
    at_risk_of_eviction: StrictBool | None = None
    psychological_health: Score | None = None
    physical_health: Score | None = None
    quality_of_life: Score | None = None


class Discharged(_Record):
    type: Literal["discharged"]
    journey: Text
    on: IsoDate
    reason: Literal[DISCHARGE_REASONS]  # type: ignore[valid-type]
    on_substitute_medication: StrictBool = False


class CjsCaseloadEntered(_Record):
    type: Literal["cjs_caseload_entered"]
    on: IsoDate
    caseload: Literal["dip", "prison"]


class ProvenOffence(_Record):
    type: Literal["proven_offence"]
    offence_on: IsoDate
    disposal: Literal[DISPOSALS]  # type: ignore[valid-type]
    disposal_on: IsoDate
    trigger_offence: StrictBool = False


class _Dated(_Record):
    on: IsoDate


class ReleasedFromCustody(_Dated):
    type: Literal["released_from_custody"]


class HepbCourseCompleted(_Dated):
    type: Literal["hepb_course_completed"]


class BenefitsEnded(_Dated):
    type: Literal["benefits_ended"]


class BenefitsStarted(_Dated):
    type: Literal["benefits_started"]


class Died(_Dated):
    type: Literal["died"]


class Correction(_Record):
    type: Literal["correction"]
    retracts: Text
    reason: Annotated[str, Field(min_length=1, max_length=2000, strict=True)]


MODELS: dict[str, type[_Record]] = {
    model.model_fields["type"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in (
        ClientRegistered, TreatmentStarted, TopRecorded, Discharged, CjsCaseloadEntered,
        ProvenOffence, ReleasedFromCustody, HepbCourseCompleted, BenefitsEnded, BenefitsStarted,
        Died, Correction,
    )
}


class RecordError(ValueError):
    """A line refused before it meets the ledger: ``code`` names the reason, for tests."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return RecordError, (self.code, self.reason)


def _describe(error: ValidationError) -> RecordError:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"] if not isinstance(part, int)) or "record"
    kind = first["type"]
    if kind == "missing":
        return RecordError("missing_field", f"{field}: missing")
    if kind == "extra_forbidden":
        return RecordError("unknown_field", f"{field}: not a field of this record type")
    message = first["msg"].removeprefix("Value error, ")
    if "input" in first and kind not in ("value_error",):
        message = f"{message} (got {json.dumps(first['input'], default=str)[:60]})"
    return RecordError("invalid_field", f"{field}: {message}")


def validate_record(data: Any) -> _Record:
    """Check one record's shape, types and ranges; raise :class:`RecordError` naming the field."""
    if not isinstance(data, dict):
        raise RecordError("not_an_object", "record: not a JSON object")
    kind = data.get("type")
    if kind is None:
        raise RecordError("missing_field", "type: missing")
    model = MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise RecordError("unknown_type", f"type: {kind!r} is not a record type")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise _describe(error) from None


_OWN_DATES = ("on", "offence_on", "disposal_on", "date_of_birth")


def own_dates(record: _Record) -> list[tuple[str, date]]:
    """The record's own dates, by field name (CONTRACT.md: none later than ``received_on``)."""
    fields = record.__dict__
    return [(name, fields[name]) for name in _OWN_DATES if name in fields]


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def digest(record: _Record) -> str:
    """The record's content, canonically: equal content from JSON or CSV gives equal digests."""
    return hashlib.sha256(_CANONICAL.encode(record.__dict__).encode()).hexdigest()


def event_fields(record: _Record) -> dict[str, Any]:
    """The keyword arguments of the record's event (everything but ``type``)."""
    fields = dict(record.__dict__)
    fields.pop("type")
    return fields


# CSV cells are text: these fields hold JSON (lists, objects, booleans, numbers) in a cell.
JSON_CELLS = frozenset({
    "substances", "injecting", "hepb_vaccination_needed", "lasars_band", "days_used",
    "injecting_days", "acute_housing_problem", "at_risk_of_eviction", "psychological_health",
    "physical_health", "quality_of_life", "on_substitute_medication", "trigger_offence",
})


def from_csv_row(row: dict[str, str | None],
                 parse: Callable[[str], Any] = json.loads) -> dict[str, Any]:
    """A CSV row as a record: empty cells are absent, JSON cells are parsed (by ``parse``).

    A cell that should hold JSON but does not is kept as text, so the model rejects it naming
    the field.
    """
    record: dict[str, Any] = {}
    for name, cell in row.items():
        if name is None or cell is None or cell.strip() == "":
            continue
        cell = cell.strip()
        if name in JSON_CELLS:
            try:
                record[name] = parse(cell)
            except json.JSONDecodeError:
                record[name] = cell
        else:
            record[name] = cell
    return record
