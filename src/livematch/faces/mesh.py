"""Five alignment points from MediaPipe's face mesh, for the embedders, when the mesh is installed.

Why a second landmark model: aligning SFace's crops on the mesh's eye-corner midpoints, nose tip and
mouth corners instead of the points derived from dlib's 68 raises TAR on celeba-dev from 0.914 to 0.938
at FAR 1e-3 (docs/MODELS.md). dlib's 68 points stay for everything else (liveness reads their motion).

The model is MediaPipe's ``face_landmark.tflite`` (468 points; Apache-2.0), which ``livematch models
install`` takes out of the PyPI wheel ``mediapipe==0.10.21``; LiteRT runs it. Its crop follows
MediaPipe's: a square 1.5 times the face, turned so that the eyes are level, 192x192 RGB in [0, 1].
A second pass re-centres that square on the first pass's landmarks, as MediaPipe's tracker does.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from livematch.faces.record import Face
from livematch.litert import LiteRT
from livematch.models import file_sha256

NAME = "mediapipe-face-mesh"
FILE = Path("landmarks") / "face-mesh.tflite"
SHA256 = "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"
LICENCE = "Apache-2.0 (MediaPipe)"
PACKAGE, VERSION, MEMBER = "mediapipe", "0.10.21", "mediapipe/modules/face_landmark/face_landmark.tflite"
SOURCE = f"PyPI {PACKAGE}=={VERSION}, {MEMBER}"
SIDE = 192
SCALE = 1.5
# mesh indices: eye corners (outer, inner) of each eye, nose tip, mouth corners
EYES = ((33, 133), (362, 263))
NOSE, MOUTH = 1, (61, 291)


class FaceMesh:
    """The 468-point mesh of a face whose YuNet box and dlib points are known."""

    name = NAME
    model_sha256 = SHA256

    def __init__(self, path: Path, threads: int = 1) -> None:
        digest = file_sha256(path)
        if digest != SHA256:
            raise RuntimeError(f"{NAME}: {path} has sha256 {digest}, expected {SHA256} (`livematch models install`)")
        self._run = LiteRT(path, threads)

    @classmethod
    def installed(cls, models_dir: Path, threads: int = 1) -> FaceMesh | None:
        """The mesh if ``livematch models install`` put it in ``models_dir``, else None."""
        path = models_dir / FILE
        return cls(path, threads) if path.is_file() else None

    def info(self) -> dict[str, str]:
        """Name, digest and provenance, for ``GET /info``."""
        return {"landmarks": NAME, "sha256": SHA256, "licence": LICENCE, "source": SOURCE}

    def landmarks(self, bgr: np.ndarray, face: Face) -> np.ndarray:
        """468 ``(x, y)`` points: a first pass on the face box, a second on the first pass's extent."""
        x, y, w, h = face.box
        left, right = face.points5[0], face.points5[1]
        first = self._pass(bgr, (x + w / 2, y + h / 2), SCALE * max(w, h), _angle(left, right))
        low, high = first.min(0), first.max(0)
        outer = _angle(first[EYES[0][0]], first[EYES[1][1]])
        return self._pass(bgr, (low + high) / 2, SCALE * max(float(max(high - low)), 1.0), outer)  # >= 1 px

    def points5(self, bgr: np.ndarray, face: Face) -> np.ndarray:
        """Eye centres (midpoints of the corners), nose tip and mouth corners, image-left first."""
        mesh = self.landmarks(bgr, face)
        eyes = sorted((mesh[list(pair)].mean(0) for pair in EYES), key=lambda p: p[0])
        mouth = sorted((mesh[i] for i in MOUTH), key=lambda p: p[0])
        return np.stack([*eyes, mesh[NOSE], *mouth]).astype(np.float32)

    def _pass(self, bgr: np.ndarray, centre: tuple[float, float] | np.ndarray, side: float, angle: float) -> np.ndarray:
        to_crop = _crop_matrix(centre, side, angle)
        crop = cv2.warpAffine(bgr, to_crop, (SIDE, SIDE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        out = self._run(crop[None, :, :, ::-1].astype(np.float32) / 255.0)
        points = out.reshape(-1, 3)[:, :2]
        return cv2.transform(points[None], cv2.invertAffineTransform(to_crop))[0]


def _angle(left: np.ndarray, right: np.ndarray) -> float:
    """Roll of the line from the image-left eye to the image-right eye, in radians."""
    return float(np.arctan2(right[1] - left[1], right[0] - left[0]))


def _crop_matrix(centre: tuple[float, float] | np.ndarray, side: float, angle: float) -> np.ndarray:
    """Affine map from the image to a SIDE x SIDE crop of a square of ``side`` px turned by ``angle``."""
    cx, cy = float(centre[0]), float(centre[1])
    matrix = cv2.getRotationMatrix2D((cx, cy), float(np.degrees(angle)), SIDE / side)
    matrix[:, 2] += (SIDE / 2 - cx, SIDE / 2 - cy)
    return matrix.astype(np.float32)
