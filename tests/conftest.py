"""Shared fixtures: settings with a random key, one engine per session, an app client, shared data."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from livematch.api.app import create_app
from livematch.api.service import Service
from livematch.config import Settings
from livematch.crypto import FieldCipher
from livematch.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIVEMATCH_SHARED_DIR", ROOT.parent / "shared"))
VERIFY = "/identity/silent_image_verification/stateless"


def shared(*parts: str) -> Path:
    """A path under ../shared, skipping the test with a clear reason when the folder is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    return path


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(
        _env_file=None, decrypt_key=secrets.token_hex(16), decrypt_iv=secrets.token_hex(6), shared_dir=SHARED
    )


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Engine:
    return Engine(settings)


@pytest.fixture(scope="session")
def service(settings: Settings, engine: Engine) -> Service:
    return Service(settings, engine)


@pytest.fixture(scope="session")
def cipher(settings: Settings) -> FieldCipher:
    return FieldCipher(settings.decrypt_key, settings.decrypt_iv)


@pytest.fixture(scope="session")
def client(settings: Settings, service: Service):
    with TestClient(create_app(settings, service), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="session")
def grid_video() -> bytes:
    return shared("data", "video", "grid_s2_swwp2s.mp4").read_bytes()


@pytest.fixture(scope="session")
def grid_photo() -> bytes:
    return shared("data", "video", "grid_s2_swwp2s_frame.jpg").read_bytes()


@pytest.fixture(scope="session")
def other_photo() -> bytes:
    return shared("data", "faces", "people", "barack_obama", "obama.jpg").read_bytes()


@pytest.fixture
def fields(cipher: FieldCipher, grid_video: bytes, grid_photo: bytes):
    """Factory for compat-mode request fields with the GRID clip and its frame, plus overrides."""

    def make(video: bytes | None = None, photo: bytes | None = None, **extra: object) -> dict[str, object]:
        return {
            "encrypted_video": cipher.encrypt_compat(grid_video if video is None else video),
            "encrypted_image": cipher.encrypt_compat(grid_photo if photo is None else photo),
            **extra,
        }

    return make
