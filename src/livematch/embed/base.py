"""The embedder interface: a name, a model hash that calibration files are tied to, ``embed``."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Maps a BGR image and a face's five points to a unit-length identity vector."""

    name: str
    model_sha256: str

    def embed(self, bgr: np.ndarray, points5: np.ndarray) -> np.ndarray:
        """Unit-length embedding of the face whose five points are given (image-left eye first)."""
        ...
