"""An embedder whose five alignment points come from the face mesh instead of dlib's 68.

The mesh changes the crops, so the similarities change, so the calibration must too: the wrapped
embedder has its own name (``<embedder>@face-mesh``) and a digest of both models, and calibration
files are tied to those. dlib's landmarks are left as they are (dlib's own ResNet chip reads them).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np

from livematch.embed.base import Embedder
from livematch.faces.mesh import FaceMesh
from livematch.faces.record import Face

SUFFIX = "@face-mesh"


class MeshAligned:
    """``embedder`` run on faces whose ``points5`` the mesh has re-placed."""

    def __init__(self, embedder: Embedder, mesh: FaceMesh) -> None:
        self.inner, self.mesh = embedder, mesh
        self.name = embedder.name + SUFFIX
        self.dim = embedder.dim
        self.model_sha256 = hashlib.sha256(f"mesh:{embedder.model_sha256}:{mesh.model_sha256}".encode()).hexdigest()

    def embed(self, bgr: np.ndarray, face: Face) -> np.ndarray:
        """The inner embedding of a copy of ``face`` with the mesh's five points."""
        return self.inner.embed(bgr, replace(face, points5=self.mesh.points5(bgr, face)))

    def info(self) -> dict[str, object]:
        """The inner embedder's info, renamed, with the alignment model and the combined digest."""
        return {
            **self.inner.info(),
            "name": self.name,
            "sha256": self.model_sha256,
            "alignment": self.mesh.info(),
        }
