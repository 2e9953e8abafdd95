"""What a database error means for the person running a command, and whether it was a race.

The event store library and SQLAlchemy wrap the driver's error (``sqlite3``'s, or psycopg's with
its SQLSTATE) in their own; these functions look through the chain of causes for it. They never
repeat the driver's message, which may quote the values of the statement (client data).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

# PostgreSQL SQLSTATEs (Appendix A of its manual) a command cannot do anything about itself.
_POSTGRES_PROBLEMS = {
    "25006": "the ledger database is read-only",
    "42501": "the ledger database does not let this user write to it",
    "53100": "the disk holding the ledger database is full",
    "53200": "the ledger database ran out of memory",
    "53300": "the ledger database has too many connections",
    "57P01": "the ledger database was shut down",
    "57P03": "the ledger database is starting up or shutting down",
}
_POSTGRES_CLASSES = {"08": "the connection to the ledger database was lost",
                     "53": "the ledger database ran out of resources"}
# SQLite's messages for its result codes (sqlite3_errstr), which is all its driver gives.
_SQLITE_PROBLEMS = {
    "readonly": "the ledger database is read-only",
    "disk is full": "the disk holding the ledger database is full",
    "database is locked": "the ledger database is busy: another command is writing to it",
    "unable to open": "the ledger database file cannot be opened",
    "disk i/o error": "the disk holding the ledger database failed to read or write",
    "malformed": "the ledger database file is damaged",
    "not a database": "the ledger database file is not an SQLite database",
}
# A transaction that lost to a concurrent one: doing it again is the answer.
_RACES = {"23505", "40001", "40P01"}  # unique violation, serialization failure, deadlock


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        if isinstance(orig, BaseException) and id(orig) not in seen:
            yield orig
            seen.add(id(orig))
        current = current.__cause__ or current.__context__


def _sqlstate(error: BaseException) -> str | None:
    for cause in _causes(error):
        state = getattr(cause, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


def storage_problem(error: BaseException) -> str | None:
    """In words, what is wrong with the database that made ``error``; ``None`` when it is not
    a problem of the database (a bug, a race)."""
    state = _sqlstate(error)
    if state is not None:
        return _POSTGRES_PROBLEMS.get(state) or _POSTGRES_CLASSES.get(state[:2])
    for cause in _causes(error):
        if isinstance(cause, sqlite3.OperationalError | sqlite3.DatabaseError):
            message = str(cause).lower()
            for words, problem in _SQLITE_PROBLEMS.items():
                if words in message:
                    return problem
    return None


def lost_race(error: BaseException) -> bool:
    """Whether ``error`` is a transaction that lost to a concurrent writer: a unique index
    already holding the row (the source-id index, a stream's next version), a deadlock or a
    serialization failure."""
    if _sqlstate(error) in _RACES:
        return True
    return any(isinstance(cause, sqlite3.IntegrityError) and "UNIQUE" in str(cause)
               for cause in _causes(error))
