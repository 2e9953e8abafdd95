"""Growth between two benchmark runs: each figure at both sizes, in one Markdown table.

    python tests/benchmarks/growth.py A.json B.json

``A.json`` and ``B.json`` are two ``bench.py --json`` outputs (say 30,000 and 300,000 clients).
Every key either holds is a row, with its value at A and at B. For times and rates a last column
gives how the cost per event grew, B's over A's (1.00: linear growth; above: each event costs more
in the larger ledger):

- a rate (a key ending ``_per_s``) is events per second, so the cost per event is its inverse:
  the growth is A's rate over B's;
- a time (a key ending ``_s``, or ``_ms_p50``) is divided by the run's ``events`` first — except
  the figures taken on a fixed amount of work whatever the size (``FIXED``: one client's
  explanation or page) and the costs already given per event (``_per_event``), compared as
  they are.

Ratios, shares, counts and dates have no growth column (they are not costs).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# Times of a fixed amount of work, not of the whole ledger: compared as they are.
FIXED = ("explain_ms", "page_")


def kind(key: str) -> str | None:
    """``rate``, ``time``, ``fixed`` (a time of fixed work, or a cost already per event) or
    None (not a cost)."""
    if key.endswith("_per_s"):
        return "rate"
    if key.endswith("_per_event"):
        return "fixed"
    if key.endswith(("_s", "_ms_p50")) and "ratio" not in key and "_vs_" not in key:
        return "fixed" if key.startswith(FIXED) else "time"
    return None


def growth(key: str, a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """The growth of the cost per event from A to B, or None (not a cost, or not in both)."""
    what = kind(key)
    first, second = a.get(key), b.get(key)
    if what is None or not _number(first) or not _number(second) or not first or not second:
        return None
    if what == "rate":
        return first / second
    if what == "fixed":
        return second / first
    if not a.get("events") or not b.get("events"):
        return None
    return (second / b["events"]) / (first / a["events"])


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.3f}"
    return str(value)


def table(a: dict[str, Any], b: dict[str, Any]) -> str:
    """The Markdown table: A's keys in A's order, then any only B has."""
    size = (f"{_shown(a.get('clients'))} clients", f"{_shown(b.get('clients'))} clients")
    lines = [f"| key | {size[0]} | {size[1]} | per-event cost, B ÷ A |", "|---|---|---|---|"]
    for key in [*a, *(key for key in b if key not in a)]:
        grown = growth(key, a, b)
        lines.append(f"| `{key}` | {_shown(a.get(key))} | {_shown(b.get(key))} | "
                     f"{'' if grown is None else f'{grown:.2f}'} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: growth.py A.json B.json", file=sys.stderr)
        return 2
    documents = []
    for name in argv:
        try:
            documents.append(json.loads(Path(name).read_text()))
        except (OSError, ValueError) as error:
            print(f"{name}: not a bench.py --json output ({error})", file=sys.stderr)
            return 2
    print(table(*documents))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
