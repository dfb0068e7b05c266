"""``livematch eval pairs``: every clip of a folder against every photo, as API requests.

The matcher's video-photo target reads: a clip against its own person's photo scores at least 0.7
(the recommended threshold, FAR 1e-4) and against any other person's photo under 0.5 (FAR 1e-2). Each
pair is one ``Engine.verify`` call with the decrypted bytes, exactly what a request runs (decode,
track, liveness, best frame, embedding, score), so the numbers are the service's numbers.

* The clip-photo pairs come from ``attacks.real_sources`` (a ``manifest.tsv`` with ``file`` and
  ``photo`` columns, or same-name pairs). Rows with the same ``person`` value, where the manifest has that
  column, are one person; so are rows that list the same photo (several cuts of one clip). Every
  other pair of rows is two people.
* A clip that fails liveness gets no score, as in the API. Against its own photo that is a miss (the
  user is turned away); against another person's photo it is not a false accept, and is counted apart.
* An error (a ``LivematchError``) is recorded with its code, like a failed liveness.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from livematch.calibration import nominal_far
from livematch.config import Settings
from livematch.engine import Engine, VerifyOptions
from livematch.errors import LivematchError
from livematch.eval.attacks import Source
from livematch.eval.files import writable
from livematch.eval.verification import THRESHOLDS, EmbeddedSet, bootstrap_counts, embed_set, far_interval

if TYPE_CHECKING:
    from matplotlib.axes import Axes

OWN_THRESHOLD = 0.7  # the recommended threshold (FAR 1e-4)
CROSS_THRESHOLD = 0.5  # FAR 1e-2
WORST = 5  # pairs listed from each end


@dataclass
class Pair:
    """One request: a clip, a photo, and what the service answered."""

    clip: str
    photo: str
    own: bool
    liveness_status: str | None = None
    liveness_score: float | None = None
    verification_score: float | None = None
    similarity: float | None = None  # the embedders' cosine behind the score: the margin where scores read 1.0
    code: int | None = None


def run_pair(engine: Engine, clip: Path, photo: Path, own: bool) -> Pair:
    """Verify ``clip`` against ``photo`` as one request."""
    pair = Pair(str(clip), str(photo), own)
    try:
        result = engine.verify(photo.read_bytes(), clip.read_bytes(), VerifyOptions(auto_rotate=True))
    except LivematchError as exc:
        pair.code = exc.code
        return pair
    pair.liveness_status, pair.liveness_score = result.liveness.status, result.liveness.score
    pair.verification_score = result.verification_score
    pair.similarity = None if result.similarity is None else round(result.similarity, 4)
    return pair


def summarise(pairs: list[Pair]) -> dict[str, object]:
    """Own pairs at or above 0.7 and cross pairs under 0.5, the extremes, and what could not be scored."""
    own = [p for p in pairs if p.own]
    cross = [p for p in pairs if not p.own]
    own_scores = [p.verification_score for p in own if p.verification_score is not None]
    cross_scored = [p for p in cross if p.verification_score is not None]
    return {
        "own": {
            "pairs": len(own),
            "at_or_above_threshold": sum(s >= OWN_THRESHOLD for s in own_scores),
            "unscored": len(own) - len(own_scores),
            "min": min(own_scores, default=None),
            "worst": _rows(sorted(own, key=lambda p: -1.0 if p.verification_score is None else p.verification_score)),
        },
        "cross": {
            "pairs": len(cross),
            "at_or_above_threshold": sum(p.verification_score >= CROSS_THRESHOLD for p in cross_scored),
            "unscored": len(cross) - len(cross_scored),
            "max": max((p.verification_score for p in cross_scored), default=None),
            "worst": _rows(sorted(cross_scored, key=lambda p: -p.verification_score)),
        },
    }


def _rows(pairs: list[Pair], limit: int | None = WORST) -> list[dict[str, object]]:
    """Pairs as JSON objects, fields without a value left out."""
    return [{k: v for k, v in asdict(p).items() if v is not None} for p in pairs[:limit]]


def pairs_plot(
    pairs: list[Pair], clips: list[str], photos: list[str], path: Path, strangers: dict[str, object] | None = None
) -> None:
    """The score matrix, clips down and photos across: own pairs framed, failures to the eye at once.

    Green cells pass the recommended threshold, red ones are under 0.5; an own pair should be green and
    every other cell red. A pair that misses its target is framed in blue; a cell without a score
    (liveness failed, or an error) shows why. With a ``strangers`` summary, a second panel draws its
    false-accept rates against the contract's line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cell = {(p.clip, p.photo): p for p in pairs}
    scores = np.array([[_score(cell[c, f]) for f in photos] for c in clips])
    size = (2 + 0.55 * len(photos), 1.5 + 0.4 * len(clips))
    if strangers and strangers.get("pairs"):
        fig, (ax, side) = plt.subplots(1, 2, figsize=(size[0] + 4.5, max(size[1], 4)), width_ratios=[size[0], 4])
        _strangers_panel(side, strangers)
    else:
        fig, ax = plt.subplots(figsize=size)
    ax.imshow(np.nan_to_num(scores, nan=0.0), cmap="RdYlGn", vmin=CROSS_THRESHOLD - 0.2, vmax=OWN_THRESHOLD + 0.1)
    for (i, c), (j, f) in itertools.product(enumerate(clips), enumerate(photos)):
        p = cell[c, f]
        text = (p.liveness_status or str(p.code)) if p.verification_score is None else f"{p.verification_score:.2f}"
        missed = not _score(p) >= OWN_THRESHOLD if p.own else _score(p) >= CROSS_THRESHOLD  # NaN: no score
        ax.text(j, i, text, ha="center", va="center", fontsize=6, weight="bold" if missed else "normal")
        if p.own or missed:
            ax.add_patch(plt.Rectangle((j - 0.45, i - 0.45), 0.9, 0.9, fill=False, lw=1.5, ec="b" if missed else "k"))
    ax.set_xticks(range(len(photos)), [Path(f).stem for f in photos], rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(clips)), [Path(c).stem for c in clips], fontsize=7)
    ax.set_xlabel("photo")
    ax.set_ylabel("clip")
    title = f"verification_score: own pairs (black) >= {OWN_THRESHOLD}, others < {CROSS_THRESHOLD}; misses in blue"
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _strangers_panel(ax: Axes, strangers: dict[str, object]) -> None:
    """Share of clip-stranger pairs at or above each threshold (clip-resampled 95 % bars) and nominal FAR."""
    rows = [r for r in strangers["thresholds"] if r["accepted"]]
    t = np.array([r["threshold"] for r in strangers["thresholds"]])
    ax.semilogy(t, nominal_far(t), "k--", lw=1, label="nominal (the contract)")
    if rows:  # a rate of 0 has no place on a log scale
        rate = np.array([r["rate"] for r in rows])
        low, high = np.array([r["rate_ci_clips"] for r in rows]).T
        bars = np.clip(np.stack([rate - low, high - rate]), 0, None)
        ax.errorbar([r["threshold"] for r in rows], rate, yerr=bars, fmt="o-", capsize=3, label="clips vs strangers")
    ax.set_xlabel("threshold")
    ax.set_ylabel("false-accept rate")
    ax.set_title(f"{strangers['clips']} clips x {strangers['photos']} strangers' photos", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)


