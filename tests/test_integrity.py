"""RULES.md §9 through the command line: the chain, pbr verify, heads on statements, replays that
verify first, a chain built for a ledger older than it, and the key's refusals."""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ledger.cipher import generate_key
from ledger.importer import Importer
from ledger.integrity import verify
from ledger.simulation import write_pilot
from ledger.store import Ledger
from tests.cli_runner import pbr
from tests.reliability.tamper import _flip_byte, cipher_key

RULESET = "ledger/data/example-2012.toml"


@pytest.fixture
def pilot(tmp_path):
    path = tmp_path / "pilot.jsonl"
    write_pilot(60, 5, path)
    return path


def _ledger_with_a_run(db_url, pilot):
    assert pbr("import", pilot, "--db", db_url).exit_code == 0
    assert pbr("rules", "publish", RULESET, "--db", db_url).exit_code == 0
    run = pbr("payments", "run", "--as-of", "2014-03-31", "--db", db_url, "--json")
    assert run.exit_code == 0, run.stderr
    return run.json()


def test_an_untouched_ledger_verifies_and_prints_its_head(db_url, pilot):
    run = _ledger_with_a_run(db_url, pilot)
    found = pbr("verify", "--db", db_url, "--json")
    assert found.exit_code == 0, found.stdout
    document = found.json()
    assert document["ok"] is True and document["problem"] is None
    assert document["head"]["position"] == run["position"] + 1  # the run is the last event
    assert document["events"] == document["head"]["position"]
    assert len(document["head"]["hash"]) == 64
    text_form = pbr("verify", "--db", db_url)
    assert text_form.exit_code == 0 and document["head"]["hash"] in text_form.stdout


def test_a_statements_head_checks_with_at_and_head(db_url, pilot, tmp_path):
    run = _ledger_with_a_run(db_url, pilot)
    head = run["chain"]
    assert head["position"] == run["position"]
    shown = pbr("payments", "show", run["run"], "--db", db_url)
    assert f"chain head {head['position']} {head['hash']}" in shown.stdout
    pbr("payments", "show", run["run"], "--format", "csv", "--output", tmp_path / "st",
        "--db", db_url)
    inputs = dict(csv.reader((tmp_path / "st" / "inputs.csv").open()))
    assert (inputs["chain_position"], inputs["chain_hash"]) == (str(head["position"]),
                                                                head["hash"])
    pbr("payments", "show", run["run"], "--format", "xlsx", "--output", tmp_path / "st.xlsx",
        "--db", db_url)
    from openpyxl import load_workbook
    sheet = load_workbook(tmp_path / "st.xlsx")["Inputs"]
    cells = {row[0]: row[1] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert (cells["chain_position"], cells["chain_hash"]) == (head["position"], head["hash"])
    held = pbr("verify", "--at", head["position"], "--head", head["hash"], "--db", db_url)
    assert held.exit_code == 0, held.stdout
    other = "0" * 64
    differs = pbr("verify", "--at", head["position"], "--head", other, "--db", db_url, "--json")
    assert differs.exit_code == 1
    assert differs.json()["problem"]["reason"] == "head_differs"
    assert pbr("verify", "--at", "3", "--db", db_url).exit_code == 2
    assert pbr("verify", "--at", "3", "--head", "xyz", "--db", db_url).exit_code == 2
    nowhere = pbr("verify", "--at", "99999", "--head", other, "--db", db_url, "--json")
    assert nowhere.exit_code == 1 and nowhere.json()["problem"]["reason"] == "no_such_position"


def test_a_replay_over_a_changed_store_fails_naming_the_position(db_url, pilot):
    run = _ledger_with_a_run(db_url, pilot)
    assert pbr("payments", "replay", run["run"], "--db", db_url).exit_code == 0
    opened = Ledger(db_url)
    engine = create_engine(opened.url)
    opened.close()
    with engine.begin() as connection:
        _flip_byte(connection, 17)
    engine.dispose()
    replay = pbr("payments", "replay", run["run"], "--db", db_url, "--json")
    assert replay.exit_code == 1
    assert replay.json()["problem"] == {"position": 17, "reason": "event_changed",
                                        "detail": replay.json()["problem"]["detail"]}
    assert "position 17" in pbr("payments", "replay", run["run"], "--db", db_url).stdout


def test_a_ledger_from_before_the_chain_gets_one_built_once_and_says_so_once(db_url, pilot):
    run = _ledger_with_a_run(db_url, pilot)
    before = pbr("verify", "--db", db_url, "--json").json()["head"]
    opened = Ledger(db_url)
    engine = create_engine(opened.url)
    opened.close()
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE pbr_chain"))
    engine.dispose()
    first = pbr("outcomes", "--as-of", "2014-03-31", "--db", db_url, "--json")
    assert first.exit_code == 0
    assert first.stderr.count("built the integrity chain") == 1
    again = pbr("verify", "--db", db_url, "--json")
    assert again.exit_code == 0 and "built" not in again.stderr
    assert again.json()["head"] == before  # the same rule over the same bytes
    assert pbr("verify", "--at", run["chain"]["position"], "--head", run["chain"]["hash"],
               "--db", db_url).exit_code == 0


def _import_in_a_process(url: str, path: str) -> None:
    ledger = Ledger(url)
    Importer(ledger, batch_size=50).run([Path(path)])
    ledger.close()


def test_concurrent_writers_leave_one_unbroken_chain(db_url, tmp_path):
    Ledger(db_url).close()
    files = []
    for n in range(2):
        path = tmp_path / f"part{n}.jsonl"
        write_pilot(80, 40 + n, path)
        # each writer its own clients and source ids
        path.write_text(path.read_text().replace('"C0', f'"W{n}C0'))
        files.append(str(path))
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_import_in_a_process, args=(db_url, f)) for f in files]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
        assert writer.exitcode == 0
    ledger = Ledger(db_url)
    found = verify(ledger)
    assert found.ok, found.problem
    assert found.events == sum(1 for f in files for _ in open(f))
    ledger.close()


