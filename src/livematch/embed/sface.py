"""SFace (OpenCV Zoo, 128-d) run with OpenVINO on ArcFace-aligned 112x112 crops.

The graph takes RGB 0-255 and normalises internally. With ``flip`` a crop and its mirror are
embedded in one batch-2 call and averaged, which steadies the vector against small pose changes
(docs/MODELS.md has the measured gain and its cost). OpenVINO runs it in bfloat16 where the CPU
can (``livematch.openvinoutil``): half onnxruntime's float32 time, the same matching accuracy.
"""

from __future__ import annotations

import hashlib

import numpy as np
import onnx

from livematch.embed.base import unit
from livematch.faces.align import ARCFACE_112, align
from livematch.faces.record import Face
from livematch.models import SFACE
from livematch.onnxutil import fold_weights
from livematch.openvinoutil import OpenVinoModel


class SFaceEmbedder:
    """The default embedder."""

    name = SFACE.name
    dim = 128

    def __init__(self, *, threads: int = 1, flip: bool = True) -> None:
        folded = fold_weights(onnx.load(str(SFACE.verified_path())))
        self._model = OpenVinoModel(folded, threads=threads)
        self._flip = flip
        # The digest names the whole function face -> vector, so a calibration fitted with flip
        # averaging is refused when flipping is off (and vice versa).
        self.model_sha256 = SFACE.sha256 if flip else hashlib.sha256(f"noflip:{SFACE.sha256}".encode()).hexdigest()

    def embed(self, bgr: np.ndarray, face: Face) -> np.ndarray:
        """Unit-length 128-d embedding of the aligned face (mean of the crop and its mirror)."""
        return self.embed_batch([(bgr, face)])[0]

    def embed_batch(self, faces: list[tuple[np.ndarray, Face]]) -> np.ndarray:
        """``(n, 128)`` unit embeddings of several ``(image, face)`` in one call (cheaper than n calls)."""
        crops = [align(bgr, face.points5, ARCFACE_112, 112)[:, :, ::-1] for bgr, face in faces]  # BGR -> RGB
        batch = np.stack([c for crop in crops for c in ((crop, crop[:, ::-1]) if self._flip else (crop,))])
        out = self._model(np.ascontiguousarray(batch.transpose(0, 3, 1, 2), np.float32))
        out = out.reshape(len(crops), -1, out.shape[-1]).mean(1)
        return np.stack([unit(v) for v in out])

    def info(self) -> dict[str, object]:
        """Name, digest, flip setting and the arithmetic it runs in."""
        return {
            "name": self.name,
            "sha256": self.model_sha256,
            "dim": self.dim,
            "flip": self._flip,
            "precision": self._model.precision,
        }
