"""SenseID request signing (issue 11) and the multipart file-upload variant, both off by default.

Signatures here are computed independently with hmac + hashlib, exactly as docs/API.md describes,
not with livematch's own helper, so a drift in either is caught.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from livematch.api.app import create_app
from livematch.api.auth import authorization_header, load_keys
from livematch.api.service import Service
from tests.conftest import VERIFY

KEYS = "alice:s3cr3t-alice-0123456789,bob:bob-secret-abcdef"
GARBAGE = {"encrypted_video": "AAAA", "encrypted_image": "AAAA"}


def sign(key: str, secret: str, timestamp: int | str, nonce: str) -> str:
    message = "".join(sorted([key, nonce, str(timestamp)])).encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"key={key},timestamp={timestamp},nonce={nonce},signature={digest}"


def nonce() -> str:
    return hashlib.sha256(str(time.perf_counter_ns()).encode()).hexdigest()[:16]


@pytest.fixture(scope="module")
def signed_client(settings, service):
    s = settings.model_copy(update={"api_keys": SecretStr(KEYS), "auth_rate_per_minute": 0})
    with TestClient(create_app(s, service), raise_server_exceptions=False) as c:
        yield c


def assert_error(response, code: int, status: int) -> dict:
    body = response.json()
    assert (response.status_code, body.get("code")) == (status, code), body
    assert set(body) == {"code", "message", "request_id"}
    return body


def test_independently_signed_request_is_accepted(signed_client, fields):
    header = sign("alice", "s3cr3t-alice-0123456789", int(time.time()), nonce())
    response = signed_client.post(VERIFY, json=fields(), headers={"Authorization": header})
    body = response.json()
    assert response.status_code == 200 and body["passed"] is True, body


def test_signing_is_off_by_default(client):
    # No header, garbage fields: the answer is about the fields (1200), not authentication.
    assert_error(client.post(VERIFY, json=GARBAGE), 1200, 400)


def test_parts_in_any_order_with_spaces_and_upper_case_hex_are_accepted(signed_client):
    ts, n = int(time.time()), nonce()
    digest = sign("bob", "bob-secret-abcdef", ts, n).rsplit("=", 1)[1].upper()
    header = f"nonce={n}, signature={digest} , key=bob,timestamp={ts}"
    assert_error(signed_client.post(VERIFY, json=GARBAGE, headers={"Authorization": header}), 1200, 400)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(lambda: sign("alice", "wrong-secret", int(time.time()), nonce()), id="wrong-secret"),
        pytest.param(lambda: sign("mallory", "s3cr3t-alice-0123456789", int(time.time()), nonce()), id="unknown-key"),
        pytest.param(lambda: sign("alice", "s3cr3t-alice-0123456789", int(time.time()) - 301, nonce()), id="stale"),
        pytest.param(lambda: sign("alice", "s3cr3t-alice-0123456789", int(time.time()) + 301, nonce()), id="future"),
        pytest.param(lambda: "", id="empty"),
        pytest.param(lambda: "Bearer abc", id="bearer"),
        pytest.param(lambda: sign("alice", "s3cr3t-alice-0123456789", int(time.time()), nonce())[:-1], id="short-sig"),
        pytest.param(
            lambda: sign("alice", "s3cr3t-alice-0123456789", int(time.time()), nonce()) + ",key=bob", id="dup-part"
        ),
        pytest.param(lambda: sign("alice", "s3cr3t-alice-0123456789", "12.5", nonce()), id="decimal-timestamp"),
        pytest.param(lambda: sign("alice", "s3cr3t-alice-0123456789", "-5", nonce()), id="negative-timestamp"),
        pytest.param(lambda: sign("alice", "s3cr3t-alice-0123456789", int(time.time()), "") + "", id="empty-nonce"),
        pytest.param(
            lambda: sign("alice", "s3cr3t-alice-0123456789", int(time.time()), nonce()).replace("key=", "kee="),
            id="unknown-part",
        ),
        pytest.param(
            lambda: sign("alice", "s3cr3t-alice-0123456789", int(time.time()), nonce()).replace("nonce=", "nonce"),
            id="no-equals",
        ),
    ],
)
def test_bad_authorization_is_401_1401(signed_client, header):
    response = signed_client.post(VERIFY, json=GARBAGE, headers={"Authorization": header()})
    assert_error(response, 1401, 401)
    assert response.headers["www-authenticate"].startswith("SenseID")


def test_missing_header_is_401_even_before_body_limits(signed_client, settings):
    assert_error(signed_client.post(VERIFY, json=GARBAGE), 1401, 401)
    huge = {"content-type": "application/json", "content-length": str(settings.max_body_bytes + 1)}
    assert_error(signed_client.post(VERIFY, content=b"{}", headers=huge), 1401, 401)


def test_replayed_nonce_is_401(signed_client):
    header = sign("bob", "bob-secret-abcdef", int(time.time()), nonce())
    assert_error(signed_client.post(VERIFY, json=GARBAGE, headers={"Authorization": header}), 1200, 400)
    body = assert_error(signed_client.post(VERIFY, json=GARBAGE, headers={"Authorization": header}), 1401, 401)
    assert "nonce" in body["message"]


def test_window_edge_is_accepted(signed_client):
    header = sign("alice", "s3cr3t-alice-0123456789", int(time.time()) - 290, nonce())
    assert_error(signed_client.post(VERIFY, json=GARBAGE, headers={"Authorization": header}), 1200, 400)


def test_per_key_rate_limit_is_429_1429_with_retry_after(settings, service):
    s = settings.model_copy(update={"api_keys": SecretStr(KEYS), "auth_rate_per_minute": 3})
    with TestClient(create_app(s, service), raise_server_exceptions=False) as c:

        def send(key: str, secret: str):
            return c.post(VERIFY, json=GARBAGE, headers={"Authorization": sign(key, secret, int(time.time()), nonce())})

        for _ in range(3):
            assert_error(send("alice", "s3cr3t-alice-0123456789"), 1200, 400)
        response = send("alice", "s3cr3t-alice-0123456789")
        assert_error(response, 1429, 429)
        assert 1 <= int(response.headers["retry-after"]) <= 20
        assert_error(send("bob", "bob-secret-abcdef"), 1200, 400)  # another key has its own budget


def test_secrets_never_reach_the_logs(signed_client, caplog):
    caplog.set_level(logging.DEBUG)
    for secret in ("s3cr3t-alice-0123456789", "wrong"):
        header = sign("alice", secret, int(time.time()), nonce())
        signed_client.post(VERIFY, json=GARBAGE, headers={"Authorization": header})
    text = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert caplog.records and "s3cr3t" not in text and "bob-secret" not in text


def test_key_file_and_inline_formats(tmp_path):
    path = tmp_path / "keys"
    path.write_text("# livematch API keys\nalice:one\n\nbob : two\n")
    assert load_keys(str(path)) == {"alice": "one", "bob": "two"}
    assert load_keys("alice:one, bob:two") == {"alice": "one", "bob": "two"}
    assert load_keys("") == {}
    for bad in ("alice:", "alice:one,alice:two", "a b:c"):
        with pytest.raises(ValueError):
            load_keys(bad)


def test_own_helper_matches_the_independent_signature():
    header = authorization_header("alice", "s3cr3t", now=1_700_000_000, nonce="0123456789abcdef")
    assert header == sign("alice", "s3cr3t", 1_700_000_000, "0123456789abcdef")


# ---- file upload ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upload_client(settings, engine):
    s = settings.model_copy(update={"file_upload": True})
    with TestClient(create_app(s, Service(s, engine)), raise_server_exceptions=False) as c:
        yield c


def test_file_upload_gives_the_same_answer_as_encrypted_fields(upload_client, fields, grid_video, grid_photo):
    options = {"return_status": "true"}
    uploaded = upload_client.post(
        VERIFY,
        files={"image_file": ("id.jpg", grid_photo, "image/jpeg"), "video_file": ("selfie.mp4", grid_video)},
        data=options,
    ).json()
    encrypted = upload_client.post(VERIFY, files={k: (None, v) for k, v in fields(**options).items()}).json()
    for body in (uploaded, encrypted):
        del body["request_id"]
    assert uploaded == encrypted and uploaded["passed"] is True


def test_file_upload_is_off_by_default(client, grid_video, grid_photo):
    response = client.post(VERIFY, files={"image_file": ("a.jpg", grid_photo), "video_file": ("b.mp4", grid_video)})
    assert "disabled" in assert_error(response, 1200, 400)["message"]


def test_both_variants_in_one_request_is_1200(upload_client, fields, grid_video):
    parts = {k: (None, v) for k, v in fields().items()} | {"video_file": ("b.mp4", grid_video)}
    assert "not both" in assert_error(upload_client.post(VERIFY, files=parts), 1200, 400)["message"]


def test_file_fields_must_be_file_parts(upload_client):
    assert_error(upload_client.post(VERIFY, json={"image_file": "abc", "video_file": "def"}), 1200, 400)


def test_uploaded_files_have_the_same_limits(upload_client, grid_video):
    response = upload_client.post(VERIFY, files={"image_file": ("a.jpg", b"x" * 100), "video_file": ("b", grid_video)})
    assert_error(response, 2004, 400)
