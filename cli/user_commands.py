"""``pbr users``, ``pbr access-log`` and ``pbr serve``: who may use the web view, who looked at
which client, and the web view itself."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from cli.common import DbOption, JsonOption, fail, open_ledger, print_json, table
from ledger.access import read_access_log
from ledger.users import ROLES, UserRefused, add_user, list_users, remove_user

app = typer.Typer(help="The people who may use the web view.", no_args_is_help=True)
NameArgument = Annotated[str, typer.Argument(metavar="NAME", show_default=False)]


def _password() -> str:
    """The password from standard input, never from the command line: typed twice (unseen) at
    a terminal, else the first line of the input (``printf '%s\\n' "$PW" | pbr users add …``)."""
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("password again: ") != first:
            fail("password: the two entries differ")
        return first
    line = sys.stdin.readline()
    if not line:
        fail("password: none on standard input (give it on the first line)")
    return line.rstrip("\r\n")


@app.command("add")
def add(
    name: NameArgument,
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.",
                                      show_default=False)],
    provider: Annotated[str | None, typer.Option(
        "--provider", help="The provider code (provider users only).")] = None,
    db: DbOption = None,
) -> None:
    """Add a user; the password is read from standard input."""
    ledger = open_ledger(db)
    try:
        user = add_user(ledger, name, role, _password(), provider)
    except UserRefused as refused:
        fail(f"{refused} ({refused.code})")
    typer.echo(f"added {user.role} {user.name}"
               + (f" of provider {user.provider}" if user.provider else ""))


@app.command("list")
def list_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Every user: name, role, provider and when added (never a password or its hash)."""
    users = list_users(open_ledger(db, create=False))
    if as_json:
        print_json({"users": [{"name": u.name, "role": u.role, "provider": u.provider,
                               "added_at": u.added_at.isoformat()} for u in users]})
        return
    rows = [[u.name, u.role, u.provider or "", u.added_at.strftime("%Y-%m-%d %H:%M")]
            for u in users]
    typer.echo(table(rows, ["name", "role", "provider", "added"]) if rows else "no users")


@app.command("remove")
def remove(name: NameArgument, db: DbOption = None) -> None:
    """Remove a user; their open sessions end at their next request."""
    try:
        remove_user(open_ledger(db, create=False), name)
    except UserRefused as refused:
        fail(f"{refused} ({refused.code})")
    typer.echo(f"removed {name}")


def access_log_command(
    client: Annotated[str | None, typer.Option("--client", help="Only this client.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who was shown which client, when (UTC), and by which page or download."""
    entries = read_access_log(open_ledger(db, create=False), client, user)
    if as_json:
        print_json({"accesses": [{"at": e.at.isoformat(), "user": e.user, "client": e.client,
                                  "what": e.what} for e in entries]})
        return
    rows = [[e.at.strftime("%Y-%m-%d %H:%M:%S"), e.user, e.client, e.what] for e in entries]
    typer.echo(table(rows, ["at (UTC)", "user", "client", "what"]) if rows
               else "no accesses recorded")


def serve_command(
    host: Annotated[str, typer.Option("--host", help="The address to listen on.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="The port.")] = 8000,
    session_hours: Annotated[float, typer.Option(
        "--session-hours", min=0.01, help="How long a sign-in lasts.")] = 8.0,
    secure_cookies: Annotated[bool, typer.Option(
        "--secure-cookies", help="Mark cookies Secure (sent over HTTPS only): set this when "
                                 "the view is reached through an HTTPS proxy.")] = False,
    db: DbOption = None,
) -> None:
    """Serve the web view to signed-in users (PBR_WEB_SECRET signs the sessions; without it a
    new secret is made at each start, so restarting signs everyone out)."""
    import uvicorn

    from web.app import create_app

    ledger = open_ledger(db, create=False)
    app_ = create_app(ledger, session_seconds=int(session_hours * 3600),
                      secure_cookies=secure_cookies)
    if not list_users(ledger):
        typer.echo("no users yet: add one with pbr users add NAME --role ROLE", err=True)
    typer.echo(f"serving {ledger.url} on http://{host}:{port}/ (Ctrl-C stops)", err=True)
    uvicorn.run(app_, host=host, port=port, log_level="warning")


def register(main: typer.Typer) -> None:
    main.add_typer(app, name="users")
    main.command("access-log")(access_log_command)
    main.command("serve")(serve_command)
