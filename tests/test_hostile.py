"""The hostile-input corpus: every case is generated here and answers one documented code and status.

The table in docs/API.md ("Hostile input") lists the same cases; a case that changes its answer is a
contract change. Media cases wrap the hostile file in otherwise valid, correctly encrypted fields.
"""

from __future__ import annotations

import base64
import json
import resource
import threading
import time

import numpy as np
import psutil
import pytest
from fastapi.testclient import TestClient

from livematch.api.app import create_app
from livematch.api.service import Service
from tests import hostile
from tests.conftest import VERIFY, shared
from tests.media import encode_video, noise, read_frames


def multipart(client, fields: dict[str, object]):
    return client.post(VERIFY, files=[(k, (None, v)) for k, v in fields.items()])


def assert_error(response, code: int, status: int) -> dict:
    body = response.json()
    assert (response.status_code, body.get("code")) == (status, code), body
    assert set(body) == {"code", "message", "request_id"} and body["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


@pytest.fixture(scope="module")
def grid_frame() -> np.ndarray:
    return read_frames(shared("data", "video", "grid_s2_swwp2s.mp4"), seconds=0.1)[0]


@pytest.fixture(scope="module")
def media(grid_video: bytes, grid_photo: bytes, grid_frame: np.ndarray) -> dict[str, tuple[str, bytes, int, int]]:
    """name -> (field it goes in, decrypted bytes, expected code, expected HTTP status)."""
    jpeg_magic_broken = b"\0" * 16 + grid_photo[16:]
    mp4_magic_broken = b"\0" * 16 + grid_video[16:]
    return {
        "photo_empty": ("photo", b"", 2004, 400),
        "photo_tiny": ("photo", grid_photo[:500], 2004, 400),
        "photo_truncated": ("photo", grid_photo[: len(grid_photo) // 2], 2005, 400),
        "photo_wrong_magic": ("photo", jpeg_magic_broken, 2005, 400),
        "photo_png_5000x5000": ("photo", hostile.png_bomb(5000, 5000), 2003, 400),
        "photo_png_bomb_100000x100000": ("photo", hostile.png_bomb(100_000, 100_000), 2003, 400),
        "photo_jpeg_bomb_10000x10000": ("photo", hostile.jpeg_bomb(10_000, 10_000), 2003, 400),
        "photo_jpeg_bomb_65535x65535": ("photo", hostile.jpeg_bomb(65_535, 65_535), 2003, 400),
        "photo_is_a_video": ("photo", grid_video, 2005, 400),
        "photo_over_5MB": ("photo", grid_photo + b"\0" * (5 * 1024 * 1024), 2004, 400),
        "video_empty": ("video", b"", 2004, 400),
        "video_truncated_to_header": ("video", grid_video[:2000], 2005, 400),
        "video_wrong_magic": ("video", mp4_magic_broken, 2005, 400),
        "video_is_a_jpeg": ("video", grid_photo, 2005, 400),
        "video_is_an_animated_gif": ("video", hostile.animated_gif(grid_frame, 3000), 2005, 400),
        "video_unknown_codec": ("video", hostile.unknown_codec(grid_video), 2005, 400),
        "video_audio_only": ("video", hostile.audio_only_mp4(), 2005, 400),
        "video_claims_3_hours": ("video", hostile.video_from_packets(320, 240, 50, seconds=3 * 3600), 1200, 400),
        "video_300k_frames_in_15s": ("video", hostile.video_from_packets(320, 240, 300_000, seconds=15), 1200, 400),
        "video_50k_frames_mkv_no_count": (
            "video",
            hostile.video_from_packets(320, 240, 50_000, seconds=15, fmt="matroska"),
            1200,
            400,
        ),
        "video_pixel_budget_mkv_no_count": (
            "video",
            hostile.video_from_packets(2048, 2048, 400, seconds=15, fmt="matroska"),
            2003,
            400,
        ),
        "video_4096px_pixel_budget": ("video", hostile.video_from_packets(4096, 4096, 900, seconds=15), 2003, 400),
        "video_2x2_pixels": ("video", hostile.video_from_packets(2, 2, 1000, seconds=5), 2003, 400),
        "video_over_20MB": ("video", grid_video + b"\0" * (20 * 1024 * 1024), 2004, 400),
    }


def media_fields(fields, case: tuple[str, bytes, int, int]) -> dict[str, object]:
    where, data, _, _ = case
    return fields(photo=data) if where == "photo" else fields(video=data)


MEDIA_CASES = [
    "photo_empty",
    "photo_tiny",
    "photo_truncated",
    "photo_wrong_magic",
    "photo_png_5000x5000",
    "photo_png_bomb_100000x100000",
    "photo_jpeg_bomb_10000x10000",
    "photo_jpeg_bomb_65535x65535",
    "photo_is_a_video",
    "photo_over_5MB",
    "video_empty",
    "video_truncated_to_header",
    "video_wrong_magic",
    "video_is_a_jpeg",
    "video_is_an_animated_gif",
    "video_unknown_codec",
    "video_audio_only",
    "video_claims_3_hours",
    "video_300k_frames_in_15s",
    "video_50k_frames_mkv_no_count",
    "video_pixel_budget_mkv_no_count",
    "video_4096px_pixel_budget",
    "video_2x2_pixels",
    "video_over_20MB",
]


@pytest.mark.parametrize("name", MEDIA_CASES)
def test_hostile_media(client, fields, media, name):
    started = time.perf_counter()
    _, _, code, status = media[name]
    assert_error(multipart(client, media_fields(fields, media[name])), code, status)
    assert time.perf_counter() - started < 15, "a hostile file must be refused quickly"


def test_animated_gif_photo_uses_its_first_frame_only(client, fields, grid_frame):
    gif = hostile.animated_gif(grid_frame, 5000)
    started = time.perf_counter()
    body = multipart(client, fields(photo=gif)).json()
    assert body["code"] == 1000 and body["passed"] is True, body
    assert time.perf_counter() - started < 10


def test_video_cut_part_way_is_verified_on_what_remains(client, fields, grid_video):
    body = multipart(client, fields(video=grid_video[: len(grid_video) // 2], return_status="true")).json()
    assert body["code"] == 1000 and body["passed"] is False and body["liveness_status"] == "short_time", body


# ---- encoding and encryption ------------------------------------------------------------------


def test_base64_line_breaks_url_safe_alphabet_and_missing_padding_are_accepted(client, fields):
    f = fields()
    video, photo = f["encrypted_video"], f["encrypted_image"]
    wrapped = "\r\n".join(video[i : i + 76] for i in range(0, len(video), 76))
    url_safe = photo.replace("+", "-").replace("/", "_").rstrip("=")
    body = multipart(client, {"encrypted_video": wrapped, "encrypted_image": url_safe}).json()
    assert body["code"] == 1000 and body["passed"] is True, body


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda s: s[:8] + "=" + s[8:], id="padding-in-the-middle"),
        pytest.param(lambda s: s[:-4] + "A===", id="three-padding-characters"),
        pytest.param(lambda s: s[:-1] + "*", id="character-outside-both-alphabets"),
        pytest.param(lambda s: "é" + s, id="non-ascii"),
        pytest.param(lambda s: s + "A", id="length-1-mod-4"),
    ],
)
def test_broken_base64_is_1200(client, fields, mangle):
    f = fields()
    f["encrypted_image"] = mangle(f["encrypted_image"])
    assert_error(multipart(client, f), 1200, 400)


def _flip(text: str, bit: int) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[bit // 8] ^= 1 << (bit % 8)
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("where", ["first-byte", "middle", "tag"])
def test_one_flipped_ciphertext_bit_is_1200(client, fields, where):
    f = fields()
    size = len(base64.b64decode(f["encrypted_image"])) * 8
    bit = {"first-byte": 3, "middle": size // 2, "tag": size - 5}[where]
    f["encrypted_image"] = _flip(f["encrypted_image"], bit)
    assert "decryption failed" in assert_error(multipart(client, f), 1200, 400)["message"]


def test_truncated_tag_is_1200(client, fields):
    f = fields()
    raw = base64.b64decode(f["encrypted_video"])
    f["encrypted_video"] = base64.b64encode(raw[:-4]).decode()
    assert_error(multipart(client, f), 1200, 400)


def test_wrong_key_and_envelopes_in_the_wrong_field_are_1200(client, fields, grid_video, grid_photo, cipher):
    from livematch.crypto import FieldCipher

    other = FieldCipher("k" * 32, "i" * 12)
    wrong_key = {
        "encrypted_video": other.encrypt_compat(grid_video),
        "encrypted_image": other.encrypt_compat(grid_photo),
    }
    assert_error(multipart(client, wrong_key), 1200, 400)
    swapped = {
        "encrypted_video": cipher.encrypt_safe(grid_video, "encrypted_image"),
        "encrypted_image": cipher.encrypt_safe(grid_photo, "encrypted_image"),
    }
    assert "encrypted_video" in assert_error(multipart(client, swapped), 1200, 400)["message"]


# ---- fields and bodies ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "no", "on", "off", "t", "2", "-1", "", "true\0"])
def test_boolean_words_other_than_true_false_1_0_are_1200(client, fields, value):
    assert "return_status" in assert_error(multipart(client, fields(return_status=value)), 1200, 400)["message"]


@pytest.mark.parametrize("value", [1, 0, None, [], {}, "yes"])
def test_json_booleans_must_be_booleans_or_the_four_strings(client, fields, value):
    body = json.dumps(fields(return_image=value))
    response = client.post(VERIFY, content=body, headers={"content-type": "application/json"})
    assert_error(response, 1200, 400)


@pytest.mark.parametrize("kind", ["multipart", "urlencoded", "json"])
def test_duplicate_fields_are_1200(client, fields, kind):
    f = fields()
    if kind == "multipart":
        parts = [(k, (None, v)) for k, v in f.items()] + [("encrypted_image", (None, f["encrypted_image"]))]
        response = client.post(VERIFY, files=parts)
    elif kind == "urlencoded":
        response = client.post(
            VERIFY,
            content="&".join(f"{k}={v}" for k, v in [*f.items(), ("return_status", "true"), ("return_status", "1")]),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    else:
        text = json.dumps(f)[:-1] + ', "encrypted_video": "AAAA"}'
        response = client.post(VERIFY, content=text, headers={"content-type": "application/json"})
    assert "more than once" in assert_error(response, 1200, 400)["message"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("[" * 200_000 + "]" * 200_000, id="deep-array"),
        pytest.param('{"encrypted_video": ' + "{" * 100_000 + "}" * 100_000 + "}", id="deep-object-in-field"),
        pytest.param('{"encrypted_video": ' + '{"a":' * 50_000 + "1" + "}" * 50_001, id="deep-object-keys"),
        pytest.param("[1, 2, 3]", id="array-not-object"),
        pytest.param('{"encrypted_video": "AAAA",', id="truncated-json"),
        pytest.param(b'{"encrypted_video": "\xff\xfe"}', id="invalid-utf8"),
        pytest.param('{"encrypted_video": 12, "encrypted_image": true}', id="numbers-for-strings"),
    ],
)
def test_malformed_json_is_1200(client, body):
    response = client.post(VERIFY, content=body, headers={"content-type": "application/json"})
    assert_error(response, 1200, 400)


@pytest.mark.parametrize(
    "headers,content",
    [
        pytest.param({"content-type": "text/plain"}, b"encrypted_video=x", id="unsupported-content-type"),
        pytest.param({}, b"encrypted_video=x", id="no-content-type"),
        pytest.param({"content-type": "multipart/form-data"}, b"--x\r\n", id="multipart-without-boundary"),
        pytest.param({"content-type": "multipart/form-data; boundary=x"}, b"--x\r\ngarbage", id="broken-multipart"),
        pytest.param({"content-type": "application/x-www-form-urlencoded"}, b"&".join([b"a=1"] * 100), id="100-fields"),
    ],
)
def test_malformed_bodies_are_1200(client, headers, content):
    assert_error(client.post(VERIFY, content=content, headers=headers), 1200, 400)


def test_too_many_multipart_files_is_1200(client):
    files = [(f"f{i}", (f"f{i}.bin", b"x")) for i in range(20)]
    assert_error(client.post(VERIFY, files=files), 1200, 400)


def test_body_over_limit_is_413_from_the_header_alone(client, settings):
    # The declared length is refused before any byte of the body is read.
    response = client.post(
        VERIFY,
        content=b"{}",
        headers={"content-type": "application/json", "content-length": str(settings.max_body_bytes + 1)},
    )
    assert_error(response, 2004, 413)


def test_body_without_content_length_is_411(client):
    def chunks():
        yield b'{"encrypted_video": "AAAA"}'

    response = client.post(VERIFY, content=chunks(), headers={"content-type": "application/json"})
    assert_error(response, 1411, 411)


def test_bad_content_length_is_1200(client):
    response = client.post(VERIFY, content=b"{}", headers={"content-type": "application/json", "content-length": "-5"})
    assert_error(response, 1200, 400)


# ---- overload and deadline --------------------------------------------------------------------


class _SlowService(Service):
    """Blocks in the worker until released, to fill the pool deterministically."""

    def __init__(self, base: Service, seconds: float) -> None:
        self.settings, self.engine, self.cipher = base.settings, base.engine, base.cipher
        self.seconds = seconds
        self.calls = 0
        self.release = threading.Event()

    def handle_fields(self, fields, request_id=None, outcome=None):
        self.calls += 1
        self.release.wait(self.seconds)
        return 200, {"code": 1000, "passed": False, "liveness_score": 0.0, "request_id": request_id}


def test_full_queue_answers_503_1503_with_retry_after(settings, service):
    slow = _SlowService(service, seconds=10)
    app = create_app(settings.model_copy(update={"workers": 1, "queue_size": 1}), slow)
    with TestClient(app, raise_server_exceptions=False) as c:
        send = lambda: c.post(VERIFY, json={"encrypted_video": "A", "encrypted_image": "A"})  # noqa: E731
        threads = [threading.Thread(target=send) for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 5
        while app.state.livematch.in_flight < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        response = send()

        def chunks():
            yield b"{}"

        # Refused before the body is read: no 411 for the missing Content-Length, no 413.
        unread = c.post(VERIFY, content=chunks(), headers={"content-type": "application/json"})
        slow.release.set()
        for t in threads:
            t.join()
    assert_error(response, 1503, 503)
    assert response.headers["retry-after"] == "1"
    assert_error(unread, 1503, 503)


def test_deadline_answers_503_1504_and_keeps_the_slot_until_the_work_ends(settings, service):
    slow = _SlowService(service, seconds=1.5)
    app = create_app(settings.model_copy(update={"workers": 1, "queue_size": 0, "deadline_seconds": 0.3}), slow)
    with TestClient(app, raise_server_exceptions=False) as c:
        send = lambda: c.post(VERIFY, json={"encrypted_video": "A", "encrypted_image": "A"})  # noqa: E731
        assert_error(send(), 1504, 503)
        assert_error(send(), 1503, 503)  # the timed-out work still runs: no second request is admitted
        time.sleep(1.5)
        slow.release.set()
        assert send().status_code == 200


def test_work_that_expired_in_the_queue_is_skipped(settings, service):
    slow = _SlowService(service, seconds=1.0)
    app = create_app(settings.model_copy(update={"workers": 1, "queue_size": 2, "deadline_seconds": 0.3}), slow)
    with TestClient(app, raise_server_exceptions=False) as c:
        send = lambda: c.post(VERIFY, json={"encrypted_video": "A", "encrypted_image": "A"})  # noqa: E731
        threads = [threading.Thread(target=send) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        deadline = time.monotonic() + 5
        while app.state.livematch.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
    assert slow.calls == 1  # the two queued requests were answered 1504 and never ran


# ---- memory -----------------------------------------------------------------------------------


def test_memory_stays_bounded_over_repeated_corpus_runs(client, fields, media):
    """RSS after a second pass over the corpus stays within 80 MB of the first pass."""
    process = psutil.Process()

    def run_corpus() -> None:
        for name in MEDIA_CASES:
            case = media[name]
            assert multipart(client, media_fields(fields, case)).status_code == case[3]

    run_corpus()
    first = process.memory_info().rss
    run_corpus()
    growth = (process.memory_info().rss - first) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rss after pass 1: {first / 2**20:.0f} MB, growth over a second pass: {growth:.0f} MB, peak {peak:.0f} MB")
    assert growth < 80, growth


@pytest.mark.slow
@pytest.mark.parametrize("size", [(320, 240), (2, 2)])
def test_a_million_frames(client, fields, settings, size):
    """A million frames: over 20 MB at 320x240 (2004), 2x2 pixels refused from the header (2003).

    The 320x240 file (~56 MB) is also over the 40 MB request-body limit, so it is refused from
    Content-Length with 413 before any field is read, as docs/API.md's error table says.
    """
    clip = hostile.video_from_packets(*size, 1_000_000, seconds=15)
    code = 2004 if len(clip) > 20 * 1024 * 1024 else 2003
    status = 413 if len(clip) > settings.max_body_bytes else 400
    assert_error(multipart(client, fields(video=clip)), code, status)
    assert code == (2004 if size[0] > 2 else 2003)


def test_valid_request_still_passes_after_the_corpus(client, fields):
    body = multipart(client, fields()).json()
    assert body["code"] == 1000 and body["passed"] is True, body


def test_video_of_noise_at_the_frame_cap_is_processed(client, fields):
    # Exactly at the limits (20 s, 900 frames would be fine): 100 frames of 240p noise -> no face, 4007.
    clip = encode_video([noise(240, 320, seed=i % 4) for i in range(100)], fps=25)
    assert_error(multipart(client, fields(video=clip)), 4007, 400)
