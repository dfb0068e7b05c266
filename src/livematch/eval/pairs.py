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

import numpy as np
from tqdm import tqdm

from livematch.config import Settings
from livematch.engine import Engine, VerifyOptions
from livematch.errors import LivematchError
from livematch.eval.attacks import Source
from livematch.eval.files import writable

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


def pairs_plot(pairs: list[Pair], clips: list[str], photos: list[str], path: Path) -> None:
    """The score matrix, clips down and photos across: own pairs framed, failures to the eye at once.

    Green cells pass the recommended threshold, red ones are under 0.5; an own pair should be green and
    every other cell red. A pair that misses its target is framed in blue; a cell without a score
    (liveness failed, or an error) shows why.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cell = {(p.clip, p.photo): p for p in pairs}
    scores = np.array([[_score(cell[c, f]) for f in photos] for c in clips])
    fig, ax = plt.subplots(figsize=(2 + 0.55 * len(photos), 1.5 + 0.4 * len(clips)))
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


def _score(pair: Pair) -> float:
    return np.nan if pair.verification_score is None else pair.verification_score


def eval_pairs(settings: Settings, sources: list[Source], out: Path | None, plot: Path | None) -> dict[str, object]:
    """``livematch eval pairs``: every clip against every distinct photo; print, write the JSON (and plot)."""
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
        "seconds": round(time.perf_counter() - started, 1),
        "items": _rows(pairs, None),
    }
    if out is not None:
        out.write_text(json.dumps(report, indent=1))
    if plot is not None:
        pairs_plot(pairs, [str(s.clip) for s in sources], [str(p) for p in photos], plot)
    return report
