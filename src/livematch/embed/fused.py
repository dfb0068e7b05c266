"""Score fusion as one embedder: concatenated, weighted unit vectors whose dot product is the fused score.

For unit vectors ``a_i, b_i`` of models ``i`` and weights ``w_i`` (summing to 1), the concatenation
``[sqrt(w_1) a_1, ..., sqrt(w_k) a_k]`` has unit length and its dot product with ``b``'s is
``sum_i w_i cos_i``: a weighted sum of cosine similarities. With ``w_i`` proportional to 1 / (the
spread of model ``i``'s impostor cosines) this is the sum of z-normalised scores (the shift is a
constant, absorbed by calibration). So fusion needs no change to scoring, and ``livematch
calibrate`` fits the fused score like any other; the calibration is tied to a hash of the parts'
digests and the weights.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from livematch.embed.base import Embedder
from livematch.faces.record import Face


class FusedEmbedder:
    """Several embedders run on the same face; one vector out."""

    def __init__(self, parts: Sequence[Embedder], weights: Sequence[float]) -> None:
        if len(parts) != len(weights) or len(parts) < 2 or min(weights) <= 0:
            raise ValueError("fusion needs two or more embedders with positive weights")
        total = float(sum(weights))
        self.parts = list(parts)
        self.weights = [w / total for w in weights]
        self._scale = [np.float32(np.sqrt(w)) for w in self.weights]
        self.name = "+".join(p.name for p in self.parts)
        self.dim = sum(p.dim for p in self.parts)
        recipe = ";".join(f"{p.model_sha256}:{w:.6f}" for p, w in zip(self.parts, self.weights, strict=True))
        self.model_sha256 = hashlib.sha256(f"fused:{recipe}".encode()).hexdigest()

    def embed(self, bgr: np.ndarray, face: Face) -> np.ndarray:
        """Concatenation of each part's unit vector scaled by the square root of its weight."""
        return np.concatenate([s * p.embed(bgr, face) for p, s in zip(self.parts, self._scale, strict=True)])

    def info(self) -> dict[str, object]:
        """The parts, their weights and the combined digest."""
        return {
            "name": self.name,
            "sha256": self.model_sha256,
            "dim": self.dim,
            "fusion": "weighted sum of cosine similarities",
            "parts": [{**p.info(), "weight": round(w, 6)} for p, w in zip(self.parts, self.weights, strict=True)],
        }
