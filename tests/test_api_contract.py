"""The SenseID contract end to end on real media: field presence, every error code and status."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from tests.conftest import VERIFY
from tests.media import encode_video, jpeg, noise, png, read_frames, still_video


def post(client, fields, kind="multipart"):
    if kind == "json":
        return client.post(VERIFY, content=json.dumps(fields), headers={"content-type": "application/json"})
    if kind == "urlencoded":
        return client.post(VERIFY, data=fields)
    return client.post(
        VERIFY, files={k: (None, str(v).lower() if isinstance(v, bool) else v) for k, v in fields.items()}
    )


def assert_error(response, code: int, status: int) -> dict:
    body = response.json()
    assert response.status_code == status, body
    assert body["code"] == code, body
    assert set(body) == {"code", "message", "request_id"}
    assert body["request_id"] == response.headers["x-request-id"]
    return body


@pytest.mark.parametrize("kind", ["multipart", "urlencoded", "json"])
def test_minimal_request_passes_with_only_the_always_fields(client, fields, kind):
    response = post(client, fields(), kind)
    body = response.json()
    assert response.status_code == 200, body
    assert body["code"] == 1000 and body["passed"] is True
    assert set(body) == {"code", "passed", "liveness_score", "request_id", "verification_score"}
    assert body["request_id"] == response.headers["x-request-id"]
    assert 0.0 <= body["liveness_score"] <= 1.0


def test_all_options_return_every_field(client, fields):
    body = post(
        client,
        fields(return_status=True, return_image="true", return_face_image="1", auto_rotate=False, check_quality="0"),
    ).json()
    assert body["liveness_status"] == "ok"
    assert body["verification_score"] >= 0.7, body["verification_score"]
    assert 0.0 <= body["image_timestamp"] <= 3.1
    for key in ("base64_image", "base64_face_image"):
        assert base64.b64decode(body[key])[:2] == b"\xff\xd8"  # JPEG


def test_same_person_scores_clearly_above_a_different_person(client, fields, other_photo):
    same = post(client, fields()).json()["verification_score"]
    other = post(client, fields(photo=other_photo)).json()["verification_score"]
    assert same >= 0.7 and other < 0.5 and same - other > 0.3


def test_json_booleans_accepted(client, fields):
    response = post(client, fields(return_status=True), "json")
    assert response.json()["liveness_status"] == "ok"


def test_still_image_video_is_hack_without_score_or_images(client, fields):
    frame = read_frames_first(fields)
    body = post(client, fields(video=still_video(frame), return_status=True, return_image=True)).json()
    assert body["code"] == 1000 and body["passed"] is False and body["liveness_status"] == "hack"
    assert "verification_score" not in body and "base64_image" not in body and "image_timestamp" not in body


def read_frames_first(fields) -> np.ndarray:
    from tests.conftest import shared

    return read_frames(shared("data", "video", "grid_s2_swwp2s.mp4"), seconds=0.1)[0]


def test_short_video_is_short_time_result(client, fields):
    from tests.conftest import shared

    clip = encode_video(read_frames(shared("data", "video", "grid_s2_swwp2s.mp4"), seconds=1.5))
    body = post(client, fields(video=clip, return_status=True)).json()
    assert body["code"] == 1000 and body["passed"] is False and body["liveness_status"] == "short_time"
    assert "verification_score" not in body


def test_status_absent_unless_asked(client, fields):
    assert "liveness_status" not in post(client, fields(return_status=False)).json()


# ---- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["encrypted_video", "encrypted_image"])
def test_missing_field_is_1200(client, fields, missing):
    f = fields()
    del f[missing]
    assert missing in assert_error(post(client, f), 1200, 400)["message"]


@pytest.mark.parametrize("value", ["yes", "2", "", "truee"])
def test_bad_boolean_is_1200(client, fields, value):
    assert_error(post(client, fields(return_status=value)), 1200, 400)


def test_bad_base64_and_wrong_key_are_1200(client, fields):
    assert_error(post(client, {**fields(), "encrypted_video": "***not base64***"}), 1200, 400)
    body = assert_error(post(client, {**fields(), "encrypted_image": base64.b64encode(b"x" * 64).decode()}), 1200, 400)
    assert "decryption failed" in body["message"]


def test_safe_envelope_in_wrong_field_is_1200(client, fields, cipher, grid_video, grid_photo):
    f = {
        "encrypted_video": cipher.encrypt_safe(grid_photo, "encrypted_image"),
        "encrypted_image": cipher.encrypt_safe(grid_video, "encrypted_video"),
    }
    assert_error(post(client, f), 1200, 400)


def test_safe_mode_passes(client, cipher, grid_video, grid_photo):
    f = {
        "encrypted_video": cipher.encrypt_safe(grid_video, "encrypted_video"),
        "encrypted_image": cipher.encrypt_safe(grid_photo, "encrypted_image"),
    }
    assert post(client, f).json()["passed"] is True


def test_photo_pixels_out_of_range_is_2003(client, fields):
    assert_error(post(client, fields(photo=png(noise(60, 200)))), 2003, 400)
    assert_error(post(client, fields(photo=png(np.zeros((100, 4200, 3), np.uint8)))), 2003, 400)


def test_video_resolution_out_of_range_is_2003(client, fields):
    clip = encode_video([noise(160, 200, seed=i) for i in range(60)])
    assert_error(post(client, fields(video=clip)), 2003, 400)


def test_byte_sizes_out_of_range_are_2004(client, fields):
    assert_error(post(client, fields(photo=b"\xff\xd8" + b"\0" * 100)), 2004, 400)
    assert_error(post(client, fields(video=b"\0" * 200)), 2004, 400)


def test_undecodable_photo_and_video_are_2005(client, fields):
    assert_error(post(client, fields(photo=b"GIF89a" + bytes(range(256)) * 8)), 2005, 400)
    assert_error(post(client, fields(video=bytes(range(256)) * 40)), 2005, 400)


def test_photo_without_face_is_4000(client, fields):
    assert_error(post(client, fields(photo=jpeg(noise(300, 300)))), 4000, 400)


def test_video_without_face_is_4007(client, fields):
    clip = encode_video([noise(240, 320, seed=i % 3) for i in range(75)])
    assert_error(post(client, fields(video=clip)), 4007, 400)


def test_video_over_20_seconds_is_1200(client, fields):
    clip = encode_video([noise(240, 320, seed=i % 2) for i in range(21 * 5)], fps=5)
    assert "long" in assert_error(post(client, fields(video=clip)), 1200, 400)["message"]


def test_missing_content_length_is_411(client):
    def chunks():
        yield b"encrypted_video=abc"

    response = client.post(VERIFY, content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"})
    assert_error(response, 1411, 411)


def test_body_over_limit_is_413(client, settings):
    response = client.post(
        VERIFY,
        content=b"x" * (settings.max_body_bytes + 1),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_error(response, 2004, 413)


def test_unknown_path_is_404(client):
    assert_error(client.get("/nope"), 1404, 404)


def test_unexpected_fault_is_500_without_details(client, fields, service, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service.engine, "verify", boom)
    body = assert_error(post(client, fields()), 5000, 500)
    assert "secret" not in body["message"] and "Traceback" not in body["message"]


def test_health_ready_info(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    info = client.get("/info").json()
    assert {m["task"] for m in info["models"]} >= {"detection", "landmarks", "embedding"}
    assert all(m["sha256"] and m["licence"] for m in info["models"])