def _score(pair: Pair) -> float:
    return np.nan if pair.verification_score is None else pair.verification_score


def stranger_scores(engine: Engine, clips: list[Path], photos: EmbeddedSet) -> np.ndarray:
    """``(clips, photos)`` verification scores of each clip against each embedded photo.

    Each clip is embedded once by ``Engine.embed_video`` (the stages a request runs before scoring) and
    scored by ``Engine.score``, so a cell holds what a request with that clip and photo would answer once
    liveness has passed; tens of thousands of pairs cost a dozen clip embeddings instead of as many requests.
    """
    rows = []
    for clip in tqdm(clips, desc="clips", unit="clip"):
        face = engine.embed_video(clip.read_bytes())
        rows.append([engine.score(face.embedding, photo) for photo in photos.embeddings])
    return np.array(rows).reshape(len(clips), len(photos.paths))


def strangers_summary(
    clips: list[Path], photos: EmbeddedSet, scores: np.ndarray, draws: int = 2000
) -> dict[str, object]:
    """Share of clip-stranger pairs at or above each threshold, against the contract's nominal FAR.

    Accepts cluster by clip (one clip's face may sit near many strangers), so beside the pair-level
    interval each rate has a 95 % interval from resampling the clips.
    """
    weights = bootstrap_counts(len(clips), draws)
    table = []
    for t in THRESHOLDS:
        per_clip = (scores >= t).sum(1)
        resampled = weights @ per_clip / scores.size
        table.append(
            {
                "threshold": t,
                "nominal_far": float(nominal_far(t)),
                "accepted": int(per_clip.sum()),
                "rate": float(per_clip.sum() / scores.size),
                "rate_ci": far_interval(int(per_clip.sum()), scores.size),
                "rate_ci_clips": np.percentile(resampled, [2.5, 97.5]).tolist(),
            }
        )
    worst = np.argsort(-scores, axis=None)[:WORST]
    return {
        "clips": len(clips),
        "photos": len(photos.paths),
        "failures_to_enrol": len(photos.failures),
        "pairs": int(scores.size),
        "thresholds": table,
        "per_clip_at_or_above_cross": dict(
            zip(map(str, clips), (scores >= CROSS_THRESHOLD).sum(1).tolist(), strict=True)
        ),
        "worst": [
            {"clip": str(clips[i]), "photo": photos.paths[j], "verification_score": float(scores[i, j])}
            for i, j in zip(*np.unravel_index(worst, scores.shape), strict=True)
        ],
    }


