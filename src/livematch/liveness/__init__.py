"""Silent liveness: evidence from the tracked face, fused into one score and a status."""

from livematch.liveness.base import Evidence, LivenessResult, fuse
from livematch.liveness.temporal import TemporalEvidence

__all__ = ["Evidence", "LivenessResult", "TemporalEvidence", "fuse"]
