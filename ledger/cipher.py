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
# The key check's text names the form of the source-id index: v1 kept whole HMAC-SHA-256s (64 hex
# digits), v2 keeps their first 128 bits (32 hex digits, the same digests cut short; integrity
# decision 8). A v1 ledger is brought to v2 when it is opened (ledger.settings).
_KEY_CHECK_PLAINTEXT = b"pbr key check v2"
_KEY_CHECK_VERSIONS = {b"pbr key check v1": 1, _KEY_CHECK_PLAINTEXT: 2}
INDEX_DIGEST_DIGITS = 32
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
        return self.key_check_version(key_check) is not None

    def key_check_version(self, key_check: str) -> int | None:
        """The index form a key check value names (1 or 2); ``None``: not made with this key."""
        try:
            return _KEY_CHECK_VERSIONS.get(self.decrypt(base64.b64decode(key_check)))
        except (ValueError, binascii.Error):
            return None


def cipher_for(key: str) -> LedgerCipher:
    return LedgerCipher(Environment(env={AESCipher.CIPHER_KEY: key}))


class IndexKeys:
    """Keyed digests for the source-id index: HMAC-SHA-256 under a key derived from the cipher
    key (not the cipher key itself), its first 128 bits as 32 hex digits (RFC 2104 allows a
    MAC cut to half its length; two of a billion ids share one with a chance below 10^-20).

    Short digests keep the index's primary key small: every import batch inserts its ids at
    random places in that B-tree, and whole 64-digit digests made the encrypted index more
    than half as large again as the plain one, which an import pays for at every commit."""

    def __init__(self, key: str) -> None:
        self._key = hmac.digest(key_bytes(key), _INDEX_LABEL, "sha256")

    def __call__(self, text: str) -> str:
        return hmac.digest(self._key, text.encode("utf-8"), "sha256")[:16].hex()


class IndexForm:
    """How the source-id index stores a record's ``(source_id, client, digest)``: in clear, or
    on an encrypted ledger the keyed digest of the source id, no client and one keyed digest of
    the client and content together (integrity decision 8)."""

    def __init__(self, key: str | None) -> None:
        self._mac = IndexKeys(key) if key else None
        # The keyed digests of the batch checked last (computed by import's shaping workers,
        # :meth:`keyed`), looked up instead of computed again; a digest not there is computed.
        self._ids: dict[str, str] = {}
        self._values: dict[tuple[str, str], str] = {}

    def keyed(self, source_id: str, client: str, content: str) -> tuple[str, str] | None:
        """A record's keyed source id and keyed (client, content) digest; ``None`` without a key.
        Import computes them where it shapes the record, in its workers, and hands them to
        :meth:`learn` with the batch."""
        if self._mac is None:
            return None
        return self._mac(source_id), self._mac(f"{client}\0{content}")

    def learn(self, records: Iterable[tuple[str, str, str, tuple[str, str] | None]]) -> None:
        """The ``(source_id, client, content, keyed)`` of the batch about to be checked, so
        that :meth:`ids`, :meth:`values` and :meth:`rows` look its digests up."""
        if self._mac is None:
            return
        self._ids, self._values = {}, {}
        for source_id, client, content, keyed in records:
            if keyed is not None:
                self._ids[source_id], self._values[client, content] = keyed

    def ids(self, ids: Iterable[str]) -> dict[str, str]:
        """Each source id as the index stores it."""
        if self._mac is None:
            return {source_id: source_id for source_id in ids}
        mac, learnt = self._mac, self._ids
        return {source_id: learnt.get(source_id) or mac(source_id) for source_id in ids}

    def values(self, client: str, content: str) -> tuple[str, str]:
        if self._mac is None:
            return client, content
        return "", self._values.get((client, content)) or self._mac(f"{client}\0{content}")

    def rows(self, rows: Sequence[tuple[str, str, str]]) -> Sequence[tuple[str, str, str]]:
        if self._mac is None:
            return rows
        mac, ids, values = self._mac, self._ids, self._values
        return [(ids.get(source_id) or mac(source_id), "",
                 values.get((client, content)) or mac(f"{client}\0{content}"))
                for source_id, client, content in rows]
