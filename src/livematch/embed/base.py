"""The embedder interface: a name, a model hash that calibration files are tied to, ``embed``.

Embedders take the whole ``Face`` record, not just five points, because each model has its own
alignment: ArcFace-style models warp the five points to a 112x112 template, dlib's ResNet builds its
own 150x150 chip from the 68 landmarks.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from livematch.faces.record import Face


class Embedder(Protocol):
    """Maps a BGR image and a detected, landmarked face to a unit-length identity vector."""

    name: str
    model_sha256: str
    dim: int

    def embed(self, bgr: np.ndarray, face: Face) -> np.ndarray:
        """Unit-length embedding of ``face`` (``points5`` set; ``landmarks68`` set by the landmark stage)."""
        ...

    def info(self) -> dict[str, object]:
        """Name, digest and settings, for ``GET /info`` and evaluation reports."""
        ...


def unit(vector: np.ndarray) -> np.ndarray:
    """``vector`` scaled to unit length, as float32."""
    return (vector / (np.linalg.norm(vector) + 1e-12)).astype(np.float32)


def sample_face() -> Face:
    """A synthetic face record (five points and 68 landmarks on a plausible layout) for warm-up runs."""
    angles = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    ring = np.stack([160 + 60 * np.cos(angles), 140 + 75 * np.sin(angles)], axis=1).astype(np.float32)
    points5 = np.array([[135, 120], [185, 120], [160, 145], [140, 175], [180, 175]], dtype=np.float32)
    return Face(np.array([95, 60, 130, 160], dtype=np.float32), 1.0, points5, landmarks68=ring)
