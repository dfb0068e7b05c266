"""The CLI as a user runs it: keygen, encrypt, verify (same JSON as the API), serve's key policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from livematch.crypto import FieldCipher
from tests.conftest import shared

CLI = [sys.executable, "-m", "livematch"]


def run(args, cwd, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEMATCH_")}
    env.update(env_extra or {})
    return subprocess.run(CLI + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_keygen_then_encrypt_round_trip(tmp_path):
    assert run(["keygen"], tmp_path).returncode == 0
    assert "already" in run(["keygen"], tmp_path).stdout
    env = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().split())
    photo = shared("data", "video", "grid_s2_swwp2s_frame.jpg")
    out = run(["encrypt", str(photo)], tmp_path).stdout.strip()
    cipher = FieldCipher(env["LIVEMATCH_DECRYPT_KEY"], env["LIVEMATCH_DECRYPT_IV"])
    assert cipher.decrypt(out, "encrypted_image") == photo.read_bytes()
    safe = run(["encrypt", "--safe", "--field", "encrypted_video", str(photo)], tmp_path).stdout.strip()
    assert cipher.decrypt(safe, "encrypted_video") == photo.read_bytes()


def test_verify_prints_the_api_json(tmp_path):
    photo = shared("data", "video", "grid_s2_swwp2s_frame.jpg")
    video = shared("data", "video", "grid_s2_swwp2s.mp4")
    result = run(["verify", str(photo), str(video), "--return-status"], tmp_path)
    body = json.loads(result.stdout)
    assert result.returncode == 0 and body["code"] == 1000 and body["liveness_status"] == "ok"
    assert body["verification_score"] >= 0.7


def test_verify_error_exit_code(tmp_path):
    noface = tmp_path / "blank.png"
    from tests.media import noise, png

    noface.write_bytes(png(noise(200, 200)))
    result = run(["verify", str(noface), str(shared("data", "video", "grid_s2_swwp2s.mp4"))], tmp_path)
    assert result.returncode == 1 and json.loads(result.stdout)["code"] == 4000


def test_serve_refuses_vendor_default_key(tmp_path):
    result = run(
        ["serve", "--port", "1"],
        tmp_path,
        {"LIVEMATCH_DECRYPT_KEY": "dcbbad6765e14139a07d34b92292a672", "LIVEMATCH_DECRYPT_IV": "df25d188a061"},
    )
    assert result.returncode == 2 and "nonce" in result.stderr


def test_bench_writes_its_report_and_chart(tmp_path):
    photo = shared("data", "video", "grid_s2_swwp2s_frame.jpg")
    video = shared("data", "video", "grid_s2_swwp2s.mp4")
    out, chart = tmp_path / "out" / "bench.json", tmp_path / "out" / "bench.png"
    args = ["bench", "--video", str(video), "--photo", str(photo), "--repeat", "1", "--json", str(out)]
    result = run([*args, "--plot", str(chart)], tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["end_to_end_ms"]["median"] > report["floor_ms"]["median"] > 0
    assert {"video_decode", "detection", "photo_embedding", "liveness"} <= set(report["stages"])
    assert 0 < report["one_face_embedding_ms"]["min"] <= report["one_face_embedding_ms"]["median"]
    assert chart.read_bytes().startswith(b"\x89PNG") and chart.stat().st_size > 10_000
