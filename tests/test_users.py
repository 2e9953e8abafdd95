"""``pbr users add|list|remove`` and the user service: roles, provider codes, argon2id hashes,
passwords only from standard input; on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import sys

import pytest
from sqlalchemy import select

from ledger.store import Ledger
from ledger.users import (
    BAD_NAME,
    PROVIDER_NOT_ALLOWED,
    PROVIDER_REQUIRED,
    UNKNOWN_ROLE,
    UNKNOWN_USER,
    USER_EXISTS,
    WEAK_PASSWORD,
    UserRefused,
    add_user,
    authenticate,
    list_users,
    remove_user,
    users,
)
from tests.cli_runner import pbr


def pbr_with_input(text: str, *args: str):
    saved = sys.stdin
    sys.stdin = io.StringIO(text)
    try:
        return pbr(*args)
    finally:
        sys.stdin = saved


def test_a_user_added_with_a_password_on_standard_input_is_listed_without_it(db_url):
    added = pbr_with_input("s3cret-enough\n", "users", "add", "pia", "--role", "provider",
                           "--provider", "P1", "--db", db_url)
    assert added.exit_code == 0, added.stderr
    assert added.stdout.strip() == "added provider pia of provider P1"
    listed = pbr("users", "list", "--db", db_url, "--json")
    assert listed.exit_code == 0
    (user,) = listed.json()["users"]
    assert {k: user[k] for k in ("name", "role", "provider")} == {
        "name": "pia", "role": "provider", "provider": "P1"}
    assert "s3cret" not in listed.stdout and "argon2" not in listed.stdout
    text = pbr("users", "list", "--db", db_url)
    assert "pia" in text.stdout and "s3cret" not in text.stdout


def test_the_password_is_stored_only_as_an_argon2id_hash(ledger):
    add_user(ledger, "pat", "panel", "a long enough password")
    with ledger.datastore.engine.connect() as connection:
        stored = connection.execute(select(users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and "a long enough password" not in stored


def test_the_right_password_signs_in_and_a_wrong_one_or_an_unknown_name_does_not(ledger):
    add_user(ledger, "pat", "panel", "a long enough password")
    assert authenticate(ledger, "pat", "a long enough password").role == "panel"
    assert authenticate(ledger, "pat", "a long enough passwore") is None
    assert authenticate(ledger, "pat", "") is None
    assert authenticate(ledger, "nobody", "a long enough password") is None


def test_a_ledger_without_users_signs_nobody_in(ledger):
    assert authenticate(ledger, "pat", "anything at all") is None
    assert list_users(ledger) == []


@pytest.mark.parametrize("name,role,provider,password,code", [
    ("pat", "judge", None, "long enough pw", UNKNOWN_ROLE),
    ("pia", "provider", None, "long enough pw", PROVIDER_REQUIRED),
    ("pat", "panel", "P1", "long enough pw", PROVIDER_NOT_ALLOWED),
    ("pat", "panel", None, "short", WEAK_PASSWORD),
    ("", "panel", None, "long enough pw", BAD_NAME),
    ("pat smith", "panel", None, "long enough pw", BAD_NAME),
    ("-pat", "panel", None, "long enough pw", BAD_NAME),
    ("x" * 65, "panel", None, "long enough pw", BAD_NAME),
])
def test_a_user_that_cannot_be_added_is_refused_with_its_reason(ledger, name, role, provider,
                                                                password, code):
    with pytest.raises(UserRefused) as refused:
        add_user(ledger, name, role, password, provider)
    assert refused.value.code == code
    assert list_users(ledger) == []


def test_a_name_already_taken_is_refused_and_the_first_user_kept(ledger):
    add_user(ledger, "pat", "panel", "first password")
    with pytest.raises(UserRefused) as refused:
        add_user(ledger, "pat", "auditor", "second password")
    assert refused.value.code == USER_EXISTS
    assert [u.role for u in list_users(ledger)] == ["panel"]
    assert authenticate(ledger, "pat", "first password") is not None


def test_a_removed_user_can_no_longer_sign_in_and_removing_again_is_refused(ledger):
    add_user(ledger, "pat", "panel", "a long enough password")
    remove_user(ledger, "pat")
    assert authenticate(ledger, "pat", "a long enough password") is None
    with pytest.raises(UserRefused) as refused:
        remove_user(ledger, "pat")
    assert refused.value.code == UNKNOWN_USER


def test_the_command_line_refuses_in_one_line_with_the_code(db_url):
    Ledger(db_url).close()
    bad = pbr_with_input("long enough pw\n", "users", "add", "pat", "--role", "judge",
                         "--db", db_url)
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and "(unknown_role)" in bad.stderr
    empty = pbr_with_input("", "users", "add", "pat", "--role", "panel", "--db", db_url)
    assert empty.exit_code == 2 and "standard input" in empty.stderr
    gone = pbr("users", "remove", "nobody", "--db", db_url)
    assert gone.exit_code == 2 and "(unknown_user)" in gone.stderr
    added = pbr_with_input("long enough pw\n", "users", "add", "pat", "--role", "panel",
                           "--db", db_url)
    assert added.exit_code == 0
    assert pbr("users", "remove", "pat", "--db", db_url).stdout.strip() == "removed pat"
    assert pbr("users", "list", "--db", db_url).stdout.strip() == "no users"


def test_a_password_cannot_be_given_on_the_command_line(db_url):
    result = pbr_with_input("", "users", "add", "pat", "--role", "panel", "--password",
                            "hunter22", "--db", db_url)
    assert result.exit_code == 2 and "--password" in result.stderr
    assert list_users(Ledger(db_url)) == []


def test_listing_users_of_a_ledger_that_does_not_exist_is_refused_not_created(tmp_path):
    missing = tmp_path / "none.db"
    result = pbr("users", "list", "--db", f"sqlite:///{missing}")
    assert result.exit_code == 2 and not missing.exists()
