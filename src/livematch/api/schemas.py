"""Response bodies. Optional fields are ``None`` when absent and dropped when serialised, so the
presence rules live in ``Service._body`` and nowhere else."""

from __future__ import annotations

from pydantic import BaseModel, Field


class VerifyResponse(BaseModel):
    """HTTP 200, ``code`` 1000: the SenseID stateless silent-image-verification answer."""

    code: int = Field(1000, description="1000 on success")
    passed: bool = Field(description="the video shows a live person")
    liveness_score: float = Field(ge=0, le=1, description="0..1, higher = more likely live")
    request_id: str
    liveness_status: str | None = Field(None, description="ok | hack | short_time (only when return_status)")
    verification_score: float | None = Field(None, ge=0, le=1, description="only when passed; 0.7 ~ FAR 1e-4")
    image_timestamp: float | None = Field(None, description="seconds; only when passed and return_image")
    base64_image: str | None = Field(None, description="selected frame, JPEG; only when passed and return_image")
    base64_face_image: str | None = Field(None, description="face crop, JPEG; only when passed and return_face_image")


class ErrorResponse(BaseModel):
    """Every non-1000 answer."""

    code: int
    message: str
    request_id: str