def test_an_encrypted_ledger_without_its_key_or_with_another_is_refused_in_one_line(
        db_url, pilot):
    with cipher_key(generate_key()):
        _ledger_with_a_run(db_url, pilot)
    missing = pbr("outcomes", "--db", db_url)
    assert missing.exit_code == 2 and missing.stderr.count("\n") == 1
    assert "encrypted" in missing.stderr
    with cipher_key(generate_key()):
        wrong = pbr("payments", "list", "--db", db_url)
    assert wrong.exit_code == 2 and "another key" in wrong.stderr
    with cipher_key("not a key!"):
        malformed = pbr("payments", "list", "--db", db_url)
    assert malformed.exit_code == 2 and "PBR_CIPHER_KEY" in malformed.stderr
    keyless = pbr("verify", "--db", db_url, "--json")  # integrity needs no key
    assert keyless.exit_code == 0 and keyless.json()["runs_checked"] is False


def test_a_key_on_a_plain_ledger_with_events_is_refused(db_url, pilot):
    _ledger_with_a_run(db_url, pilot)
    with cipher_key(generate_key()):
        refused = pbr("payments", "list", "--db", db_url)
    assert refused.exit_code == 2 and "without encryption" in refused.stderr


def test_keys_generate_prints_a_key_the_ledger_takes(tmp_path, pilot):
    key = pbr("keys", "generate").stdout.strip()
    assert len(key) == 44
    with cipher_key(key):
        assert pbr("import", pilot, "--db", f"sqlite:///{tmp_path / 'k.db'}").exit_code == 0


def _masked(output: str) -> str:
    """Command output with what differs between any two ledgers of the same records removed:
    the chain's hashes (over event timestamps and, encrypted, random nonces)."""
    document = json.loads(output)
    if isinstance(document, dict) and "chain" in document:
        document["chain"] = {"position": document["chain"]["position"]}
    if isinstance(document, dict):  # where compare and forecast read from (decision 12)
        for key in ("from_projection", "first_from_projection"):
            document.pop(key, None)
    return json.dumps(document, sort_keys=True)


COMMANDS = [
    ("outcomes", "--as-of", "2014-03-31", "--json"),
    ("explain", "STARTED", "--as-of", "2014-03-31"),
    ("clock", "C000011", "--as-of", "2014-03-31"),
    ("payments", "run", "--as-of", "2014-06-30", "--json"),
    ("payments", "show", "R0001", "--json"),
    ("payments", "replay", "R0001", "--json"),
    ("payments", "diff", "R0001", "--today", "2015-03-31", "--json"),
    ("projections", "rebuild", "--as-of", "2014-06-30"),
    ("outcomes", "--as-of", "2014-06-30", "--json"),
    ("payments", "run", "--as-of", "2014-06-30", "--known-on", "2014-06-30", "--json"),
    ("import", "PILOT", "--json"),
    ("rules", "list", "--json"),
    ("rules", "show", "example-2012", "--json"),
    ("payments", "list", "--json"),
    ("projections", "status", "--json"),
    ("disputes", "list", "--json"),
    ("reconcile", "--json"),
    ("projections", "rebuild", "--as-of", "2015-03-31"),
    ("compare", "example-2012", "ledger/data/options/option-final-window-6m.toml",
     "--as-of", "2015-03-31", "--json"),
    ("forecast", "--as-of", "2015-03-31", "--json"),
]


def _a_client_in_treatment(pilot) -> str:
    return next(record["client"] for record in map(json.loads, pilot.open())
                if record["type"] == "treatment_started")


