"""Encryption at rest (RULES.md §9): the event store library's AES-GCM cipher, one key.

``PBR_CIPHER_KEY`` holds a key made by ``pbr keys generate`` (32 random bytes, base64, as the
library's ``AESCipher.create_key`` makes them). With it every event's stored state is encrypted by
:class:`LedgerCipher`, the library's ``AESCipher`` with its wire format unchanged (nonce, tag,
ciphertext), which builds its AES-GCM object once rather than on every call. Beside the events:

- the source-id index keeps keyed digests (HMAC-SHA-256 under a key derived from the cipher key),
  never a source id, client or content digest in clear (:class:`IndexKeys`);
- the projection tables keep their explanation cells encrypted (:mod:`ledger.views`);
- a key check value in ``pbr_settings`` tells a missing or wrong key from the right one.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.cryptography import AESCipher
from eventsourcing.utils import Environment

KEY_VARIABLE = "PBR_CIPHER_KEY"
KEY_BYTES = 32
CIPHER_TOPIC = "ledger.cipher:LedgerCipher"
_KEY_CHECK_PLAINTEXT = b"pbr key check v1"
_INDEX_LABEL = b"pbr source-id index v1"


class KeyProblem(Exception):
    """A key that is malformed, missing for an encrypted ledger, or not this ledger's: exit 2."""


def generate_key() -> str:
    """A new key: 32 random bytes as base64 (the library's own key maker)."""
    return AESCipher.create_key(KEY_BYTES)


def configured_key() -> str | None:
    """The key in ``PBR_CIPHER_KEY``, checked for its form; ``None`` when unset or empty."""
    text = os.environ.get(KEY_VARIABLE, "").strip()
    if not text:
        return None
    key_bytes(text)
    return text


def key_bytes(text: str) -> bytes:
    try:
        key = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise KeyProblem(f"{KEY_VARIABLE}: not a key (expected base64 text; make one with "
                         "pbr keys generate)") from None
    if len(key) not in AESCipher.KEY_SIZES:
        raise KeyProblem(f"{KEY_VARIABLE}: a key of {len(key)} bytes; AES takes 16, 24 or 32 "
                         "(make one with pbr keys generate)")
    return key


class LedgerCipher(AESCipher):
    """The library's ``AESCipher`` (same key, same bytes on disk), with one AES-GCM object.

    The library builds ``AESGCM(key)`` on every call, which costs more than encrypting a small
    event; decrypting a ledger calls it once per event.
    """

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._aesgcm = AESGCM(self.key)
        self._encrypt = self._aesgcm.encrypt
        self._decrypt = self._aesgcm.decrypt

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        sealed = self._encrypt(nonce, plaintext, None)
        return nonce + sealed[-16:] + sealed[:-16]  # the tag in front, as the library writes

    def decrypt(self, ciphertext: bytes) -> bytes:
        if len(ciphertext) < 28:
            raise ValueError("Damaged cipher text: too short")
        try:
            return self._decrypt(ciphertext[:12], ciphertext[28:] + ciphertext[12:28], None)
        except InvalidTag as error:
            raise ValueError("Invalid cipher tag") from error

    # Text cells (projection tables) -------------------------------------------------------

    def seal_text(self, text: str | None) -> str | None:
        """A text cell encrypted, as base64 text; ``None`` stays ``None``."""
        if text is None:
            return None
        return base64.b64encode(self.encrypt(text.encode("utf-8"))).decode("ascii")

    def open_text(self, sealed: str | None) -> str | None:
        if sealed is None:
            return None
        return self.decrypt(base64.b64decode(sealed)).decode("utf-8")

    # The key check value ------------------------------------------------------------------

    def key_check(self) -> str:
        return base64.b64encode(self.encrypt(_KEY_CHECK_PLAINTEXT)).decode("ascii")

    def opens(self, key_check: str) -> bool:
        try:
            return self.decrypt(base64.b64decode(key_check)) == _KEY_CHECK_PLAINTEXT
        except (ValueError, binascii.Error):
            return False


def cipher_for(key: str) -> LedgerCipher:
    return LedgerCipher(Environment(env={AESCipher.CIPHER_KEY: key}))


class IndexKeys:
    """Keyed digests for the source-id index: HMAC-SHA-256 under a key derived from the cipher
    key (not the cipher key itself), as 64 hex digits."""

    def __init__(self, key: str) -> None:
        self._key = hmac.digest(key_bytes(key), _INDEX_LABEL, "sha256")

    def __call__(self, text: str) -> str:
        return hmac.digest(self._key, text.encode("utf-8"), "sha256").hex()


class IndexForm:
    """How the source-id index stores a record's ``(source_id, client, digest)``: in clear, or
    on an encrypted ledger the keyed digest of the source id, no client and one keyed digest of
    the client and content together (integrity decision 8)."""

    def __init__(self, key: str | None) -> None:
        self._mac = IndexKeys(key) if key else None
        self._last_ids: dict[str, str] = {}  # the ids last looked up: the batch appended next

    def ids(self, ids: Iterable[str]) -> dict[str, str]:
        """Each source id as the index stores it."""
        if self._mac is None:
            return {source_id: source_id for source_id in ids}
        mac = self._mac
        self._last_ids = {source_id: mac(source_id) for source_id in ids}
        return self._last_ids

    def values(self, client: str, content: str) -> tuple[str, str]:
        if self._mac is None:
            return client, content
        return "", self._mac(f"{client}\0{content}")

    def rows(self, rows: Sequence[tuple[str, str, str]]) -> Sequence[tuple[str, str, str]]:
        if self._mac is None:
            return rows
        known, mac = self._last_ids, self._mac
        return [(known.get(source_id) or mac(source_id), *self.values(client, content))
                for source_id, client, content in rows]
