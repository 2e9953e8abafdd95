"""The tamper script in the suite: every case, on each backend, plain and encrypted, is found by
``pbr verify`` at the position changed, with the reason for that kind of change."""

from __future__ import annotations

import pytest

from ledger.cipher import generate_key
from ledger.simulation import write_pilot
from tests.conftest import BACKENDS, reset_postgres
from tests.reliability.tamper import CASES, SEED, cipher_key, run_case


@pytest.fixture(scope="module")
def pilot(tmp_path_factory):
    path = tmp_path_factory.mktemp("tamper") / "pilot.jsonl"
    write_pilot(80, SEED, path)
    return path


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_tamper_case_is_detected_at_the_position_changed_with_its_reason(
        backend, encrypted, pilot, tmp_path):
    missed = []
    with cipher_key(generate_key() if encrypted else None):
        for n, case in enumerate(CASES):
            url = reset_postgres() if backend == "postgresql" else \
                f"sqlite:///{tmp_path / f'case-{n}.db'}"
            outcome = run_case(case, url, pilot, backend)
            if not outcome.detected:
                missed.append((case.name, outcome.expected, outcome.found))
    assert missed == []
