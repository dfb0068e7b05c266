"""Photo decoding with Pillow: byte and pixel limits read from the header, then pixels as BGR.

Pillow reads the header without decoding, so a decompression bomb (a tiny file that declares a
huge image) is refused with 2003 before any pixel buffer is allocated.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from livematch.config import Settings
from livematch.errors import InvalidContentLength, InvalidImageSize, InvalidImageType

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP", "MPO"})
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError, EOFError)


@dataclass(frozen=True)
class Photo:
    """A decoded photo: BGR uint8 pixels and the format Pillow recognised."""

    bgr: np.ndarray
    format: str


def decode_photo(data: bytes, settings: Settings, *, apply_exif: bool) -> Photo:
    """Decode a photo, enforcing size, type and dimension limits (2004, 2005, 2003 in that order).

    ``apply_exif`` turns the pixels upright according to the EXIF orientation tag (auto_rotate);
    without it the pixels are used exactly as stored, as SenseID does.
    """
    if not settings.photo_min_bytes <= len(data) <= settings.photo_max_bytes:
        raise InvalidContentLength(
            f"photo is {len(data)} bytes; accepted {settings.photo_min_bytes}..{settings.photo_max_bytes}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow refuses headers declaring > MAX_IMAGE_PIXELS (far above photo_max_side²) before
        # allocating anything: a dimension failure, like any other too-large header.
        raise InvalidImageSize("photo: declared dimensions exceed the accepted range") from None
    except _DECODE_ERRORS:
        raise InvalidImageType("photo: unsupported or corrupted image") from None
    if image.format not in ACCEPTED_FORMATS:
        raise InvalidImageType(f"photo: format {image.format} is not accepted (JPEG, PNG, BMP, GIF, TIFF, WEBP)")
    fmt = str(image.format)
    _check_dimensions(image.size, settings)
    try:
        image.seek(0)  # animated GIF / multi-page TIFF: first frame only
        image.load()
        if apply_exif:
            image = ImageOps.exif_transpose(image)
        rgb = np.asarray(image.convert("RGB"))
    except _DECODE_ERRORS:
        raise InvalidImageType("photo: corrupted image data") from None
    return Photo(bgr=np.ascontiguousarray(rgb[:, :, ::-1]), format=fmt)


def _check_dimensions(size: tuple[int, int], settings: Settings) -> None:
    short, long = sorted(size)
    if short < settings.photo_min_side or long > settings.photo_max_side:
        raise InvalidImageSize(
            f"photo is {size[0]}x{size[1]}; shorter side must be >= {settings.photo_min_side} "
            f"and longer side <= {settings.photo_max_side}"
        )
