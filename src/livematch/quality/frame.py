"""Frame quality for picking the best video frame: sharp, frontal, eyes open, large.

Each factor is mapped to 0..1 and the product is the frame's quality, so a frame that fails on any
one factor (blurred, turned away, mid-blink) is not chosen however good the others are.
"""

from __future__ import annotations

import cv2
import numpy as np

from livematch.faces.landmarks import eye_aspect_ratio
from livematch.faces.record import Face


def frame_quality(gray: np.ndarray, face: Face) -> dict[str, float]:
    """Sharpness, frontality, eye openness, size and their product ``quality`` (all 0..1)."""
    x, y, w, h = face.box.astype(int)
    crop = gray[max(y, 0) : y + h, max(x, 0) : x + w]
    if crop.size == 0:
        return {"quality": 0.0}
    crop = cv2.resize(crop, (96, 96), interpolation=cv2.INTER_AREA)
    sharpness = float(cv2.Laplacian(crop, cv2.CV_64F).var())
    factors = {
        "sharpness": _ramp(sharpness, 20.0, 200.0),
        "frontal": _frontality(face.points5),
        "eyes_open": _ramp(eye_aspect_ratio(face.landmarks68), 0.12, 0.25) if face.landmarks68 is not None else 1.0,
        "size": _ramp(face.size, 40.0, 160.0),
    }
    factors["quality"] = float(np.prod(list(factors.values())))
    return factors


def _ramp(value: float, low: float, high: float) -> float:
    return float(np.clip((value - low) / (high - low), 0.0, 1.0)) * 0.9 + 0.1


def _frontality(points5: np.ndarray) -> float:
    """1 for a nose centred between the eyes, falling as the head turns (yaw proxy)."""
    left, right, nose = points5[0], points5[1], points5[2]
    eye_span = np.linalg.norm(right - left) + 1e-6
    offset = abs((nose[0] - (left[0] + right[0]) / 2) / eye_span)
    return float(np.clip(1.0 - 2.0 * offset, 0.1, 1.0))
