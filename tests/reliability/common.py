"""What the reliability scripts share: fresh ledgers, record files and ``pbr`` in a process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

from ledger.store import database_url
from tests.records_io import reg, start, write_jsonl

ROOT = Path(__file__).resolve().parents[2]


def fresh_database(url: str) -> str:
    """Empty the PostgreSQL database's public schema (as a new database is); the URL."""
    url = database_url(url)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def backends(folder: Path, postgres: str | None) -> list[tuple[str, object]]:
    """(name, a function giving the URL of an empty ledger) for each backend to measure."""
    counter = iter(range(10 ** 6))
    found: list[tuple[str, object]] = [
        ("sqlite", lambda: f"sqlite:///{folder / f'ledger-{next(counter)}.db'}")]
    if postgres:
        found.append(("postgresql", lambda: fresh_database(postgres)))
    return found


def pbr_process(*args: object) -> subprocess.Popen:
    """``pbr ARGS`` in a process of its own, its output piped."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PBR_DEBUG", None)
    return subprocess.Popen([sys.executable, "-m", "cli.main", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def client_records(path: Path, clients: range, prefix: str = "K") -> Path:
    """A registration and a journey start for each client: two records each."""
    records: list = []
    for n in clients:
        records += [reg(f"{prefix}{n}"), start(f"{prefix}{n}")]
    return write_jsonl(path, records)


def source_id_count(url: str) -> int:
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM pbr_source_ids")).scalar())
    finally:
        engine.dispose()
