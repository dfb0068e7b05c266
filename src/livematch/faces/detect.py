"""Face detection with YuNet through OpenCV's ``FaceDetectorYN``.

YuNet is small (120 KB int8) and finds faces from about 20 px up with five landmarks. OpenCV's
detector object is not safe to share between threads, so each worker thread gets its own instance.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from livematch.faces.record import Face
from livematch.models import YUNET

cv2.utils.logging.setLogLevel(
    cv2.utils.logging.LOG_LEVEL_ERROR
)  # OpenCV 5 warns on every model load about backend targets; errors still show


class Detector:
    """Finds faces in a BGR image; images larger than ``max_side`` are searched at reduced size."""

    def __init__(self, *, score_threshold: float = 0.7, max_side: int = 640, min_face: int = 24) -> None:
        self._path = str(YUNET.verified_path())
        self._score = score_threshold
        self._max_side = max_side
        self._min_face = min_face
        self._local = threading.local()

    def _net(self) -> cv2.FaceDetectorYN:
        net = getattr(self._local, "net", None)
        if net is None:
            net = cv2.FaceDetectorYN.create(self._path, "", (320, 320), self._score, 0.3, 50)
            self._local.net = net
        return net

    def detect(self, bgr: np.ndarray, *, max_side: int | None = None) -> list[Face]:
        """All faces at least ``min_face`` pixels wide, largest first, searched at most ``max_side`` wide."""
        scale = min(1.0, (max_side or self._max_side) / max(bgr.shape[:2]))
        image = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else bgr
        net = self._net()
        net.setInputSize((image.shape[1], image.shape[0]))
        _, rows = net.detect(image)
        if rows is None:
            return []
        faces = [
            Face(box=row[:4].astype(np.float32) / scale, score=float(row[14]), points5=row[4:14].reshape(5, 2) / scale)
            for row in rows
            if row[2] / scale >= self._min_face
        ]
        return sorted(faces, key=lambda f: -f.box[2] * f.box[3])
