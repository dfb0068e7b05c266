"""Following the main face through the sampled video frames.

The main face is the largest face of the first frame that has one; in later frames it is the face
that overlaps its last box most. Frames where it cannot be found are counted, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from livematch.faces.record import Face
from livematch.media.video import Frame, Glimpse


@dataclass
class Track:
    """The main face across frames: ``faces[i]`` was found in ``frames[i]``."""

    frames: list[Frame] = field(default_factory=list)
    faces: list[Face] = field(default_factory=list)
    sampled: int = 0
    crowded_frames: int = 0  # frames with a second face at least half the main face's size
    glimpses: list[Glimpse] = field(default_factory=list)  # the video's dense grey frames, for eye closure

    def box_at(self, timestamp: float) -> np.ndarray:
        """The face box at ``timestamp``, linearly interpolated between the sampled frames' boxes."""
        times = [frame.timestamp for frame in self.frames]
        boxes = np.array([face.box for face in self.faces])
        return np.array([np.interp(timestamp, times, boxes[:, k]) for k in range(4)], dtype=np.float32)

    @property
    def coverage(self) -> float:
        """Fraction of sampled frames in which the main face was found."""
        return len(self.faces) / self.sampled if self.sampled else 0.0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return float(inter / (a[2] * a[3] + b[2] * b[3] - inter + 1e-6))


def follow(detections: list[tuple[Frame, list[Face]]], *, min_iou: float = 0.2) -> Track:
    """The main-face track from per-frame detections: the face followed through the most frames.

    Every face either continues the track whose last box it overlaps most (IoU >= ``min_iou``) or
    starts a new one; the longest track wins (ties: the larger face). Seeding from the first frame
    alone would lock onto a bystander whenever the user's face appears a moment later.
    """
    tracks: list[Track] = []
    for frame, faces in detections:
        claimed: set[int] = set()
        for face in faces:
            open_tracks = [(iou(face.box, t.faces[-1].box), n) for n, t in enumerate(tracks) if n not in claimed]
            overlap, best = max(open_tracks, default=(0.0, -1))
            if overlap < min_iou:
                tracks.append(Track())
                best = len(tracks) - 1
            claimed.add(best)
            tracks[best].frames.append(frame)
            tracks[best].faces.append(face)
    main = max(tracks, key=lambda t: (len(t.faces), np.mean([f.size for f in t.faces])), default=Track())
    main.sampled = len(detections)
    main.crowded_frames = sum(
        any(other is not face and other.size >= 0.5 * face.size for other in faces)
        for (_, faces), face in _aligned(detections, main)
    )
    return main


def _aligned(detections: list[tuple[Frame, list[Face]]], track: Track) -> list[tuple[tuple[Frame, list[Face]], Face]]:
    by_frame = {id(frame): face for frame, face in zip(track.frames, track.faces, strict=True)}
    return [(item, by_frame[id(item[0])]) for item in detections if id(item[0]) in by_frame]
