"""Charts on a page: each SVG the chart builders draw, embedded as an image (a ``data:`` URL).

The content security policy allows no inline style in a page, and a matplotlib SVG styles its
shapes inline; as an image it is a document of its own, drawn as it was drawn for the command
line's ``--html`` page, and the page needs no second request that would compute it again."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

_LABEL = re.compile(r'aria-label="([^"]*)"')


@dataclass(frozen=True)
class Picture:
    src: str
    alt: str


def pictures(svgs: list[str]) -> list[Picture]:
    found = []
    for svg in svgs:
        label = _LABEL.search(svg)
        alt = (label.group(1) if label else "chart").replace("&quot;", '"').replace("&amp;", "&")
        found.append(Picture("data:image/svg+xml;base64,"
                             + base64.b64encode(svg.encode("utf-8")).decode("ascii"), alt))
    return found
