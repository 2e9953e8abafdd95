"""The fuzz: seeded mutations of valid record lines and of the example ruleset, fed to ``pbr``.

Run: ``python -m tests.reliability.fuzz [--db URL] [--seed N] [--lines N] [--rulesets N]``; it
prints one JSON document of figures. Every command must end with exit 0, 1 or 2 and no
traceback; every record the ledger accepted must pass the shape and text checks again; the
rulesets accepted must be computable (``pbr outcomes`` and a previewed run exit 0); and, where the
installation has ``pbr verify``, the ledger must verify.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import typer.main

from cli.main import app
from ledger.events import RecordEvent
from ledger.records import MODELS, RecordError, validate_record
from ledger.rulesets import example_ruleset_text
from ledger.safety import check_strings
from ledger.store import Ledger
from tests.cli_runner import pbr
from tests.records_io import write_csv

SAMPLE = Path(__file__).resolve().parents[2] / "ledger" / "data" / "sample.jsonl"

HOSTILE_CHARACTERS = ["\x00", "\x1b", "\x7f", "\u202e", "\u2066", "\u200b", "\u3000", "\ufeff",
                      "\u00a0", "\u2028", '"', "\\", "{", "}", "[", "]", ",", ":", " ", "\t",
                      "é", "名", "\\ud800", "\\u0000", "\\u202e", "\n"]
HOSTILE_VALUES: list[Any] = [
    None, "", " ", "\t", "\u3000", "C\u202e1", "x\u200b", "C1 ", " C1", "a\x00b", 0, -1,
    10 ** 30, 1.5, True, False, [], {}, json.loads("[" * 20 + "]" * 20), "9999-99-99",
    "2012-02-30", "2013-01-01", "3000-01-01", "x" * 300, "+500", "opiates", ["opiates"],
    {"opiates": 0}, {"opiates": 29}, "C1", "J1", "P1", "S1", "review", "dropped_out",
]
RULESET_VALUES = ['"+500"', '"-1"', '"1e3"', '"500.001"', "500", "true", '"0"', '"0.00"',
                  '"99999999999999"', '"NaN"', "[" * 600 + "]" * 600, "[1, 2]", "{a = 1}",
                  '"2012-13-01"', "2012-04-01", '"9999d"', '"0m"', '"0d"', '"12m "', '"18m"',
                  '"6m"', '["3m", "6m"]', '["12m"]', '["6m", "3m", "12m"]', '"cohort"',
                  '"frequency"', '[["0.10", "1.00"]]', '"1.5"', '"\u202e"', '""', '"*"',
                  '["*"]', '["S1"]', '"month"', '"never"', "false", "-4", "4", "29", "0"]


def _base_records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]


def mutate_line(rng: random.Random, record: dict[str, Any], others: list[dict]) -> str:
    """A valid record's line, changed one to three times, in text or in structure."""
    record = dict(record)
    if rng.random() < 0.8:  # most lines are new records, so that they meet the ledger's checks
        record["source_id"] = f"fz-{rng.randrange(10 ** 9)}"
    text = None
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        kind = rng.random()
        if text is None and kind < 0.55:
            _mutate_fields(rng, record, others)
            continue
        text = text if text is not None else json.dumps(record, ensure_ascii=rng.random() < 0.5)
        text = _mutate_text(rng, text, record)
    return text if text is not None else json.dumps(record, ensure_ascii=False)


def _mutate_fields(rng: random.Random, record: dict[str, Any], others: list[dict]) -> None:
    name = rng.choice(list(record) + ["extra", "type"])
    choice = rng.random()
    if choice < 0.15:
        record.pop(name, None)
    elif choice < 0.3:
        other = rng.choice(others)
        record[name] = other.get(name, rng.choice(HOSTILE_VALUES))
    elif choice < 0.4:
        record["type"] = rng.choice(list(MODELS))
    else:
        record[name] = rng.choice(HOSTILE_VALUES)


