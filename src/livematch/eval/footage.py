"""Reading real clips and photos, and writing synthesised frames, as the attack synthesiser needs them.

Clips are read upright (display rotation applied) and resampled to one frame rate, photos turned upright by
EXIF, because an attacker prints or films what a viewer sees; videos are written as H.264 MP4, as a phone
or a virtual camera would deliver them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image, ImageOps

from livematch.media.video import upright

FPS = 25
SECONDS = 3.0
OUT_LONG_SIDE = 640


def read_clip(path: Path, seconds: float = SECONDS, fps: int = FPS) -> list[np.ndarray]:
    """Frames of the first ``seconds`` of a clip, resampled to ``fps`` (nearest earlier frame)."""
    frames: list[tuple[float, np.ndarray]] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            t = float(frame.time or 0.0)
            if t > seconds + 0.5:
                break
            frames.append((t, upright(frame, frame.to_ndarray(format="bgr24"))))
    times = np.array([t for t, _ in frames]) - frames[0][0]
    wanted = np.arange(int(seconds * fps)) / fps
    picks = np.clip(np.searchsorted(times, wanted, side="right") - 1, 0, len(frames) - 1)
    return [frames[i][1] for i in picks]


def read_photo(path: Path) -> np.ndarray:
    """A photo as BGR, turned upright by its EXIF orientation (as a person would print or show it)."""
    with Image.open(path) as image:
        return cv2.cvtColor(np.asarray(ImageOps.exif_transpose(image).convert("RGB")), cv2.COLOR_RGB2BGR)


def encode(frames: Iterable[np.ndarray], fps: int = FPS, crf: int = 23) -> bytes:
    """H.264/yuv420p MP4 bytes, as a phone or a virtual camera would deliver them.

    The same frames give the same bytes. x264's macroblock-tree rate control does not: with it, frames
    whose width is not a multiple of 128 px (a 358 px portrait clip, a 580 px print) came out different
    on every call, even on one thread. It is off, as in a phone's hardware encoder, which costs some 30 %
    more bytes at the same CRF.
    """
    options = {"crf": str(crf), "preset": "veryfast", "x264-params": "mbtree=0"}
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = None
        for bgr in frames:
            if stream is None:
                stream = out.add_stream("libx264", rate=fps, options=options)
                stream.width, stream.height = bgr.shape[1] & ~1, bgr.shape[0] & ~1
                stream.pix_fmt = "yuv420p"
                stream.time_base = Fraction(1, fps)
            img = np.ascontiguousarray(bgr[: stream.height, : stream.width])
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
        out.mux(stream.encode(None))
    return buf.getvalue()


def fit_long_side(bgr: np.ndarray, long_side: int = OUT_LONG_SIDE) -> np.ndarray:
    scale = long_side / max(bgr.shape[:2])
    return cv2.resize(bgr, (round(bgr.shape[1] * scale) & ~1, round(bgr.shape[0] * scale) & ~1), cv2.INTER_AREA)
