"""Key rotation without downtime: during the overlap, fields under the old key still decrypt."""

from __future__ import annotations

import logging
import secrets

import pytest

from livematch.api.service import Service
from livematch.config import VENDOR_DEFAULT_KEY, Settings
from livematch.crypto import FieldCipher, KeyRing
from livematch.errors import InvalidArgument


def pair() -> tuple[str, str]:
    return secrets.token_hex(16), secrets.token_hex(6)


def test_ring_opens_both_keys_in_both_modes_and_nothing_else(caplog):
    new, old, other = (FieldCipher(*pair()) for _ in range(3))
    ring = KeyRing(new, old)
    data = b"\xff\xd8 not really a jpeg"
    with caplog.at_level(logging.INFO, logger="livematch.crypto"):
        assert ring.decrypt(new.encrypt_compat(data), "encrypted_image") == data
        assert not caplog.records  # the current key is silent
        assert ring.decrypt(old.encrypt_compat(data), "encrypted_image") == data
        assert ring.decrypt(old.encrypt_safe(data, "encrypted_video"), "encrypted_video") == data
    assert [r.getMessage() for r in caplog.records] == ["field decrypted with the previous key"] * 2
    assert data not in caplog.text.encode()
    with pytest.raises(InvalidArgument):
        ring.decrypt(other.encrypt_compat(data), "encrypted_image")
    with pytest.raises(InvalidArgument):  # safe mode still binds the field name under the old key
        ring.decrypt(old.encrypt_safe(data, "encrypted_video"), "encrypted_image")
    with pytest.raises(InvalidArgument):  # no previous key configured: the old key is refused
        KeyRing(new).decrypt(old.encrypt_compat(data), "encrypted_image")


def test_service_verifies_a_request_under_the_previous_key(settings, engine, grid_video, grid_photo):
    new_key, new_iv = pair()
    rotated = settings.model_copy(
        update={
            "decrypt_key": new_key,
            "decrypt_iv": new_iv,
            "decrypt_key_previous": settings.decrypt_key,
            "decrypt_iv_previous": settings.decrypt_iv,
        }
    )
    service = Service(rotated, engine)
    old = FieldCipher(settings.decrypt_key, settings.decrypt_iv)
    fields = {"encrypted_video": old.encrypt_compat(grid_video), "encrypted_image": old.encrypt_compat(grid_photo)}
    status, body = service.handle_fields(fields)
    assert (status, body["code"], body["passed"]) == (200, 1000, True)
    stranger = FieldCipher(*pair())
    status, body = service.handle_fields({k: stranger.encrypt_compat(b"x" * 2048) for k in fields})
    assert (status, body["code"]) == (400, 1200)


def test_previous_key_is_checked_like_the_current_one():
    key, iv = pair()
    with pytest.raises(ValueError, match="LIVEMATCH_DECRYPT_KEY_PREVIOUS must be exactly 32 bytes"):
        Settings(_env_file=None, decrypt_key=key, decrypt_iv=iv, decrypt_key_previous="short")
    with pytest.raises(ValueError, match="LIVEMATCH_DECRYPT_IV_PREVIOUS must be exactly 12 bytes"):
        Settings(_env_file=None, decrypt_key=key, decrypt_iv=iv, decrypt_iv_previous="short")
    vendor = Settings(_env_file=None, decrypt_key=key, decrypt_iv=iv, decrypt_key_previous=VENDOR_DEFAULT_KEY)
    with pytest.raises(ValueError, match="published default key"):
        vendor.check_key_policy()
