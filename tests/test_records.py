"""The shape of each record: every rejection names its field and carries a reason code."""

from __future__ import annotations

import pytest

from ledger.records import RecordError, from_csv_row, validate_record

BASE = {"source_id": "s1", "received_on": "2013-01-01", "client": "C1"}
START = {**BASE, "type": "treatment_started", "journey": "J1", "provider": "P1",
         "on": "2012-04-10", "substances": ["opiates"], "injecting": False, "housing": "none",
         "hepb_vaccination_needed": False}


def rejection(record: dict) -> RecordError:
    with pytest.raises(RecordError) as caught:
        validate_record(record)
    return caught.value


def test_a_complete_treatment_start_is_valid():
    record = validate_record(START)
    assert record.on.isoformat() == "2012-04-10"
    assert record.lasars_band is None


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"on": "2012-02-30"}, "invalid_field", "on"),
    ({"on": "10/04/2012"}, "invalid_field", "on"),
    ({"substances": ["heroin"]}, "invalid_field", "substances"),
    ({"substances": []}, "invalid_field", "substances"),
    ({"injecting": "yes"}, "invalid_field", "injecting"),
    ({"housing": "hostel"}, "invalid_field", "housing"),
    ({"lasars_band": 4}, "invalid_field", "lasars_band"),
    ({"lasars_band": 0}, "invalid_field", "lasars_band"),
    ({"client": ""}, "invalid_field", "client"),
    ({"colour": "red"}, "unknown_field", "colour"),
])
def test_a_bad_value_is_rejected_naming_its_field(change, code, field):
    error = rejection({**START, **change})
    assert error.code == code
    assert error.reason.startswith(f"{field}:")


def test_a_missing_field_is_rejected_naming_it():
    record = dict(START)
    del record["provider"]
    error = rejection(record)
    assert (error.code, error.reason) == ("missing_field", "provider: missing")


def test_an_unknown_record_type_is_rejected():
    assert rejection({**BASE, "type": "arrested"}).code == "unknown_type"


def test_a_record_without_a_type_is_rejected():
    assert rejection(dict(BASE)).code == "missing_field"


@pytest.mark.parametrize(("field", "value"), [
    ("days_used", {"opiates": 29}), ("days_used", {"opiates": -1}),
    ("days_used", {"heroin": 3}), ("injecting_days", 29), ("psychological_health", 21),
    ("quality_of_life", -1), ("stage", "middle"), ("acute_housing_problem", "no"),
])
def test_top_values_outside_their_range_are_rejected(field, value):
    top = {**BASE, "type": "top_recorded", "journey": "J1", "on": "2012-10-01",
           "stage": "review", field: value}
    if field == "stage":
        top["stage"] = value
    error = rejection(top)
    assert error.code == "invalid_field"
    assert error.reason.startswith(field)


def test_a_top_may_leave_out_scores_and_substances():
    top = validate_record({**BASE, "type": "top_recorded", "journey": "J1", "on": "2012-10-01",
                           "stage": "review"})
    assert top.days_used == {} and top.psychological_health is None


@pytest.mark.parametrize(("record", "field"), [
    ({"type": "discharged", "journey": "J1", "on": "2012-10-01", "reason": "bored"}, "reason"),
    ({"type": "proven_offence", "offence_on": "2012-10-01", "disposal": "telling_off",
      "disposal_on": "2012-10-02"}, "disposal"),
    ({"type": "cjs_caseload_entered", "on": "2012-10-01", "caseload": "probation"}, "caseload"),
    ({"type": "correction", "reason": "typo"}, "retracts"),
])
def test_other_record_types_check_their_fields(record, field):
    assert rejection({**BASE, **record}).reason.startswith(field)


def test_a_csv_row_reads_json_cells_and_drops_empty_ones():
    row = {"type": "treatment_started", "source_id": "s1", "received_on": "2013-01-01",
           "client": "C1", "journey": "J1", "provider": "P1", "on": "2012-04-10",
           "substances": '["opiates","crack"]', "injecting": "true", "housing": "none",
           "hepb_vaccination_needed": "false", "lasars_band": "", "caseload": ""}
    record = validate_record(from_csv_row(row))
    assert record.substances == ["opiates", "crack"] and record.injecting is True
