"""Scale-out on loopback: real ``livematch serve`` replicas behind nginx with the shipped proxy config.

Measures requests/s for 1 and 2 replicas under a bounded, closed-loop load (every response must be a
200/1000), then stops one replica mid-run and checks that no request is lost: nginx resends refused
requests to the other replica and the stopping one finishes what it had accepted.

``LIVEMATCH_SCALEOUT_REQUESTS`` sets the requests per run (default 12, enough for the checks; the
numbers in docs/DEPLOY.md come from 60), ``LIVEMATCH_SCALEOUT_VIDEO`` and ``..._PHOTO`` the media
(paths under ../shared; default the GRID clip; ``phone-1080p`` makes a 1080p 15 s clip from it).
A JSON report is written to ``artifacts/scaleout.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests import ops
from tests.conftest import ROOT, VERIFY

PROXY_CONF = ROOT / "deploy" / "nginx" / "livematch-proxy.conf"
REQUESTS = int(os.environ.get("LIVEMATCH_SCALEOUT_REQUESTS", "12"))
MEDIA = {
    "video": os.environ.get("LIVEMATCH_SCALEOUT_VIDEO", "data/video/grid_s2_swwp2s.mp4"),
    "photo": os.environ.get("LIVEMATCH_SCALEOUT_PHOTO", "data/video/grid_s2_swwp2s_frame.jpg"),
}
CONCURRENCY = 4  # bounded: below one replica's capacity (workers + queue), so nothing is shed


def nginx_binary() -> str:
    """nginx from Debian; CI installs it (.ci/run), elsewhere the test is skipped without it."""
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (apt-get install -y nginx)")
        pytest.skip("nginx is not installed (apt-get install -y nginx)")
    return found


@contextmanager
def nginx(tmp: Path, backends: list[ops.Replica]) -> Iterator[str]:
    """nginx on a free port proxying to ``backends`` with deploy/nginx/livematch-proxy.conf."""
    port = ops.free_port()
    servers = "\n".join(f"    server 127.0.0.1:{b.port} max_fails=1 fail_timeout=10s;" for b in backends)
    temp = "\n".join(
        f"  {kind}_temp_path {tmp}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;" if os.geteuid() == 0 else ""  # workers keep access to the test's private temp dir
    conf = tmp / f"nginx-{port}.conf"
    conf.write_text(
        f"""{user}
worker_processes 1;
pid {tmp}/nginx-{port}.pid;
error_log {tmp}/nginx-{port}-error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
{temp}
  upstream livematch {{
{servers}
    keepalive 16;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ include {PROXY_CONF}; }}
  }}
}}
"""
    )
    process = subprocess.Popen([nginx_binary(), "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"])
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_proxy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_proxy(url: str, process: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "nginx exited"
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("nginx did not answer")


def summary(load: ops.Load, cpu_seconds: float | None = None) -> dict[str, float]:
    """Client-side numbers plus the replicas' CPU per answered request (robust to a busy machine)."""
    numbers = {
        "requests": len(load.outcomes),
        "ok": load.ok,
        "errors": len(load.errors),
        "seconds": round(load.seconds, 2),
        "requests_per_s": round(load.rps, 3),
        "p50_s": round(load.latency(0.5), 3),
        "p95_s": round(load.latency(0.95), 3),
    }
    if cpu_seconds is not None:
        numbers["replica_cpu_s_per_request"] = round(cpu_seconds / max(1, load.ok), 3)
    return numbers


def test_replicas_behind_nginx_scale_and_survive_one_stopping(tmp_path):
    nginx_binary()
    env = ops.key_env()
    media = dict(MEDIA)
    if media["video"] == "phone-1080p":
        media["video"] = str(ops.phone_sized_clip(tmp_path))
    body = ops.verify_body(env, **media)
    report: dict[str, object] = {
        **media,
        "concurrency": CONCURRENCY,
        "requests_per_run": REQUESTS,
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg()[0],
    }
    with ops.replicas(tmp_path, env, 2, shutdown_drain_seconds="1") as (first, second):
        with nginx(tmp_path, [first]) as url:
            ops.run_load(url, body, concurrency=2, requests=2)  # first requests pay one-off costs
            cpu = first.cpu_seconds()
            one = ops.run_load(url, body, concurrency=CONCURRENCY, requests=REQUESTS)
            cpu_one = first.cpu_seconds() - cpu
            scrape = ops.samples(httpx.get(first.url + "/metrics", timeout=5).text)  # what Prometheus reads
            answered = ops.value(scrape, "livematch_requests_total", code="1000", route=VERIFY, status="200")
            assert answered == REQUESTS + 2
            assert ops.value(scrape, "livematch_stage_duration_seconds_count", stage="video_decode") == REQUESTS + 2
        with nginx(tmp_path, [first, second]) as url:
            ops.run_load(url, body, concurrency=2, requests=2)
            cpu = first.cpu_seconds() + second.cpu_seconds()
            two = ops.run_load(url, body, concurrency=CONCURRENCY, requests=REQUESTS)
            cpu_two = first.cpu_seconds() + second.cpu_seconds() - cpu
            stopped = _load_while_stopping(url, body, second)
        report["replica_rss_mb"] = first.rss_mb()
    report["load_average_after"] = os.getloadavg()[0]
    report.update(one_replica=summary(one, cpu_one), two_replicas=summary(two, cpu_two), one_stopped=summary(stopped))
    out = ROOT / "artifacts" / "scaleout.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))

    for name, load in (("1 replica", one), ("2 replicas", two), ("1 of 2 stopped", stopped)):
        assert not load.errors, (name, load.errors)
        assert len(load.outcomes) == REQUESTS, name
    assert second.process.returncode == 0  # the stopped replica drained and exited cleanly
    assert second.verify_lines(), "the second replica never took traffic"


def _load_while_stopping(url: str, body: bytes, victim: ops.Replica) -> ops.Load:
    """Run a load and SIGTERM ``victim`` once a third of the requests have been answered."""
    result: dict[str, ops.Load] = {}
    runner = threading.Thread(
        target=lambda: result.setdefault("load", ops.run_load(url, body, concurrency=CONCURRENCY, requests=REQUESTS))
    )
    runner.start()
    before = len(victim.verify_lines())
    while runner.is_alive() and len(victim.verify_lines()) - before < max(1, REQUESTS // 6):
        time.sleep(0.05)
    victim.terminate()
    runner.join(timeout=300)
    victim.process.wait(timeout=60)
    return result["load"]
