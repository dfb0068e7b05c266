"""The /demo routes in process: who may see them, the assets' headers, and the verify route's body."""

from __future__ import annotations

import io

import av
import pytest
from fastapi.testclient import TestClient

from livematch.api.app import create_app
from livematch.media import decode_video
from tests.conftest import VERIFY, shared
from tests.media import jpeg, noise, read_frames

LOOPBACK = {"base_url": "http://127.0.0.1:8000", "client": ("127.0.0.1", 50000)}
REMOTE = {"base_url": "http://203.0.113.5:8000", "client": ("203.0.113.7", 50000)}


def demo_client(settings, service, demo: bool | None = None, **where) -> TestClient:
    app = create_app(settings.model_copy(update={"demo": demo}), service)
    return TestClient(app, raise_server_exceptions=False, **where)


@pytest.mark.parametrize(
    ("demo", "where", "headers", "status"),
    [
        (None, LOOPBACK, {}, 200),
        (None, LOOPBACK, {"host": "localhost:8000"}, 200),
        (None, {**LOOPBACK, "client": ("::1", 50000)}, {"host": "[::1]:8000"}, 200),
        (None, REMOTE, {}, 404),  # bound to 0.0.0.0, reached from another machine
        (None, LOOPBACK, {"host": "demo.example.com"}, 404),  # a local reverse proxy, or DNS rebinding
        (None, LOOPBACK, {"x-forwarded-for": "198.51.100.9"}, 404),  # a local proxy that keeps a loopback Host
        (True, REMOTE, {}, 200),
        (False, LOOPBACK, {}, 404),
    ],
)
def test_demo_is_loopback_only_unless_configured(settings, service, demo, where, headers, status):
    with demo_client(settings, service, demo, **where) as c:
        for path in ("/demo", "/demo/app.js", "/demo/app.css"):
            response = c.get(path, headers=headers)
            assert response.status_code == status, path
        if status == 404:
            assert response.json()["code"] == 1404
            assert c.post("/demo/verify", headers=headers, files={"x": b"y"}).json()["code"] == 1404


def test_page_and_assets_are_served_with_a_strict_policy(settings, service):
    with demo_client(settings, service, **LOOPBACK) as c:
        page = c.get("/demo")
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert 'src="demo/app.js"' in page.text and "http" not in page.text.split("<body>")[0]  # no CDN
        assert c.get("/demo/app.js").headers["content-type"].startswith("text/javascript")
        assert c.get("/demo/index.html").status_code == 404  # only the named assets


def test_demo_verify_returns_the_evidence_and_the_images(settings, service, grid_video, grid_photo):
    with demo_client(settings, service, **LOOPBACK) as c:
        response = c.post("/demo/verify", files={"video_file": grid_video, "image_file": grid_photo})
        body = response.json()
        assert response.status_code == 200, body
        assert body["code"] == 1000 and body["passed"] is True and body["liveness_status"] == "ok"
        assert body["verification_score"] >= 0.7
        assert body["base64_image"] and body["base64_face_image"]
        assert {e["name"] for e in body["evidence"]} >= {"nonrigid_motion", "pixel_change", "continuity"}
        assert all(set(e) == {"name", "live", "value", "decisive"} for e in body["evidence"])
        counted = [e["live"] for e in body["evidence"] if e["decisive"]]
        assert min(counted) == pytest.approx(body["liveness_score"], abs=1e-3)


def test_demo_verify_errors_use_the_api_codes(settings, service, grid_video):
    with demo_client(settings, service, **LOOPBACK) as c:
        no_face = c.post("/demo/verify", files={"video_file": grid_video, "image_file": jpeg(noise(300, 300))})
        assert no_face.status_code == 400 and no_face.json()["code"] == 4000
        missing = c.post("/demo/verify", files={"video_file": grid_video})
        assert missing.status_code == 400 and missing.json()["code"] == 1200


def streamed_webm(frames, fps: int = 25) -> bytes:
    """VP8 WebM written as a live stream, like a browser's MediaRecorder: no duration in the header."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="webm", options={"live": "1"}) as out:
        stream = out.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for bgr in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(bgr, format="bgr24")))
        out.mux(stream.encode(None))
    return buf.getvalue()


def test_a_webm_without_duration_is_sampled_over_the_whole_clip(settings, service, grid_photo):
    video = streamed_webm(read_frames(shared("data", "video", "grid_s2_swwp2s.mp4")))
    with av.open(io.BytesIO(video)) as container:
        assert container.duration is None and container.streams.video[0].duration is None
    clip = decode_video(video, settings)
    assert len(clip.frames) == settings.video_sample_frames and clip.frames[-1].timestamp > 2.5
    with demo_client(settings, service, **LOOPBACK) as c:
        body = c.post("/demo/verify", files={"video_file": video, "image_file": grid_photo}).json()
    assert body["passed"] is True and body["verification_score"] >= 0.7, body


def test_the_senseid_endpoint_does_not_return_the_evidence(client, fields):
    body = client.post(VERIFY, files={k: (None, v) for k, v in fields(return_status="true").items()}).json()
    assert body["code"] == 1000 and "evidence" not in body
