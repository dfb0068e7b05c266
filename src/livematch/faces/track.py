"""Following the main face through the sampled video frames.

The main face is the largest face of the first frame that has one; in later frames it is the face
that overlaps its last box most. Frames where it cannot be found are counted, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from livematch.faces.record import Face
from livematch.media.video import Frame


@dataclass
class Track:
    """The main face across frames: ``faces[i]`` was found in ``frames[i]``."""

    frames: list[Frame] = field(default_factory=list)
    faces: list[Face] = field(default_factory=list)
    sampled: int = 0
    crowded_frames: int = 0  # frames with a second face at least half the main face's size

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
    """Build the main-face track from per-frame detections (largest face first in each list)."""
    track = Track(sampled=len(detections))
    last: Face | None = None
    for frame, faces in detections:
        if not faces:
            continue
        chosen = faces[0] if last is None else max(faces, key=lambda f: iou(f.box, last.box))
        if last is not None and iou(chosen.box, last.box) < min_iou:
            continue
        if any(f is not chosen and f.size >= 0.5 * chosen.size for f in faces):
            track.crowded_frames += 1
        track.frames.append(frame)
        track.faces.append(chosen)
        last = chosen
    return track
