"""Schema fuzzing with schemathesis against the served OpenAPI description.

Every generated request (schema-valid and schema-violating bodies, each declared content type)
must get a documented status, never a 5xx, and every error body must be exactly
{code, message, request_id}. Bounded for the default run: a fixed number of derandomized examples
per operation and generation mode. A seeded mutation fuzz of the decoders (corrupt and hostile files
in six photo formats and MP4) checks that they only ever raise livematch's documented errors.
"""

from __future__ import annotations

import io
import random

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from PIL import Image
from schemathesis.checks import not_a_server_error, status_code_conformance

from livematch.api.app import VERIFY_PATH as VERIFY
from livematch.api.app import create_app
from livematch.errors import LivematchError
from livematch.media import decode_photo, decode_video

EXAMPLES = 60


@pytest.fixture
def api_schema(settings, service):
    # One app per test: schemathesis's ASGI client runs the app's lifespan, whose shutdown ends the pool.
    app = create_app(settings, service)
    with TestClient(app):  # run the lifespan so the service is ready
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def assert_error_body(response) -> None:
    body = response.json()
    assert set(body) == {"code", "message", "request_id"}, body
    assert isinstance(body["code"], int) and body["message"] and len(body["request_id"]) == 32
    request_id = response.headers["x-request-id"]
    assert body["request_id"] == (request_id[0] if isinstance(request_id, list) else request_id)


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_no_5xx_and_complete_error_bodies(api_schema, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert any(op.path == VERIFY for op in operations)
    if mode == schemathesis.GenerationMode.NEGATIVE:  # only the verify route takes any input
        operations = [op for op in operations if op.path == VERIFY]
    seen: dict[int, int] = {}
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
        )
        def run(case) -> None:
            response = case.call()
            case.validate_response(response, checks=[not_a_server_error, status_code_conformance])
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            if response.status_code >= 400 and case.path != "/readyz":
                assert_error_body(response)

        run()
    assert not any(status >= 500 for status in seen), seen
    print(mode.value, dict(sorted(seen.items())))


def _mutate(data: bytes, rng: random.Random) -> bytes:
    """Byte flips, 4-byte extremes, deletions and insertions: what a corrupt or hostile upload looks like."""
    out = bytearray(data)
    for _ in range(rng.choice([1, 2, 4, 8, 32])):
        kind, at = rng.random(), rng.randrange(len(out))
        if kind < 0.6:
            out[at] = rng.randrange(256)
        elif kind < 0.8:
            out[at : at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\0\0\0\0", b"\x7f\xff\xff\xff"])
        elif kind < 0.9:
            del out[at : at + rng.randrange(1, 64)]
        else:
            out[at:at] = rng.randbytes(rng.randrange(1, 16))
    return bytes(out)


def test_mutated_photos_and_videos_only_raise_documented_errors(settings, grid_photo, grid_video):
    """Decoders on mutated files: a LivematchError or a result, never another exception."""
    rng = random.Random(0)
    image = Image.open(io.BytesIO(grid_photo)).convert("RGB")
    photos = []
    for fmt in ("JPEG", "PNG", "GIF", "TIFF", "WEBP", "BMP"):
        buf = io.BytesIO()
        image.save(buf, format=fmt)
        photos.append(buf.getvalue())
    faults = []
    for i in range(600):
        data = _mutate(photos[i % len(photos)], rng)
        try:
            decode_photo(data, settings, apply_exif=bool(i % 2))
        except LivematchError:
            pass
        except Exception as exc:
            faults.append(("photo", type(exc).__name__))
    for _ in range(80):
        try:
            decode_video(_mutate(grid_video, rng), settings)
        except LivematchError:
            pass
        except Exception as exc:
            faults.append(("video", type(exc).__name__))
    assert not faults, faults[:5]
