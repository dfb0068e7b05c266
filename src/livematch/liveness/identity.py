"""Is the tracked face one person from start to end? A spliced video says no.

An injection attack can cut from a live person (any person: the attacker) to the victim's photo. The
live part supplies the motion and the blink that the other cues look for, and the photo part supplies
the sharp, still frame that the quality ranking picks for matching. Nothing in landmark motion or pixel
change tells "one person moving" from "two people one after the other" (the residual between two faces
is large, so a cut even reads as motion), but a face embedding does.

``IdentityCheck`` embeds faces with SFace (built in, no extra weights) without flip averaging, which
matching needs and a same-person test does not, in one batch. Two uses:

* ``identity_consistency``: the least cosine between the best-quality frame's face (the one that is
  matched against the photo) and the faces of the track's first frame and its middle frame. Why these
  two: ``nonrigid_motion`` measures every frame against the first. If the first frame shows another
  person than the best frame, this check sees it. If it shows the same person, frames of the other
  person are what makes ``nonrigid_motion`` read "live" (a still photo, panned or noisy, moves as a
  plane), so that person must fill more than half of the video, and any stretch longer than half the
  track contains its middle frame. With one or two cuts, a splice is caught here or needs a blink:
* ``same_person``: whether the face in one glimpse (the frame of a blink) is the best frame's person, so
  that a blink borrowed from someone else cannot excuse a still photo (``temporal.TemporalEvidence``).

Two crops in one batch (~9 ms on 2 cores in bfloat16, ~17 ms in float32; three when the active
embedder is not SFace, whose matching vector of the best frame is otherwise the reference) run in a
thread beside the other temporal cues.
Three or more cuts placed around the checked frames are not caught (docs/LIVENESS.md).
"""

from __future__ import annotations

import cv2
import numpy as np

from livematch.embed.base import unit
from livematch.embed.sface import SFaceEmbedder
from livematch.embed.template import chosen
from livematch.faces.landmarks import five_from_68
from livematch.faces.record import Face
from livematch.faces.track import Track

# Cosine (SFace, no flip) between two faces of one video vs of two people. Measured first on the 12 real
# clips, their 2 s and 3 s cuts, hand-held variants and re-encodings (96 videos): >= 0.597; scratch splices
# whose checked frames fall on both people: <= 0.12. On celeba-dev photos of different people 1.7 % of pairs
# reach 0.3, 0.4 % reach 0.35. The midpoint, 0.3, sits nearer the impostors: a turned or blurred frame of
# the same person may score well under the clips' 0.6. Held out, 556 live videos: >= 0.541 (docs/LIVENESS.md).
IDENTITY_MIDPOINT = 0.3
IDENTITY_WIDTH = 0.04  # on the cosine itself: 0.4 reads 0.92 live, 0.2 reads 0.08
CHECKPOINTS = (0.0, 0.5)  # the first frame is nonrigid_motion's reference; see the module docstring


def same_person_live(similarity: float) -> float:
    """0..1 evidence that two faces are one person (0.5 at the midpoint)."""
    return float(1.0 / (1.0 + np.exp(-(similarity - IDENTITY_MIDPOINT) / IDENTITY_WIDTH)))


class IdentityCheck:
    """Same-person tests between the faces of one track, with SFace on one batch of crops.

    With ``reuse_match`` (the active embedder is SFace, on dlib's or the mesh's five points, so its vectors
    share SFace's space) the matching vector that the engine has already put on the best frame's face is the
    reference, and one crop fewer is embedded here.
    """

    def __init__(self, *, threads: int = 1, reuse_match: bool = False) -> None:
        self._sface = SFaceEmbedder(flip=False, threads=threads)
        self._reuse_match = reuse_match

    def consistency(self, track: Track) -> tuple[float, np.ndarray]:
        """Least cosine between the best frame's face and the faces at ``CHECKPOINTS`` (1.0 for one face),
        and the best frame's vector (the reference that ``same_person`` compares with)."""
        best = chosen(track.faces, 1)[0]
        last = len(track.faces) - 1
        others = sorted({round(last * q) for q in CHECKPOINTS} - {best})
        matched = track.faces[best].embedding if self._reuse_match else None
        needed = others if matched is not None else [best, *others]
        vectors = self._embed(track, needed)
        reference = unit(matched) if matched is not None else vectors[0]  # a template is shorter than unit
        checks = vectors[len(needed) - len(others) :]
        return (float(np.min(checks @ reference)) if others else 1.0), reference

    def _embed(self, track: Track, indices: list[int]) -> np.ndarray:
        """``(n, 128)`` vectors of the track's faces at ``indices`` (none for an empty list)."""
        if not indices:
            return np.zeros((0, 128), np.float32)
        return self._sface.embed_batch([(track.frames[i].bgr, track.faces[i]) for i in indices])

    def same_person(self, reference: np.ndarray, gray: np.ndarray, points68: np.ndarray) -> float:
        """Cosine between ``reference`` (from ``consistency``) and the face with these 68 landmarks in a glimpse."""
        face = Face(np.zeros(4, np.float32), 1.0, five_from_68(points68), landmarks68=points68)
        return float(self._sface.embed(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), face) @ reference)
