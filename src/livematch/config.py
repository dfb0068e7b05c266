"""Settings: one pydantic-settings object, read from ``LIVEMATCH_*`` environment variables or ``.env``.

The settings object is built once at start-up and passed to the engine and the app, never read
from module globals, so tests can run several configurations side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

VENDOR_DEFAULT_KEY = "dcbbad6765e14139a07d34b92292a672"
VENDOR_DEFAULT_IV = "df25d188a061"


def _default_models_dir() -> Path:
    return Path(platformdirs.user_data_dir("livematch")) / "models"


class Settings(BaseSettings):
    """Every tunable of the service. Field names map to ``LIVEMATCH_<NAME>`` variables."""

    model_config = SettingsConfigDict(env_prefix="LIVEMATCH_", env_file=".env", extra="ignore")

    # --- encryption ---------------------------------------------------------------------------
    decrypt_key: str = Field("", description="32-character AES-256 key (UTF-8 bytes)")
    decrypt_iv: str = Field("", description="12-character GCM IV for compatibility mode")
    decrypt_key_previous: str = Field("", description="during a key rotation: the old key, still accepted")
    decrypt_iv_previous: str = Field("", description="during a key rotation: the old IV, still accepted")
    allow_default_key: bool = Field(False, description="accept the vendor's published key and IV")
    compat_mode: bool = Field(True, description="accept the vendor's fixed-IV scheme besides safe mode")

    # --- data and models ----------------------------------------------------------------------
    shared_dir: Path = Field(Path("../shared"), description="read-only test and evaluation data")
    models_dir: Path = Field(default_factory=_default_models_dir, description="the face mesh and optional model packs")
    embedder: str = Field(
        "sface-2021dec-int8bq",
        description="face embedder: a built-in or installed name, or several joined by '+' (name:weight)",
    )
    alignment: Literal["auto", "face-mesh", "dlib-68"] = Field(
        "auto",
        description="embedders' five points: MediaPipe's face mesh (auto: if `livematch models install` put it "
        "in models_dir) or dlib's 68 landmarks",
    )
    embedder_flip: bool = Field(True, description="SFace: average the crop's and its mirror's embeddings")
    template_frames: int = Field(1, ge=1, description="video: quality-weighted mean of the best N frames' cosines")
    embed_threads: int = Field(2, ge=1, le=64, description="intra-op threads per embedding call (docs/PERFORMANCE.md)")

    # --- photo limits -------------------------------------------------------------------------
    photo_min_bytes: int = 1024
    photo_max_bytes: int = 5 * 1024 * 1024
    photo_min_side: int = 80
    photo_max_side: int = 4096

    # --- video limits -------------------------------------------------------------------------
    video_max_bytes: int = 20 * 1024 * 1024
    video_min_bytes: int = 1024
    video_min_side: int = 240
    video_max_side: int = 4096
    video_min_seconds: float = 2.0
    video_max_seconds: float = 20.0
    video_sample_frames: int = 12
    video_glimpse_fps: float = Field(10.0, gt=0, description="grey frames per second kept for the eye-closure cue")
    video_glimpse_frames: int = Field(40, ge=0, description="at most this many (the first seconds of the clip)")
    video_max_decoded_frames: int = 900
    video_max_decoded_pixels: int = Field(1_300_000_000, description="decode budget: 20 s of 1080p at 30 fps")

    # --- service ------------------------------------------------------------------------------
    max_body_bytes: int = 40 * 1024 * 1024
    workers: int = 2
    queue_size: int = 16
    deadline_seconds: float = 20.0
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = Field("json", description="one JSON object per line, or key=value text")
    shutdown_drain_seconds: float = Field(3.0, description="on SIGTERM: /readyz is 503 but requests are still served")
    shutdown_grace_seconds: float = Field(30.0, description="then: wait this long for in-flight requests to finish")
    liveness_threshold: float = 0.5

    # --- edge: request signing and file upload (both off by default) ------------------------------
    api_keys: SecretStr = Field(
        SecretStr(""), description="'key1:secret1,key2:secret2' or a file path with one key:secret a line"
    )
    auth_window_seconds: float = Field(300.0, description="accepted |server time - signed timestamp|")
    auth_rate_per_minute: int = Field(120, description="requests a minute per API key (0: unlimited)")
    file_upload: bool = Field(False, description="accept raw multipart image_file + video_file parts")
    demo: bool | None = Field(
        None, description="the /demo capture page: unset = loopback clients only, true = everyone, false = off"
    )

    @model_validator(mode="after")
    def _check_key_lengths(self) -> Settings:
        for name, value, size in (
            ("DECRYPT_KEY", self.decrypt_key, 32),
            ("DECRYPT_IV", self.decrypt_iv, 12),
            ("DECRYPT_KEY_PREVIOUS", self.decrypt_key_previous, 32),
            ("DECRYPT_IV_PREVIOUS", self.decrypt_iv_previous, 12),
        ):
            if value and len(value.encode()) != size:
                raise ValueError(f"LIVEMATCH_{name} must be exactly {size} bytes ({size} ASCII characters)")
        return self

    def check_key_policy(self) -> None:
        """Refuse to serve without a key, or with the vendor's published key and IV.

        The published pair is in every SenseID client sample; anyone could decrypt traffic sent with
        it, and a fixed IV reuses the GCM nonce for every message, which leaks the XOR of plaintexts
        and lets an attacker forge tags. Operators must opt in explicitly.
        """
        if not self.decrypt_key:
            raise ValueError(
                "no key: set LIVEMATCH_DECRYPT_KEY (and LIVEMATCH_DECRYPT_IV), e.g. with `livematch keygen`"
            )
        if self.compat_mode and not self.decrypt_iv:
            raise ValueError("compatibility mode needs LIVEMATCH_DECRYPT_IV (or set LIVEMATCH_COMPAT_MODE=false)")
        keys, ivs = {self.decrypt_key, self.decrypt_key_previous}, {self.decrypt_iv, self.decrypt_iv_previous}
        uses_default = VENDOR_DEFAULT_KEY in keys or VENDOR_DEFAULT_IV in ivs
        if uses_default and not self.allow_default_key:
            raise ValueError(
                "refusing the vendor's published default key/IV: anyone can decrypt with them and the fixed IV "
                "reuses the GCM nonce; set your own key, or LIVEMATCH_ALLOW_DEFAULT_KEY=true to accept the risk"
            )