def eval_pairs(
    settings: Settings,
    sources: list[Source],
    out: Path | None,
    plot: Path | None,
    strangers: tuple[list[tuple[str, str]], Path] | None = None,
) -> dict[str, object]:
    """``livematch eval pairs``: every clip against every distinct photo; print, write the JSON (and plot).

    ``strangers``: rows ``(path, identity)`` of photos of people none of the clips shows, and their folder.
    Each clip that passed liveness in its own request is also scored against each of them
    (``stranger_scores``), which measures the false-accept rate of video-photo pairs on far more pairs
    than the clips' own photos give. The strangers' photos are embedded as ``eval verification`` embeds
    photos (pixels as stored, no auto-rotation: a labelled photo set is upright).
    """
    writable(out, plot)
    photos = sorted({s.photo for s in sources})
    shown = {s.photo: s.who for s in sources}  # whom each photo shows
    engine = Engine(settings)
    started = time.perf_counter()
    jobs = [(s.clip, photo, photo == s.photo or shown[photo] == s.who) for s in sources for photo in photos]
    pairs = [run_pair(engine, *job) for job in tqdm(jobs, unit="pair")]
    report = {
        "embedder": engine.info()["embedder"],
        "liveness_evidence": [s.name for s in engine.liveness_sources],
        "clips": len(sources),
        "photos": len(photos),
        "own_threshold": OWN_THRESHOLD,
        "cross_threshold": CROSS_THRESHOLD,
        **summarise(pairs),
    }
    live = sorted({Path(p.clip) for p in pairs if p.own and p.verification_score is not None})
    if strangers is not None and live:
        embedded = embed_set(engine, *strangers)
        report["strangers"] = strangers_summary(live, embedded, stranger_scores(engine, live, embedded))
    elif strangers is not None:
        report["strangers"] = {"clips": 0, "reason": "no clip passed liveness against its own photo"}
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["items"] = _rows(pairs, None)
    if out is not None:
        out.write_text(json.dumps(report, indent=1))
    if plot is not None:
        pairs_plot(pairs, [str(s.clip) for s in sources], [str(p) for p in photos], plot, report.get("strangers"))
    return report
