"""Privacy: after valid, failing, hostile and uploaded requests, no media, decrypted byte or field
fragment is in the logs (as the JSON formatter would print them) and nothing was written to disk.

Disk writes are caught two ways: an audit hook records every file Python opens for writing while
the requests run (Starlette spooled multipart parts over 1 MB to an unlinked temporary file before
livematch kept them in memory, which no directory listing shows), and the temp directory is a
private empty folder that must still be empty afterwards.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from fastapi.testclient import TestClient

from livematch.api.app import create_app
from livematch.api.service import Service
from livematch.logs import JsonFormatter
from tests.conftest import VERIFY
from tests.media import jpeg, noise, png

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND
_opened_for_writing: list[str] = []
_watching = False


def _audit(event: str, args: tuple) -> None:
    if _watching and event == "open" and len(args) >= 3:
        path, mode, flags = args[:3]
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writes:
            _opened_for_writing.append(str(path))


sys.addaudithook(_audit)


def fragments(data: bytes) -> list[bytes]:
    """Pieces that would betray ``data`` in a text or binary sink: raw, hex and base64 windows."""
    out = []
    for start in (len(data) // 3, len(data) // 2, max(0, len(data) - 64)):
        chunk = data[start : start + 24]
        if len(chunk) == 24 and len(set(chunk)) > 4:  # skip runs of zeros and other uninformative bytes
            out += [chunk, chunk.hex().encode(), base64.b64encode(chunk)[4:28]]
    return out


def text_fragments(text: str) -> list[bytes]:
    return [text[i : i + 24].encode() for i in (len(text) // 3, len(text) // 2, len(text) - 40)]


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    for name in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.setenv(name, str(folder))
    return folder


def test_nothing_sensitive_reaches_logs_or_disk(
    settings, engine, cipher, grid_video, grid_photo, private_tmp, caplog, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    s = settings.model_copy(update={"file_upload": True})
    service = Service(s, engine)
    pixels = np.random.default_rng(7).integers(0, 255, (800, 800, 3), dtype=np.uint8)
    big_photo = png(pixels)  # > 1 MB: Starlette would have spooled it to disk
    assert len(big_photo) > 1024 * 1024
    sent: list[bytes] = [grid_video, grid_photo, big_photo]
    texts: list[str] = []

    def enc(data: bytes) -> str:
        text = cipher.encrypt_compat(data)
        texts.append(text)
        return text

    global _watching
    app = create_app(s, service)
    with TestClient(app, raise_server_exceptions=False) as c:
        _watching = True
        ok = c.post(
            VERIFY,
            json={
                "encrypted_video": enc(grid_video),
                "encrypted_image": enc(grid_photo),
                "return_image": True,
                "return_face_image": True,
            },
        )
        assert ok.json()["passed"] is True
        returned = [base64.b64decode(ok.json()[k]) for k in ("base64_image", "base64_face_image")]
        sent += returned
        # Encrypted fields sent as file parts (with a filename), > 1 MB each.
        as_files = c.post(
            VERIFY,
            files={
                "encrypted_video": ("v.txt", enc(grid_video).encode()),
                "encrypted_image": ("p.txt", enc(big_photo).encode()),
            },
        )
        assert as_files.json()["code"] == 4000
        upload = c.post(VERIFY, files={"image_file": ("p.png", big_photo), "video_file": ("v.mp4", grid_video)})
        assert upload.json()["code"] == 4000
        no_face = jpeg(noise(300, 300, seed=3))
        sent.append(no_face)
        assert c.post(VERIFY, json={"encrypted_video": enc(grid_video), "encrypted_image": enc(no_face)}).status_code
        broken = enc(grid_photo)
        assert c.post(VERIFY, json={"encrypted_video": broken[:-8] + "AAAAAAAA", "encrypted_image": broken})
        assert c.post(VERIFY, json={"encrypted_video": enc(grid_video[:5000]), "encrypted_image": enc(grid_photo)})

        def boom(*args, **kwargs):
            raise RuntimeError("fault")

        monkeypatch.setattr(service.engine, "verify", boom)
        assert c.post(VERIFY, json={"encrypted_video": enc(grid_video), "encrypted_image": enc(grid_photo)})
        _watching = False
    assert not _opened_for_writing, _opened_for_writing

    formatter = JsonFormatter()
    log_text = "\n".join(formatter.format(r) for r in caplog.records).encode()
    assert b"request_id" in log_text  # the request lines were captured
    leaks = [f for data in sent for f in fragments(data) if f in log_text]
    leaks += [f for text in texts for f in text_fragments(text) if f in log_text]
    assert not leaks, leaks[:3]
    assert not np.any([p.is_file() for p in private_tmp.rglob("*")]), list(private_tmp.rglob("*"))


# Variables under which the runtimes suppress their telemetry on their own (CI detection), or opt out.
_QUIETING = ("CI", "TF_BUILD", "JENKINS_URL", "GITHUB_ACTIONS", "ORT_DISABLE_TELEMETRY")


def test_no_runtime_calls_home(settings, grid_photo, grid_video, tmp_path) -> None:
    """The engine, loaded and run as the service runs it, opens no network socket and writes nothing home.

    onnxruntime would look up Microsoft's event collector and keep a device id and an event queue
    under ``~/.cache/Microsoft``, OpenVINO would do the same for Intel under ``~/intel``
    (livematch/__init__ switches both off). Native code passes the audit hook above unseen, so the
    process runs under ``strace`` (CI installs it) and its home folder is looked at. The runtimes'
    own CI detection is cleared so that the check means what it would on a server.
    """
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "p.jpg").write_bytes(grid_photo)
    (tmp_path / "v.mp4").write_bytes(grid_video)
    env = {k: v for k, v in os.environ.items() if k not in _QUIETING}
    env.update(HOME=str(home), LIVEMATCH_MODELS_DIR=str(settings.models_dir), MEDIA=str(tmp_path))
    code = (
        "import os; from livematch import Engine, Settings\n"
        "engine = Engine(Settings(_env_file=None))\n"
        "media = os.environ['MEDIA']\n"
        "photo, video = (open(os.path.join(media, n), 'rb').read() for n in ('p.jpg', 'v.mp4'))\n"
        "assert engine.verify(photo, video).verification_score > 0.9\n"
    )
    command = [sys.executable, "-c", code]
    trace = tmp_path / "syscalls.txt"
    if shutil.which("strace"):
        command = ["strace", "-f", "-qq", "-e", "trace=socket,connect", "-o", str(trace), *command]
    subprocess.run(command, env=env, check=True, timeout=300)
    assert [p for p in home.rglob("*") if p.is_file()] == []
    calls = trace.read_text() if trace.exists() else ""
    assert "AF_INET" not in calls, calls[:500]
