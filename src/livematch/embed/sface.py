"""SFace (OpenCV Zoo, 128-d) run with onnxruntime on ArcFace-aligned 112x112 crops.

The graph takes RGB 0-255 and normalises internally. A crop and its mirror are embedded in one
batch-2 call and averaged (flip averaging), which steadies the vector against small pose changes.
"""

from __future__ import annotations

import numpy as np
import onnx

from livematch.faces.align import ARCFACE_112, align
from livematch.models import SFACE
from livematch.onnxutil import fold_weights, session


class SFaceEmbedder:
    """The default embedder."""

    name = SFACE.name
    model_sha256 = SFACE.sha256

    def __init__(self, *, threads: int = 1, flip: bool = True) -> None:
        folded = fold_weights(onnx.load(str(SFACE.verified_path())))
        self._session = session(folded, threads=threads)
        self._input = self._session.get_inputs()[0].name
        self._flip = flip

    def embed(self, bgr: np.ndarray, points5: np.ndarray) -> np.ndarray:
        """Unit-length 128-d embedding of the aligned face (mean of the crop and its mirror)."""
        crop = align(bgr, points5, ARCFACE_112, 112)[:, :, ::-1]  # BGR -> RGB
        batch = np.stack([crop, crop[:, ::-1]] if self._flip else [crop]).transpose(0, 3, 1, 2)
        out = self._session.run(None, {self._input: np.ascontiguousarray(batch, dtype=np.float32)})[0]
        vector = out.mean(0)
        return (vector / (np.linalg.norm(vector) + 1e-12)).astype(np.float32)
