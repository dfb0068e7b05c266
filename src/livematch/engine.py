"""``Engine.verify()``: the one pipeline behind the API, the CLI, ``eval`` and ``bench``.

photo bytes -> decode -> largest face -> landmarks -> (occlusion) -> embedding
video bytes -> decode -> sample -> detect + track -> landmarks -> best frame -> embedding -> liveness
both embeddings -> cosine similarity -> calibrated score (only if liveness passed)

The video's embedding comes before liveness because one liveness cue asks whether the face that moved is
the face that is matched (``liveness.identity``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import cv2
import numpy as np

from livematch import __version__
from livematch.calibration import Calibration
from livematch.config import Settings
from livematch.embed import Embedder, MeshAligned, calibration_path, load_embedder
from livematch.embed.template import chosen, template
from livematch.errors import DetectionFailed, LivematchError, LivenessCheckFailed
from livematch.faces import Detector, Face, LandmarkModel
from livematch.faces.track import Track, follow
from livematch.liveness import LivenessResult, TemporalEvidence, fuse
from livematch.liveness.base import EvidenceSource
from livematch.liveness.identity import IdentityCheck
from livematch.liveness.minifasnet import load_packs
from livematch.media import Frame, Video, decode_photo, decode_video
from livematch.models import BUILTIN, SFACE
from livematch.quality import frame_quality
from livematch.quality.occlusion import OcclusionChecker

MIN_TRACK_COVERAGE = 0.5
VIDEO_DETECT_SIDE = 320  # selfie faces are large: a quarter of the pixels finds them at a quarter of the cost


@dataclass(frozen=True)
class VerifyOptions:
    """The request's boolean switches (SenseID names)."""

    auto_rotate: bool = False
    check_quality: bool = False
    return_image: bool = False
    return_face_image: bool = False
    return_status: bool = False


