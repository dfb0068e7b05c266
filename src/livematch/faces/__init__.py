"""Face detection, landmarks and alignment: produces the ``Face`` record the later stages enrich."""

from livematch.faces.align import ARCFACE_112, align
from livematch.faces.detect import Detector
from livematch.faces.landmarks import LandmarkModel
from livematch.faces.record import Face

__all__ = ["ARCFACE_112", "Detector", "Face", "LandmarkModel", "align"]
