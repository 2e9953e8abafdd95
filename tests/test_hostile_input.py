"""Hostile input is normal input: every such line is rejected with its own reason, on both
backends alike, and the valid lines of the same file are stored."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from ledger.rulesets import RulesetError, example_ruleset_text, parse_ruleset
from ledger.store import Ledger
from tests.cli_runner import pbr
from tests.records_io import reg, start, write_csv, write_jsonl

GOOD = [reg("C1"), start("C1"), reg("C2")]


def _line(record: dict) -> str:
    return json.dumps(record)


def _hostile(client: str) -> list[tuple[str, str]]:
    """(line, reason code) pairs, each line about ``client``."""
    base = reg(client)
    nested = "[" * 1000 + "]" * 1000
    return [
        (_line(base).replace('"S1"', nested), "too_deep"),
        ('{"a": ' * 500 + "1" + "}" * 500, "too_deep"),
        (_line({**base, "source_id": "reg\u0000x"}), "control_character"),
        (_line({**base, "source_id": "reg\u001b[2Jx"}), "control_character"),
        (_line({**base, "client": " "}), "blank_value"),
        (_line({**base, "client": "\t"}), "blank_value"),
        (_line({**base, "client": "\u3000"}), "blank_value"),
        (_line({**base, "source_id": " reg-padded"}), "surrounding_whitespace"),
        (_line({**base, "client": client + "\u00a0"}), "surrounding_whitespace"),
        (_line({**base, "client": "C\u202e123"}), "bidi_character"),
        (_line({**base, "source_id": "reg\u2066x"}), "bidi_character"),
        (_line({**base, "client": "C\u200b1"}), "invisible_character"),
        (_line({**base, "site": "S\ufeff1"}), "invisible_character"),
        ('{"type": "client_registered", "source_id": "reg-s", "received_on": "2012-04-01", '
         '"client": "C\\ud800", "site": "S1", "date_of_birth": "1980-01-01"}',
         "invalid_field"),  # a lone surrogate: not text at all
        (_line(base)[:-1] + ', "client": "' + client + 'x"}', "duplicate_key"),
        (_line(base).replace('"S1"', "1" * 5000), "not_json"),
        (_line(base).replace('"S1"', "NaN"), "invalid_field"),
    ]


def _codes(result) -> dict[int, str]:
    return {reject["line"]: reject["code"] for reject in result.json()["rejects"]}


def test_each_hostile_line_is_rejected_with_its_reason_and_the_valid_lines_are_stored(
        db_url, tmp_path):
    hostile = _hostile("C9")
    lines = [_line(r) for r in GOOD] + [line for line, _ in hostile]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = pbr("import", path, "--db", db_url, "--json")
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr
    expected = {len(GOOD) + n: code for n, (_, code) in enumerate(hostile, start=1)}
    assert _codes(result) == expected
    assert result.json()["accepted"] == len(GOOD)
    ledger = Ledger(db_url, create=False)
    assert ledger.max_position() == len(GOOD)
    ledger.close()


def test_the_text_report_prints_a_hostile_source_id_escaped(db_url, tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [{**reg("C1"), "source_id": "x\u202ey\u001b[2J"}])
    result = pbr("import", path, "--db", db_url)
    assert result.exit_code == 1
    assert "\u202e" not in result.stdout and "\u001b" not in result.stdout
    assert "x\\u202ey\\u001b[2J" in result.stdout and "(bidi_character)" in result.stdout


def test_an_id_may_hold_letters_of_any_script_and_inner_spaces(db_url, tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [reg("Zoë Ø 名前"), start("Zoë Ø 名前")])
    result = pbr("import", path, "--db", db_url, "--json")
    assert result.exit_code == 0, result.stdout
    assert result.json()["accepted"] == 2


def test_a_correction_reason_may_span_lines_but_hold_no_other_control(db_url, tmp_path):
    fix = {"type": "correction", "source_id": "fix-1", "received_on": "2012-05-01",
           "client": "C1", "retracts": "start-C1-J1", "reason": "wrong\nclient\tfile"}
    bad = {**fix, "source_id": "fix-2", "reason": "wrong\u0007"}
    path = write_jsonl(tmp_path / "r.jsonl", [reg("C1"), start("C1"), fix, bad])
    result = pbr("import", path, "--db", db_url, "--json")
    assert _codes(result) == {4: "control_character"}
    assert result.json()["accepted"] == 3


def test_csv_rows_with_extra_cells_are_rejected_one_by_one(db_url, tmp_path):
    path = write_csv(tmp_path / "r.csv", [reg("C1"), reg("C2"), reg("C3")])
    rows = path.read_text().splitlines()
    rows[2] += ",surplus,cells"
    path.write_text("\n".join(rows) + "\n")
    result = pbr("import", path, "--db", db_url, "--json")
    assert result.exit_code == 1, result.stderr
    assert _codes(result) == {3: "extra_cells"}
    assert result.json()["accepted"] == 2


def test_csv_cells_are_held_to_the_same_checks_as_json_lines(db_url, tmp_path):
    top = {"type": "top_recorded", "source_id": "top-1", "received_on": "2012-05-01",
           "client": "C1", "journey": "J1", "on": "2012-05-01", "stage": "review",
           "days_used": "DEEP"}
    path = write_csv(tmp_path / "r.csv", [reg("C1"), {**reg("C2"), "client": "C\u202e2"},
                                          start("C1"), top, {**top, "source_id": "top-2",
                                                             "days_used": "TWICE"}])
    body = path.read_text().replace("DEEP", '"' + "[" * 40 + "]" * 40 + '"') \
        .replace("TWICE", '"{""opiates"": 0, ""opiates"": 9}"')
    path.write_text(body)
    result = pbr("import", path, "--db", db_url, "--json")
    assert _codes(result) == {3: "bidi_character", 5: "too_deep", 6: "duplicate_key"}
    assert result.json()["accepted"] == 2


def test_a_csv_row_that_is_not_csv_is_rejected_and_the_rows_after_it_are_read(db_url, tmp_path):
    path = write_csv(tmp_path / "r.csv", [reg("C1"), reg("C2")])
    rows = path.read_text().splitlines()
    rows.insert(2, "client_registered," + "x" * 200_000)
    path.write_text("\n".join(rows) + "\n")
    result = pbr("import", path, "--db", db_url, "--json")
    assert result.exit_code == 1, result.stderr
    assert list(_codes(result).values()) == ["not_csv"]
    assert result.json()["accepted"] == 2


def test_a_csv_header_naming_a_column_twice_is_refused_whole(db_url, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("type,client,client\nclient_registered,C1,C2\n")
    result = pbr("import", path, "--db", db_url)
    assert result.exit_code == 2
    assert "'client' more than once" in result.stderr


def test_a_directory_and_a_device_are_named_as_such(tmp_path):
    db = f"sqlite:///{tmp_path / 'pbr.db'}"
    folder = pbr("import", tmp_path, "--db", db)
    assert folder.exit_code == 2 and "is a directory" in folder.stderr
    device = pbr("import", "/dev/null", "--db", db)
    assert device.exit_code == 2 and "is a device" in device.stderr
    missing = pbr("import", tmp_path / "nowhere.jsonl", "--db", db)
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    ruleset = pbr("rules", "publish", tmp_path, "--db", db)
    assert ruleset.exit_code == 2 and "is a directory" in ruleset.stderr


@pytest.mark.parametrize("tariff", ['"+500"', '"+500.00"', '"5e2"', '" 500"', '"5_00"',
                                    '"-0"', '"NaN"', '"1E+999999999"'])
def test_an_amount_not_written_plainly_is_refused(tariff):
    text = example_ruleset_text().replace('tariff = "500.00"', f"tariff = {tariff}", 1)
    with pytest.raises(RulesetError) as refused:
        parse_ruleset(text)
    assert refused.value.key == "outcomes.drug_free_initial.tariff"
    assert refused.value.code == "invalid_value"


def test_a_signed_amount_published_before_the_check_is_still_read():
    text = example_ruleset_text().replace('tariff = "500.00"', 'tariff = "+500"', 1)
    assert str(parse_ruleset(text, published=True).outcomes.drug_free_initial.tariff) == "500"


@pytest.mark.parametrize("nested", ["x = " + "[" * 500 + "]" * 500,
                                    "x = " + "{a = " * 500 + "1" + "}" * 500])
def test_a_ruleset_nested_500_deep_is_refused_with_its_reason(db_url, tmp_path, nested):
    path = tmp_path / "deep.toml"
    path.write_text(nested + "\n" + example_ruleset_text())
    result = pbr("rules", "publish", path, "--db", db_url)
    assert result.exit_code == 2
    assert "nested more than 16 levels deep (too_deep)" in result.stderr
    assert "Traceback" not in result.stderr


def test_brackets_inside_a_ruleset_string_or_comment_are_not_nesting():
    text = example_ruleset_text().replace('id = "example-2012"',
                                          'id = "ex[[[[[[[[[[[[[[[[[[" # [[[[[[[[[[[[[[[[[[[[')
    assert parse_ruleset(text).id == "ex[[[[[[[[[[[[[[[[[["


def test_an_unexpected_error_is_one_line_without_data_and_exit_3(tmp_path, monkeypatch):
    import ledger.importer as importer

    def broken(*_):
        raise KeyError("C1-secret-date-of-birth")
    monkeypatch.setattr(importer.Importer, "_check_batch", broken)
    path = write_jsonl(tmp_path / "r.jsonl", GOOD)
    result = pbr("import", path, "--db", f"sqlite:///{tmp_path / 'pbr.db'}")
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "KeyError" in result.stderr
    assert "secret" not in result.stderr and "Traceback" not in result.stderr
    monkeypatch.setenv("PBR_DEBUG", "1")
    with pytest.raises(KeyError):
        pbr("import", path, "--db", f"sqlite:///{tmp_path / 'pbr.db'}")


def _read_only_url(db_url: str, tmp_path: Path) -> str:
    if db_url.startswith("sqlite"):
        path = db_url.removeprefix("sqlite:///")
        if os.geteuid() != 0:
            os.chmod(path, stat.S_IRUSR)
        return f"sqlite:///file:{path}?mode=ro&uri=true"
    return db_url + "?options=-c%20default_transaction_read_only%3Don"


def test_a_read_only_database_is_one_line_exit_2_and_nothing_written(db_url, tmp_path):
    write_jsonl(tmp_path / "first.jsonl", GOOD[:1])
    assert pbr("import", tmp_path / "first.jsonl", "--db", db_url).exit_code == 0
    path = write_jsonl(tmp_path / "r.jsonl", GOOD)
    result = pbr("import", path, "--db", _read_only_url(db_url, tmp_path))
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("pbr: the ledger database is read-only")
    assert result.stderr.count("\n") == 1
    ledger = Ledger(db_url, create=False)
    assert ledger.max_position() == 1
    ledger.close()


def test_a_full_disk_is_one_line_exit_2_and_leaves_whole_batches(tmp_path, monkeypatch):
    import ledger.importer as importer

    monkeypatch.setattr(importer.Importer.__init__, "__defaults__", (100,))  # batch size
    db = f"sqlite:///{tmp_path / 'pbr.db'}"
    Ledger(db).close()
    records = [r for n in range(600) for r in (reg(f"K{n}"), start(f"K{n}"))]
    path = write_jsonl(tmp_path / "r.jsonl", records)

    def small_disk(connection, _):
        connection.execute("PRAGMA max_page_count = 120")
    event.listen(Engine, "connect", small_disk)
    try:
        result = pbr("import", path, "--db", db)
    finally:
        event.remove(Engine, "connect", small_disk)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("pbr: the disk holding the ledger database is full")
    assert result.stderr.count("\n") == 1
    ledger = Ledger(db, create=False)
    stored = ledger.max_position()
    assert 0 < stored < len(records) and stored % 100 == 0  # whole batches only
    engine = create_engine(db)
    with engine.connect() as connection:
        indexed = connection.execute(text("SELECT count(*) FROM pbr_source_ids")).scalar()
    engine.dispose()
    assert indexed == stored
    ledger.close()
    again = pbr("import", path, "--db", db, "--json")
    assert again.exit_code == 0
    assert again.json()["accepted"] + again.json()["duplicates"] == len(records)
    assert again.json()["duplicates"] == stored

