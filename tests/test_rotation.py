"""Upright faces from sideways media: EXIF orientation and retries for photos, display rotation for videos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from livematch.errors import DetectionFailed
from livematch.media import decode_video
from tests.conftest import shared
from tests.media import encode_video, jpeg, read_frames


@pytest.fixture(scope="module")
def upright() -> np.ndarray:
    return cv2.imread(str(shared("data", "faces", "people", "barack_obama", "obama.jpg")))


@pytest.fixture(scope="module")
def upright_embedding(engine, upright) -> np.ndarray:
    return engine.embed_photo(jpeg(upright)).embedding


def test_exif_orientation_applied_only_with_auto_rotate(engine, upright, upright_embedding):
    # Pixels stored turned 90° clockwise, EXIF 8 says "rotate 90° counter-clockwise to display".
    stored = cv2.rotate(upright, cv2.ROTATE_90_CLOCKWISE)
    face = engine.embed_photo(jpeg(stored, exif_orientation=8), auto_rotate=True)
    assert float(face.embedding @ upright_embedding) > 0.9
    with pytest.raises(DetectionFailed):
        engine.embed_photo(jpeg(stored, exif_orientation=8), auto_rotate=False)


def test_auto_rotate_finds_an_upside_down_face_without_exif(engine, upright, upright_embedding):
    face = engine.embed_photo(jpeg(cv2.rotate(upright, cv2.ROTATE_180)), auto_rotate=True)
    assert float(face.embedding @ upright_embedding) > 0.9


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_video_display_rotation_is_honoured(engine, settings, rotation):
    frames = read_frames(shared("data", "video", "grid_s2_swwp2s.mp4"), seconds=2.2)
    # Store pixels turned so that applying the display rotation makes them upright again.
    turn = {90: cv2.ROTATE_90_CLOCKWISE, -90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180}[rotation]
    stored = [cv2.rotate(f, turn) for f in frames]
    video = decode_video(encode_video(stored, rotation=rotation), settings)
    upright = frames[0]
    assert video.frames[0].bgr.shape[:2] == (upright.shape[0] & ~1, upright.shape[1] & ~1)
    assert engine.detector.detect(video.frames[0].bgr), "face should be upright after rotation"
    # the dense grey glimpses share the sampled frames' orientation and pixel coordinates
    first = video.frames[0]
    glimpse = min(video.glimpses, key=lambda g: abs(g.timestamp - first.timestamp))
    assert glimpse.gray.shape == first.bgr.shape[:2]
    assert np.abs(glimpse.gray.astype(np.int16) - cv2.cvtColor(first.bgr, cv2.COLOR_BGR2GRAY)).mean() < 6


def test_glimpses_are_dense_and_capped(settings):
    """Ten grey frames a second from the start, never more than the cap (they cost memory and landmarks)."""
    capped = settings.model_copy(update={"video_glimpse_frames": 12})
    video = decode_video(encode_video(read_frames(shared("data", "video", "grid_s2_swwp2s.mp4"))), capped)
    gaps = np.diff([g.timestamp for g in video.glimpses])
    assert len(video.glimpses) == 12 and video.glimpses[0].timestamp == 0.0
    assert abs(gaps.mean() - 1 / settings.video_glimpse_fps) < 0.01 and gaps.max() <= 0.121
