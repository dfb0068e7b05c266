"""Media the tests make themselves: videos from frames, rotated photos, clips cut from real videos."""

from __future__ import annotations

import io
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image


def encode_video(
    frames: Iterable[np.ndarray], *, fps: int = 25, codec: str = "libx264", fmt: str = "mp4", rotation: int = 0
) -> bytes:
    """Encode BGR frames into a video file in memory (``rotation``: display-matrix degrees)."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as out:
        stream = None
        for bgr in frames:
            if stream is None:
                # x264's macroblock tree makes the bytes vary from call to call (eval/footage.py); tests repeat
                options = {"x264-params": "mbtree=0"} if codec == "libx264" else {}
                stream = out.add_stream(codec, rate=fps, options=options)
                stream.width, stream.height = bgr.shape[1] & ~1, bgr.shape[0] & ~1
                stream.pix_fmt = "yuv420p"
                stream.time_base = Fraction(1, fps)
                if rotation:
                    stream.set_display_rotation(rotation)
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(bgr[: stream.height, : stream.width]), format="bgr24"
            )
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def read_frames(path: Path, *, seconds: float | None = None) -> list[np.ndarray]:
    """Decode a real clip's frames as BGR (optionally only its first ``seconds``)."""
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if seconds is not None and frame.time is not None and frame.time >= seconds:
                break
            frames.append(frame.to_ndarray(format="bgr24"))
    return frames


def still_video(bgr: np.ndarray, seconds: float = 3.0, fps: int = 25) -> bytes:
    """A still image encoded as a video: the injected-still attack."""
    return encode_video([bgr] * int(seconds * fps), fps=fps)


def jpeg(bgr: np.ndarray, *, exif_orientation: int | None = None, quality: int = 90) -> bytes:
    """JPEG bytes of a BGR array, optionally with an EXIF orientation tag."""
    image = Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1]))
    buf = io.BytesIO()
    exif = Image.Exif()
    if exif_orientation:
        exif[0x0112] = exif_orientation
    image.save(buf, format="JPEG", quality=quality, exif=exif.tobytes())
    return buf.getvalue()


def png(bgr: np.ndarray) -> bytes:
    """PNG bytes of a BGR array."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1])).save(buf, format="PNG")
    return buf.getvalue()


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A faceless textured image (smoothed noise), BGR."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.kron(small, np.ones((8, 8, 1), dtype=np.uint8))[:height, :width])
