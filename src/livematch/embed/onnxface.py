"""Any ArcFace-style embedder described by a manifest file in ``LIVEMATCH_MODELS_DIR/embedders``.

This is the slot for models that pip cannot bring: ``livematch models install`` writes one manifest
per registry model it installs, and an operator can add a stronger model the same way (a JSON file
beside its ONNX file, then ``livematch calibrate``). The file's sha256 must match the manifest, and a
calibration is tied to a digest of that sha256 *and* the preprocessing fields (``EmbedderManifest.digest``),
so it can never score another model's similarities, nor the same model's after ``flip`` or ``mean`` is edited.

Manifest fields: ``name``, ``file`` (relative to the manifest), ``sha256``, ``size`` (crop side, the
ArcFace 112 template is scaled to it), ``channels`` ("rgb" or "bgr"), ``mean`` and ``std`` (input =
(pixel - mean) / std), ``flip`` (average with the mirror image), ``runtime`` ("onnxruntime", or
"litert" for TFLite files, NHWC, run by ``ai-edge-litert``), ``alignment`` ("arcface", the 5-point
template, or "dlib-chip", dlib's chip from the 68 landmarks, for dlib's network), and free-text
``licence`` and ``source``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from livematch.embed.base import sample_face, unit
from livematch.embed.dlibnet import chip
from livematch.faces.align import ARCFACE_112, align
from livematch.faces.record import Face
from livematch.litert import LiteRT
from livematch.models import file_sha256
from livematch.onnxutil import session

MANIFEST_DIR = "embedders"


@dataclass(frozen=True)
class EmbedderManifest:
    """What the engine needs to run one ONNX embedder, and where it came from."""

    name: str
    file: str
    sha256: str
    size: int = 112
    channels: str = "rgb"
    mean: float = 127.5
    std: float = 128.0
    flip: bool = True
    runtime: str = "onnxruntime"
    alignment: str = "arcface"
    licence: str = ""
    source: str = ""

    @classmethod
    def read(cls, path: Path) -> EmbedderManifest:
        """Parse a manifest JSON file (unknown keys are an error, so typos do not pass silently)."""
        manifest = cls(**json.loads(path.read_text()))
        if manifest.channels not in ("rgb", "bgr"):
            raise ValueError(f"{path}: channels must be 'rgb' or 'bgr', not {manifest.channels!r}")
        if manifest.runtime not in ("onnxruntime", "litert"):
            raise ValueError(f"{path}: runtime must be 'onnxruntime' or 'litert', not {manifest.runtime!r}")
        if manifest.alignment not in ("arcface", "dlib-chip"):
            raise ValueError(f"{path}: alignment must be 'arcface' or 'dlib-chip', not {manifest.alignment!r}")
        return manifest

    @property
    def digest(self) -> str:
        """The digest calibrations are tied to: the weights and every field that changes face -> vector."""
        function = {
            "sha256": self.sha256,
            "size": int(self.size),
            "channels": self.channels,
            "mean": float(self.mean),
            "std": float(self.std),
            "flip": bool(self.flip),
            "alignment": self.alignment,
        }
        return hashlib.sha256(json.dumps(function, sort_keys=True).encode()).hexdigest()

    def write(self, path: Path) -> None:
        """Write as JSON (the format ``read`` parses)."""
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")


def manifests(models_dir: Path) -> dict[str, Path]:
    """Installed embedder manifests by name."""
    folder = models_dir / MANIFEST_DIR
    found = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        found[EmbedderManifest.read(path).name] = path
    return found


class OnnxEmbedder:
    """Runs a manifest-described model (ONNX or TFLite) on aligned crops, optionally flip-averaged."""

    def __init__(self, manifest_path: Path, *, threads: int = 1) -> None:
        self.manifest = EmbedderManifest.read(manifest_path)
        model_path = manifest_path.parent / self.manifest.file
        digest = file_sha256(model_path)
        if digest != self.manifest.sha256:
            raise RuntimeError(
                f"{self.manifest.name}: {model_path} has sha256 {digest}, manifest expects {self.manifest.sha256}"
            )
        self.name = self.manifest.name
        self.model_sha256 = self.manifest.digest
        if self.manifest.runtime == "litert":
            self._run = LiteRT(model_path, threads)
        else:
            ort_session = session(_prepared(onnx.load(str(model_path))), threads=threads)
            name = ort_session.get_inputs()[0].name
            self._run = lambda nhwc: ort_session.run(None, {name: np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))})[0]
        self.dim = len(self.embed(np.zeros((240, 320, 3), np.uint8), sample_face()))  # also warms the model up

    def embed(self, bgr: np.ndarray, face: Face) -> np.ndarray:
        """Unit-length embedding: aligned crop (and mirror), normalised as the manifest says."""
        m = self.manifest
        crop = chip(bgr, face, m.size) if m.alignment == "dlib-chip" else align(bgr, face.points5, ARCFACE_112, m.size)
        if m.channels == "rgb":
            crop = crop[:, :, ::-1]
        batch = np.stack([crop, crop[:, ::-1]] if m.flip else [crop]).astype(np.float32)
        out = self._run((batch - m.mean) / m.std)
        return unit(out.reshape(len(out), -1)[: len(batch)].mean(0))

    def info(self) -> dict[str, object]:
        """The manifest (preprocessing, provenance), the weights' file digest, the calibration digest, the size."""
        file_sha256 = self.manifest.sha256
        return {**asdict(self.manifest), "file_sha256": file_sha256, "sha256": self.model_sha256, "dim": self.dim}


def _prepared(model: onnx.ModelProto) -> bytes:
    """Denormal float weights flushed to zero and a symbolic batch dimension.

    Some exported graphs carry thousands of denormal weights that make every multiply slow on x86
    (FacePlugin: 95 -> 22 ms); zeroing them leaves the outputs unchanged to float precision. A
    symbolic batch lets a crop and its mirror run in one call.
    """
    tiny = np.finfo(np.float32).tiny
    for i, tensor in enumerate(model.graph.initializer):
        if tensor.data_type == onnx.TensorProto.FLOAT:
            array = numpy_helper.to_array(tensor)
            if np.any((array != 0) & (np.abs(array) < tiny)):
                flushed = np.where(np.abs(array) < tiny, np.float32(0), array)
                model.graph.initializer[i].CopyFrom(numpy_helper.from_array(flushed, tensor.name))
    weights = {t.name for t in model.graph.initializer}
    for tensor in [*model.graph.input, *model.graph.output]:
        dims = tensor.type.tensor_type.shape.dim
        if tensor.name in weights:
            continue
        if dims:
            dims[0].dim_param = "N"
    return model.SerializeToString()
