"""Payment runs (RULES.md §5, §7): entitlements, what earlier runs paid, and this run's lines.

An **entitlement** is one thing that can be paid once: an outcome of a journey, one instalment of
it, or a cohort's payment to one provider. A run as of E works out what is payable for each
(achieved with ``payable_on <= E``) and compares it with the net of every earlier run's lines for
the same entitlement: the difference is this run's line — a payment, or a clawback of what is no
longer payable. Upheld dispute adjustments are paid once, in the first run after they are
resolved. Everything here is pure: the same inputs give the same lines, which is what lets a run
be replayed to the penny.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from projections.model import OutcomeResult, Status

ZERO = Decimal("0.00")

# (client, journey, outcome, instalment, cohort, provider): the identity of an entitlement.
EntitlementKey = tuple[str | None, str | None, str, int | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class Entitlement:
    key: EntitlementKey
    payable: Decimal  # what is payable for it as of E: its amount, or nothing
    provider: str | None
    site: str | None
    ruleset: str
    clawback: bool
    status: str
    evidence_on: date | None
    payable_on: date | None
    explanation: str

    @property
    def client(self) -> str | None:
        return self.key[0]


@dataclass(frozen=True)
class Adjustment:
    """An upheld dispute's adjustment: paid (or recovered, when negative) in the next run."""

    dispute: str
    amount: Decimal
    provider: str
    site: str | None
    client: str | None
    journey: str | None
    outcome: str | None
    instalment: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a run: a ``payment``, a ``clawback`` (negative) or an ``adjustment``."""

    client: str | None
    journey: str | None
    outcome: str | None
    instalment: int | None
    kind: str
    amount: Decimal
    provider: str | None
    site: str | None
    cohort: str | None = None
    dispute: str | None = None
    reason: str = ""

    @property
    def key(self) -> EntitlementKey:
        return (self.client, self.journey, self.outcome or "", self.instalment, self.cohort,
                self.provider if self.cohort else None)

    def as_row(self) -> list:
        """The line as a run stores it: its values in :data:`LINE_FIELDS` order."""
        return [self.client, self.journey, self.outcome, self.instalment, self.kind,
                str(self.amount), self.provider, self.site, self.reason, self.cohort,
                self.dispute]

    def as_json(self) -> dict:
        """CONTRACT.md's line object (``cohort`` and ``dispute`` only where they are set)."""
        return line_json(self.as_row())


# A recorded run stores each line as a list of these values (a national run has hundreds of
# thousands of lines: the names once, not on every line). Runs recorded before stored objects.
LINE_FIELDS = ("client", "journey", "outcome", "instalment", "kind", "amount", "provider", "site",
               "reason", "cohort", "dispute")