def test_every_commands_output_is_the_same_with_and_without_encryption(db_url, pilot,
                                                                       tmp_path):
    outputs = {}
    for encrypted in (False, True):
        url = db_url if encrypted else f"sqlite:///{tmp_path / 'plain.db'}"
        if encrypted and url.startswith("sqlite"):
            url = f"sqlite:///{tmp_path / 'encrypted.db'}"
        with cipher_key(generate_key() if encrypted else None):
            _ledger_with_a_run(url, pilot)
            outputs[encrypted] = []
            for command in COMMANDS:
                args = [{"PILOT": str(pilot), "STARTED": _a_client_in_treatment(pilot)}.get(a, a)
                        for a in command]
                result = pbr(*args, "--db", url)
                stdout = _masked(result.stdout) if "--json" in command else \
                    result.stdout.split(" in ")[0]  # a rebuild says how long it took
                outputs[encrypted].append((result.exit_code, stdout))
    assert outputs[True] == outputs[False]


def _pilot_secrets(pilot) -> set[str]:
    secrets: set[str] = set()
    for line in pilot.open():
        record = json.loads(line)
        if "date_of_birth" in record:
            secrets.add(record["date_of_birth"])
        secrets.update(record.get("substances", []))
        if "disposal" in record:
            secrets.add(f'"{record["disposal"]}"')
    return secrets


def test_with_a_key_no_table_holds_a_birth_date_substance_or_disposal_in_clear(db_url, pilot):
    with cipher_key(generate_key()):
        _ledger_with_a_run(db_url, pilot)
        assert pbr("projections", "rebuild", "--as-of", "2014-03-31", "--db", db_url
                   ).exit_code == 0
    ledger = Ledger(db_url, create=False, keyless=True)
    engine = ledger.datastore.engine
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            ledger.close()
            dumped = open(engine.url.database, "rb").read().decode("latin-1")
        else:
            tables = connection.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
            dumped = "\n".join(str(row[0]) for table in tables for row in connection.execute(
                text(f"SELECT t::text FROM {table} t")))
            ledger.close()
    secrets = _pilot_secrets(pilot)
    assert len(secrets) > 20
    assert sorted(secret for secret in secrets if secret in dumped) == []


def test_the_ledger_file_and_the_rejects_file_are_their_owners_alone(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "nonsense"}\n')
    db = tmp_path / "private.db"
    rejects = tmp_path / "rejects.jsonl"
    assert pbr("import", bad, "--rejects", rejects, "--db", f"sqlite:///{db}").exit_code == 1
    for path in (db, rejects):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


def test_with_a_key_the_index_finds_duplicates_and_conflicts_by_keyed_digests_alone(db_url,
                                                                                     pilot):
    with cipher_key(generate_key()):
        assert pbr("import", pilot, "--db", db_url).exit_code == 0
        again = pbr("import", pilot, "--db", db_url, "--json").json()
        assert (again["accepted"], again["rejected"]) == (0, 0)
        assert again["duplicates"] == sum(1 for _ in pilot.open())
        first = json.loads(pilot.open().readline())
        changed = pilot.parent / "changed.jsonl"
        changed.write_text(json.dumps({**first, "site": first["site"] + "X"}) + "\n")
        conflict = pbr("import", changed, "--db", db_url, "--json").json()
        assert [r["code"] for r in conflict["rejects"]] == ["conflict"]
    opened = Ledger(db_url, create=False, keyless=True)
    engine = create_engine(opened.url)
    opened.close()
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT source_id, client FROM pbr_source_ids")).all()
    engine.dispose()
    assert first["source_id"] not in {row[0] for row in stored}
    assert {row[1] for row in stored} == {""}
    assert {len(row[0]) for row in stored} == {32}  # 128 bits of HMAC, as hex


def test_a_ledger_with_whole_index_digests_is_cut_to_short_ones_when_opened(db_url, pilot,
                                                                           monkeypatch):
    """A ledger encrypted when the index kept whole 64-digit HMACs (key check v1) still finds
    every record a duplicate once opened: its digests are cut to the 32 digits now computed."""
    import hmac

    import ledger.cipher as cipher_module

    key = generate_key()
    with monkeypatch.context() as patched, cipher_key(key):
        patched.setattr(cipher_module, "_KEY_CHECK_PLAINTEXT", b"pbr key check v1")
        patched.setattr(cipher_module.IndexKeys, "__call__", lambda self, text: hmac.digest(
            self._key, text.encode("utf-8"), "sha256").hex())
        ledger = Ledger(db_url)
        assert Importer(ledger).run([pilot]).rejected == 0
        ledger.close()
    opened = Ledger(db_url, create=False, keyless=True)
    engine = create_engine(opened.url)
    opened.close()
    with engine.connect() as connection:
        lengths = connection.execute(text(
            "SELECT DISTINCT length(source_id), length(digest) FROM pbr_source_ids")).all()
    assert lengths == [(64, 64)]
    with cipher_key(key):
        again = pbr("import", pilot, "--db", db_url, "--json").json()
    assert (again["accepted"], again["rejected"]) == (0, 0)
    assert again["duplicates"] == sum(1 for _ in pilot.open())
    with engine.connect() as connection:
        lengths = connection.execute(text(
            "SELECT DISTINCT length(source_id), length(digest) FROM pbr_source_ids")).all()
    engine.dispose()
    assert lengths == [(32, 32)]