def _mutate_text(rng: random.Random, text: str, record: dict[str, Any]) -> str:
    choice = rng.random()
    at = rng.randrange(len(text) + 1)
    if choice < 0.35:
        return text[:at] + rng.choice(HOSTILE_CHARACTERS) + text[at:]
    if choice < 0.5:
        return text[:at] + text[at + 1:]
    if choice < 0.6:
        return text[:at]
    if choice < 0.75 and text.endswith("}") and record:
        key = rng.choice(list(record))
        return text[:-1] + f", {json.dumps(key)}: {json.dumps(rng.choice(HOSTILE_VALUES))}}}"
    if choice < 0.85:
        depth = rng.choice([17, 100, 1000, 3000])
        return text[:at] + "[" * depth + "]" * depth + text[at:]
    end = min(len(text), at + rng.randint(1, 20))
    return text[:at] + text[at:end] * rng.randint(2, 4) + text[end:]


def mutate_ruleset(rng: random.Random, text: str, n: int) -> str:
    """The example ruleset under a fresh id, changed one to three times."""
    lines = text.replace('id = "example-2012"', f'id = "fuzz-{n}"').splitlines()
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        at = rng.randrange(len(lines))
        choice = rng.random()
        if choice < 0.5 and "=" in lines[at]:
            key = lines[at].split("=", 1)[0]
            lines[at] = f"{key}= {rng.choice(RULESET_VALUES)}"
        elif choice < 0.65:
            del lines[at]
        elif choice < 0.75:
            lines.insert(at, lines[at])
        elif choice < 0.9:
            position = rng.randrange(len(lines[at]) + 1)
            lines[at] = lines[at][:position] + rng.choice(HOSTILE_CHARACTERS) + \
                lines[at][position:]
        else:
            lines.insert(at, f"extra_{n} = {rng.choice(RULESET_VALUES)}")
    return "\n".join(lines) + "\n"


def _record_of(event: RecordEvent) -> dict[str, Any]:
    fields = MODELS[event.type].model_fields
    return {name: getattr(event, name) for name in fields if hasattr(event, name)} | {
        "type": event.type}


def _invalid_stored(db_url: str) -> tuple[int, int, int]:
    """(stored records, stored records that fail the checks again, source ids indexed)."""
    ledger = Ledger(db_url, create=False)
    stored = invalid = 0
    try:
        for _, event in ledger.notifications():
            if not isinstance(event, RecordEvent):
                continue
            stored += 1
            try:
                record = validate_record(_record_of(event))
                check_strings(record.__dict__)
                if any(day > record.received_on for day in
                       (v for v in record.__dict__.values() if type(v) is date)):
                    raise RecordError("date_after_received", "a date after received_on")
            except RecordError:
                invalid += 1
        with ledger.datastore.transaction(commit=False) as session:
            indexed = session.connection().exec_driver_sql(
                "SELECT count(*) FROM pbr_source_ids").scalar()
    finally:
        ledger.close()
    return stored, invalid, int(indexed or 0)


def verify_available() -> bool:
    """Whether this installation has ``pbr verify`` (the hash chain)."""
    return "verify" in typer.main.get_command(app).commands  # type: ignore[attr-defined]


def _run(figures: dict[str, Any], *args: Any) -> Any:
    result = pbr(*args)
    figures["exit_codes"][str(result.exit_code)] += 1
    if "Traceback" in result.stderr or "Traceback" in result.stdout:
        figures["tracebacks"] += 1
    if result.exit_code not in (0, 1, 2):
        figures["bad_exits"] += 1
        figures["examples"].append(f"{args[:2]}: exit {result.exit_code}: "
                                   f"{result.stderr.strip()[:200]}")
    return result


def fuzz(db_url: str, seed: int = 12, lines: int = 2000, rulesets: int = 100,
         folder: Path | None = None) -> dict[str, Any]:
    """Run the fuzz against an empty ledger at ``db_url``; its figures."""
    rng = random.Random(seed)
    started = time.monotonic()
    figures: dict[str, Any] = {"seed": seed, "lines": lines, "rulesets": rulesets,
                               "exit_codes": Counter(), "tracebacks": 0, "bad_exits": 0,
                               "examples": []}
    with tempfile.TemporaryDirectory() as scratch:
        folder = folder or Path(scratch)
        _fuzz_rulesets(rng, db_url, folder, rulesets, figures)
        _fuzz_lines(rng, db_url, folder, lines, figures)
        stored, invalid, indexed = _invalid_stored(db_url)
        figures.update(records_stored=stored, invalid_records_stored=invalid,
                       source_ids_indexed=indexed)
        for args in (["outcomes", "--as-of", "2014-12-31", "--json"],
                     ["payments", "run", "--as-of", "2014-12-31", "--preview", "--json"]):
            result = _run(figures, *args, "--db", db_url)
            figures[f"{args[0]}_exit"] = result.exit_code
        if verify_available():
            figures["verify_exit"] = _run(figures, "verify", "--db", db_url).exit_code
        else:
            figures["verify_exit"] = None  # this installation has no pbr verify
    figures["exit_codes"] = dict(sorted(figures["exit_codes"].items()))
    figures["seconds"] = round(time.monotonic() - started, 1)
    return figures


