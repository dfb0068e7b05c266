"""The face mesh as the embedders' alignment: where its points fall, how it is chosen, installed and calibrated."""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from livematch.api.app import create_app
from livematch.calibration import Calibration, builtin_path
from livematch.cli import app
from livematch.config import Settings
from livematch.embed import DlibEmbedder, FusedEmbedder, MeshAligned, SFaceEmbedder, load_embedder
from livematch.embed.install import DLIB_FACEAPI, W600K_MBF, RegistryModel, named
from livematch.engine import Engine
from livematch.faces import mesh as mesh_module
from livematch.faces.mesh import FaceMesh
from tests.test_embedders import celeba_faces

INSTALL = "`livematch models install face-mesh` (setup.sh runs it)"


@pytest.fixture(scope="module")
def mesh_path() -> Path:
    path = Settings(_env_file=None).models_dir / mesh_module.FILE
    if not path.is_file():
        pytest.skip(f"the face mesh is not installed in {path.parent}: {INSTALL}")
    return path


@pytest.fixture(scope="module")
def faces(engine: Engine) -> list:
    return celeba_faces(engine, 14)  # two people, 12 + 2 photos


def test_mesh_points_fall_where_dlibs_do(mesh_path: Path, faces: list) -> None:
    """The same five features as dlib's points on most real photos (a few tenths of the eye distance off on the rest:
    on a turned face, 7205/091105.jpg, dlib puts the eyes and nose tip beside them, the mesh on them)."""
    mesh = FaceMesh(mesh_path)
    offsets = []
    for _, bgr, face in faces:
        ours, dlibs = mesh.points5(bgr, face), face.points5
        assert ours.shape == (5, 2)
        offsets.append(np.mean(np.linalg.norm(ours - dlibs, axis=1)) / np.linalg.norm(dlibs[1] - dlibs[0]))
    assert np.median(offsets) < 0.08 and np.sum(np.array(offsets) < 0.15) >= len(offsets) - 2, offsets


def test_mesh_aligned_embedder_separates_people_and_keeps_the_face(mesh_path: Path, faces: list) -> None:
    sface = SFaceEmbedder()
    aligned = MeshAligned(sface, FaceMesh(mesh_path))
    before = [face.points5.copy() for _, _, face in faces]
    vectors = np.stack([aligned.embed(bgr, face) for _, bgr, face in faces])
    assert all(np.array_equal(b, face.points5) for b, (_, _, face) in zip(before, faces, strict=True))
    labels = np.array([identity for identity, _, _ in faces])
    sims = vectors @ vectors.T
    same = (labels[:, None] == labels[None, :]) & ~np.eye(len(labels), dtype=bool)
    assert np.mean(sims[same][:, None] > sims[labels[:, None] != labels[None, :]][None, :]) > 0.95
    # other crops, other similarities: its own name and digest, so the plain calibration is refused
    plain = np.stack([sface.embed(bgr, face) for _, bgr, face in faces[:3]])
    assert not np.allclose(plain, vectors[:3], atol=1e-3)
    assert aligned.name == "sface-2021dec-int8bq@face-mesh" and aligned.model_sha256 != sface.model_sha256
    with pytest.raises(ValueError, match="was fitted for embedder sha256"):
        Calibration.load(builtin_path(sface.name), embedder_sha256=aligned.model_sha256)


def test_alignment_setting(tmp_path: Path, mesh_path: Path) -> None:
    """auto: the mesh when installed; face-mesh: refused, with the command, when it is not; dlib-68: never."""
    empty = Settings(_env_file=None, models_dir=tmp_path / "empty")
    assert load_embedder(empty).name == "sface-2021dec-int8bq"
    with pytest.raises(ValueError, match="models install face-mesh"):
        load_embedder(empty.model_copy(update={"alignment": "face-mesh"}))
    (tmp_path / "with" / "landmarks").mkdir(parents=True)
    shutil.copy(mesh_path, tmp_path / "with" / mesh_module.FILE)
    installed = Settings(_env_file=None, models_dir=tmp_path / "with")
    assert load_embedder(installed).name == "sface-2021dec-int8bq@face-mesh"
    assert load_embedder(installed.model_copy(update={"alignment": "dlib-68"})).name == "sface-2021dec-int8bq"


def test_mesh_with_other_bytes_is_refused(tmp_path: Path) -> None:
    (tmp_path / "landmarks").mkdir()
    (tmp_path / mesh_module.FILE).write_bytes(b"not the pinned model")
    with pytest.raises(RuntimeError, match="sha256"):
        FaceMesh.installed(tmp_path)


def test_shipped_mesh_calibrations_match_their_models() -> None:
    """Every shipped embedder has a calibration for its mesh-aligned crops, tied to both digests."""
    sface, dlib, fast_dlib = SFaceEmbedder(), DlibEmbedder(), pinned(DLIB_FACEAPI)
    inner = {
        sface.name: sface.model_sha256,
        W600K_MBF.name: W600K_MBF.manifest.digest,
        "sface-2021dec-int8bq+dlib-resnet-v1": FusedEmbedder([sface, dlib], [1.0, 2.23]).model_sha256,
        # the fast fusion, from the pinned digest alone (the model itself is installed from npm)
        "sface-2021dec-int8bq+dlib-resnet-faceapi": FusedEmbedder([sface, fast_dlib], [1.0, 2.23]).model_sha256,
    }
    for name, sha in inner.items():
        combined = hashlib.sha256(f"mesh:{sha}:{mesh_module.SHA256}".encode()).hexdigest()
        cal = Calibration.load(builtin_path(name + "@face-mesh"), embedder_sha256=combined)
        assert cal.embedder == name + "@face-mesh"
        assert np.all(np.diff(cal.similarity) > 0) and np.all(np.diff(cal.score) >= 0)


def test_install_names() -> None:
    assert [m.name for m in named(["face-mesh"])] == ["face-mesh"]
    everything = ["face-mesh", "faceplugin-fr-feature", "mobilefacenet-expo", "w600k-mbf", "dlib-resnet-faceapi"]
    assert [m.name for m in named([])] == everything
    with pytest.raises(ValueError, match="unknown model nope; known: face-mesh"):
        named(["nope"])
    result = CliRunner().invoke(app, ["models", "install", "nope"])
    assert result.exit_code == 2 and "unknown model nope" in result.output


def test_serving_without_the_mesh_says_so(tmp_path: Path, settings: Settings, caplog) -> None:
    """`pip install .` alone serves on dlib's points; the operator is told once, at start-up, and how to fix it."""
    app = create_app(settings.model_copy(update={"models_dir": tmp_path}))
    with caplog.at_level(logging.WARNING, logger="livematch.server"), TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        assert client.get("/info").json()["embedder"]["name"] == "sface-2021dec-int8bq"
    said = [r.getMessage() for r in caplog.records if r.name == "livematch.server"]
    assert any("no face mesh" in m and "livematch models install face-mesh" in m for m in said), said


def test_loading_the_mesh_prints_nothing(mesh_path: Path) -> None:
    """LiteRT's one-time C++ INFO line would be the only non-JSON line of the service's log."""
    code = (
        "import numpy as np; from pathlib import Path; from livematch.litert import LiteRT; "
        f"run = LiteRT(Path({str(mesh_path)!r}), 1); run(np.zeros((1, 192, 192, 3), np.float32)); print('ran')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "ran\n" and done.stderr == "", done.stderr


def pinned(model: RegistryModel) -> SimpleNamespace:
    """An optional embedder as a fusion part sees it (name, digest, size), without its file."""
    return SimpleNamespace(name=model.name, model_sha256=model.manifest.digest, dim=128)
