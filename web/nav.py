"""The web view's navigation: one entry per section, in order.

A new section is one entry here and one router module listed in :data:`web.app.ROUTERS`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    title: str
    path: str


NAV = (
    Section("Clients", "/clients"),
    Section("Payment runs", "/runs"),
    Section("Disputes", "/disputes"),
    Section("Reconciliation", "/reconciliation"),
    Section("Diagnostics", "/diagnostics"),
    Section("Compare", "/compare"),
    Section("Forecast", "/forecast"),
    Section("Ledger check", "/verify"),
)
