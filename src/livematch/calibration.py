"""Similarity -> ``verification_score``, calibrated so thresholds mean false-accept rates.

Target: over impostor pairs, P(score >= t) = 10^-(10t - 3), i.e. 0.4 <-> 1e-1 ... 0.9 <-> 1e-6.
Equivalently ``score = (3 - log10 FAR(sim)) / 10`` where FAR(sim) is the impostor survival
function. The mapping is stored as monotone knots, tied to the embedder's sha256: a calibration made
for one model must never score another's similarities.

How FAR(sim) is estimated (docs/CALIBRATION.md has the cross-validation behind these choices):

- Identities are split at random into ``GROUPS`` disjoint groups, ``REPEATS`` times. Each group's
  impostor pairs (both people in the group) give one curve: the empirical quantile where at least
  ``MIN_TAIL_COUNT`` pairs lie above the point, a generalised Pareto fit of the group's top
  ``TAIL_FRACTION`` (at least ``MIN_TAIL_COUNT`` pairs) beyond.
- The knots are the pointwise median of those curves. Impostor tails are dominated by a few identity
  pairs (look-alikes, and in CelebA the same person filed under two identity numbers); pooling all
  pairs lets one such pair set the 1e-4 point for everyone, while the median over identity-disjoint
  groups estimates what a typical unseen population of people measures.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

MIN_TAIL_COUNT = 50
TAIL_FRACTION = 0.01
GROUPS = 3
REPEATS = 5
FORMAT_VERSION = 1
SCORES = np.round(np.arange(0.30, 1.0001, 0.01), 2)


def nominal_far(score: float | np.ndarray) -> float | np.ndarray:
    """The false-accept rate a score threshold promises: 10^-(10t - 3), at most 1."""
    return np.minimum(10.0 ** -(10 * np.asarray(score, dtype=np.float64) - 3), 1.0)


@dataclass(frozen=True)
class Calibration:
    """Monotone piecewise-linear map from cosine similarity to score, for one embedder."""

    embedder: str
    embedder_sha256: str
    similarity: list[float]
    score: list[float]
    fitted_on: dict[str, object] = field(default_factory=dict)
    version: int = FORMAT_VERSION

    def to_score(self, similarity: float) -> float:
        """Calibrated score in [0, 1]; monotone non-decreasing in ``similarity``."""
        return float(self.to_scores(np.asarray(similarity)))

    def to_scores(self, similarity: np.ndarray) -> np.ndarray:
        """``to_score`` for an array of similarities (evaluation scores millions of pairs)."""
        return np.clip(np.interp(similarity, self.similarity, self.score), 0.0, 1.0)

    def save(self, path: Path) -> None:
        """Write as JSON (the format ``load`` reads)."""
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path, *, embedder_sha256: str) -> Calibration:
        """Read a calibration file, refusing one fitted for a different embedder or format."""
        if not Path(path).is_file():
            raise ValueError(
                f"no calibration {path} for the active embedder: fit one on labelled photos with "
                f"`livematch calibrate --identities TSV --images DIR --out {path}` (docs/CALIBRATION.md)"
            )
        try:
            cal = cls(**json.loads(Path(path).read_text()))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"calibration {path} is not a livematch calibration file: {exc}") from None
        if cal.version != FORMAT_VERSION:
            raise ValueError(f"calibration {path} has format version {cal.version}, expected {FORMAT_VERSION}")
        if cal.embedder_sha256 != embedder_sha256:
            raise ValueError(
                f"calibration {path} was fitted for embedder sha256 {cal.embedder_sha256[:12]}…, "
                f"the active embedder is {embedder_sha256[:12]}…; run `livematch calibrate` for it"
            )
        return cal


def builtin_path(embedder_name: str) -> Path:
    """Where the package keeps the calibration shipped for a built-in embedder."""
    return Path(__file__).parent / "data" / f"calibration-{embedder_name}.json"


def identity_groups(
    labels: np.ndarray, *, groups: int = GROUPS, repeats: int = REPEATS, seed: int = 0
) -> list[np.ndarray]:
    """Indices of ``repeats`` random partitions of the identities into ``groups`` disjoint groups."""
    identities = np.unique(labels)
    if len(identities) < 2 * groups:
        raise ValueError(f"{len(identities)} identities are too few for {groups} groups of at least two")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(repeats):
        order = rng.permutation(identities)
        out += [np.flatnonzero(np.isin(labels, order[g::groups])) for g in range(groups)]
    return out


def similarity_curve(impostor: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """Similarity at which each of ``SCORES``' nominal FARs is reached, for one set of impostor pairs."""
    from scipy import stats  # only needed when fitting

    imp = np.sort(np.asarray(impostor, dtype=np.float64))
    n = len(imp)
    if n < 2 * MIN_TAIL_COUNT:
        raise ValueError(f"{n} impostor pairs in a group are too few to fit a calibration")
    tail = imp[-max(int(n * TAIL_FRACTION), MIN_TAIL_COUNT) :]
    tail_start = float(tail[0])
    shape, _, scale = stats.genpareto.fit(tail - tail_start, floc=0.0)
    tail_mass = len(tail) / n
    fars = nominal_far(SCORES)
    empirical = fars >= MIN_TAIL_COUNT / n  # beyond: the Pareto fit (tail_mass >= MIN_TAIL_COUNT / n)
    sims = np.where(
        empirical,
        np.quantile(imp, 1.0 - fars),
        tail_start + stats.genpareto.ppf(1.0 - np.minimum(fars / tail_mass, 1.0), shape, loc=0.0, scale=scale),
    )
    params = {"pareto_shape": float(shape), "pareto_scale": float(scale), "tail_start_similarity": tail_start}
    return np.maximum.accumulate(np.minimum(sims, 1.0)), params


def fit(
    impostor_groups: Sequence[np.ndarray], *, embedder: str, embedder_sha256: str, meta: dict[str, object]
) -> Calibration:
    """Fit the knots from the impostor similarities of identity-disjoint groups (module docstring)."""
    curves, params = zip(*(similarity_curve(g) for g in impostor_groups), strict=True)
    sims = np.maximum.accumulate(np.median(np.stack(curves), axis=0))
    knots_sim = [-1.0, *sims.tolist()]
    knots_score = [0.0, *SCORES.tolist()]
    if knots_sim[-1] < 1.0:
        knots_sim.append(1.0)
        knots_score.append(1.0)
    fitted = {
        **meta,
        "method": "median over identity-disjoint groups: empirical quantiles, generalised Pareto tail",
        "groups": len(impostor_groups),
        "tail_fraction": TAIL_FRACTION,
        "min_tail_count": MIN_TAIL_COUNT,
        **{f"median_{k}": float(np.median([p[k] for p in params])) for k in params[0]},
    }
    return Calibration(embedder, embedder_sha256, knots_sim, knots_score, fitted)
