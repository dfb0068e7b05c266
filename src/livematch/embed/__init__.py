"""Face embedders: each turns a detected, landmarked face into an L2-normalised vector.

``LIVEMATCH_EMBEDDER`` names the active one: a built-in (``sface-2021dec-int8bq``,
``dlib-resnet-v1``), an installed manifest in ``LIVEMATCH_MODELS_DIR/embedders``, or a fusion of
several joined by ``+``, each optionally weighted as ``name:weight``. ``LIVEMATCH_ALIGNMENT`` says
where its five alignment points come from; with the face mesh it runs as ``<name>@face-mesh``.
"""

from __future__ import annotations

from pathlib import Path

from livematch.calibration import builtin_path
from livematch.config import Settings
from livematch.embed.base import Embedder, unit
from livematch.embed.dlibnet import DlibEmbedder
from livematch.embed.fused import FusedEmbedder
from livematch.embed.meshaligned import MeshAligned
from livematch.embed.onnxface import OnnxEmbedder, manifests
from livematch.embed.sface import SFaceEmbedder
from livematch.faces.mesh import FILE as MESH_FILE
from livematch.faces.mesh import FaceMesh

__all__ = [
    "DlibEmbedder",
    "Embedder",
    "FusedEmbedder",
    "MeshAligned",
    "OnnxEmbedder",
    "SFaceEmbedder",
    "load_embedder",
    "unit",
]


def load_embedder(settings: Settings) -> Embedder:
    """The embedder ``settings.embedder`` names (see module docstring)."""
    parts, weights = [], []
    for item in settings.embedder.split("+"):
        name, _, weight = item.strip().partition(":")
        parts.append(_single(name, settings))
        weights.append(float(weight) if weight else 1.0)
    embedder = parts[0] if len(parts) == 1 else FusedEmbedder(parts, weights)
    mesh = None if settings.alignment == "dlib-68" else FaceMesh.installed(settings.models_dir, settings.embed_threads)
    if mesh is None and settings.alignment == "face-mesh":
        raise ValueError(
            f"LIVEMATCH_ALIGNMENT=face-mesh but {settings.models_dir / MESH_FILE} is missing: "
            "run `livematch models install face-mesh`"
        )
    return embedder if mesh is None else MeshAligned(embedder, mesh)


def calibration_path(settings: Settings, embedder_name: str) -> Path:
    """The shipped calibration for a built-in embedder, else the operator's in the models dir."""
    shipped = builtin_path(embedder_name)
    return shipped if shipped.exists() else settings.models_dir / f"calibration-{embedder_name}.json"


def _single(name: str, settings: Settings) -> Embedder:
    if name == SFaceEmbedder.name:
        return SFaceEmbedder(flip=settings.embedder_flip, threads=settings.embed_threads)
    if name == DlibEmbedder.name:
        return DlibEmbedder()
    installed = manifests(settings.models_dir)
    if name in installed:
        return OnnxEmbedder(installed[name], threads=settings.embed_threads)
    known = [SFaceEmbedder.name, DlibEmbedder.name, *installed]
    raise ValueError(
        f"unknown embedder {name!r}; known: {', '.join(known)} (optional ones: `livematch models install`)"
    )
