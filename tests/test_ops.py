"""Operating the service: /metrics, the per-request log line, and graceful shutdown of a real process."""

from __future__ import annotations

import json
import logging
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from livematch.api.app import create_app
from livematch.logs import JsonFormatter, TextFormatter
from tests import ops
from tests.conftest import VERIFY, shared
from tests.media import read_frames, still_video
from tests.ops import samples, value


@pytest.fixture
def own_client(settings, service):
    """A fresh app (own metrics registry) around the session's loaded service."""
    with TestClient(create_app(settings, service), raise_server_exceptions=False) as c:
        yield c


def test_metrics_change_as_requests_arrive_and_carry_no_request_data(own_client, fields, caplog):
    before = samples(own_client.get("/metrics").text)
    sent = fields()
    with caplog.at_level(logging.INFO, logger="livematch.request"):
        ok = own_client.post(VERIFY, data=sent)
        bad = own_client.post(VERIFY, data={"encrypted_image": sent["encrypted_image"]})
    assert ok.json()["code"] == 1000 and bad.json()["code"] == 1200
    text = own_client.get("/metrics").text
    after = samples(text)

    route = {"route": VERIFY}
    assert value(after, "livematch_requests_total", code="1000", status="200", **route) == 1 + value(
        before, "livematch_requests_total", code="1000", status="200", **route
    )
    assert value(after, "livematch_requests_total", code="1200", status="400", **route) == 1
    assert value(after, "livematch_request_duration_seconds_count", **route) == 2
    assert value(after, "livematch_liveness_decisions_total", status="ok") == 1
    for stage in ("video_decode", "detection", "landmarks", "liveness", "embedding"):
        assert value(after, "livematch_stage_duration_seconds_count", stage=stage) == 1, stage
        assert value(after, "livematch_stage_duration_seconds_sum", stage=stage) > 0, stage
    assert value(after, "livematch_model_load_seconds") > 0
    assert value(after, "livematch_ready") == 1
    assert value(after, "livematch_in_flight") == 0
    assert {dict(k[1])["name"] for k in after if k[0] == "livematch_model_info"} >= {"yunet-2023mar-int8bq"}
    assert any(k[0] == "livematch_build_info" for k in after)
    assert any(k[0] == "process_resident_memory_bytes" for k in after)
    # Labels are server-chosen: no request ids, no client address, no field content.
    for response in (ok, bad):
        assert response.headers["x-request-id"] not in text
    assert "testclient" not in text and sent["encrypted_image"][:32] not in text

    lines = [r for r in caplog.records if r.name == "livematch.request" and r.getMessage() == "request"]
    assert [r.request_id for r in lines] == [ok.headers["x-request-id"], bad.headers["x-request-id"]]
    good = lines[0]
    assert good.status == 200 and good.code == 1000 and good.passed is True and good.liveness_status == "ok"
    assert good.stages_ms["detection"] > 0
    assert good.inputs["video"]["codec"] == "h264" and good.inputs["photo"]["format"] == "JPEG"
    assert lines[1].code == 1200 and "passed" not in lines[1].__dict__
    rendered = JsonFormatter().format(good)
    assert json.loads(rendered)["request_id"] == ok.headers["x-request-id"]
    assert sent["encrypted_video"][:32] not in rendered and sent["encrypted_image"][:32] not in rendered


def test_a_hack_is_counted_and_logged_by_the_cue_that_rejected_it(own_client, fields, caplog):
    """Operators see which cue turns videos away (a name from a fixed set, never a value)."""
    frame = read_frames(shared("data", "video", "grid_s2_swwp2s.mp4"), seconds=0.1)[0]
    with caplog.at_level(logging.INFO, logger="livematch.request"):
        body = own_client.post(VERIFY, data=fields(video=still_video(frame), return_status=True)).json()
        own_client.post(VERIFY, data=fields())
    assert body["liveness_status"] == "hack"
    hack, ok = (r for r in caplog.records if r.name == "livematch.request" and r.getMessage() == "request")
    assert hack.liveness_rejected_by in {"nonrigid_motion", "pixel_change"}
    assert "liveness_rejected_by" not in ok.__dict__
    after = samples(own_client.get("/metrics").text)
    assert value(after, "livematch_liveness_rejected_by_total", cue=hack.liveness_rejected_by) == 1
    assert sum(v for k, v in after.items() if k[0] == "livematch_liveness_rejected_by_total") == 1


def test_unknown_paths_share_one_label(own_client):
    for path in ("/a", "/b/c", "/d?x=1"):
        assert own_client.get(path).status_code == 404
    after = samples(own_client.get("/metrics").text)
    assert value(after, "livematch_requests_total", route="other", code="1404", status="404") == 3
    assert not any("/b/c" in str(k) for k in after)


class _BlockedService:
    """Holds every verification until released, to fill the queue deterministically."""

    def __init__(self, base) -> None:
        self.settings, self.engine, self.cipher = base.settings, base.engine, base.cipher
        self.release = threading.Event()

    def handle_fields(self, fields, request_id=None, outcome=None):
        self.release.wait(10)
        return 200, {"code": 1000, "passed": False, "liveness_score": 0.0, "request_id": request_id}


