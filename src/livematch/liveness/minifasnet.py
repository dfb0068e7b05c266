"""Frame-level anti-spoofing evidence from the MiniFASNet pack (ONNX Runtime, no torch).

The pack is optional: ``load_packs`` returns it only when ``livematch models import minifasnet`` has put
it in ``Settings.models_dir``; every file is checked against the sha256 in the models manifest. Each
model sees the face box enlarged by its crop scale (2.7x and 4.0x: the wider crop shows paper edges,
bezels and hands) and resized to 80x80, exactly as upstream crops it. The live probability is the mean
over models of ``p[live]``, then the median over (at most ``MAX_FRAMES``) sampled frames, so that one
blurred frame cannot decide.

The models were trained on faces a camera had exposed, and read a dark live face as a spoof (p[live]
0.07-0.19 on 3 of 72 dim-room variants of the real clips). A face whose box is darker than any real
clip's is shown to them brightened, as auto-exposure would have delivered it (docs/LIVENESS.md,
"Dim light"); lit faces are read as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from livematch.faces.record import box_pixels
from livematch.faces.track import Track
from livematch.liveness.base import Evidence
from livematch.models import file_sha256
from livematch.onnxutil import session
from livematch.packs.minifasnet import PACK

LIVE_CLASS = 1
MAX_FRAMES = 4  # 2 models x 4 crops: ~30 ms on one core; 6 frames cost ~55 ms for no measured gain
# p[live] at which the pack's evidence reads 0.5: the centre of the error-minimising interval on the real
# labelled spoof samples (CelebA-Spoof subset, Minivision samples, replay videos; masks excluded), 0.193,
# rounded; leave-one-out refits range 0.18..0.40 and misclassify 2 of 40 (docs/LIVENESS.md).
OPERATING_POINT = 0.2
DARK_FACE_MEAN = 70.0  # grey mean in the face box under which a face is dark: the 12 real clips read 79-148
EXPOSED_FACE_MEAN = 110.0  # what a dark face is brightened to: near the real clips' middle (117)


def crop(bgr: np.ndarray, box: np.ndarray, scale: float, size: int) -> np.ndarray:
    """Upstream's patch: box enlarged by ``scale`` (clamped to fit), shifted inside the image, resized."""
    img_h, img_w = bgr.shape[:2]
    x, y, w, h = (float(v) for v in box)
    scale = min(scale, (img_h - 1) / h, (img_w - 1) / w)
    new_w, new_h = w * scale, h * scale
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = cx - new_w / 2, cy - new_h / 2
    x1, y1 = cx + new_w / 2, cy + new_h / 2
    if x0 < 0:
        x1, x0 = x1 - x0, 0
    if y0 < 0:
        y1, y0 = y1 - y0, 0
    if x1 > img_w - 1:
        x0, x1 = x0 - (x1 - img_w + 1), img_w - 1
    if y1 > img_h - 1:
        y0, y1 = y0 - (y1 - img_h + 1), img_h - 1
    patch = bgr[int(y0) : int(y1) + 1, int(x0) : int(x1) + 1]
    return cv2.resize(patch, (size, size))


def exposure_gain(bgr: np.ndarray, box: np.ndarray) -> float:
    """The factor that brings a dark face box's grey mean to ``EXPOSED_FACE_MEAN``; 1.0 for a lit face."""
    face = box_pixels(bgr, box)
    mean = float(cv2.mean(cv2.cvtColor(face, cv2.COLOR_BGR2GRAY))[0]) if face.size else EXPOSED_FACE_MEAN
    return EXPOSED_FACE_MEAN / max(mean, 1.0) if mean < DARK_FACE_MEAN else 1.0


class MiniFASNetEvidence:
    """The MiniFASNetV2 (2.7x) + MiniFASNetV1SE (4.0x) ensemble as one evidence source."""

    name = PACK
    needs_motion = False

    def __init__(self, models_dir: Path, entry: dict) -> None:
        self.models = []
        for spec in entry["models"]:
            path = models_dir / spec["file"]
            digest = file_sha256(path)
            if digest != spec["sha256"]:
                raise RuntimeError(f"{path} has sha256 {digest}, the models manifest expects {spec['sha256']}")
            self.models.append((session(path), float(spec["crop_scale"]), int(spec["input_size"])))
        self.files = [spec["file"] for spec in entry["models"]]

    def _batch(self, faces: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        total = np.zeros(len(faces))
        gains = [exposure_gain(bgr, box) for bgr, box in faces]
        for sess, scale, size in self.models:
            patches = np.stack([crop(bgr, box, scale, size) * g for (bgr, box), g in zip(faces, gains, strict=True)])
            patches = np.clip(patches, 0, 255).astype(np.float32)
            probs = sess.run(None, {"input": patches.transpose(0, 3, 1, 2).copy()})[0]
            total += probs[:, LIVE_CLASS]
        return total / len(self.models)

    def evaluate(self, track: Track) -> list[Evidence]:
        """Median over evenly spaced frames of the ensemble's live probability."""
        picks = np.unique(np.linspace(0, len(track.faces) - 1, min(MAX_FRAMES, len(track.faces))).round().astype(int))
        live = self._batch([(track.frames[i].bgr, track.faces[i].box) for i in picks])
        value = float(np.median(live))
        return [Evidence(PACK, shifted(value, OPERATING_POINT), value)]


def shifted(p: float, point: float) -> float:
    """``p`` with its log-odds moved so that ``point`` maps to 0.5 (order and extremes kept)."""
    p = min(max(p, 1e-6), 1 - 1e-6)
    logit = np.log(p / (1 - p)) - np.log(point / (1 - point))
    return float(1 / (1 + np.exp(-logit)))


def load_packs(models_dir: Path) -> list[MiniFASNetEvidence]:
    """The anti-spoofing packs found in ``models_dir/manifest.json`` (none is fine: temporal evidence runs)."""
    manifest = models_dir / "manifest.json"
    if not manifest.exists():
        return []
    entry = json.loads(manifest.read_text()).get(PACK)
    return [MiniFASNetEvidence(models_dir, entry)] if entry else []
