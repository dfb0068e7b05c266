"""SenseID error codes as exceptions.

Each error the service can answer is one class carrying its SenseID ``code``, its HTTP status and a
human message. The API maps them to a body ``{code, message, request_id}`` in exactly one place
(``livematch.api.app``); the engine, media and crypto layers only raise them.
"""

from __future__ import annotations

from typing import ClassVar


class LivematchError(Exception):
    """Base class: a failure with a SenseID code, an HTTP status and a safe-to-show message."""

    code: int = 5000
    http_status: int = 500
    default_message: str = "internal error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidArgument(LivematchError):
    """1200: missing, empty or ill-typed field, bad base64, failed decryption, video too long."""

    code, http_status, default_message = 1200, 400, "invalid argument"


class InvalidImageSize(LivematchError):
    """2003: photo or video pixel dimensions out of the accepted range."""

    code, http_status, default_message = 2003, 400, "invalid image size"


class InvalidContentLength(LivematchError):
    """2004: decrypted photo or video byte count out of the accepted range."""

    code, http_status, default_message = 2004, 400, "invalid content length"


class BodyTooLarge(InvalidContentLength):
    """2004 with HTTP 413: the request body itself exceeds the server's limit."""

    http_status, default_message = 413, "request body too large"


class InvalidImageType(LivematchError):
    """2005: unsupported or undecodable photo or video."""

    code, http_status, default_message = 2005, 400, "invalid image type or corrupted"


class DetectionFailed(LivematchError):
    """4000: no usable face in the photo."""

    code, http_status, default_message = 4000, 400, "detection failed: no usable face in the photo"


class FaceOcclusion(LivematchError):
    """4004: check_quality=true and eyes, nose or mouth are occluded in the photo."""

    code, http_status, default_message = 4004, 400, "face occlusion"


class LivenessCheckFailed(LivematchError):
    """4007: liveness could not be evaluated (no face tracked through the video)."""

    code, http_status, default_message = 4007, 400, "liveness silent check failed"


class NotFound(LivematchError):
    """1404 (livematch's own code): unknown path."""

    code, http_status, default_message = 1404, 404, "not found"


class MethodNotAllowed(LivematchError):
    """1405 (livematch's own code): known path, wrong HTTP method."""

    code, http_status, default_message = 1405, 405, "method not allowed"


class LengthRequired(LivematchError):
    """1411 (livematch's own code): request without Content-Length (e.g. chunked upload)."""

    code, http_status, default_message = 1411, 411, "Content-Length required"


class Overloaded(LivematchError):
    """1503 (livematch's own code): the verification queue is full; retry after a short wait."""

    code, http_status, default_message = 1503, 503, "server busy, retry later"


class DeadlineExceeded(LivematchError):
    """1504 (livematch's own code): the request did not finish within the processing deadline."""

    code, http_status, default_message = 1504, 503, "processing deadline exceeded"


class InternalError(LivematchError):
    """5000 (livematch's own code): unexpected fault. Never carries exception text."""


class Unauthorized(LivematchError):
    """1401 (livematch's own code): request signing is on and the Authorization header is missing,
    malformed, stale, replayed, or signed with an unknown key or wrong secret."""

    code, http_status, default_message = 1401, 401, "unauthorized"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'SenseID realm="livematch"'}


class RateLimited(LivematchError):
    """1429 (livematch's own code): this API key exceeded its per-key request rate."""

    code, http_status, default_message = 1429, 429, "rate limit exceeded for this API key"

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


# Not request errors: what setting up raises for a configuration or input files it cannot work with. An
# unknown embedder or pack name, a missing or foreign calibration, a bad manifest row (ValueError); a file
# that is absent or unreadable (OSError); a model whose sha256 differs from its manifest (RuntimeError).
# ``livematch serve`` and the CLI commands report these as one line and exit 2.
LOAD_ERRORS = (ValueError, OSError, RuntimeError)
