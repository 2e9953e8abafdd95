"""A refusal by a ledger service: a stable reason code that tests and interfaces read, and words
for people. The command line prints the words (exit 2); a web view can map the code."""

from __future__ import annotations


class Refused(ValueError):
    """An action the ledger will not record, with its reason ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
