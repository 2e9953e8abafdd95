"""Every role against every route of the web view (docs/web.md): allowed, 403 (the role may
not) or 404 (a provider asking for another provider's client, line, dispute or statement), and
every route sends a visitor who is not signed in to the sign-in page. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import io

import pytest

from tests.conftest import BACKENDS, reset_postgres
from tests.web_support import ROLE_USERS, Served, build_served, session_csrf, signed_in

ROLES = ("commissioner", "finance", "auditor", "panel", "provider")
ALL = dict.fromkeys(ROLES, 200)


def but(base: dict[str, int], **changes: int) -> dict[str, int]:
    return {**base, **changes}


def only(allowed: dict[str, int], refused: int = 403) -> dict[str, int]:
    return {role: allowed.get(role, refused) for role in ROLES}


# (method, path, form, expected status per role). Paths and forms are templates: {own} and
# {other} are P1's and P2's line numbers in R0001; {mine} is the dispute kept for the role.
COMPARE = "/compare?base=example-2012&with=option-final-window-6m&as_of=2013-06-30"
DIAGNOSTICS = "/diagnostics?from=2013-01-01&to=2013-06-30&known_on=2013-06-30"
REMITTANCE = "run,provider,amount,paid_on,reference\nR0001,P1,500.00,2013-07-10,REF-{role}\n"
ROUTES = [
    ("GET", "/", None, dict.fromkeys(ROLES, 303)),
    ("GET", "/clients?q=C", None, ALL),
    ("GET", "/clients/C1?as_of=2013-06-30", None, ALL),
    ("GET", "/clients/C2?as_of=2013-06-30", None, but(ALL, provider=404)),
    ("GET", "/clients/C1/clocks/J1/offending_final.svg?as_of=2013-06-30", None, ALL),
    ("GET", "/clients/C2/clocks/J1/offending_final.svg?as_of=2013-06-30", None,
     but(ALL, provider=404)),
    ("GET", "/clients/NOBODY", None, dict.fromkeys(ROLES, 404)),
    ("GET", "/clients/C1?as_of=2013-02-30", None, dict.fromkeys(ROLES, 400)),
    ("GET", "/runs", None, ALL),
    ("GET", "/runs/R0001", None, ALL),
    ("GET", "/runs/R0001?provider=P1", None, ALL),
    ("GET", "/runs/R0001?provider=P2", None, but(ALL, provider=404)),
    ("GET", "/runs/R0001?page=9", None, dict.fromkeys(ROLES, 404)),
    ("GET", "/runs/R9999", None, dict.fromkeys(ROLES, 404)),
    ("GET", "/runs/preview?as_of=2013-09-30", None, ALL),
    ("GET", "/runs/preview?as_of=2013-09-30&provider=P2", None, but(ALL, provider=404)),
    ("GET", "/runs/R0001/statement.xlsx", None, ALL),
    ("GET", "/runs/R0001/statement.zip", None, ALL),
    ("GET", "/runs/R0001/statement.xlsx?provider=P2", None, but(ALL, provider=404)),
    ("GET", "/runs/R0001/statement.zip?provider=P2", None, but(ALL, provider=404)),
    ("GET", "/runs/R0001/statement.xlsx?provider=P9", None, dict.fromkeys(ROLES, 404)),
    ("GET", "/disputes", None, ALL),
    ("GET", "/disputes/D0002", None, ALL),
    ("GET", "/disputes/D0001", None, but(ALL, provider=404)),
    ("GET", "/disputes/D9999", None, dict.fromkeys(ROLES, 404)),
    ("GET", "/disputes/new?run=R0001&line={own}", None, only({"commissioner": 200,
                                                              "provider": 200})),
    ("GET", "/disputes/new?run=R0001&line={other}", None, only({"commissioner": 200,
                                                                "provider": 404})),
    ("GET", "/disputes/new?client=C1&outcome=offending_initial", None,
     only({"commissioner": 200, "provider": 200})),
    ("GET", "/disputes/new?client=C2&outcome=offending_initial", None,
     only({"commissioner": 200, "provider": 404})),
    ("GET", "/reconciliation", None, ALL),
    ("GET", "/reconciliation?run=R0001", None, ALL),
    ("GET", "/verify", None, ALL),
    ("GET", "/verify?at=1&head=" + "0" * 64, None, ALL),  # a head that differs: shown, 200
    ("GET", "/verify?at=1", None, dict.fromkeys(ROLES, 400)),
    ("GET", "/verify?at=-1&head=" + "0" * 64, None, dict.fromkeys(ROLES, 400)),
    ("GET", "/verify?at=1&head=not-hex", None, dict.fromkeys(ROLES, 400)),
    ("GET", "/diagnostics", None, ALL),
    ("GET", DIAGNOSTICS, None, ALL),
    ("GET", DIAGNOSTICS + "&by_quarter=1", None, ALL),
    ("GET", DIAGNOSTICS + "&provider=P1", None, ALL),
    ("GET", DIAGNOSTICS + "&provider=P2", None, but(ALL, provider=404)),
    ("GET", DIAGNOSTICS + "&by_quarter=1&provider=P2", None, but(ALL, provider=404)),
    ("GET", DIAGNOSTICS + "&provider=P9", None, dict.fromkeys(ROLES, 404)),
    ("GET", "/diagnostics?from=2013-06-30&to=2013-01-01", None, dict.fromkeys(ROLES, 400)),
    ("GET", "/diagnostics?known_on=2013-02-30", None, dict.fromkeys(ROLES, 400)),
    ("GET", "/compare", None, ALL),
    ("GET", COMPARE, None, ALL),
    ("GET", "/compare?base=example-2012&with=/etc/passwd", None, dict.fromkeys(ROLES, 400)),
    ("GET", "/compare?base=example-2012", None, dict.fromkeys(ROLES, 400)),
    ("GET", COMPARE + "&as_of=2013-13-01", None, dict.fromkeys(ROLES, 400)),
    ("GET", "/forecast?as_of=2013-06-30", None, ALL),
    ("GET", "/forecast?as_of=2013-06-30&provider=P1", None, ALL),
    ("GET", "/forecast?as_of=2013-06-30&provider=P2", None, but(ALL, provider=404)),
    ("GET", "/forecast?as_of=2013-06-30&provider=P9", None, dict.fromkeys(ROLES, 404)),
    ("GET", "/forecast?backtest=1&periods=2", None, ALL),
    ("GET", "/forecast?backtest=1&provider=P2", None, but(ALL, provider=404)),
    ("GET", "/forecast?backtest=1&as_of=2013-06-30", None, dict.fromkeys(ROLES, 400)),
    ("GET", "/forecast?periods=41", None, dict.fromkeys(ROLES, 400)),
    ("GET", "/forecast?periods=four", None, dict.fromkeys(ROLES, 400)),
    ("POST", "/runs", {"as_of": "2013-09-30"}, only({"commissioner": 303, "finance": 303})),
    ("POST", "/disputes", {"run": "R0001", "line": "{own}", "reason": "not ours"},
     only({"commissioner": 303, "provider": 303})),
    ("POST", "/disputes", {"run": "R0001", "line": "{other}", "reason": "not ours"},
     only({"commissioner": 303, "provider": 404})),
    ("POST", "/disputes", {"client": "C2", "outcome": "offending_initial", "reason": "x"},
     only({"commissioner": 303, "provider": 404})),
    ("POST", "/disputes/D0002/notes", {"note": "the offence record names another person"},
     only({"commissioner": 303, "panel": 303, "provider": 303})),
    ("POST", "/disputes/D0001/notes", {"note": "a look at another's dispute"},
     only({"commissioner": 303, "panel": 303, "provider": 404})),
    ("POST", "/disputes/{mine}/resolution", {"resolution": "rejected", "reason": "no evidence"},
     only({"commissioner": 303, "panel": 303})),
    ("POST", "/reconciliation/remittances", {"file": REMITTANCE},
     only({"commissioner": 200, "finance": 200})),
    ("POST", "/signout", {}, dict.fromkeys(ROLES, 303)),
]


@pytest.fixture(scope="module", params=BACKENDS)
def served(request, tmp_path_factory) -> Served:
    folder = tmp_path_factory.mktemp("web")
    url = reset_postgres() if request.param == "postgresql" else f"sqlite:///{folder / 'w.db'}"
    built = build_served(url, folder)
    yield built
    built.ledger.close()


@pytest.fixture(scope="module")
def clients(served):
    app = served.app()
    return app, {role: signed_in(app, name) for role, name in ROLE_USERS.items()}


def _fill(text: str, served: Served, role: str) -> str:
    return text.format(own=served.own_line, other=served.other_line,
                       mine=served.resolvable[role], role=role)


def _send(client, served: Served, role: str, method: str, path: str, form: dict | None):
    path = _fill(path, served, role)
    if method == "GET":
        return client.get(path)
    data = {name: _fill(value, served, role) for name, value in (form or {}).items()}
    files = None
    if "file" in data:
        files = {"file": ("remittances.csv", io.BytesIO(data.pop("file").encode()), "text/csv")}
    if path != "/signout":
        data["csrf"] = session_csrf(client)
    else:
        data["csrf"] = session_csrf(client)
    return client.post(path, data=data, files=files)


@pytest.mark.parametrize("method,path,form,expected", ROUTES,
                         ids=[f"{m} {p}" + (f" {sorted(f)}" if f else "")
                              for m, p, f, _ in ROUTES])
def test_each_role_gets_what_the_access_table_says_on_each_route(served, clients, method, path,
                                                                  form, expected):
    app, signed = clients
    got = {}
    for role in ROLES:
        client = signed[role] if path != "/signout" else signed_in(app, ROLE_USERS[role])
        got[role] = _send(client, served, role, method, path, form).status_code
    assert got == expected


@pytest.mark.parametrize("method,path,form", [(m, p, f) for m, p, f, _ in ROUTES],
                         ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_a_visitor_who_is_not_signed_in_is_sent_to_sign_in_on_every_route(served, method, path,
                                                                          form):
    from fastapi.testclient import TestClient

    anonymous = TestClient(served.app(), follow_redirects=False)
    path = _fill(path, served, "provider")
    response = anonymous.get(path) if method == "GET" else anonymous.post(path, data={})
    assert response.status_code == 303 and response.headers["location"] == "/signin"


@pytest.mark.parametrize("path", sorted({_p for m, _p, _, _ in ROUTES if m == "POST"}))
def test_every_form_without_the_sessions_csrf_token_is_refused(served, clients, path):
    _, signed = clients
    path = _fill(path, served, "commissioner")
    for token in (None, "forged"):
        data = {} if token is None else {"csrf": token}
        assert signed["commissioner"].post(path, data=data).status_code == 403
