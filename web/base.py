"""What every page shares: the signed-in viewer, permissions, CSRF-checked forms, dates from
form fields, the access log and rendering. Pages call ledger services only, never the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from ledger.access import log_access
from ledger.records import iso_date
from ledger.store import Ledger
from ledger.users import User, get_user, may
from web import words
from web.nav import NAV
from web.security import SESSION_COOKIE, BadForm, Forbidden, NotSignedIn, Session, csrf_matches

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.globals.update(words=words, nav=NAV)
PAGE_SIZE = 50


class BadInput(Exception):
    """A field that cannot be read (a date that is not a date): 400, with the words."""


@dataclass(frozen=True)
class Viewer:
    user: User
    session: Session

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def provider(self) -> str | None:
        """The provider a ``provider`` user is limited to; ``None`` for every other role."""
        return self.user.provider if self.user.role == "provider" else None

    def may(self, action: str) -> bool:
        return may(self.user, action)


def ledger_of(request: Request) -> Ledger:
    return request.app.state.ledger


def today(request: Request) -> date:
    """The day the request is served: read once here and given to the services."""
    return request.app.state.today()


def viewer(request: Request) -> Viewer:
    """The signed-in user of this request, read afresh from the ledger; else sign in."""
    session = request.app.state.sessions.read(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise NotSignedIn()
    user = get_user(ledger_of(request), session.user)
    if user is None:
        raise NotSignedIn()
    return Viewer(user, session)


def permit(who: Viewer, action: str) -> None:
    if not who.may(action):
        raise Forbidden(f"a {who.user.role} may not {action.replace('_', ' ')}")


async def checked_form(request: Request, who: Viewer) -> FormData:
    """The posted form, refused unless it carries this session's CSRF token."""
    form = await request.form()
    token = form.get("csrf")
    if not csrf_matches(who.session, token if isinstance(token, str) else None):
        raise BadForm("this form is out of date or did not come from this site; reload the "
                      "page and try again")
    return form


def field(source: Any, name: str) -> str | None:
    """A text field of a form or query, stripped; ``None`` when empty or absent."""
    value = source.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def read_date(source: Any, name: str, default: date | None) -> date | None:
    text = field(source, name)
    if text is None:
        return default
    try:
        return iso_date(text)
    except ValueError as error:
        raise BadInput(f"{name.replace('_', ' ')}: {error}") from None


def knowledge_dates(request: Request, source: Any | None = None) -> tuple[date, date]:
    """``as_of`` defaults to today and ``known_on`` to ``as_of``, as on the command line."""
    source = request.query_params if source is None else source
    as_of = read_date(source, "as_of", today(request))
    assert as_of is not None
    known_on = read_date(source, "known_on", as_of)
    assert known_on is not None
    return as_of, known_on


def log(request: Request, who: Viewer, clients: Iterable[str | None], what: str) -> None:
    """The access log: ``who`` was shown each of ``clients`` by ``what``, now."""
    log_access(ledger_of(request), who.name, clients, what, request.app.state.now())


def render(request: Request, template: str, who: Viewer | None, status: int = 200,
           **context: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, template, {
        "viewer": who, "csrf": who.session.csrf if who else "", **context},
        status_code=status)


def utc_now() -> datetime:
    return datetime.now(UTC)


def int_or_none(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise BadInput(f"{name}: {text!r} is not a whole number") from None
