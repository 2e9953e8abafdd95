"""Frozen values made quickly: the derivation builds millions of them in a rebuild.

A frozen dataclass's generated ``__init__`` writes each field through ``object.__setattr__``
(its own ``__setattr__`` refuses), which makes building one about three times as slow as a plain
dataclass: for an outcome's seventeen fields, most of what it costs to make. :func:`quick_init`
gives such a class an ``__init__`` with the same signature and defaults that writes the fields
into the new instance's ``__dict__`` directly. Nothing else changes: the class stays a frozen
dataclass (equality, hashing, ``repr``, ``dataclasses.replace``, pickling), and assigning to a
field still raises :class:`dataclasses.FrozenInstanceError`.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any, TypeVar

Value = TypeVar("Value", bound=type)


def quick_init(cls: Value) -> Value:
    """``cls`` (a frozen dataclass of plain fields) with the quick ``__init__``.

    A field may instead be left out of ``__init__`` with a ``default_factory`` (a cache).
    """
    every = fields(cls)
    given = [f for f in every if f.init]
    made = [f for f in every if not f.init]
    if not (cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
            and all(f.default_factory is MISSING for f in given)
            and all(f.default_factory is not MISSING for f in made)
            and not hasattr(cls, "__post_init__") and "__slots__" not in vars(cls)):
        raise TypeError(f"{cls.__name__}: quick_init takes a frozen dataclass of plain fields")
    defaults = {f"default_{f.name}": f.default for f in given if f.default is not MISSING}
    defaults.update({f"factory_{f.name}": f.default_factory for f in made})
    parameters = ", ".join(f.name if f.default is MISSING else f"{f.name}=default_{f.name}"
                           for f in given)
    assignments = "".join(f"    values[{f.name!r}] = {f.name}\n" for f in given) + "".join(
        f"    values[{f.name!r}] = factory_{f.name}()\n" for f in made)
    source = f"def __init__(self, {parameters}):\n    values = self.__dict__\n{assignments}"
    exec(source, defaults)  # as dataclasses itself writes __init__
    init = defaults["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[misc]
    return cls


class once:  # noqa: N801 (used as a decorator, like functools.cached_property)
    """A value worked out from an instance on first use and kept in its ``__dict__``.

    :func:`functools.cached_property` without the lock Python 3.11 takes on every first use
    (a journey's few derived values are asked for once per journey, thousands of times a second;
    the derivation is single-threaded). Works on frozen dataclasses, which keep a ``__dict__``.
    """

    def __init__(self, compute: Any) -> None:
        self.compute = compute
        self.name = compute.__name__
        self.__doc__ = compute.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.compute(instance)
        return value
