"""The /demo capture page in real Chromium against a real ``livematch serve``.

Chromium's fake camera plays a Y4M file made here from a real clip of ../shared/data/video/real/,
so the page records a real person with the real MediaRecorder, and the server decodes that WebM with
the same Engine as the API. One recording is verified against four photos: the clip's own photo
(passed, score >= 0.7), another person's (score < 0.5), a camera snapshot (>= 0.7) and a photo
without a face (the 4000 message).
Screenshots of each state go to artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from tests.conftest import ROOT, shared
from tests.media import jpeg, noise
from tests.ops import Replica, key_env, start, wait_ready

CHROMIUM = Path("/usr/bin/chromium")
CLIP, OTHER = "liveportrait_d12", "vexpress_aoc"  # a selfie clip, and a photo of a different person
CAMERA_SECONDS = 4.0
ARTIFACTS = ROOT / "artifacts"
# Headless, no sandbox as root, and no background connections (this machine's network is closed).
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]

pytest.importorskip("playwright", reason="playwright is in the test extra: pip install -e '.[test]'")
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


def write_y4m(clip: Path, out: Path, seconds: float) -> None:
    """The first ``seconds`` of ``clip`` as raw 4:2:0 Y4M, the format Chromium's fake camera reads."""
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate
        frames = [f.to_ndarray(format="yuv420p") for f in container.decode(stream) if f.time < seconds]
    height, width = frames[0].shape[0] * 2 // 3, frames[0].shape[1]
    with out.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{rate.numerator}:{rate.denominator} Ip A1:1 C420jpeg\n".encode())
        for planes in frames:  # PyAV stacks the Y, U and V planes in this order, as Y4M stores them
            f.write(b"FRAME\n" + planes.tobytes())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    replica = start(tmp_path_factory.mktemp("demo-server"), key_env(), workers=1)
    try:
        wait_ready(replica, timeout=120)
        yield replica
    finally:
        replica.process.kill()
        replica.process.wait()


@pytest.fixture(scope="module")
def page(server: Replica, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """The demo page with the camera started and 5 seconds already recorded; console errors collected."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not installed (.ci/run installs Debian's chromium with apt)"
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    camera = tmp_path_factory.mktemp("camera") / "camera.y4m"
    write_y4m(shared("data", "video", "real", f"{CLIP}.mp4"), camera, CAMERA_SECONDS)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=[*FLAGS, f"--use-file-for-fake-video-capture={camera}"]
        )
        page = browser.new_page(viewport={"width": 1000, "height": 1500})
        page.errors = []
        page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.goto(server.url + "/demo")
        page.get_by_role("button", name="Start camera").click()
        expect(page.locator("#hint")).to_have_text(re.compile("^Good light"))  # the live hint reads the frames
        page.get_by_role("button", name="Record 5 seconds").click()
        expect(page.locator("#video-status")).to_have_text(re.compile("^Recorded"), timeout=20_000)
        page.screenshot(path=ARTIFACTS / "demo-recorded.png", full_page=True)
        yield page
        browser.close()


def verify_with(page: Page, photo: dict[str, object] | Path | None, shot: str) -> None:
    """Choose ``photo`` (None: take a camera snapshot), press Verify, wait for the result."""
    if photo is None:
        page.get_by_role("button", name="Take a snapshot with the camera").click()
        expect(page.locator("#photo-status")).to_have_text(re.compile("^Snapshot"))
    else:
        page.get_by_label("Choose a photo").set_input_files(photo)
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#result")).to_be_visible(timeout=60_000)
    page.screenshot(path=ARTIFACTS / shot, full_page=True)


def test_same_person_passes_with_a_high_score(page: Page) -> None:
    verify_with(page, shared("data", "video", "real", f"{CLIP}.jpg"), "demo-same-person.png")
    assert page.locator("#r-passed").inner_text() == "true"
    assert page.locator("#r-status").inner_text() == "ok"
    assert float(page.locator("#r-score").inner_text()) >= 0.7
    assert "same person" in page.locator("#verdict").inner_text()
    assert page.locator("#decisions td.recommended").inner_text() == "✓ accept"
    assert page.locator("#evidence tr").count() >= 3  # the temporal cues, at least
    assert page.locator("#r-face").evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.errors == []
    # The README's screenshot: every element that shows a face is masked, because the only faces the
    # tests can film come from research-only data that must not be redistributed.
    faces = [page.locator(sel) for sel in ("#preview", "#photo-preview", "#r-frame", "#r-face")]
    page.screenshot(path=ARTIFACTS / "demo-readme.png", full_page=True, mask=faces, mask_color="#5b6770")


def test_another_person_scores_low(page: Page) -> None:
    verify_with(page, shared("data", "video", "real", f"{OTHER}.jpg"), "demo-other-person.png")
    assert page.locator("#r-passed").inner_text() == "true"
    assert float(page.locator("#r-score").inner_text()) < 0.5
    assert "not the person" in page.locator("#verdict").inner_text()
    assert page.locator("#decisions td.recommended").inner_text() == "✗ reject"
    assert page.errors == []


def test_a_camera_snapshot_as_the_photo_passes(page: Page) -> None:
    verify_with(page, None, "demo-snapshot.png")
    assert page.locator("#r-passed").inner_text() == "true"
    assert float(page.locator("#r-score").inner_text()) >= 0.7
    assert page.errors == []


def test_photo_without_a_face_shows_the_4000_message(page: Page) -> None:
    blank = {"name": "noise.jpg", "mimeType": "image/jpeg", "buffer": jpeg(noise(300, 300))}
    verify_with(page, blank, "demo-no-face.png")
    assert page.locator("#error").get_attribute("data-code") == "4000"
    assert "No face was found in the photo" in page.locator("#error-text").inner_text()
    assert page.locator("#details").is_hidden()
    # Chromium logs every 4xx answer to a fetch as a console error; that one, and nothing else, is expected.
    assert page.errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
