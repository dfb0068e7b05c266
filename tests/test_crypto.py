"""Both encryption modes, key policy, and base64 leniency that is safe."""

from __future__ import annotations

import base64
import secrets

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from livematch.config import VENDOR_DEFAULT_IV, VENDOR_DEFAULT_KEY, Settings
from livematch.crypto import FieldCipher
from livematch.errors import InvalidArgument

KEY, IV = "k" * 32, "i" * 12


def test_compat_mode_matches_the_vendor_scheme_computed_independently():
    data = secrets.token_bytes(1000)
    vendor = base64.b64encode(AESGCM(KEY.encode()).encrypt(IV.encode(), data, None)).decode()
    assert FieldCipher(KEY, IV).decrypt(vendor, "encrypted_image") == data
    assert FieldCipher(KEY, IV).encrypt_compat(data) == vendor


def test_safe_mode_round_trip_uses_fresh_nonces_and_binds_the_field():
    cipher = FieldCipher(KEY, IV)
    a, b = cipher.encrypt_safe(b"photo", "encrypted_image"), cipher.encrypt_safe(b"photo", "encrypted_image")
    assert a != b
    assert cipher.decrypt(a, "encrypted_image") == b"photo"
    with pytest.raises(InvalidArgument, match="decryption failed"):
        cipher.decrypt(a, "encrypted_video")


def test_safe_mode_works_without_compat_iv():
    cipher = FieldCipher(KEY, "", compat_mode=False)
    assert cipher.decrypt(cipher.encrypt_safe(b"x" * 50, "encrypted_video"), "encrypted_video") == b"x" * 50


def test_compat_refused_when_disabled():
    token = FieldCipher(KEY, IV).encrypt_compat(b"data" * 10)
    with pytest.raises(InvalidArgument):
        FieldCipher(KEY, IV, compat_mode=False).decrypt(token, "encrypted_image")


@pytest.mark.parametrize("mutate", ["flip", "truncate_tag", "wrong_key"])
def test_tampering_is_1200(mutate):
    raw = bytearray(base64.b64decode(FieldCipher(KEY, IV).encrypt_compat(b"secret bytes" * 20)))
    cipher = FieldCipher(KEY, IV)
    if mutate == "flip":
        raw[5] ^= 1
    elif mutate == "truncate_tag":
        raw = raw[:-4]
    else:
        cipher = FieldCipher("z" * 32, IV)
    with pytest.raises(InvalidArgument) as exc:
        cipher.decrypt(base64.b64encode(bytes(raw)).decode(), "encrypted_image")
    assert exc.value.code == 1200


def test_base64_line_wrapping_urlsafe_and_missing_padding_are_accepted():
    cipher = FieldCipher(KEY, IV)
    token = cipher.encrypt_compat(b"\xfb\xff" * 100)
    wrapped = "\r\n".join(token[i : i + 76] for i in range(0, len(token), 76))
    urlsafe = token.replace("+", "-").replace("/", "_").rstrip("=")
    for variant in (wrapped, urlsafe):
        assert cipher.decrypt(variant, "encrypted_image") == b"\xfb\xff" * 100


@pytest.mark.parametrize("bad", ["abc$", "a===", "=abc", "ab=c"])
def test_invalid_base64_is_1200(bad):
    with pytest.raises(InvalidArgument, match="base64"):
        FieldCipher(KEY, IV).decrypt(bad, "encrypted_image")


def test_vendor_default_key_refused_unless_allowed():
    with pytest.raises(ValueError, match="nonce"):
        Settings(_env_file=None, decrypt_key=VENDOR_DEFAULT_KEY, decrypt_iv=VENDOR_DEFAULT_IV).check_key_policy()
    allowed = Settings(
        _env_file=None, decrypt_key=VENDOR_DEFAULT_KEY, decrypt_iv=VENDOR_DEFAULT_IV, allow_default_key=True
    )
    allowed.check_key_policy()


def test_missing_or_malformed_key_refused():
    with pytest.raises(ValueError, match="no key"):
        Settings(_env_file=None).check_key_policy()
    with pytest.raises(ValueError, match="32"):
        Settings(_env_file=None, decrypt_key="short")
