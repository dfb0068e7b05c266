"""Straight borders around the face that move: the frame of a screen or a sheet held in front of the camera.

A replayed video or a print is a bounded plane held by hand. Its boundary (a screen's bezel, a sheet's edge)
is a long straight edge beside the face, and the hand moves it between frames. A live scene rarely has that
combination on two orthogonal sides of the face: background lines (doors, shelves) usually stand on one
axis only, and with a camera on a tripod or a desk they do not move at all. A hand-held camera does move
them, now and then in one probed frame, which is why the temporal evidence asks for two (``temporal.py``).

``moving_border`` is the fraction of probed frames in which long straight edges (LSD segments at least a
quarter of the frame's shorter side and half the face's size along it, so not the outline of hair) lie
beside the face on a vertical side (left or right of the face box, overlapping its rows) **and** on a
horizontal side (above or below it, overlapping its columns), each of which has *moved* in another probed
frame: no longer at the same place but found again, parallel, a few pixels away. "Found again" keeps an
edge merely hidden by the moving head from counting as moved.

Edges are detected at 160 px (LSD, ~3 ms a frame) and their motion is measured at 320 px.
"""

from __future__ import annotations

import cv2
import numpy as np

from livematch.faces.track import Track

PROBE_FRAMES = 6  # frames probed for edges (evenly spaced over the track)
COMPARE_STEPS = (2, 3)  # each probe is compared with the probes this many steps later (cyclically)
MIN_LENGTH = 0.25  # of the shorter image side: a bezel or sheet edge spans much of the frame
MIN_FACE_SPAN = 0.5  # and at least half the face box along its side: the outline of hair or a cheek is not
MAX_TILT = 0.5  # |dx/dy| (vertical side) or |dy/dx| (horizontal side) below this: ~27 degrees
WORK_SIDE = 320  # longest image side where edge motion is measured (edges are detected at half of it)
SEARCH = 8  # pixels (at WORK_SIDE) searched on each side of an edge for its new position
GONE, FOUND = 0.5, 0.6  # gradient strength (relative to the edge's own) for "left its place" / "found again"
POINTS = 12  # samples per third of an edge


def _gradient(gray: np.ndarray) -> np.ndarray:
    gray = gray.astype(np.float32)
    return cv2.magnitude(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))


def _side_segments(gray: np.ndarray, box: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Long straight segments beside the face box, labelled ``L``, ``R``, ``T`` or ``B``.

    The detector runs at half of ``gray``'s size (a long edge survives it; the cost drops four-fold) and
    the segments are scaled back, so that their motion is measured at the full working resolution.
    """
    small = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    found = cv2.createLineSegmentDetector().detect(small)[0]  # one detector per call: it keeps state
    if found is None:
        return []
    found = found * 2.0
    x, y, w, h = box
    out = []
    for seg in found.reshape(-1, 4):
        x1, y1, x2, y2 = seg
        dx, dy = abs(x2 - x1), abs(y2 - y1)
        if np.hypot(dx, dy) < MIN_LENGTH * min(gray.shape):
            continue
        if dx < MAX_TILT * dy and dy >= MIN_FACE_SPAN * h and max(y1, y2) > y and min(y1, y2) < y + h:
            side = "L" if max(x1, x2) < x else "R" if min(x1, x2) > x + w else ""
        elif dy < MAX_TILT * dx and dx >= MIN_FACE_SPAN * w and max(x1, x2) > x and min(x1, x2) < x + w:
            side = "T" if max(y1, y2) < y else "B" if min(y1, y2) > y + h else ""
        else:
            side = ""
        if side:
            out.append((side, seg))
    return out


def _moved(seg: np.ndarray, grad: np.ndarray, others: list[np.ndarray]) -> bool:
    """True if, in some other frame, a third of ``seg`` left its place and reappears parallel nearby."""
    h, w = grad.shape
    t = np.linspace(0.05, 0.95, 3 * POINTS)[:, None]
    pts = seg[:2] * (1 - t) + seg[2:] * t
    d = seg[2:] - seg[:2]
    normal = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-6)
    offsets = np.arange(-SEARCH, SEARCH + 1)
    probe = pts[None] + offsets[:, None, None] * normal
    xi = probe[..., 0].round().astype(int).clip(0, w - 1)
    yi = probe[..., 1].round().astype(int).clip(0, h - 1)
    centre = offsets == 0
    ref = grad[yi[centre], xi[centre]][0] + 1e-3
    for other in others:
        strength = (other[yi, xi] / ref).reshape(len(offsets), 3, POINTS)
        profile = np.median(strength, axis=2)  # (offsets, thirds)
        here, away = profile[centre][0], profile[~centre].max(axis=0)
        if np.any((here < GONE) & (away >= FOUND)):
            return True
    return False


def moving_border(track: Track) -> float:
    """Fraction of probed frames with moved straight edges on a vertical and a horizontal side of the face."""
    n = len(track.faces)
    if n < 2:
        return 0.0
    picks = np.unique(np.linspace(0, n - 1, min(PROBE_FRAMES, n)).round().astype(int))
    grays, boxes = [], []
    for i in picks:
        bgr = track.frames[i].bgr
        scale = min(1.0, WORK_SIDE / max(bgr.shape[:2]))
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        grays.append(cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray)
        boxes.append(np.asarray(track.faces[i].box, dtype=np.float64) * scale)
    grads = [_gradient(g) for g in grays]
    k = len(picks)
    corners = 0
    for i in range(k):
        others = [grads[(i + s) % k] for s in COMPARE_STEPS if (i + s) % k != i]
        sides = {side for side, seg in _side_segments(grays[i], boxes[i]) if _moved(seg, grads[i], others)}
        corners += bool(sides & {"L", "R"}) and bool(sides & {"T", "B"})
    return corners / k
