"""Liveness evidence and its fusion.

Every source of evidence (a model, a temporal cue) reports a ``live`` probability-like value in
0..1 and its raw measurement. The fused ``liveness_score`` is the minimum over sources: any one
source that is confident of an attack is enough to reject, which is the safe direction for fraud.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from livematch.faces.track import Track


@dataclass(frozen=True)
class Evidence:
    """One cue's verdict: ``live`` in 0..1 (higher = live) and the raw value it came from.

    A cue that is not ``decisive`` is reported but left out of the fusion (it acts through another).
    """

    name: str
    live: float
    value: float
    decisive: bool = True


@dataclass
class LivenessResult:
    """Fused score, the status SenseID reports, and the evidence behind it."""

    score: float
    status: str  # "ok" | "hack" | "short_time"
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when the video was judged to show a live person."""
        return self.status == "ok"

    @property
    def rejected_by(self) -> str | None:
        """For ``hack``, the decisive cue with the lowest ``live`` value (the one that set the score), or
        ``no_evidence`` when no cue could judge (a one-frame video without a frame-level model); else None.

        Operators count these to see which cue turns their users away; it names a cue, never a value.
        """
        if self.status != "hack":
            return None
        decisive = [e for e in self.evidence if e.decisive]
        return min(decisive, key=lambda e: e.live).name if decisive else "no_evidence"


class EvidenceSource(Protocol):
    """A liveness cue computed from the tracked face."""

    name: str
    needs_motion: bool  # True for cues that compare frames (skipped for a one-frame video)

    def evaluate(self, track: Track) -> list[Evidence]:
        """Evidence for this track (may be several related cues)."""
        ...


def fuse(evidence: list[Evidence], threshold: float) -> LivenessResult:
    """Minimum of the decisive ``live`` values; ``ok`` at or above ``threshold``, else ``hack``.

    The status is decided on the score as reported (4 decimals), so a client never sees a score at the
    threshold with ``hack``, and a re-decision from reported scores (``eval liveness``'s sweep) agrees.
    """
    score = round(min((e.live for e in evidence if e.decisive), default=0.0), 4)
    return LivenessResult(score=score, status="ok" if score >= threshold else "hack", evidence=evidence)
