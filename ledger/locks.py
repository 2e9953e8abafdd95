"""The lock that serialises creating the ledger's tables, so two commands opening a new ledger at
once never both create them (PostgreSQL would refuse the second with a unique violation in its
catalogue, ``pg_type_typname_nsp_index``, even for ``CREATE TABLE IF NOT EXISTS``).

The lock belongs to the one transaction that creates the tables, and ends with it: on
PostgreSQL a transaction-scoped advisory lock (never a session lock, which would outlive the
transaction in a pooled connection, and in any process forked while it was held); on SQLite
the write lock that ``BEGIN IMMEDIATE`` takes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

SCHEMA_LOCK = 0x7062725F736368  # "pbr_sch": any constant the ledger's commands share


@contextmanager
def schema_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction holding the schema lock; committed on exit."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")
        elif connection.dialect.name == "sqlite":
            dbapi = connection.connection.dbapi_connection
            if not dbapi.in_transaction:  # type: ignore[union-attr]
                connection.exec_driver_sql("BEGIN IMMEDIATE")
        yield connection
        connection.commit()
