"""Occlusion of the photo's eyes, nose and mouth (check_quality, SenseID error 4004).

Method: the face is aligned to the ArcFace 112x112 template with the five landmarks already on the
``Face`` record and run through the first eight blocks of SFace (the shipped recognition network, cut
at ``conv_8_relu``: 512 channels on a 14x14 grid, each cell 8x8 template pixels). Four fixed boxes of
the template (left eye, right eye, nose, mouth; left/right as seen in the image) are average-pooled
on that grid. Each region gets a logistic-regression score from

* the region's pooled network features (what is there: an eye, lips, or cloth, lens, fingers),
* the whole face's pooled features (context: a face wearing a mask looks different everywhere),
* colour statistics of the region in Lab relative to the face's forehead-and-cheek skin.

The boxes are fixed in template coordinates and generous, so a few pixels of landmark error (common
on masked faces) still leave the region inside its box. The network is the SFace file already
pinned in the models manifest (no new download); the regression weights are produced by
``scripts/train_occlusion.py`` (docs/QUALITY.md: data, cross-validated numbers, threshold, timing).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import cv2
import numpy as np
import onnx

from livematch.errors import FaceOcclusion
from livematch.faces.align import ARCFACE_112, align
from livematch.faces.record import Face
from livematch.models import SFACE
from livematch.onnxutil import fold_weights, session

REGIONS = ("left_eye", "right_eye", "nose", "mouth")
# (x0, y0, x1, y1) in ArcFace-112 template pixels; eyes at (38, 52) and (74, 52), nose tip (56, 72),
# mouth corners (42, 92) and (71, 92).
BOXES = {
    "left_eye": (20, 34, 56, 66),
    "right_eye": (56, 34, 92, 66),
    "nose": (38, 54, 74, 86),
    "mouth": (28, 78, 84, 110),
}
FEATURE_LAYER = "conv_8_relu"
_GRID = 14  # FEATURE_LAYER's spatial size; one cell is 112 / 14 = 8 template pixels
_SKIN_BOXES = ((44, 20, 68, 34), (16, 70, 30, 86), (82, 70, 96, 86))  # forehead, image-left/right cheek
WEIGHTS = files("livematch") / "data" / "occlusion-v1.npz"


@dataclass(frozen=True)
class OcclusionResult:
    """Per-region occlusion probabilities and the threshold that turns them into a decision."""

    scores: dict[str, float]
    threshold: float

    @property
    def occluded(self) -> list[str]:
        """Names of the regions whose score reaches the threshold."""
        return [r for r in REGIONS if self.scores[r] >= self.threshold]


class OccludedFace(FaceOcclusion):
    """4004 carrying the per-region result, so evaluation can report scores of rejected photos."""

    def __init__(self, result: OcclusionResult) -> None:
        self.result = result
        names = ", ".join(r.replace("_", " ") for r in result.occluded)
        super().__init__(f"face occlusion: {names} covered")


def _cells(box: tuple[int, int, int, int]) -> tuple[slice, slice]:
    """Grid rows and columns whose cell centres fall inside a template box."""
    centres = (np.arange(_GRID) + 0.5) * (112 / _GRID)
    x0, y0, x1, y1 = box
    cols, rows = np.flatnonzero((centres >= x0) & (centres < x1)), np.flatnonzero((centres >= y0) & (centres < y1))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


class Backbone:
    """SFace cut at ``FEATURE_LAYER``: a face-trained feature grid, built in memory from the pinned file."""

    def __init__(self) -> None:
        model = onnx.load_from_string(fold_weights(onnx.load(str(SFACE.verified_path()))))
        graph, needed, kept = model.graph, {FEATURE_LAYER}, []
        for node in reversed(list(graph.node)):
            if needed & set(node.output):
                kept.append(node)
                needed |= set(node.input)
        del graph.node[:]
        graph.node.extend(reversed(kept))
        initialisers = [t for t in graph.initializer if t.name in needed]
        del graph.initializer[:]
        graph.initializer.extend(initialisers)
        del graph.output[:]
        graph.output.append(onnx.helper.make_tensor_value_info(FEATURE_LAYER, onnx.TensorProto.FLOAT, None))
        self._session = session(model.SerializeToString())
        self._input = self._session.get_inputs()[0].name

    def __call__(self, crop_bgr: np.ndarray) -> np.ndarray:
        """Feature grid (512, 14, 14) of an aligned 112x112 BGR crop."""
        batch = np.ascontiguousarray(crop_bgr[None, :, :, ::-1].transpose(0, 3, 1, 2), dtype=np.float32)
        return self._session.run(None, {self._input: batch})[0][0]


def region_features(bgr: np.ndarray, face: Face, backbone: Backbone) -> dict[str, np.ndarray]:
    """Per-region feature vectors (region pool + face pool + relative Lab colour) of ``face`` in ``bgr``."""
    crop = align(bgr, face.points5, ARCFACE_112, 112)
    grid = backbone(crop)
    context = grid.mean((1, 2))
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB).astype(np.float32)
    skin = np.concatenate([lab[y0:y1, x0:x1].reshape(-1, 3) for x0, y0, x1, y1 in _SKIN_BOXES])
    skin_mean, skin_std = skin.mean(0), skin.std(0) + 1.0
    out = {}
    for name, box in BOXES.items():
        rows, cols = _cells(box)
        x0, y0, x1, y1 = box
        region = lab[y0:y1, x0:x1].reshape(-1, 3)
        colour = np.concatenate(
            [
                (region.mean(0) - skin_mean) / skin_std,
                region.std(0) / skin_std,
                np.percentile(region[:, 0], [10, 50, 90]) / 255.0,
            ]
        )
        out[name] = np.concatenate([grid[:, rows, cols].mean((1, 2)), context, colour]).astype(np.float32)
    return out


class OcclusionChecker:
    """Scores the four regions with the trained per-region logistic regressions."""

    def __init__(self, path: Path | None = None) -> None:
        self.backbone = Backbone()
        with np.load(str(path or WEIGHTS)) as data:
            self.threshold = float(data["threshold"])
            self._mean = {r: data[f"{r}_mean"] for r in REGIONS}
            self._scale = {r: data[f"{r}_scale"] for r in REGIONS}
            self._coef = {r: data[f"{r}_coef"] for r in REGIONS}
            self._bias = {r: float(data[f"{r}_bias"]) for r in REGIONS}

    def score(self, bgr: np.ndarray, face: Face) -> OcclusionResult:
        """Occlusion probability of each region (0 clear .. 1 covered)."""
        feats = region_features(bgr, face, self.backbone)
        scores = {}
        for r in REGIONS:
            z = float(((feats[r] - self._mean[r]) / self._scale[r]) @ self._coef[r] + self._bias[r])
            scores[r] = round(1.0 / (1.0 + np.exp(-z)), 4)
        return OcclusionResult(scores, self.threshold)

    def check(self, bgr: np.ndarray, face: Face) -> OcclusionResult:
        """Score the face, record the scores on ``face.quality`` and raise 4004 if any region is covered."""
        result = self.score(bgr, face)
        face.quality.update({f"occlusion_{r}": s for r, s in result.scores.items()})
        if result.occluded:
            raise OccludedFace(result)
        return result
