"""68-point landmarks with dlib's shape predictor, seeded from the YuNet box.

dlib's predictor was trained on boxes from dlib's HOG detector, which sit lower and are flatter
than YuNet's; the box is mapped to that convention first (ratios measured on 100 CelebA faces:
left -0.048 w, top +0.154 h, width 1.074 w, height 0.81 h). The five alignment points derived from
the 68 are steadier than YuNet's own five, which raises verification accuracy.

The predictor's regression trees split on raw grey-level differences between pixel pairs, so a dim or
flat-lit face (half the contrast) is fitted stiffer, closer to the mean shape, and its expression motion
shrinks by up to a third (docs/LIVENESS.md, "Dim light"). A face whose grey-level spread is under
``REFERENCE_CONTRAST`` is stretched to it first, around mid-grey: stretched around its own (dark) mean,
a dim face's shadows fell below black and were clipped, and its landmarks lost the expression again.
Better-lit faces are read exactly as before.
"""

from __future__ import annotations

import cv2
import dlib
import numpy as np

from livematch.faces.record import Face, box_pixels
from livematch.models import DLIB_68

_BOX_MAP = np.array([-0.048, 0.154, 1.074, 0.81], dtype=np.float32)
REFERENCE_CONTRAST = 40.0  # grey-level SD in the detector's box; celeba-dev's photos: median 51, 17 % under 40
MAX_STRETCH = 4.0  # beyond this the stretch mostly amplifies sensor and codec noise
MID_GREY = 128.0  # the stretched region's mean: no side of it clips first
_MARGIN = 0.5  # of the box on each side: the predictor reads pixels around the face, not only inside it


class LandmarkModel:
    """Adds ``landmarks68`` and refined ``points5`` to a face record."""

    def __init__(self) -> None:
        self._predictor = dlib.shape_predictor(str(DLIB_68.verified_path()))

    def annotate(self, gray: np.ndarray, face: Face) -> Face:
        """Fill ``face.landmarks68`` and replace ``face.points5`` with the 68-point derived five."""
        pts = self.points(gray, face.box)
        face.landmarks68 = pts
        face.points5 = five_from_68(pts)
        return face

    def points(self, gray: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The 68 landmarks ``(x, y)`` of the face in a YuNet ``(x, y, w, h)`` box."""
        x, y, w, h = box
        rect = dlib_rect(box)
        gain = contrast_gain(box_pixels(gray, box))
        if gain == 1.0:
            return _parts(self._predictor(gray, rect))
        x0, y0 = max(int(x - _MARGIN * w), 0), max(int(y - _MARGIN * h), 0)
        region = gray[y0 : int(y + (1 + _MARGIN) * h), x0 : int(x + (1 + _MARGIN) * w)].astype(np.float32)
        stretched = np.clip((region - region.mean()) * gain + MID_GREY, 0, 255).astype(np.uint8)
        offset = np.array([x0, y0], dtype=np.float32)
        return _parts(self._predictor(stretched, dlib.translate_rect(rect, dlib.point(-x0, -y0)))) + offset


def dlib_rect(box: np.ndarray) -> dlib.rectangle:
    """The rectangle dlib's predictor expects for a YuNet ``(x, y, w, h)`` box (its HOG detector's convention)."""
    x, y, w, h = box
    left, top = x + _BOX_MAP[0] * w, y + _BOX_MAP[1] * h
    return dlib.rectangle(int(left), int(top), int(left + _BOX_MAP[2] * w), int(top + _BOX_MAP[3] * h))


def contrast_gain(gray: np.ndarray) -> float:
    """The factor that brings a face region's grey-level SD up to ``REFERENCE_CONTRAST``, at most
    ``MAX_STRETCH``; exactly 1.0 for a face that already has it (and for an empty region)."""
    spread = float(cv2.meanStdDev(gray.reshape(-1, 1))[1][0, 0]) if gray.size else REFERENCE_CONTRAST  # 10x numpy's
    return float(np.clip(REFERENCE_CONTRAST / max(spread, 1e-6), 1.0, MAX_STRETCH))


def _parts(shape: dlib.full_object_detection) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def five_from_68(pts: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip and mouth corners (image-left first) from iBUG-68 landmarks."""
    return np.stack([pts[36:42].mean(0), pts[42:48].mean(0), pts[30], pts[48], pts[54]]).astype(np.float32)


def eye_aspect_ratio(pts: np.ndarray) -> float:
    """Mean eye opening (Soukupova & Cech): ~0.3 open, < 0.15 closed."""

    def one(eye: np.ndarray) -> float:
        vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
        return float(vertical / (2 * np.linalg.norm(eye[0] - eye[3]) + 1e-6))

    return (one(pts[36:42]) + one(pts[42:48])) / 2
