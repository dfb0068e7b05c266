"""Model-free liveness evidence from the tracked face's landmarks and pixels over time.

* ``nonrigid_motion``: a printed photo or a screen moves as a plane, so a homography maps one
  frame's 68 landmarks onto another's almost exactly; a real head adds parallax and expression
  (mouth, eyes, brows). The cue is the median residual after the best homography, in units of
  the inter-ocular distance.
* ``pixel_change``: a still image encoded as a video changes by codec noise only; the cue is the
  median absolute grey-level difference between consecutive aligned face crops.
* ``continuity``: the main face must be found in most sampled frames and no second face of
  similar size may share the video.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from livematch.faces.align import align
from livematch.faces.track import Track
from livematch.liveness.base import Evidence


def _logistic(value: float, midpoint: float, width: float) -> float:
    return float(1.0 / (1.0 + np.exp(-(value - midpoint) / width)))


class TemporalEvidence:
    """Cues that need no model weights; their midpoints are documented in docs/LIVENESS.md."""

    name = "temporal"
    needs_motion = True

    def __init__(self, *, nonrigid_midpoint: float = 0.012, pixel_midpoint: float = 0.8) -> None:
        self._nonrigid_mid = nonrigid_midpoint
        self._pixel_mid = pixel_midpoint

    def evaluate(self, track: Track) -> list[Evidence]:
        """Non-rigid motion, pixel change and continuity for a track of at least two faces."""
        nonrigid = nonrigid_motion(track)
        pixels = pixel_change(track)
        continuity = min(track.coverage, 1.0 - track.crowded_frames / max(track.sampled, 1))
        return [
            Evidence("nonrigid_motion", _logistic(nonrigid, self._nonrigid_mid, self._nonrigid_mid / 6), nonrigid),
            Evidence("pixel_change", _logistic(pixels, self._pixel_mid, self._pixel_mid / 6), pixels),
            Evidence("continuity", _logistic(continuity, 0.6, 0.05), continuity),
        ]


def nonrigid_motion(track: Track) -> float:
    """Median landmark residual after a homography between each frame and the first (x IOD)."""
    marks = [f.landmarks68 for f in track.faces if f.landmarks68 is not None]
    if len(marks) < 2:
        return 0.0
    ref = marks[0]
    iod = float(np.linalg.norm(ref[36:42].mean(0) - ref[42:48].mean(0))) + 1e-6
    residuals = []
    for pts in marks[1:]:
        homography, _ = cv2.findHomography(pts, ref, 0)
        if homography is None:
            continue
        mapped = cv2.perspectiveTransform(pts.reshape(-1, 1, 2), homography).reshape(-1, 2)
        residuals.append(float(np.sqrt(np.mean(np.sum((mapped - ref) ** 2, axis=1)))) / iod)
    return float(np.median(residuals)) if residuals else 0.0


def pixel_change(track: Track) -> float:
    """Median mean-absolute grey difference between consecutive aligned 64x64 face crops."""
    crops = [
        cv2.cvtColor(align(frame.bgr, face.points5, size=64), cv2.COLOR_BGR2GRAY).astype(np.float32)
        for frame, face in zip(track.frames, track.faces, strict=True)
    ]
    diffs = [float(np.mean(np.abs(a - b))) for a, b in itertools.pairwise(crops)]
    return float(np.median(diffs)) if diffs else 0.0
