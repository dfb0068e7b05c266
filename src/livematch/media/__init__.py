"""Decoding of the photo and the video, with every limit checked before pixels are touched."""

from livematch.media.photo import Photo, decode_photo
from livematch.media.video import Frame, Glimpse, Video, decode_video

__all__ = ["Frame", "Glimpse", "Photo", "Video", "decode_photo", "decode_video"]
