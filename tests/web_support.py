"""A served ledger for the web tests: the hand-written ledger paid as of 2013-06-30 (run R0001:
lines of P1 and P2), one user per role plus a second provider, and disputes of both providers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

import ledger.users as users_module
from ledger.disputes import raise_dispute
from ledger.runs import take_run
from ledger.store import Ledger
from ledger.users import add_user
from tests import hand_ledger
from web.app import create_app

TODAY = date(2014, 1, 15)
# Still argon2id, with the lightest parameters: these tests are about access, not the hash's
# cost (tests/test_users.py checks the real one). Verification reads them from the hash.
LIGHT_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"
# name -> (role, provider)
USERS = {
    "cara": ("commissioner", None),
    "fin": ("finance", None),
    "audrey": ("auditor", None),
    "pat": ("panel", None),
    "pia": ("provider", "P1"),
    "paul": ("provider", "P2"),
}
ROLE_USERS = {"commissioner": "cara", "finance": "fin", "auditor": "audrey", "panel": "pat",
              "provider": "pia"}


@dataclass
class Served:
    url: str
    ledger: Ledger
    own_line: int  # a line of P1 in R0001
    other_line: int  # a line of P2 in R0001
    resolvable: dict[str, str]  # role -> a dispute of P1 kept for that role to resolve

    def app(self, **options):
        return create_app(self.ledger, secret="test-secret", today=lambda: TODAY, **options)


def build_served(url: str, folder: Path, records: list[dict] | None = None) -> Served:
    hand_ledger.build(url, folder, records or [*hand_ledger.RECORDS, hand_ledger.RETRACTION])
    ledger = Ledger(url)
    run = take_run(ledger, date(2013, 6, 30), date(2013, 6, 30))
    providers = [row[6] if isinstance(row, list) else row["provider"] for row in run.lines]
    own, other = providers.index("P1") + 1, providers.index("P2") + 1
    when = datetime(2014, 1, 1, tzinfo=UTC)
    saved, users_module._HASHER = users_module._HASHER, LIGHT_HASHER
    try:
        for name, (role, provider) in USERS.items():
            add_user(ledger, name, role, PASSWORD, provider, now=when)
    finally:
        users_module._HASHER = saved

    def dispute(provider: str, client: str) -> str:
        return raise_dispute(ledger, provider, date(2013, 7, 1), "the offence was not theirs",
                             today=TODAY, by="setup", client=client,
                             outcome="offending_initial").dispute_id

    dispute("P2", "C2")  # D0001, P2's
    dispute("P1", "C1")  # D0002, P1's: notes go here
    resolvable = {role: dispute("P1", "C1") for role in ROLE_USERS}  # D0003 ...
    return Served(url, ledger, own, other, resolvable)


def _site_s3() -> list[dict]:
    """Site S3: three providers with 40 discharges each in 2013-Q1. P1's clients all drop out
    (flagged against the baseline and against the site's providers); P2 and P3 complete about
    half (unflagged). P1 also works in S1, with the hand-made ledger's clients."""
    outcomes = {"P1": ["dropped_out"] * 40,
                "P2": ["completed_drug_free"] * 20 + ["dropped_out"] * 20,
                "P3": ["completed_drug_free"] * 21 + ["dropped_out"] * 19}
    records = []
    for provider, reasons in outcomes.items():
        for n, reason in enumerate(reasons):
            client = f"D{provider}{n:02d}"
            records += [
                {**hand_ledger._reg(client, "S3"), "received_on": "2013-01-15"},
                hand_ledger._start(client, provider, on="2013-01-15"),
                {"type": "discharged", "source_id": f"dis-{client}", "received_on": "2013-02-20",
                 "client": client, "journey": "J1", "on": "2013-02-20", "reason": reason,
                 "on_substitute_medication": False}]
    return records


# The hand-made ledger and site S3: diagnostics with flags of both kinds.
DIAGNOSED_RECORDS = [*hand_ledger.RECORDS, hand_ledger.RETRACTION, *_site_s3()]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def signed_in(app, name: str, password: str = PASSWORD) -> TestClient:
    """A browser-like client signed in as ``name`` through the sign-in form."""
    client = TestClient(app, follow_redirects=False)
    page = client.get("/signin")
    response = client.post("/signin", data={"csrf": csrf_of(page.text), "name": name,
                                            "password": password})
    assert response.status_code == 303, response.text
    return client


def session_csrf(client: TestClient) -> str:
    return csrf_of(client.get("/disputes").text)
