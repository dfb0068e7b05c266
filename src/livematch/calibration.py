"""Similarity -> ``verification_score``, calibrated so thresholds mean false-accept rates.

Target: over impostor pairs, P(score >= t) = 10^-(10t - 3), i.e. 0.4 <-> 1e-1 ... 0.9 <-> 1e-6.
Equivalently ``score = (3 - log10 FAR(sim)) / 10`` where FAR(sim) is the impostor survival
function. It is read off the empirical impostor distribution where there are enough pairs
(at least ``MIN_TAIL_COUNT`` above the point) and from a generalised Pareto fit of the upper tail
beyond. The mapping is stored as monotone knots, tied to the embedder's sha256: a calibration made
for one model must never score another's similarities.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

MIN_TAIL_COUNT = 50
FORMAT_VERSION = 1


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
        return float(np.clip(np.interp(similarity, self.similarity, self.score), 0.0, 1.0))

    def save(self, path: Path) -> None:
        """Write as JSON (the format ``load`` reads)."""
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path, *, embedder_sha256: str) -> Calibration:
        """Read a calibration file, refusing one fitted for a different embedder."""
        data = json.loads(Path(path).read_text())
        cal = cls(**data)
        if cal.embedder_sha256 != embedder_sha256:
            raise ValueError(
                f"calibration {path} was fitted for embedder sha256 {cal.embedder_sha256[:12]}…, "
                f"the active embedder is {embedder_sha256[:12]}…; run `livematch calibrate` for it"
            )
        return cal


def builtin_path(embedder_name: str) -> Path:
    """Where the package keeps the calibration shipped for a built-in embedder."""
    return Path(__file__).parent / "data" / f"calibration-{embedder_name}.json"


def fit(impostor: np.ndarray, *, embedder: str, embedder_sha256: str, meta: dict[str, object]) -> Calibration:
    """Fit the similarity -> score knots from impostor similarities (see module docstring)."""
    from scipy import stats  # only needed when fitting

    imp = np.sort(np.asarray(impostor, dtype=np.float64))
    n = len(imp)
    empirical_floor = MIN_TAIL_COUNT / n
    tail_start = imp[int(n * (1 - 0.01))]  # top 1 % modelled by the Pareto fit
    shape, _, scale = stats.genpareto.fit(imp[imp > tail_start] - tail_start, floc=0.0)
    tail_mass = float(np.mean(imp > tail_start))

    def similarity_at(far: float) -> float:
        if far >= empirical_floor:
            return float(np.quantile(imp, 1.0 - far))
        return float(tail_start + stats.genpareto.ppf(1.0 - far / tail_mass, shape, loc=0.0, scale=scale))

    scores = np.round(np.arange(0.30, 1.0001, 0.01), 2)
    sims = [similarity_at(10.0 ** -(10 * s - 3)) for s in scores]
    sims = list(np.maximum.accumulate(sims))
    knots_sim = [-1.0, *sims]
    knots_score = [0.0, *scores.tolist()]
    if knots_sim[-1] < 1.0:
        knots_sim.append(1.0)
        knots_score.append(1.0)
    fitted = {
        **meta,
        "impostor_pairs": n,
        "pareto_shape": float(shape),
        "pareto_scale": float(scale),
        "tail_start_similarity": float(tail_start),
    }
    return Calibration(embedder, embedder_sha256, [float(s) for s in knots_sim], knots_score, fitted)
