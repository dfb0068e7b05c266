"""Field encryption: the vendor's fixed-IV AES-256-GCM scheme and livematch's safe envelope.

Compatibility mode (what SenseID clients send): ``base64(AES-256-GCM(key, iv, data))`` with the
16-byte tag appended, key and IV the UTF-8 bytes of fixed strings. Its IV never changes, so GCM's
nonce is reused for every message; it exists only so existing clients work unchanged.

Safe mode: ``base64(MAGIC || nonce(12) || AES-256-GCM(k_safe, nonce, data, aad=field_name))`` with a
fresh random nonce per field, the field name bound as associated data (a photo cannot be swapped into
the video field), and ``k_safe = HKDF-SHA256(key, info=SAFE_INFO)`` so the two modes never share a key.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from livematch.errors import InvalidArgument

MAGIC = b"LMS1"
NONCE_BYTES = 12
TAG_BYTES = 16
SAFE_INFO = b"livematch safe-mode v1"
_WHITESPACE = re.compile(rb"\s+")


def derive_safe_key(key: bytes) -> bytes:
    """The safe-mode key: HKDF-SHA256 of the configured key, so it is never used with a fixed IV."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SAFE_INFO).derive(key)


class FieldCipher:
    """Encrypts and decrypts request fields with one configured key (and IV for compatibility mode)."""

    def __init__(self, key: str, iv: str = "", *, compat_mode: bool = True) -> None:
        self._key = key.encode()
        self._iv = iv.encode()
        self._compat = compat_mode and bool(self._iv)
        self._safe = AESGCM(derive_safe_key(self._key))
        self._legacy = AESGCM(self._key)

    def encrypt_compat(self, data: bytes) -> str:
        """Compatibility-mode field: base64 of ciphertext||tag under the fixed IV."""
        if not self._iv:
            raise ValueError("compatibility mode needs an IV")
        return base64.b64encode(self._legacy.encrypt(self._iv, data, None)).decode()

    def encrypt_safe(self, data: bytes, field: str) -> str:
        """Safe-mode field: base64 of MAGIC || random nonce || ciphertext||tag, bound to ``field``."""
        nonce = os.urandom(NONCE_BYTES)
        return base64.b64encode(MAGIC + nonce + self._safe.encrypt(nonce, data, field.encode())).decode()

    def decrypt(self, text: str | bytes, field: str) -> bytes:
        """Plaintext of a field in either mode; any failure is 1200 with a message naming the field."""
        raw = decode_base64(text, field)
        if raw.startswith(MAGIC) and len(raw) >= len(MAGIC) + NONCE_BYTES + TAG_BYTES:
            nonce, body = raw[len(MAGIC) : len(MAGIC) + NONCE_BYTES], raw[len(MAGIC) + NONCE_BYTES :]
            try:
                return self._safe.decrypt(nonce, body, field.encode())
            except InvalidTag:
                pass  # may still be a compat ciphertext that happens to start with MAGIC
        if self._compat and len(raw) >= TAG_BYTES:
            try:
                return self._legacy.decrypt(self._iv, raw, None)
            except InvalidTag:
                pass
        raise InvalidArgument(f"{field}: decryption failed (wrong key, wrong field or tampered data)")


class KeyRing:
    """The current key, and during a rotation the previous one: fields decrypt with either.

    Clients encrypt with the key they were given, so replacing the key on the server alone would
    break every client that has not switched yet. With the old key kept as ``previous`` for the
    overlap, a plain rolling restart rotates keys without downtime; each field that still needed the
    old key is logged (``livematch.crypto``) so operators see when the last client has moved.
    """

    def __init__(self, current: FieldCipher, previous: FieldCipher | None = None) -> None:
        self.current = current
        self.previous = previous

    def decrypt(self, text: str | bytes, field: str) -> bytes:
        """Plaintext under the current key, else under the previous one; 1200 if neither opens it."""
        try:
            return self.current.decrypt(text, field)
        except InvalidArgument:
            if self.previous is None:
                raise
        data = self.previous.decrypt(text, field)
        logging.getLogger("livematch.crypto").info("field decrypted with the previous key", extra={"field": field})
        return data


def decode_base64(text: str | bytes, field: str) -> bytes:
    """Decode standard or URL-safe base64; ASCII whitespace is ignored and missing padding restored.

    Clients wrap lines (PHP's chunk_split) or use the URL-safe alphabet; both are unambiguous. Any
    other character, or padding in the wrong place, is 1200.
    """
    data = text.encode("ascii", "replace") if isinstance(text, str) else text
    data = _WHITESPACE.sub(b"", data).replace(b"-", b"+").replace(b"_", b"/")
    if not data:
        raise InvalidArgument(f"{field}: empty")
    if len(data) % 4:
        data += b"=" * (-len(data) % 4)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"{field}: not valid base64") from None