def test_rejections_and_in_flight_are_counted(settings, service):
    blocked = _BlockedService(service)
    app = create_app(settings.model_copy(update={"workers": 1, "queue_size": 0, "deadline_seconds": 0.3}), blocked)
    with TestClient(app, raise_server_exceptions=False) as c:
        send = lambda: c.post(VERIFY, json={"encrypted_video": "A", "encrypted_image": "A"})  # noqa: E731
        assert send().json()["code"] == 1504  # deadline; the work keeps its worker
        assert send().json()["code"] == 1503  # no slot left
        during = samples(c.get("/metrics").text)
        blocked.release.set()
    assert value(during, "livematch_rejections_total", reason="deadline") == 1
    assert value(during, "livematch_rejections_total", reason="queue_full") == 1
    assert value(during, "livematch_in_flight") == 1 and value(during, "livematch_queue_depth") == 0
    assert value(during, "livematch_requests_total", route=VERIFY, code="1503", status="503") == 1


class _BrokenService(_BlockedService):
    def handle_fields(self, fields, request_id=None, outcome=None):
        raise RuntimeError("a bug outside the engine's own error handling")


def test_an_unexpected_fault_still_gets_its_log_line_and_count(settings, service, caplog):
    app = create_app(settings, _BrokenService(service))
    with TestClient(app, raise_server_exceptions=False) as c, caplog.at_level(logging.INFO, "livematch.request"):
        response = c.post(VERIFY, json={"encrypted_video": "A", "encrypted_image": "A"})
        scrape = samples(c.get("/metrics").text)
    assert response.status_code == 500 and response.json()["code"] == 5000
    lines = [r for r in caplog.records if r.getMessage() == "request" and r.route == VERIFY]
    assert len(lines) == 1 and lines[0].code == 5000 and lines[0].status == 500
    assert value(scrape, "livematch_requests_total", route=VERIFY, code="5000", status="500") == 1


def test_probes_log_at_debug_and_errors_at_info_or_above(own_client, caplog):
    with caplog.at_level(logging.DEBUG, logger="livematch.request"):
        own_client.get("/readyz")
        own_client.get("/metrics")
        own_client.get("/nope")
    levels = {r.route: r.levelno for r in caplog.records if r.getMessage() == "request"}
    assert levels == {"/readyz": logging.DEBUG, "/metrics": logging.DEBUG, "other": logging.INFO}


def test_text_format_flattens_fields():
    record = logging.LogRecord("livematch.request", logging.INFO, "", 0, "request", (), None)
    record.request_id, record.stages_ms = "abc", {"detection": 12.5}
    line = TextFormatter().format(record)
    assert "INFO livematch.request request" in line and "request_id=abc" in line and "stages_ms.detection=12.5" in line


def test_sigterm_drains_then_finishes_in_flight_requests_and_exits_zero(tmp_path):
    env = ops.key_env()
    body = ops.verify_body(env)
    replica = ops.start(tmp_path, env, workers=1, shutdown_drain_seconds="3", shutdown_grace_seconds="20")
    try:
        ops.wait_ready(replica)
        outcomes: list[ops.Outcome] = []
        clients = [threading.Thread(target=lambda: outcomes.append(ops.send(replica.url, body))) for _ in range(3)]
        for c in clients:
            c.start()
        _wait_in_flight(replica, 2)

        replica.terminate()
        time.sleep(0.3)
        assert httpx.get(replica.url + "/readyz", timeout=5).status_code == 503  # not-ready first...
        during_drain = ops.send(replica.url, body)  # ...but still serving what the balancer sends
        for c in clients:
            c.join(timeout=30)
        assert replica.process.wait(timeout=30) == 0
    finally:
        if replica.process.poll() is None:
            replica.process.kill()

    assert [(o.status, o.code) for o in outcomes] == [(200, 1000)] * 3
    assert (during_drain.status, during_drain.code) == (200, 1000)
    with pytest.raises(httpx.TransportError):
        httpx.get(replica.url + "/healthz", timeout=2)
    lines = replica.log_lines()
    assert any(line["msg"] == "SIGTERM: not ready, draining" for line in lines)
    verifies = [line for line in lines if line.get("route") == VERIFY]
    assert len(verifies) == 4 and all(line["code"] == 1000 and line["passed"] for line in verifies)
    assert all(len(line["request_id"]) == 32 for line in verifies)
    assert json.loads(body)["encrypted_video"][:32] not in replica.log_path.read_text()


def _wait_in_flight(replica: ops.Replica, at_least: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scrape = samples(httpx.get(replica.url + "/metrics", timeout=5).text)
        if value(scrape, "livematch_in_flight") >= at_least:
            return
        time.sleep(0.05)
    raise AssertionError(f"never saw {at_least} requests in flight")
