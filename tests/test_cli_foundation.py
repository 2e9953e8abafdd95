"""``pbr import`` and ``pbr rules`` through the command line: output, JSON and exit codes."""

from __future__ import annotations

from ledger.rulesets import example_ruleset_text
from ledger.store import Ledger
from tests.cli_runner import pbr
from tests.records_io import reg, start, write_jsonl


def test_import_prints_counts_in_contract_json(db_url, tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [reg(), start(), "oops", start(client="C9")])
    result = pbr("import", path, "--db", db_url, "--json")
    assert result.exit_code == 1
    document = result.json()
    assert (document["accepted"], document["duplicates"], document["rejected"]) == (2, 0, 2)
    assert [(r["line"], r["source_id"]) for r in document["rejects"]] == [(3, None),
                                                                          (4, "start-C9-J1")]
    assert all(r["reason"] for r in document["rejects"])


def test_a_clean_import_exits_zero_and_a_repeat_counts_duplicates(db_url, tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [reg(), start()])
    assert pbr("import", path, "--db", db_url).exit_code == 0
    again = pbr("import", path, "--db", db_url, "--json")
    assert again.exit_code == 0
    assert again.json() == {"accepted": 0, "duplicates": 2, "rejected": 0, "retried": 0,
                            "rejects": []}


def test_rejects_are_written_to_the_rejects_file(db_url, tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [start()])
    result = pbr("import", path, "--db", db_url, "--rejects", tmp_path / "bad.jsonl")
    assert result.exit_code == 1
    assert "unregistered_client" in (tmp_path / "bad.jsonl").read_text()


def test_an_unreadable_file_is_one_line_on_stderr_with_exit_two(tmp_path):
    result = pbr("import", tmp_path / "absent.jsonl", "--db", f"sqlite:///{tmp_path}/x.db")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "absent.jsonl" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_usage_is_one_line_with_exit_two():
    result = pbr("import", "--no-such-option")
    assert result.exit_code == 2
    assert result.stderr.startswith("pbr: ") and result.stderr.count("\n") == 1


def test_publishing_a_ruleset_twice_is_a_no_op(db_url, tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(example_ruleset_text())
    assert pbr("rules", "publish", path, "--db", db_url).exit_code == 0
    again = pbr("rules", "publish", path, "--db", db_url, "--json")
    assert again.json() == {"id": "example-2012", "published": False}
    listed = pbr("rules", "list", "--db", db_url, "--json").json()
    assert [r["id"] for r in listed["rulesets"]] == ["example-2012"]
    shown = pbr("rules", "show", "example-2012", "--db", db_url, "--json").json()
    assert shown["ruleset"]["outcomes"]["drug_free_initial"]["tariff"] == "500.00"


def test_the_same_ruleset_id_with_other_content_is_refused(db_url, tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(example_ruleset_text())
    pbr("rules", "publish", path, "--db", db_url)
    path.write_text(example_ruleset_text().replace('"500.00"', '"600.00"', 1))
    result = pbr("rules", "publish", path, "--db", db_url)
    assert result.exit_code == 2
    assert "id:" in result.stderr and "already published" in result.stderr


def test_showing_an_unknown_ruleset_is_exit_two(db_url):
    Ledger(db_url).close()
    result = pbr("rules", "show", "nope", "--db", db_url)
    assert result.exit_code == 2 and "nope" in result.stderr


def test_every_command_has_help():
    for command in (["import"], ["rules", "publish"], ["rules", "list"], ["rules", "show"]):
        result = pbr(*command, "--help")
        assert result.exit_code == 0 and "--db" in result.stdout


def test_a_date_option_takes_only_yyyy_mm_dd_up_to_the_last_date_handled(tmp_path):
    db = f"sqlite:///{tmp_path}/x.db"
    for text, reason in (("20130630", "not a date YYYY-MM-DD"),
                         ("2013-W26-7", "not a date YYYY-MM-DD"),
                         ("9999-12-31", "after 2999-12-31")):
        result = pbr("outcomes", "--as-of", text, "--db", db)
        assert result.exit_code == 2, text
        assert result.stderr.startswith("pbr: --as-of") and reason in result.stderr
        assert "Traceback" not in result.stderr


def test_a_record_dated_after_the_last_date_handled_is_rejected_naming_the_field(tmp_path):
    far = {**reg("C1"), "received_on": "9999-06-01"}
    result = pbr("import", write_jsonl(tmp_path / "r.jsonl", [far]), "--db",
                 f"sqlite:///{tmp_path}/x.db", "--json")
    assert result.exit_code == 1
    assert result.json()["rejected"] == 1
    assert result.json()["rejects"][0]["reason"].startswith("received_on:")
    assert "after 2999-12-31" in result.json()["rejects"][0]["reason"]
    assert "Traceback" not in result.stderr
