"""Who looked at which client, and when (CONTRACT.md "The web view"; ``pbr access-log``).

Every page or download of the web view that shows a client adds one row per client shown to
``pbr_access_log`` in the ledger's database: the user, the client, the time (UTC) and what was
opened (the page or the download). Rows are only ever added.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    inspect,
    select,
)

from ledger.store import Ledger

access_metadata = MetaData()
access_log = Table(
    "pbr_access_log", access_metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("user", String(64), nullable=False),
    Column("client", String(200), nullable=False),
    Column("what", String(300), nullable=False),
    Index("pbr_access_log_client_idx", "client"),
    Index("pbr_access_log_user_idx", "user"),
)


@dataclass(frozen=True)
class Access:
    at: datetime
    user: str
    client: str
    what: str


def ensure_access_log(ledger: Ledger) -> None:
    if not ledger.__dict__.get("_access_table"):
        access_metadata.create_all(ledger.datastore.engine, checkfirst=True)
        ledger.__dict__["_access_table"] = True


def log_access(ledger: Ledger, user: str, clients: Iterable[str | None], what: str,
               at: datetime | None = None) -> int:
    """Record that ``user`` was shown each of ``clients`` (each once) by ``what``; how many."""
    shown = sorted({client for client in clients if client})
    if not shown:
        return 0
    ensure_access_log(ledger)
    when = at or datetime.now(UTC)
    with ledger.datastore.engine.begin() as connection:
        connection.execute(access_log.insert(), [
            {"at": when, "user": user, "client": client, "what": what[:300]}
            for client in shown])
    return len(shown)


def read_access_log(ledger: Ledger, client: str | None = None,
                    user: str | None = None) -> list[Access]:
    """The accesses, oldest first, of one client and/or one user if given."""
    if not ledger.__dict__.get("_access_table") and \
            not inspect(ledger.datastore.engine).has_table(access_log.name):
        return []
    query = select(access_log).order_by(access_log.c.id)
    if client is not None:
        query = query.where(access_log.c.client == client)
    if user is not None:
        query = query.where(access_log.c.user == user)
    with ledger.datastore.engine.connect() as connection:
        return [Access(_utc(row.at), row.user, row.client, row.what)
                for row in connection.execute(query)]


def _utc(at: datetime) -> datetime:
    """SQLite gives back naive datetimes: they were written in UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
