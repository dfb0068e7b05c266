"""dlib's ResNet rebuilt as ONNX from face-api.js's weights (``livematch models install dlib-resnet-faceapi``).

The conversion is only worth shipping if it is dlib's network: on dlib's own chips its descriptors must
point where dlib-bin's do, and it must be fast enough to fuse with SFace inside the time budget.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from livematch.embed import OnnxEmbedder, load_embedder
from livematch.embed.dlibnet import DlibEmbedder
from livematch.embed.install import DLIB_FACEAPI
from livematch.embed.onnxface import MANIFEST_DIR
from livematch.engine import Engine
from tests.conftest import shared

CELEBA = ("data", "faces", "celeba-dev")


@pytest.fixture(scope="module")
def manifest(settings):
    path = settings.models_dir / MANIFEST_DIR / f"{DLIB_FACEAPI.name}.json"
    if not path.exists():
        pytest.skip(f"{path} absent: `livematch models install {DLIB_FACEAPI.name}` (setup.sh runs it if npm is there)")
    return path


def test_the_rebuilt_network_is_dlibs(manifest, engine: Engine) -> None:
    """Same chips, two runtimes: cosine > 0.999 between face-api's uint8 weights in ONNX and dlib-bin."""
    onnx_net, dlib_net = OnnxEmbedder(manifest, threads=2), DlibEmbedder()
    root = shared(*CELEBA)
    for rel in sorted(p.relative_to(root) for p in root.glob("*/*.jpg"))[::300]:
        data = (root / rel).read_bytes()
        face = engine.embed_photo(data)
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert float(onnx_net.embed(bgr, face) @ dlib_net.embed(bgr, face)) > 0.999, rel


def test_the_fast_fusion_loads_with_its_shipped_calibration(manifest, settings) -> None:
    fused = settings.model_copy(update={"embedder": DLIB_FACEAPI.fusion})
    engine = Engine(fused)
    assert engine.embedder.name == f"sface-2021dec-int8bq+{DLIB_FACEAPI.name}@face-mesh"
    assert engine.calibration.embedder_sha256 == load_embedder(fused).model_sha256
