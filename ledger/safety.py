"""Hostile input: the checks every line (and every ruleset text) passes before it is believed.

Nothing a source system means needs a value nested more than :data:`MAX_DEPTH` levels, a
control character, a bidirectional override or an invisible character in an id, an id that is
only whitespace or padded with it, or a JSON object naming the same key twice (which value would
the sender mean?). Each is refused with its own reason code, the same on every backend, before
any of it reaches the database.

The checks are written for the common case first: a line with few brackets cannot be nested
deeply, a line with as many colons as keys cannot repeat a key, and a printable ASCII id holds
none of the characters looked for; only the rare line that is not so is looked at closely.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from ledger.records import RecordError

MAX_DEPTH = 16  # a record needs 2 (an object in an object); a ruleset 3

# Fields holding an identifier: compared exactly, so what cannot be seen may not be in them.
ID_FIELDS = frozenset({"source_id", "client", "site", "journey", "provider", "retracts"})

# Bidirectional formatting characters (Unicode's Bidi_Control property): they reorder how the
# text around them is displayed, so "C\u202e321" reads as another id than it is.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                          "\u2066\u2067\u2068\u2069")
# Line breaks a free text may hold (a correction's reason); never an id.
TEXT_BREAKS = frozenset("\t\n\r")

_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_TOML_TOKENS = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|'
                          r"'[^'\n]*'|#[^\n]*|[\[\]{}]")


class TooDeep(ValueError):
    """A text nested more deeply than :data:`MAX_DEPTH`."""


def nesting_depth(text: str, tokens: re.Pattern[str] = _JSON_TOKENS,
                  limit: int = MAX_DEPTH) -> int:
    """How deeply ``text`` nests brackets and braces outside its strings (and, for TOML, its
    comments), counting no further than ``limit + 1``."""
    if text.count("[") + text.count("{") <= limit:
        return min(limit, text.count("[") + text.count("{"))
    depth = deepest = 0
    for match in tokens.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        elif token in "]}":
            depth -= 1
    return deepest


def check_toml_depth(text: str) -> None:
    """Raise :class:`TooDeep` for a TOML text nested beyond :data:`MAX_DEPTH`."""
    if nesting_depth(text, _TOML_TOKENS) > MAX_DEPTH:
        raise TooDeep(f"nested more than {MAX_DEPTH} levels deep")


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise RecordError("duplicate_key", f"{printable(key)}: the key appears twice in "
                                               "one object")
        found[key] = value
    return found


def _keys(value: Any) -> int:
    """The number of keys in every object of a parsed JSON value."""
    if type(value) is dict:
        return len(value) + sum(_keys(v) for v in value.values()
                                if type(v) is dict or type(v) is list)
    if type(value) is list:
        return sum(_keys(v) for v in value if type(v) is dict or type(v) is list)
    return 0


def loads(text: str, what: str = "line") -> Any:
    """The JSON value of ``text``; :class:`RecordError` when it is not JSON (``not_json``),
    is nested too deeply (``too_deep``) or repeats a key in an object (``duplicate_key``)."""
    try:
        return parse_value(text, what)
    except json.JSONDecodeError as error:
        raise RecordError("not_json", f"{what}: not JSON ({error.msg})") from None


def parse_value(text: str, what: str = "line") -> Any:
    """As :func:`loads`, but text that is not JSON raises ``json.JSONDecodeError`` (a CSV cell
    that is not JSON is kept as text, for its field's check to name)."""
    braces = text.count("{")
    if braces + text.count("[") > MAX_DEPTH and nesting_depth(text) > MAX_DEPTH:
        raise RecordError("too_deep", f"{what}: nested more than {MAX_DEPTH} levels deep")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as error:  # e.g. an integer of 5,000 digits
        raise json.JSONDecodeError(str(error)[:80], text, 0) from None
    # Every key in the text is followed by a colon; when there are no more colons than keys
    # parsed, no key was given twice. Otherwise (a colon inside a string, or a repeated key)
    # parse again, pair by pair. With one brace in the text, the only object is the value.
    if type(value) is dict and braces == 1:
        keys = len(value)
    elif type(value) is dict or type(value) is list:
        keys = _keys(value)
    else:
        return value
    if text.count(":") > keys:
        value = json.loads(text, object_pairs_hook=_unique_pairs)
    return value


def printable(text: str, limit: int = 60) -> str:
    """``text`` safe to print on one line of a terminal: every character that is not
    printable (a control, a bidi override, an invisible character) written as ``\\uXXXX``."""
    if text.isprintable():
        shown = text
    else:
        shown = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
    return shown if len(shown) <= limit else shown[:limit] + "…"


def check_strings(fields: dict[str, Any]) -> None:
    """Raise :class:`RecordError` for the first text value a source system would not mean."""
    joined = "".join([value for value in fields.values() if type(value) is str])
    if joined.isascii() and joined.isprintable() and " " not in joined:
        return  # no control, no invisible character, no whitespace to pad or blank a value
    for name, value in fields.items():
        if type(value) is str:
            _check_text(name, value)


def _check_text(name: str, value: str) -> None:
    is_id = name in ID_FIELDS
    if value.isascii() and value.isprintable():
        if value[:1] != " " and value[-1:] != " ":
            return
        if not value.strip():
            raise RecordError("blank_value", f"{name}: only whitespace")
        if is_id:
            raise RecordError("surrounding_whitespace",
                              f"{name}: {printable(value)!r} begins or ends with whitespace")
        return
    if not value.strip():
        raise RecordError("blank_value", f"{name}: only whitespace")
    for character in value:
        _check_character(name, character, is_id)
    if is_id and value.strip() != value:
        raise RecordError("surrounding_whitespace",
                          f"{name}: {printable(value)!r} begins or ends with whitespace")


def _check_character(name: str, character: str, is_id: bool) -> None:
    if character.isprintable() and (character == " " or not character.isspace()):
        return
    code = f"U+{ord(character):04X}"
    if character in BIDI_CONTROLS:
        raise RecordError("bidi_character", f"{name}: holds the bidirectional control {code}, "
                                            "which changes how the text is displayed")
    category = unicodedata.category(character)
    if category == "Cc" or category in ("Zl", "Zp"):
        if not is_id and character in TEXT_BREAKS:
            return
        raise RecordError("control_character", f"{name}: holds the control character {code}")
    if category == "Cf":
        raise RecordError("invisible_character", f"{name}: holds the invisible character {code}")
    if category in ("Cs", "Co", "Cn"):
        raise RecordError("invalid_character",
                          f"{name}: holds {code}, which is not a character of any script")
    if category == "Zs" and is_id:
        return  # whitespace: padding and blank ids are refused by the caller
