"""Sessions, CSRF tokens and the sign-in rate limit (docs/web.md decisions 7-10).

A session is a cookie holding the user's name, a CSRF token and the time it was made, signed
with ``itsdangerous`` (HMAC-SHA1 over the ledger's secret) and refused after its lifetime;
``HttpOnly`` and ``SameSite=Strict``. The user is read from the ledger on every request, so a
removed user is signed out at once. Every form carries the session's CSRF token and every
POST checks it; the sign-in form's token lives in a short signed cookie of its own.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SESSION_COOKIE = "pbr_session"
SIGNIN_COOKIE = "pbr_signin"
SIGNIN_SECONDS = 15 * 60  # how long a sign-in form stays good


class NotSignedIn(Exception):
    """No valid session: the page sends the browser to sign in."""


class Forbidden(Exception):
    """The user's role may not do this (403)."""


class NotFound(Exception):
    """Nothing here for this user (404): also what a provider gets for another's data."""


class BadForm(Exception):
    """A form that cannot be acted on: a missing or wrong CSRF token (403)."""


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str


class Sessions:
    """Signing and reading the session and sign-in cookies."""

    def __init__(self, secret: str, lifetime_seconds: int) -> None:
        self.lifetime_seconds = lifetime_seconds
        self._session = URLSafeTimedSerializer(secret, salt="pbr-session")
        self._signin = URLSafeTimedSerializer(secret, salt="pbr-signin")

    def issue(self, user: str) -> tuple[str, Session]:
        session = Session(user, secrets.token_urlsafe(32))
        return self._session.dumps({"u": session.user, "c": session.csrf}), session

    def read(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            data = self._session.loads(cookie, max_age=self.lifetime_seconds)
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str) \
                or not isinstance(data.get("c"), str):
            return None
        return Session(data["u"], data["c"])

    def signin_token(self) -> tuple[str, str]:
        """A token for the sign-in form and the signed cookie that carries it."""
        token = secrets.token_urlsafe(32)
        return token, self._signin.dumps(token)

    def signin_token_matches(self, cookie: str | None, token: str | None) -> bool:
        if not cookie or not token:
            return False
        try:
            expected = self._signin.loads(cookie, max_age=SIGNIN_SECONDS)
        except (BadSignature, SignatureExpired):
            return False
        return isinstance(expected, str) and hmac.compare_digest(expected, token)


def csrf_matches(session: Session, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(session.csrf, token or "")


class SignInLimiter:
    """At most ``attempts`` failed sign-ins per name and per address in ``window_seconds``;
    beyond that sign-in is refused (429) until the oldest failure ages out. A success clears
    the name's failures. The clock is an argument, for tests."""

    def __init__(self, attempts: int = 5, window_seconds: int = 15 * 60,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts, self.window_seconds, self.clock = attempts, window_seconds, clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures[key]
        horizon = self.clock() - self.window_seconds
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures

    def wait_seconds(self, name: str, address: str) -> int:
        """0 when a sign-in may be tried now, else how long until one may."""
        waits = []
        for key in (f"name:{name.lower()}", f"address:{address}"):
            failures = self._recent(key)
            if len(failures) >= self.attempts:
                waits.append(int(failures[0] + self.window_seconds - self.clock()) + 1)
        return max(waits, default=0)

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        for key in (f"name:{name.lower()}", f"address:{address}"):
            self._failures[key].append(now)

    def succeeded(self, name: str) -> None:
        self._failures.pop(f"name:{name.lower()}", None)
