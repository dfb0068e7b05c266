"""The face record that flows one way through the pipeline, enriched by each stage."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Face:
    """One detected face in one image.

    ``box`` is ``(x, y, width, height)`` in pixels of the image it was found in; ``points5`` are
    ``(x, y)`` rows in the order left eye, right eye, nose tip, left mouth corner, right mouth
    corner, where left/right are as seen in the image. ``landmarks68`` follow dlib/iBUG numbering.
    """

    box: np.ndarray
    score: float
    points5: np.ndarray
    landmarks68: np.ndarray | None = None
    embedding: np.ndarray | None = None
    quality: dict[str, float] = field(default_factory=dict)

    @property
    def size(self) -> float:
        """Inter-ocular-independent face size: the geometric mean of box width and height, in pixels."""
        return float(np.sqrt(self.box[2] * self.box[3]))

    @property
    def center(self) -> np.ndarray:
        """Box centre ``(x, y)`` in pixels."""
        return self.box[:2] + self.box[2:] / 2


def box_pixels(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The pixels of ``image`` inside an ``(x, y, w, h)`` box, clipped to the image (a box may cross its edge)."""
    x, y, w, h = box
    return image[max(int(y), 0) : max(int(y + h), 0), max(int(x), 0) : max(int(x + w), 0)]
