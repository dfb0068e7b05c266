"""The video side as a template: several good frames of the tracked face, quality-weighted.

One frame carries that frame's blur, expression and pose; averaging over the best few frames (weights =
frame quality) cancels part of that noise, as multi-shot templates do in enrolment. Frames well below the
best one in quality are left out rather than down-weighted, so a blurred or blinking frame never enters
the template. Each extra frame costs one embedding.

The template is the weighted mean of the unit vectors, *not* re-normalised: its dot product with a photo's
vector is the weighted mean of the frames' cosines, a score-level average. Re-normalising would shrink the
spread of the noise and then stretch the result back to unit length, which raises every similarity,
strangers' too, above what the single-image calibration was fitted on: against 26,808 clip-stranger pairs
a 5-frame re-normalised template accepted 69 at 0.5 and the mean of cosines 42, the single best frame 66
(docs/MODELS.md, "Video template").
"""

from __future__ import annotations

import numpy as np

from livematch.embed.base import Embedder
from livematch.faces.record import Face
from livematch.media import Frame

MIN_RELATIVE_QUALITY = 0.5  # a frame enters the template only if its quality is at least half the best's


def chosen(faces: list[Face], count: int) -> list[int]:
    """Indices of up to ``count`` faces by falling quality, each at least MIN_RELATIVE_QUALITY of the best."""
    quality = np.array([f.quality.get("quality", 0.0) for f in faces])
    order = np.argsort(-quality, kind="stable")[: max(count, 1)]
    return [int(i) for i in order if quality[i] >= MIN_RELATIVE_QUALITY * quality[order[0]]]


def template(embedder: Embedder, frames: list[Frame], faces: list[Face], count: int) -> np.ndarray:
    """Quality-weighted mean of the chosen frames' embeddings (one frame: its own vector, unchanged)."""
    picks = chosen(faces, count)
    vectors = np.stack([embedder.embed(frames[i].bgr, faces[i]) for i in picks])
    weights = np.array([max(faces[i].quality.get("quality", 0.0), 1e-6) for i in picks])
    return ((weights / weights.sum()) @ vectors).astype(np.float32)
