"""Signing in and out (docs/web.md decisions 7-10)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ledger.users import authenticate
from web.base import checked_form, field, ledger_of, render, viewer
from web.security import SESSION_COOKIE, SIGNIN_COOKIE, SIGNIN_SECONDS, BadForm, NotSignedIn

router = APIRouter()


def _cookie(request: Request, response: Response, name: str, value: str, seconds: int) -> None:
    response.set_cookie(name, value, max_age=seconds, httponly=True, samesite="strict",
                        secure=request.app.state.secure_cookies, path="/")


def _form(request: Request, status: int = 200, message: str | None = None,
          name: str = "") -> HTMLResponse:
    token, cookie = request.app.state.sessions.signin_token()
    response = render(request, "signin.html", None, status, token=token, message=message,
                      name=name)
    _cookie(request, response, SIGNIN_COOKIE, cookie, SIGNIN_SECONDS)
    return response


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    try:
        viewer(request)
    except NotSignedIn:
        return _form(request)
    return RedirectResponse("/clients", status_code=303)


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await request.form()
    token = form.get("csrf")
    if not request.app.state.sessions.signin_token_matches(
            request.cookies.get(SIGNIN_COOKIE), token if isinstance(token, str) else None):
        raise BadForm("the sign-in form is out of date; reload the page and try again")
    name, password = field(form, "name") or "", form.get("password")
    address = request.client.host if request.client else "unknown"
    limiter = request.app.state.limiter
    wait = limiter.wait_seconds(name, address)
    if wait:
        return _form(request, 429, f"Too many failed sign-ins: try again in "
                                   f"{(wait + 59) // 60} minute(s).", name)
    user = authenticate(ledger_of(request), name, password if isinstance(password, str) else "")
    if user is None:
        limiter.failed(name, address)
        return _form(request, 401, "That name and password do not match a user.", name)
    limiter.succeeded(name)
    cookie, _ = request.app.state.sessions.issue(user.name)
    response = RedirectResponse("/clients", status_code=303)
    _cookie(request, response, SESSION_COOKIE, cookie, request.app.state.sessions.lifetime_seconds)
    response.delete_cookie(SIGNIN_COOKIE, path="/")
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    await checked_form(request, viewer(request))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
async def home(request: Request) -> Response:
    viewer(request)
    return RedirectResponse("/clients", status_code=303)