def line_json(stored: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    """A stored line as the line object of CONTRACT.md (exactly :meth:`Line.as_json`)."""
    if isinstance(stored, Mapping):
        return dict(stored)
    row = dict(zip(LINE_FIELDS[:9], stored[:9], strict=True))
    for name, value in zip(LINE_FIELDS[9:], stored[9:], strict=True):
        if value is not None:
            row[name] = value
    return row


@dataclass(frozen=True)
class Overpayment:
    """Paid earlier, no longer payable, and the ruleset says not to claw back: reported only."""

    key: EntitlementKey
    paid: Decimal
    payable: Decimal
    provider: str | None
    site: str | None


def payable(amount: Decimal | None, status: str, payable_on: date | None, as_of: date) -> Decimal:
    """RULES.md §5: payable when achieved with ``payable_on <= E``."""
    if status == Status.ACHIEVED and payable_on is not None and payable_on <= as_of:
        return amount or ZERO
    return ZERO


def entitlements(results: Iterable[OutcomeResult], as_of: date,
                 clawback_by_ruleset: Mapping[str, bool]) -> list[Entitlement]:
    """Every entitlement of the outcomes: one per outcome, or one per instalment."""
    found: list[Entitlement] = []
    for result in results:
        provider_key = result.provider if result.cohort else None
        base = (result.client, result.journey, result.outcome)
        clawback = clawback_by_ruleset.get(result.ruleset, True)
        if result.instalments is None:
            found.append(Entitlement(
                (*base, None, result.cohort, provider_key),
                payable(result.amount, result.status, result.payable_on, as_of),
                result.provider, result.site, result.ruleset, clawback, str(result.status),
                result.evidence_on, result.payable_on, result.explanation))
            continue
        for instalment in result.instalments:
            found.append(Entitlement(
                (*base, instalment.n, result.cohort, provider_key),
                payable(instalment.amount, instalment.status, instalment.payable_on, as_of),
                result.provider, result.site, result.ruleset, clawback, str(instalment.status),
                instalment.evidence_on, instalment.payable_on, instalment.explanation))
    return found


def net_paid(lines: Iterable[Line]) -> dict[EntitlementKey, Decimal]:
    """What earlier runs paid, net of clawbacks, per entitlement (adjustments excluded)."""
    paid: dict[EntitlementKey, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        if line.kind != "adjustment":
            paid[line.key] += line.amount
    return dict(paid)


def entitlement_lines(found: Sequence[Entitlement], paid: Mapping[EntitlementKey, Decimal],
                      earlier: Iterable[Line] = (),
                      orphan_clawback: Callable[[EntitlementKey, str | None], bool] = (
                          lambda key, site: True),
                      ) -> tuple[list[Line], list[Overpayment]]:
    """RULES.md §5: a payment for what is payable and unpaid, a clawback of what no longer is.

    A changed amount (a corrected LASARS band, 1.1 paid less what 1.3 paid) moves by the
    difference, so each entitlement's lines always sum to what is payable for it.

    An entitlement paid earlier that the ledger no longer derives at all (its journey retracted,
    its outcome switched off) is recovered from the provider and site its last line went to
    (``earlier``, the earlier runs' lines), or only reported where ``orphan_clawback`` says
    the ruleset that governs it does not claw back (payments decision 10).
    """
    lines: list[Line] = []
    overpayments: list[Overpayment] = []
    seen = {entitlement.key for entitlement in found}
    last = {line.key: line for line in earlier if line.kind != "adjustment"}
    orphaned = []
    for key, amount in paid.items():
        if key in seen or amount == ZERO:
            continue
        line = last.get(key)
        provider, site = (line.provider, line.site) if line is not None else (key[5], None)
        orphaned.append(Entitlement(key, ZERO, provider, site, "", orphan_clawback(key, site),
                                    "withdrawn", None, None, "no longer derived from the ledger"))
    for entitlement in sorted([*found, *orphaned], key=lambda e: _sort_key(e.key)):
        difference = entitlement.payable - paid.get(entitlement.key, ZERO)
        if difference == ZERO:
            continue
        if difference < ZERO and not entitlement.clawback:
            overpayments.append(Overpayment(entitlement.key, paid.get(entitlement.key, ZERO),
                                            entitlement.payable, entitlement.provider,
                                            entitlement.site))
            continue
        client, journey, outcome, instalment, cohort, _ = entitlement.key
        lines.append(Line(client, journey, outcome, instalment,
                          "payment" if difference > ZERO else "clawback", difference,
                          entitlement.provider, entitlement.site, cohort,
                          reason=entitlement.explanation))
    return lines, overpayments


def adjustment_lines(adjustments: Iterable[Adjustment], already_paid: set[str]) -> list[Line]:
    """RULES.md §7: each upheld adjustment once, in the first run after its resolution."""
    return [Line(a.client, a.journey, a.outcome, a.instalment, "adjustment", a.amount,
                 a.provider, a.site, dispute=a.dispute, reason=a.reason)
            for a in sorted(adjustments, key=lambda a: a.dispute)
            if a.dispute not in already_paid and a.amount != ZERO]


def totals(lines: Iterable[Line], by: str) -> dict[str, Decimal]:
    """Sum of the lines per provider (``by="provider"``) or per site."""
    summed: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        summed[getattr(line, by) or "-"] += line.amount
    return dict(sorted(summed.items()))


def lines_digest(lines: Sequence[Line]) -> str:
    """A digest of a run's lines: equal lines, equal digest, whatever was stored since.

    The SHA-256 of ``json.dumps([line.as_json() for line in lines], sort_keys=True)``, fed a
    line at a time so a national run never holds that text whole.
    """
    digest = hashlib.sha256(b"[")
    encode = json.JSONEncoder(sort_keys=True).encode
    for n, line in enumerate(lines):
        digest.update(b", " + encode(line.as_json()).encode() if n
                      else encode(line.as_json()).encode())
    digest.update(b"]")
    return digest.hexdigest()


def _sort_key(key: EntitlementKey) -> tuple:
    return tuple("" if part is None else str(part).zfill(6) if isinstance(part, int) else part
                 for part in key)