def _fuzz_rulesets(rng: random.Random, db_url: str, folder: Path, count: int,
                   figures: dict[str, Any]) -> None:
    example = example_ruleset_text()
    published = refused = 0
    for n in range(count):
        path = folder / f"ruleset-{n}.toml"
        path.write_text(mutate_ruleset(rng, example, n), encoding="utf-8", errors="surrogatepass")
        result = _run(figures, "rules", "publish", path, "--db", db_url)
        published += result.exit_code == 0
        refused += result.exit_code == 2
    if not published:  # the lines need a ruleset in force for outcomes to be derived
        path = folder / "example.toml"
        path.write_text(example)
        _run(figures, "rules", "publish", path, "--db", db_url)
    figures.update(rulesets_published=published, rulesets_refused=refused)


def _fuzz_lines(rng: random.Random, db_url: str, folder: Path, count: int,
                figures: dict[str, Any]) -> None:
    base = _base_records()
    accepted = duplicates = rejected = 0
    files = 8
    for n in range(files):
        share = count // files + (1 if n < count % files else 0)
        if n == files - 1:
            mutated = [_csv_record(rng, rng.choice(base), base) for _ in range(share)]
            path = write_csv(folder / f"lines-{n}.csv", mutated)
        else:
            texts = [json.dumps(r) for r in base] if n == 0 else []
            texts += [mutate_line(rng, rng.choice(base), base)
                      for _ in range(share - len(texts))]
            path = folder / f"lines-{n}.jsonl"
            path.write_bytes("\n".join(texts).encode("utf-8", "surrogatepass") + b"\n")
        result = _run(figures, "import", path, "--db", db_url, "--json")
        if result.exit_code in (0, 1):
            document = result.json()
            accepted += document["accepted"]
            duplicates += document["duplicates"]
            rejected += document["rejected"]
    figures.update(lines_accepted=accepted, lines_duplicate=duplicates, lines_rejected=rejected)


def _csv_record(rng: random.Random, record: dict[str, Any], others: list[dict]) -> dict:
    record = dict(record)
    record["source_id"] = f"fz-{rng.randrange(10 ** 9)}"
    for _ in range(rng.choice([0, 1, 2])):
        _mutate_fields(rng, record, others)
    return {k: v for k, v in record.items() if v is not None}


def failures(figures: dict[str, Any]) -> list[str]:
    """What the figures show went wrong (empty: the fuzz held)."""
    problems = []
    if figures["tracebacks"] or figures["bad_exits"]:
        problems.append(f"{figures['tracebacks']} tracebacks, {figures['bad_exits']} exits "
                        f"outside 0-2: {figures['examples'][:3]}")
    if figures["invalid_records_stored"]:
        problems.append(f"{figures['invalid_records_stored']} invalid records stored")
    if figures["records_stored"] != figures["lines_accepted"]:
        problems.append(f"{figures['records_stored']} records stored for "
                        f"{figures['lines_accepted']} accepted")
    if figures["source_ids_indexed"] != figures["records_stored"]:
        problems.append("the source-id index does not hold one row per record")
    for name in ("outcomes_exit", "payments_exit"):
        if figures[name] != 0:
            problems.append(f"{name} {figures[name]}")
    if figures["verify_exit"] not in (None, 0):
        problems.append(f"pbr verify exit {figures['verify_exit']}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="an EMPTY ledger database (default: a new SQLite file)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--rulesets", type=int, default=100)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        db = options.db or f"sqlite:///{Path(scratch) / 'fuzz.db'}"
        figures = fuzz(db, options.seed, options.lines, options.rulesets)
    figures["backend"] = db.split(":", 1)[0]
    figures["failures"] = failures(figures)
    sys.stdout.write(json.dumps(figures) + "\n")
    return 1 if figures["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
