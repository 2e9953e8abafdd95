"""The people who may use the web view (CONTRACT.md "Additions": ``pbr users``).

One table of the ledger's database, ``pbr_users``: a name, a role, the provider code of a
``provider`` user, and the password's argon2id hash (argon2-cffi: memory-hard, salted, its
parameters kept inside the hash so they can be raised later). A password is never stored, logged
or taken from a command line. Both the command line and the web view call these functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, inspect, select

from ledger.refusals import Refused
from ledger.store import Ledger

ROLES = ("commissioner", "finance", "auditor", "panel", "provider")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8

# Reason codes (stable: tests and interfaces read them).
UNKNOWN_ROLE, PROVIDER_REQUIRED = "unknown_role", "provider_required"
PROVIDER_NOT_ALLOWED, BAD_NAME = "provider_not_allowed", "bad_name"
USER_EXISTS, UNKNOWN_USER, WEAK_PASSWORD = "user_exists", "unknown_user", "weak_password"

users_metadata = MetaData()
users = Table(
    "pbr_users", users_metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("provider", String(200), nullable=True),
    Column("password_hash", String(200), nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
)
_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
# A hash of nothing in particular, verified when the name is unknown, so that a wrong name
# takes as long as a wrong password and the timing does not tell which names exist.
_DECOY = _HASHER.hash("not a password of anyone")


class UserRefused(Refused):
    """A user the ledger will not add or remove."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    provider: str | None
    added_at: datetime


def _ensure_table(ledger: Ledger) -> None:
    users_metadata.create_all(ledger.datastore.engine, checkfirst=True)


def _has_table(ledger: Ledger) -> bool:
    """Whether the table exists; once seen, remembered for this ledger (it is never dropped)."""
    if ledger.__dict__.get("_users_table"):
        return True
    present = inspect(ledger.datastore.engine).has_table(users.name)
    ledger.__dict__["_users_table"] = present
    return present


def _check(name: str, role: str, provider: str | None, password: str) -> None:
    if not NAME_PATTERN.match(name):
        raise UserRefused(BAD_NAME, f"NAME: {name!r} is not a user name (letters, digits and "
                                    "._@- , at most 64, starting with a letter or digit)")
    if role not in ROLES:
        raise UserRefused(UNKNOWN_ROLE, f"--role: {role!r} is not a role ({', '.join(ROLES)})")
    if role == "provider" and not provider:
        raise UserRefused(PROVIDER_REQUIRED, "--provider: a provider user needs its provider "
                                             "code")
    if role != "provider" and provider:
        raise UserRefused(PROVIDER_NOT_ALLOWED, f"--provider: only a provider user has a "
                                                f"provider code, not a {role}")
    if len(password) < MIN_PASSWORD:
        raise UserRefused(WEAK_PASSWORD, f"password: at least {MIN_PASSWORD} characters")


def add_user(ledger: Ledger, name: str, role: str, password: str, provider: str | None = None,
             now: datetime | None = None) -> User:
    """Add a user with an argon2id hash of ``password``; a name already taken is refused."""
    _check(name, role, provider, password)
    _ensure_table(ledger)
    if get_user(ledger, name) is not None:
        raise UserRefused(USER_EXISTS, f"NAME: user {name!r} already exists (remove it first)")
    user = User(name, role, provider or None, now or datetime.now(UTC))
    with ledger.datastore.engine.begin() as connection:
        connection.execute(users.insert().values(
            name=user.name, role=user.role, provider=user.provider,
            password_hash=_HASHER.hash(password), added_at=user.added_at))
    return user


def _user(row: object) -> User:
    return User(row.name, row.role, row.provider, row.added_at)  # type: ignore[attr-defined]


def get_user(ledger: Ledger, name: str) -> User | None:
    if not _has_table(ledger):
        return None
    with ledger.datastore.engine.connect() as connection:
        row = connection.execute(select(users).where(users.c.name == name)).first()
    return None if row is None else _user(row)


def list_users(ledger: Ledger) -> list[User]:
    """Every user, by name."""
    if not _has_table(ledger):
        return []
    with ledger.datastore.engine.connect() as connection:
        return [_user(row) for row in connection.execute(select(users).order_by(users.c.name))]


def remove_user(ledger: Ledger, name: str) -> None:
    """Remove a user: their sessions end at their next request (the web view asks every time)."""
    if get_user(ledger, name) is None:
        raise UserRefused(UNKNOWN_USER, f"NAME: no user {name!r}")
    with ledger.datastore.engine.begin() as connection:
        connection.execute(delete(users).where(users.c.name == name))


def authenticate(ledger: Ledger, name: str, password: str) -> User | None:
    """The user whose name and password these are, else ``None`` (never saying which was
    wrong). An unknown name costs the same hashing as a wrong password."""
    if not _has_table(ledger):
        _verify(_DECOY, password)
        return None
    with ledger.datastore.engine.connect() as connection:
        row = connection.execute(select(users).where(users.c.name == name)).first()
    if row is None:
        _verify(_DECOY, password)
        return None
    return _user(row) if _verify(row.password_hash, password) else None


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


# What each role may change (CONTRACT.md "The web view"; docs/web.md decision 4). Reading is
# every role's, scoped for a provider by ledger/scopes.py; an auditor changes nothing.
TAKE_RUN, IMPORT_REMITTANCES = "take_run", "import_remittances"
RAISE_DISPUTE, NOTE_DISPUTE, RESOLVE_DISPUTE = "raise_dispute", "note_dispute", "resolve_dispute"
PERMISSIONS: dict[str, frozenset[str]] = {
    "commissioner": frozenset({TAKE_RUN, IMPORT_REMITTANCES, RAISE_DISPUTE, NOTE_DISPUTE,
                               RESOLVE_DISPUTE}),
    "finance": frozenset({TAKE_RUN, IMPORT_REMITTANCES}),
    "panel": frozenset({NOTE_DISPUTE, RESOLVE_DISPUTE}),
    "provider": frozenset({RAISE_DISPUTE, NOTE_DISPUTE}),
    "auditor": frozenset(),
}


def may(user: User, action: str) -> bool:
    """Whether ``user``'s role may take ``action`` (a provider only on its own, checked by the
    service it calls and by ledger/scopes.py)."""
    return action in PERMISSIONS.get(user.role, frozenset())