@dataclass
class VerifyResult:
    """Everything a response can carry; the API decides which fields are present."""

    liveness: LivenessResult
    verification_score: float | None = None
    similarity: float | None = None
    image_timestamp: float | None = None
    frame_jpeg: bytes | None = None
    face_jpeg: bytes | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    inputs: dict[str, object] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Liveness passed (SenseID's ``passed``)."""
        return self.liveness.passed


class Timer:
    """Accumulates wall time per named stage, in milliseconds."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the enclosed block under ``name`` (repeated stages add up)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - start) * 1000

    def merge(self, other: Timer) -> None:
        """Add another timer's stages (e.g. a branch that ran in parallel) into this one."""
        for name, ms in other.ms.items():
            self.ms[name] = self.ms.get(name, 0.0) + ms


class Engine:
    """Loads the models once; ``verify`` is thread-safe and may run in several workers at once."""

    def __init__(
        self, settings: Settings | None = None, *, embedder: Embedder | None = None, calibrated: bool = True
    ) -> None:
        """Load every model; ``calibrated=False`` skips the calibration file (only for fitting one)."""
        self.settings = settings or Settings()
        started = time.perf_counter()
        self.detector = Detector()
        self.landmarks = LandmarkModel()
        self.embedder = embedder or load_embedder(self.settings)
        self.calibration = (
            Calibration.load(
                calibration_path(self.settings, self.embedder.name), embedder_sha256=self.embedder.model_sha256
            )
            if calibrated
            else None
        )
        self.liveness_sources: list[EvidenceSource] = [
            TemporalEvidence(
                self.landmarks,
                IdentityCheck(
                    threads=self.settings.embed_threads,
                    # SFace's vectors, on the mesh's crops or dlib's, are in the space the check compares in
                    reuse_match=_unaligned(self.embedder).name == SFACE.name,
                ),
            ),
            *load_packs(self.settings.models_dir),
        ]
        self.occlusion = OcclusionChecker()
        # The photo branch runs beside the video branch of the same request; OpenCV then gets one
        # thread per call, since the service already parallelises across requests and branches.
        cv2.setNumThreads(1)
        self._photo_pool = ThreadPoolExecutor(max_workers=max(2, self.settings.workers), thread_name_prefix="photo")
        self.load_seconds = time.perf_counter() - started

    # ---- public API ------------------------------------------------------------------------
    def verify(self, photo: bytes, video: bytes, options: VerifyOptions = VerifyOptions()) -> VerifyResult:
        """Run the whole pipeline on decrypted bytes; raises ``LivematchError`` subclasses."""
        timer, photo_timer = Timer(), Timer()
        photo_job = self._photo_pool.submit(
            self._photo_face, photo, options.auto_rotate, photo_timer, check_quality=options.check_quality
        )
        try:
            with timer.stage("video_decode"):
                clip = decode_video(video, self.settings)
            short = clip.duration < self.settings.video_min_seconds
            track = None if short else self._track(clip, timer)
        except LivematchError:
            photo_job.result()  # photo errors are reported before video errors, as documented
            raise
        photo_face, photo_info = photo_job.result()
        timer.merge(photo_timer)
        inputs = {
            "photo": photo_info,
            "video": {
                "bytes": len(video),
                "codec": clip.codec,
                "container": clip.container,
                "width": clip.width,
                "height": clip.height,
                "duration_s": round(clip.duration, 3),
            },
        }
        if track is None:
            return VerifyResult(LivenessResult(0.0, "short_time"), timings_ms=timer.ms, inputs=inputs)
        frame, face = self._matched(track, timer)  # before liveness: its identity check compares with this face
        with timer.stage("liveness"):
            # a one-frame video has no motion: only frame-level evidence can judge it (none -> score 0)
            sources = [s for s in self.liveness_sources if clip.decoded_frames > 1 or not s.needs_motion]
            evidence = [e for source in sources for e in source.evaluate(track)]
            liveness = fuse(evidence, self.settings.liveness_threshold)
        result = VerifyResult(liveness, timings_ms=timer.ms, inputs=inputs)
        if not liveness.passed:
            return result
        with timer.stage("scoring"):
            result.similarity = float(np.dot(face.embedding, photo_face.embedding))
            result.verification_score = self.score(face.embedding, photo_face.embedding)
        with timer.stage("response_encoding"):
            result.image_timestamp = round(frame.timestamp, 3)
            result.frame_jpeg = _jpeg(frame.bgr) if options.return_image else None
            result.face_jpeg = _jpeg(_crop(frame.bgr, face)) if options.return_face_image else None
        return result

    def embed_photo(
        self, photo: bytes, *, auto_rotate: bool = False, check_quality: bool = False, timer: Timer | None = None
    ) -> Face:
        """The photo path alone (decode, detect, landmarks, occlusion, embed), shared with evaluation."""
        face, _ = self._photo_face(photo, auto_rotate, timer or Timer(), check_quality=check_quality)
        return face

    def embed_video(self, video: bytes) -> Face:
        """The video path's matching half alone (decode, track, best frame, embedding), shared with evaluation.

        Liveness is not judged here: an evaluation that scores a clip against many photos takes the liveness
        answer of the clip's own request, instead of running the same clip's liveness once per photo.
        """
        timer = Timer()
        return self._matched(self._track(decode_video(video, self.settings), timer), timer)[1]

    def score(self, a: np.ndarray, b: np.ndarray) -> float:
        """Calibrated verification score of two embeddings from this engine's embedder, as a response gives it."""
        return round(self.calibration.to_score(float(np.dot(a, b))), 4)

    def info(self) -> dict[str, object]:
        """Models, versions and active liveness evidence, for ``GET /info`` and benchmarks."""
        return {
            "version": __version__,
            "models": [spec.info() for spec in BUILTIN],
            "embedder": self.embedder.info(),
            "calibration": self.calibration.fitted_on if self.calibration else None,
            "liveness_evidence": [s.name for s in self.liveness_sources],
            "liveness_threshold": self.settings.liveness_threshold,
            "providers": ["onnxruntime:CPUExecutionProvider", "opencv-dnn", "dlib"],
            "load_seconds": round(self.load_seconds, 3),
        }

    # ---- stages ----------------------------------------------------------------------------
    def _photo_face(
        self, data: bytes, auto_rotate: bool, timer: Timer, *, check_quality: bool = False
    ) -> tuple[Face, dict[str, object]]:
        with timer.stage("photo_decode"):
            photo = decode_photo(data, self.settings, apply_exif=auto_rotate)
        with timer.stage("photo_detection"):
            bgr, faces = self._upright(photo.bgr) if auto_rotate else (photo.bgr, self.detector.detect(photo.bgr))
        if not faces:
            raise DetectionFailed()
        face = faces[0]
        with timer.stage("photo_landmarks"):
            self.landmarks.annotate(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), face)
        if check_quality:  # 4004 (docs/QUALITY.md); a photo without a face was already 4000
            with timer.stage("occlusion"):
                self.occlusion.check(bgr, face)
        with timer.stage("photo_embedding"):  # one face: the per-face embedding cost in bench reports
            face.embedding = self.embedder.embed(bgr, face)
        info = {"bytes": len(data), "format": photo.format, "width": photo.bgr.shape[1], "height": photo.bgr.shape[0]}
        return face, info

    def _upright(self, bgr: np.ndarray) -> tuple[np.ndarray, list[Face]]:
        """The quarter turn of the photo in which the detector is most confident of a face (auto_rotate).

        YuNet also finds upside-down faces, with its five points placed as if upright, so the points
        cannot tell the orientation; the detector's confidence can (upright won in 381 of 381 turned
        CelebA and people photos). Costs three extra detector passes, only when auto_rotate is on.
        """
        candidates = [np.ascontiguousarray(np.rot90(bgr, k)) if k else bgr for k in range(4)]
        found = [(image, self.detector.detect(image)) for image in candidates]
        return max(found, key=lambda pair: pair[1][0].score if pair[1] else 0.0)

    def _track(self, clip: Video, timer: Timer) -> Track:
        with timer.stage("detection"):
            track = follow([(f, self.detector.detect(f.bgr, max_side=VIDEO_DETECT_SIDE)) for f in clip.frames])
        track.glimpses = clip.glimpses
        if not track.faces or track.coverage < MIN_TRACK_COVERAGE:
            raise LivenessCheckFailed(
                f"liveness silent check failed: a face was found in {len(track.faces)} "
                f"of {track.sampled} sampled frames"
            )
        with timer.stage("landmarks"):
            for frame, face in zip(track.frames, track.faces, strict=True):
                gray = cv2.cvtColor(frame.bgr, cv2.COLOR_BGR2GRAY)
                self.landmarks.annotate(gray, face)
                face.quality = frame_quality(gray, face)
        return track

    def _matched(self, track: Track, timer: Timer) -> tuple[Frame, Face]:
        """The best frame and its face, with the embedding the photo is matched against."""
        with timer.stage("frame_selection"):
            best = chosen(track.faces, 1)[0]  # the template's own first pick, so both agree on "best"
        frame, face = track.frames[best], track.faces[best]
        with timer.stage("embedding"):
            face.embedding = template(self.embedder, track.frames, track.faces, self.settings.template_frames)
        return frame, face


def _unaligned(embedder: Embedder) -> Embedder:
    """The model behind ``embedder``, whichever landmarks place its crops."""
    return embedder.inner if isinstance(embedder, MeshAligned) else embedder


def _jpeg(bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes() if ok else b""


def _crop(bgr: np.ndarray, face: Face, margin: float = 0.25) -> np.ndarray:
    x, y, w, h = face.box
    x0, y0 = int(max(x - margin * w, 0)), int(max(y - margin * h, 0))
    x1, y1 = int(min(x + w * (1 + margin), bgr.shape[1])), int(min(y + h * (1 + margin), bgr.shape[0]))
    return bgr[y0:y1, x0:x1]
