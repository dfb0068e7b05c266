"""Video decoding with PyAV: limits from the container header, evenly spaced frames, rotation applied.

Every frame must be decoded to reach the sampled ones (inter-frame codecs), but only the sampled
frames are converted to BGR arrays, optionally downscaled by FFmpeg's scaler, which keeps the cost
close to the codec's own. Phones record sideways and store a display rotation; it is applied here so
that every later stage sees an upright face.

Besides the sampled frames, the first seconds are kept densely (10 per second) as grey *glimpses*:
a blink lasts 100-400 ms and falls between the 12 samples. A glimpse is the decoder's own luma
plane, resized to the sampled frames' size, so it costs a resize rather than a colour conversion.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import av
import cv2
import numpy as np

from livematch.config import Settings
from livematch.errors import InvalidArgument, InvalidContentLength, InvalidImageSize, InvalidImageType

_IMAGE_DEMUXERS = frozenset({"image2", "gif", "apng", "webp", "ico", "jpegxl_anim"})
_YUV8 = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21"})


@dataclass
class Frame:
    """One sampled video frame: upright BGR pixels and its presentation time in seconds."""

    index: int
    timestamp: float
    bgr: np.ndarray


@dataclass
class Glimpse:
    """A grey frame for cues that need dense timing, in the sampled frames' pixel coordinates."""

    timestamp: float
    gray: np.ndarray


@dataclass
class Video:
    """What the pipeline needs of a video: sampled frames, duration and a little metadata."""

    duration: float
    width: int
    height: int
    codec: str
    container: str
    frames: list[Frame] = field(default_factory=list)
    glimpses: list[Glimpse] = field(default_factory=list)
    decoded_frames: int = 0


def decode_video(data: bytes, settings: Settings, *, max_side: int = 640) -> Video:
    """Decode ``data`` into ``settings.video_sample_frames`` evenly spaced upright frames.

    Errors: 2004 for byte size, 2005 for anything FFmpeg cannot read or a file without a video
    stream or a still image, 2003 for resolution or the decoded-pixel budget, 1200 for a duration
    or frame count over the limit (claimed or actual).
    """
    if not settings.video_min_bytes <= len(data) <= settings.video_max_bytes:
        raise InvalidContentLength(
            f"video is {len(data)} bytes; accepted {settings.video_min_bytes}..{settings.video_max_bytes}"
        )
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError, UnicodeDecodeError):
        raise InvalidImageType("video: unsupported or corrupted file") from None
    with container:
        if _is_still_image(container.format.name):
            raise InvalidImageType("video: a still image or animated picture is not a video")
        if not container.streams.video:
            raise InvalidImageType("video: the file has no video stream")
        stream = container.streams.video[0]
        if stream.codec_context is None:  # a codec FFmpeg does not know (e.g. a corrupted codec id)
            raise InvalidImageType("video: unsupported codec")
        video = _probe(container, stream, settings, data)
        try:
            _sample(container, stream, video, settings, max_side)
        except (av.FFmpegError, ValueError, MemoryError):
            if not video.frames:
                raise InvalidImageType("video: corrupted stream") from None
    if not video.frames:
        raise InvalidImageType("video: no decodable frame")
    return video


def _is_still_image(demuxer: str) -> bool:
    """FFmpeg's image demuxers (jpeg_pipe, png_pipe, gif, apng, ...) would pass a photo off as a video."""
    return demuxer.endswith("_pipe") or demuxer in _IMAGE_DEMUXERS


def _probe(container: av.container.InputContainer, stream: av.VideoStream, settings: Settings, data: bytes) -> Video:
    ctx = stream.codec_context
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    short, long = sorted((width, height))
    if short < settings.video_min_side or long > settings.video_max_side:
        raise InvalidImageSize(
            f"video is {width}x{height}; shorter side must be >= {settings.video_min_side} "
            f"and longer side <= {settings.video_max_side}"
        )
    duration = _claimed_duration(container, stream) or _packet_span(data, settings.video_max_decoded_frames)
    if duration > settings.video_max_seconds:
        raise InvalidArgument(f"video is {duration:.1f} s long; at most {settings.video_max_seconds:g} s accepted")
    # A header whose frame count already exceeds a decode cap is refused before decoding anything
    # (a header that under-counts is caught by the same caps while decoding).
    frames = int(stream.frames or 0)
    if frames > settings.video_max_decoded_frames:
        raise InvalidArgument(f"video has more than {settings.video_max_decoded_frames} frames")
    if frames * width * height > settings.video_max_decoded_pixels:
        raise InvalidImageSize(f"video needs more than {settings.video_max_decoded_pixels} decoded pixels")
    return Video(
        duration=duration, width=width, height=height, codec=str(ctx.name), container=str(container.format.name)
    )


