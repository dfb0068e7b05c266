"""Image-quality measures: which video frame is best, and (check_quality) whether the photo is occluded."""

from livematch.quality.frame import frame_quality

__all__ = ["frame_quality"]
