"""Hostile media, made in memory by the tests (and the load test): nothing here is downloaded.

Each generator builds the smallest file that still exercises the attack: headers that lie about the
pixel count, containers that lie about their duration, streams with far more frames than a selfie.
"""

from __future__ import annotations

import io
import struct
import zlib
from fractions import Fraction

import av
import numpy as np
from PIL import Image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int) -> bytes:
    """A valid-looking PNG header declaring ``width``x``height`` RGB pixels, with a tiny IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    # A few compressed rows of zeros (deflate shrinks them ~1000x); padding keeps it over 1 KB.
    rows = zlib.compress(b"\0" * min(width * 3 + 1, 1 << 20) * 4, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"tEXt", b"Comment\0" + b"x" * 1024)
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )


def jpeg_bomb(width: int, height: int) -> bytes:
    """A real 64x64 JPEG whose SOF0 header is patched to declare ``width``x``height``."""
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=95)
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def animated_gif(first: np.ndarray, frames: int) -> bytes:
    """A GIF whose first frame is ``first`` (BGR) followed by ``frames`` 1x1 frames."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(first[:, :, ::-1])).save(buf, format="GIF")
    data = buf.getvalue()
    assert data.endswith(b";")
    # Graphic control extension + 1x1 image descriptor + LZW data for one pixel of colour 0.
    tiny = (
        b"\x21\xf9\x04\x00\x01\x00\x00\x00" + b"\x2c" + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00\x02\x02\x44\x01\x00"
    )
    return data[:-1] + tiny * frames + b";"


def video_from_packets(
    width: int, height: int, frames: int, *, seconds: float, fmt: str = "mp4", codec: str = "libx264"
) -> bytes:
    """``frames`` frames spread over ``seconds``: one real frame encoded, its skip packet repeated.

    Repeating an encoded P-frame packet makes a million-frame file in seconds instead of hours; the
    decoder sees a valid stream of identical frames.
    """
    image = np.full((height, width, 3), 128, dtype=np.uint8)
    time_base = Fraction(1, 1_000_000)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"bf": "0", "g": "100000"} if codec == "libx264" else {}
        packets = []
        for _ in range(3):
            packets += stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24"))
        packets += stream.encode(None)
        key, skip = bytes(packets[0]), bytes(packets[-1])
        stream.time_base = time_base
        step = max(1, int(seconds / time_base) // frames)  # a whole number of ticks: compact sample tables
        for i in range(frames):
            packet = av.Packet(key if i == 0 else skip)
            packet.stream = stream
            packet.pts = packet.dts = i * step
            packet.time_base = time_base
            packet.is_keyframe = i == 0
            out.mux(packet)
    return buf.getvalue()


def audio_only_mp4(seconds: float = 3.0) -> bytes:
    """An MP4 with one AAC audio stream and no video."""
    buf = io.BytesIO()
    rate = 16000
    rng = np.random.default_rng(2)
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("aac", rate=rate)
        samples = (rng.standard_normal(int(rate * seconds)) * 3000).astype(np.int16)
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format="s16", layout="mono")
            frame.sample_rate = rate
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def unknown_codec(clip: bytes) -> bytes:
    """An H.264 MP4 whose sample-entry codec tag is replaced by one FFmpeg does not know."""
    assert b"avc1" in clip
    return clip.replace(b"avc1", b"zzz9")
