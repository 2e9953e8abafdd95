"""The ``pbr verify`` status: the same service the command calls (ledger.integrity.verify),
run afresh on every request (a full scan, never cached), with a form to check a head printed
earlier (``--at`` / ``--head``)."""

from __future__ import annotations

import re
import time

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ledger.integrity import verify
from web.base import BadInput, field, int_or_none, ledger_of, render, viewer

router = APIRouter()
_HEX_HASH = re.compile(r"[0-9a-fA-F]{64}")


def _head_fields(request: Request) -> tuple[int | None, str | None]:
    """``at`` and ``head``, read as the command line reads ``--at`` and ``--head``."""
    at = int_or_none(field(request.query_params, "at"), "at")
    head = field(request.query_params, "head")
    if (at is None) != (head is None):
        raise BadInput("a position and a head's hash go together: give both, or neither")
    if at is not None and at < 0:
        raise BadInput(f"position: {at} is not a position (0 or more)")
    if head is not None and not _HEX_HASH.fullmatch(head):
        raise BadInput("head: a head's hash is 64 hexadecimal digits (0-9, a-f)")
    return at, head


@router.get("/verify")
async def verify_page(request: Request) -> HTMLResponse:
    who = viewer(request)
    at, head = _head_fields(request)
    started = time.perf_counter()
    found = verify(ledger_of(request), at, head)
    seconds = time.perf_counter() - started
    return render(request, "verify.html", who, found=found,
                  result=found.as_json(), at=at, head=head, seconds=seconds)
