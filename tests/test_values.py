"""The derivation's quick frozen values (projections/values.py) behave as frozen dataclasses."""

from __future__ import annotations

import pickle
from dataclasses import FrozenInstanceError, dataclass, field, replace
from datetime import date

import pytest

from projections.model import Citation, History
from projections.values import once, quick_init


def test_a_quick_value_keeps_its_signature_defaults_equality_and_hash() -> None:
    cited = Citation("S1", date(2012, 5, 1), "treatment started")
    assert cited.received_on is None
    assert cited == Citation(source_id="S1", on=date(2012, 5, 1), what="treatment started",
                             received_on=None)
    assert hash(cited) == hash(Citation("S1", date(2012, 5, 1), "treatment started"))
    assert cited != Citation("S2", date(2012, 5, 1), "treatment started")
    with pytest.raises(TypeError):
        Citation("S1", date(2012, 5, 1))  # type: ignore[call-arg]


def test_a_quick_value_stays_frozen_and_replaces_and_pickles_as_before() -> None:
    cited = Citation("S1", date(2012, 5, 1), "treatment started")
    with pytest.raises(FrozenInstanceError):
        cited.on = date(2013, 1, 1)  # type: ignore[misc]
    later = replace(cited, received_on=date(2012, 5, 3))
    assert later.received_on == date(2012, 5, 3) and cited.received_on is None
    assert pickle.loads(pickle.dumps(later)) == later


def test_a_field_left_out_of_init_is_made_by_its_factory_for_each_value() -> None:
    first = History("C1", "S1", date(1970, 1, 1), None, date(2013, 1, 1),  # type: ignore[arg-type]
                    date(2013, 1, 1), (), (), (), (), (), (), (), None)
    second = replace(first)
    assert first.clocks == {} and first.clocks is not second.clocks


def test_quick_init_refuses_a_class_it_cannot_build_the_same_way() -> None:
    @dataclass
    class Mutable:
        value: int

    @dataclass(frozen=True)
    class Listed:
        values: list = field(default_factory=list)

    with pytest.raises(TypeError):
        quick_init(Mutable)
    with pytest.raises(TypeError):
        quick_init(Listed)


def test_once_works_a_value_out_on_first_use_only() -> None:
    calls = []

    @dataclass(frozen=True)
    class Box:
        value: int

        @once
        def doubled(self) -> int:
            calls.append(self.value)
            return self.value * 2

    box = Box(3)
    assert (box.doubled, box.doubled) == (6, 6)
    assert calls == [3]