def _claimed_duration(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0  # unknown: measured while decoding


def _packet_span(data: bytes, max_packets: int) -> float:
    """Time from first to last video packet, read without decoding a pixel (0.0 if unknown).

    Streamed WebM, which browsers' MediaRecorder writes, has no duration in its header; without one
    only the first frame would be sampled. Past ``max_packets`` the decode caps refuse the file anyway.
    """
    times: list[float] = []
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.pts is not None and packet.time_base is not None:
                    times.append(float(packet.pts * packet.time_base))
                if len(times) > max_packets:
                    break
    except (av.FFmpegError, ValueError):
        return 0.0
    return max(times) - min(times) if len(times) > 1 else 0.0


def _sample(container, stream, video: Video, settings: Settings, max_side: int) -> None:
    stream.thread_type = "AUTO"
    targets = _sample_times(video.duration, settings.video_sample_frames)
    next_glimpse = 0.0
    start: float | None = None
    last_t = 0.0
    pixels = 0
    last: av.VideoFrame | None = None
    for frame in container.decode(stream):
        last = frame
        video.decoded_frames += 1
        if video.decoded_frames > settings.video_max_decoded_frames:
            raise InvalidArgument(f"video has more than {settings.video_max_decoded_frames} frames")
        pixels += frame.width * frame.height
        if pixels > settings.video_max_decoded_pixels or max(frame.width, frame.height) > settings.video_max_side:
            # Decode cost grows with pixels, not bytes: a 450 KB file of 900 4096² skip-frames costs ~40 s.
            raise InvalidImageSize(f"video needs more than {settings.video_max_decoded_pixels} decoded pixels")
        t = float(frame.time) if frame.time is not None else video.decoded_frames / 25.0
        start = t if start is None else start
        last_t = t - start
        if last_t > settings.video_max_seconds:
            raise InvalidArgument(f"video is longer than {settings.video_max_seconds:g} s")
        if targets and last_t + 1e-6 >= targets[0]:
            while targets and last_t + 1e-6 >= targets[0]:
                targets.pop(0)
            video.frames.append(Frame(video.decoded_frames - 1, last_t, _to_bgr(frame, max_side)))
        if last_t + 1e-6 >= next_glimpse and len(video.glimpses) < settings.video_glimpse_frames:
            next_glimpse = max(next_glimpse + 1.0 / settings.video_glimpse_fps, last_t + 1e-3)  # 10 per s on average
            video.glimpses.append(_glimpse(frame, last_t, max_side))
    if not video.frames and last is not None:  # a one-frame video ends before the first sample time
        video.frames.append(Frame(video.decoded_frames - 1, last_t, _to_bgr(last, max_side)))
    if video.duration <= 0 or video.duration > last_t + 1.0:
        video.duration = last_t + (1.0 / float(stream.average_rate) if stream.average_rate else 0.04)


def _sample_times(duration: float, count: int) -> list[float]:
    if duration <= 0:
        return [0.0]
    return [duration * (i + 0.5) / count for i in range(count)]


def _to_bgr(frame: av.VideoFrame, max_side: int) -> np.ndarray:
    width, height = _bgr_size(frame, max_side)
    return upright(frame, frame.to_ndarray(format="bgr24", width=width, height=height))


def _bgr_size(frame: av.VideoFrame, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(frame.width, frame.height))
    return round(frame.width * scale) & ~1, round(frame.height * scale) & ~1


def upright(frame: av.VideoFrame, pixels: np.ndarray) -> np.ndarray:
    """``pixels`` decoded from ``frame`` turned as its display rotation says (the way players show it)."""
    rotation = int(getattr(frame, "rotation", 0) or 0) % 360
    if rotation:
        # FFmpeg's rotation is counter-clockwise display rotation; np.rot90 k turns counter-clockwise.
        pixels = np.ascontiguousarray(np.rot90(pixels, k=(rotation // 90) % 4))
    return pixels


def _glimpse(frame: av.VideoFrame, timestamp: float, max_side: int) -> Glimpse:
    """The luma plane (8-bit YUV) or FFmpeg's grey conversion, at the sampled frames' size.

    Whole-step decimation then a bilinear resize: ~0.3 ms a frame where an area filter costs 1-3 ms.
    """
    width, height = _bgr_size(frame, max_side)
    if frame.format.name in _YUV8:
        plane = frame.planes[0]
        luma = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]
        step = max(1, frame.width // width)
        gray = cv2.resize(luma[::step, ::step], (width, height), interpolation=cv2.INTER_LINEAR)
    else:
        gray = frame.to_ndarray(format="gray", width=width, height=height)
    return Glimpse(timestamp, upright(frame, gray))
