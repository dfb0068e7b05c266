"""Bounded load on a real ``livematch serve`` process over loopback (scripts/loadtest.py).

The default run is short (50 clients for 20 s, signed requests, valid and hostile mixed); the
5-minute run is marked slow. While the server is up, ``livematch verify --url --sign`` and the
Python client talk to it too: signing, upload and remote verification end to end over real HTTP.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from livematch.client import Client
from tests.conftest import SHARED, shared

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import loadtest  # noqa: E402

SIGN = "loadtest:0123456789abcdef0123456789abcdef"


def remote_checks(base: str, env: dict) -> dict:
    """The CLI and the client against the running server (signing on, upload off by default)."""
    photo = shared("data", "video", "grid_s2_swwp2s_frame.jpg")
    video = shared("data", "video", "grid_s2_swwp2s.mp4")
    cli = subprocess.run(
        [sys.executable, "-m", "livematch", "verify", str(photo), str(video), "--url", base, "--sign", SIGN],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/tmp",
    )
    unsigned = subprocess.run(
        [sys.executable, "-m", "livematch", "verify", str(photo), str(video), "--url", base],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/tmp",
    )
    with Client(base, key=env["LIVEMATCH_DECRYPT_KEY"], iv=env["LIVEMATCH_DECRYPT_IV"], compat=True, sign=SIGN) as c:
        compat = c.verify(photo.read_bytes(), video.read_bytes(), return_status=True)
        upload = c.verify(photo.read_bytes(), video.read_bytes(), upload=True)
    return {"cli": cli, "unsigned": unsigned, "compat": compat, "upload": upload}


def run(seconds: float, during=None) -> dict:
    args = loadtest.arguments(["--clients", "50", "--seconds", str(seconds), "--sign", SIGN, "--shared", str(SHARED)])
    return asyncio.run(loadtest.run(args, during))


def test_short_load_signed_mixed_traffic_and_remote_clients():
    shared("data", "video", "grid_s2_swwp2s.mp4")
    seen: dict = {}
    report = run(15, lambda base, env: seen.update(remote_checks(base, env)))
    print(json.dumps({k: v for k, v in report.items() if k != "rss_mb"}))
    assert report["transport_errors"] == 0 and report["server_alive_at_end"] and report["valid_passed"] > 0
    # Every answer is a documented one. On a quiet 2-core machine there is no 503 at all (see the
    # 5-minute run in docs/SECURITY.md); on a CPU shared with other jobs the only 5xx allowed are the
    # overload answers 1503/1504, never a fault (500) or a dropped connection.
    allowed = {"200/1000", "400/1200", "400/2003", "400/2004", "400/2005", "400/4000", "503/1503", "503/1504"}
    assert set(report["status_code_counts"]) <= allowed, report["status_code_counts"]
    cli = seen["cli"]
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["passed"] is True
    assert seen["unsigned"].returncode == 1 and json.loads(seen["unsigned"].stdout)["code"] == 1401
    status, body = seen["compat"]
    assert status == 200 and body["liveness_status"] == "ok"
    status, body = seen["upload"]
    assert status == 400 and body["code"] == 1200 and "disabled" in body["message"]


@pytest.mark.slow
def test_five_minutes_of_load():
    report = run(300)
    print(json.dumps(report))
    assert report["server_5xx"] == 0 and report["transport_errors"] == 0 and report["server_alive_at_end"]
    rss = report["rss_mb"]
    assert rss["second_half_mean"] - rss["after_warmup_first_half_mean"] < 100, rss


def test_client_needs_a_key_unless_uploading():
    with pytest.raises(ValueError), Client("http://127.0.0.1:9") as c:
        c.verify(b"x", b"y")
