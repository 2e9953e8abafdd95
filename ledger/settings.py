"""What the store checks when it opens: the key, and the database file's permissions.

``pbr_settings`` holds named values the ledger keeps about itself. Today one: ``key_check``, an
AES-GCM encryption of a fixed text under the ledger's key, written when an encrypted ledger is
first opened (integrity decision 7); the text's version names the form of the source-id index
(decision 8), and a ledger of the first form is brought to the second when opened. Opening a
ledger that has one without ``PBR_CIPHER_KEY``, or with a key that does not open it, is refused;
so is opening a ledger that already holds plain events with a key (its events would be part
plain, part encrypted).
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, Text, func, inspect, make_url
from sqlalchemy.exc import IntegrityError

from ledger.cipher import INDEX_DIGEST_DIGITS, KEY_VARIABLE, KeyProblem, LedgerCipher

settings_metadata = MetaData()
settings = Table(
    "pbr_settings", settings_metadata,
    Column("name", String(40), primary_key=True),
    Column("value", Text, nullable=False),
)
KEY_CHECK = "key_check"


def check_key(engine: Any, cipher: LedgerCipher | None, events_table: str,
              keyless: bool = False) -> bool:
    """Raise :class:`KeyProblem` unless ``cipher`` (``None``: no key) is this ledger's; whether
    the ledger is encrypted. ``keyless``: an encrypted ledger opened without a key is allowed
    (to verify its chain)."""
    if not inspect(engine).has_table(settings.name):
        from ledger.locks import schema_transaction  # created under the schema lock, as the
        with schema_transaction(engine) as connection:  # store's tables are (concurrent opens)
            settings.create(connection, checkfirst=True)
    stored = _key_check(engine)
    if stored is None:
        if cipher is None:
            return False
        with engine.begin() as connection:
            if connection.exec_driver_sql(f"SELECT 1 FROM {events_table} LIMIT 1").first():
                raise KeyProblem(f"{KEY_VARIABLE} is set but this ledger was created without "
                                 "encryption and holds plain events; unset it to use this "
                                 "ledger")
            try:
                connection.execute(settings.insert().values(name=KEY_CHECK,
                                                            value=cipher.key_check()))
                return True
            except IntegrityError:  # another process wrote it first: check against it
                pass
        stored = _key_check(engine)
        assert stored is not None
    if cipher is None:
        if keyless:
            return True
        raise KeyProblem(f"this ledger is encrypted: set {KEY_VARIABLE} to its key")
    version = cipher.key_check_version(stored)
    if version is None:
        raise KeyProblem(f"{KEY_VARIABLE} does not open this ledger (it was encrypted with "
                         "another key)")
    if version == 1:
        _shorten_index_digests(engine, cipher, stored)
    return True


def _shorten_index_digests(engine: Any, cipher: LedgerCipher, stored: str) -> None:
    """Bring a ledger whose key check says v1 (its source-id index keeps whole 64-digit keyed
    digests) to v2: each digest cut to its first 32 digits, which is what v2 computes (the same
    HMAC, cut short; integrity decision 8), and the key check made anew, in one transaction.
    Another process doing the same at once finds the check changed and changes nothing."""
    from ledger.store import source_ids  # the store imports this module

    with engine.begin() as connection:
        changed = connection.execute(settings.update().where(
            settings.c.name == KEY_CHECK, settings.c.value == stored).values(
            value=cipher.key_check())).rowcount
        if changed == 1:
            connection.execute(source_ids.update().values(
                source_id=func.substr(source_ids.c.source_id, 1, INDEX_DIGEST_DIGITS),
                digest=func.substr(source_ids.c.digest, 1, INDEX_DIGEST_DIGITS)))


def _key_check(engine: Any) -> str | None:
    with engine.connect() as connection:
        row = connection.execute(settings.select().where(settings.c.name == KEY_CHECK)).first()
    return None if row is None else row.value


def create_private_sqlite_file(url: str) -> None:
    """RULES.md §9: a new SQLite ledger file is created readable and writable by its owner only
    (SQLite gives its journal and WAL files the database file's permissions)."""
    parsed = make_url(url)
    path = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or path in ("", ":memory:") \
            or path.startswith("file:") or os.path.exists(path):
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    except OSError:
        return  # the database driver reports an unusable path in its own words
