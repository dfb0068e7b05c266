"""dlib's ResNet face descriptor (128-d, LFW 99.38 %) on dlib's own 150x150 chip.

The chip is dlib's: ``get_face_chip``'s alignment from the 68 landmarks the landmark stage already
found, so the model sees faces aligned exactly as in its training. dlib-bin is built without BLAS
here, which makes this the slowest embedder (~140 ms a face); its value is in fusion, where its
error tail differs from SFace's.
"""

from __future__ import annotations

import threading

import dlib
import numpy as np

from livematch.embed.base import unit
from livematch.faces.record import Face
from livematch.models import DLIB_RESNET


class DlibEmbedder:
    """dlib ``face_recognition_model_v1`` over the 68-landmark chip."""

    name = DLIB_RESNET.name
    model_sha256 = DLIB_RESNET.sha256
    dim = 128

    def __init__(self) -> None:
        self._path = str(DLIB_RESNET.verified_path())
        self._local = threading.local()  # a dlib network keeps scratch buffers: one instance per thread

    def _model(self) -> dlib.face_recognition_model_v1:
        model = getattr(self._local, "model", None)
        if model is None:
            model = self._local.model = dlib.face_recognition_model_v1(self._path)
        return model

    def embed(self, bgr: np.ndarray, face: Face) -> np.ndarray:
        """Unit-length 128-d descriptor (dlib's Euclidean metric becomes cosine after normalising)."""
        return unit(np.array(self._model().compute_face_descriptor(chip(bgr, face)[:, :, ::-1].copy())))

    def info(self) -> dict[str, object]:
        """Name and digest."""
        return {"name": self.name, "sha256": self.model_sha256, "dim": self.dim, "chip": "dlib 150x150 from 68 points"}


def chip(bgr: np.ndarray, face: Face, size: int = 150) -> np.ndarray:
    """dlib's aligned face chip (``get_face_chip`` from the 68 landmarks, padding 0.25), as BGR."""
    if face.landmarks68 is None:
        raise ValueError("dlib's chip needs the 68 landmarks of the face")
    x, y, w, h = (int(v) for v in face.box)
    parts = [dlib.point(int(px), int(py)) for px, py in np.rint(face.landmarks68)]
    shape = dlib.full_object_detection(dlib.rectangle(x, y, x + w, y + h), parts)
    return dlib.get_face_chip(np.ascontiguousarray(bgr[:, :, ::-1]), shape, size=size, padding=0.25)[:, :, ::-1]
