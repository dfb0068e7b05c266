"""Transport-independent request handling: fields -> options, decryption, ``Engine.verify``, body.

The HTTP app and ``livematch verify`` both call ``Service.handle_fields`` so that a local
verification prints exactly what the server would answer.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Callable, Mapping

from livematch.api.schemas import ErrorResponse, VerifyResponse
from livematch.config import Settings
from livematch.crypto import FieldCipher, KeyRing
from livematch.engine import Engine, VerifyOptions, VerifyResult
from livematch.errors import InternalError, InvalidArgument, LivematchError

log = logging.getLogger("livematch.request")

REQUIRED = ("encrypted_video", "encrypted_image")
FILE_FIELDS = {"encrypted_video": "video_file", "encrypted_image": "image_file"}  # the upload variant
BOOLEANS = ("auto_rotate", "check_quality", "return_image", "return_face_image", "return_status")
_TRUE, _FALSE = {"true", "1"}, {"false", "0"}


def parse_bool(name: str, value: object) -> bool:
    """JSON booleans or the strings true/false/1/0 (any case); anything else is 1200."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise InvalidArgument(f"{name}: expected a boolean (true/false/1/0)")


def parse_options(fields: Mapping[str, object]) -> VerifyOptions:
    """The boolean switches, each defaulting to false."""
    return VerifyOptions(**{name: parse_bool(name, fields[name]) for name in BOOLEANS if name in fields})


def required_text(fields: Mapping[str, object], name: str) -> str:
    """A required string field; missing, empty or non-string is 1200."""
    value = fields.get(name)
    if value is None:
        raise InvalidArgument(f"{name}: missing")
    if not isinstance(value, str):
        raise InvalidArgument(f"{name}: expected a base64 string")
    if not value.strip():
        raise InvalidArgument(f"{name}: empty")
    return value


class Service:
    """Holds the engine and the cipher; turns a field mapping into ``(http_status, body)``."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or Engine(settings)
        self.cipher = KeyRing(
            FieldCipher(settings.decrypt_key, settings.decrypt_iv, compat_mode=settings.compat_mode),
            FieldCipher(settings.decrypt_key_previous, settings.decrypt_iv_previous, compat_mode=settings.compat_mode)
            if settings.decrypt_key_previous
            else None,
        )

    def handle_fields(
        self, fields: Mapping[str, object], request_id: str | None = None, outcome: dict | None = None
    ) -> tuple[int, dict]:
        """Validate, decrypt and verify; every failure becomes its documented code and status.

        ``outcome``, when given, receives what operators may see of a completed verification
        (liveness status, per-stage ms, input sizes and formats) for the log line and metrics.
        """

        def prepare() -> tuple[VerifyOptions, bytes, bytes]:
            options = parse_options(fields)
            video = self.media(fields, "encrypted_video")
            return options, self.media(fields, "encrypted_image"), video

        return self.run(prepare, self.body, request_id or new_request_id(), outcome)

    def run(
        self,
        prepare: Callable[[], tuple[VerifyOptions, bytes, bytes]],
        render: Callable[[VerifyResult, VerifyOptions, str], dict],
        request_id: str,
        outcome: dict | None = None,
    ) -> tuple[int, dict]:
        """The one guarded path from a request's parts to ``(http_status, body)``.

        ``prepare`` parses and decrypts (options, photo, video); ``render`` turns a result into the
        body. Every failure becomes its documented code; an unexpected one is logged and answered
        5000 without detail. The SenseID route and the demo route differ only in those two steps.
        """
        try:
            options, photo, video = prepare()
            result = self.engine.verify(photo, video, options)
        except LivematchError as exc:
            return error_body(exc, request_id)
        except Exception:
            log.exception("unexpected fault", extra={"request_id": request_id})
            return error_body(InternalError(), request_id)
        if outcome is not None:
            outcome.update(
                passed=result.passed,
                liveness_status=result.liveness.status,
                liveness_rejected_by=result.liveness.rejected_by,
                stages_ms=dict(result.timings_ms),
                inputs=dict(result.inputs),
            )
        return 200, render(result, options, request_id)

    def media(self, fields: Mapping[str, object], name: str) -> bytes:
        """Decrypted ``encrypted_*`` field, or the raw ``*_file`` part when file upload is enabled.

        A request uses one variant: any file part next to any encrypted field is 1200, so a proxy
        cannot add a plaintext part that silently wins over the encrypted one.
        """
        upload = FILE_FIELDS[name]
        if upload not in fields:
            return self.cipher.decrypt(required_text(fields, name), name)
        if not self.settings.file_upload:
            raise InvalidArgument(f"{upload}: file upload is disabled on this server (LIVEMATCH_FILE_UPLOAD)")
        if any(field in fields for field in FILE_FIELDS):
            raise InvalidArgument("send either the encrypted_* fields or the *_file parts, not both")
        value = fields[upload]
        if not isinstance(value, bytes):
            raise InvalidArgument(f"{upload}: expected a multipart file part")
        return value

    @staticmethod
    def body(result: VerifyResult, options: VerifyOptions, request_id: str) -> dict:
        """SenseID field presence: status on request, score only when passed, images on request."""
        passed = result.passed
        response = VerifyResponse(
            passed=passed,
            liveness_score=result.liveness.score,
            request_id=request_id,
            liveness_status=result.liveness.status if options.return_status else None,
            verification_score=result.verification_score if passed else None,
            image_timestamp=result.image_timestamp if passed and options.return_image else None,
            base64_image=_b64(result.frame_jpeg) if passed and options.return_image else None,
            base64_face_image=_b64(result.face_jpeg) if passed and options.return_face_image else None,
        )
        return response.model_dump(exclude_none=True)


def error_body(exc: LivematchError, request_id: str) -> tuple[int, dict]:
    """``(http_status, {code, message, request_id})`` for a livematch error."""
    return exc.http_status, ErrorResponse(code=exc.code, message=exc.message, request_id=request_id).model_dump()


def new_request_id() -> str:
    """A random, unguessable request id (32 hex digits)."""
    return uuid.uuid4().hex


def _b64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode() if data is not None else None
