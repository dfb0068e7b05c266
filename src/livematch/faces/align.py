"""Similarity alignment of a face to a model's 5-point template (least squares, OpenCV)."""

from __future__ import annotations

import cv2
import numpy as np

# ArcFace / SFace template for 112x112 crops: eyes, nose tip, mouth corners (image-left first).
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def align(bgr: np.ndarray, points5: np.ndarray, template: np.ndarray = ARCFACE_112, size: int = 112) -> np.ndarray:
    """Warp ``bgr`` so that ``points5`` land on ``template`` (scaled to ``size``), returning the crop."""
    dst = template * (size / 112.0)
    matrix, _ = cv2.estimateAffinePartial2D(points5.astype(np.float32), dst, method=cv2.LMEDS)
    if matrix is None:
        matrix = cv2.getAffineTransform(points5[:3].astype(np.float32), dst[:3])
    return cv2.warpAffine(bgr, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
