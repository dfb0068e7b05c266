"""Schema fuzzing with schemathesis against the served OpenAPI description.

Every generated request (schema-valid and schema-violating bodies, each declared content type)
must get a documented status, never a 5xx, and every error body must be exactly
{code, message, request_id}. Bounded for the default run: a fixed number of derandomized examples
per operation and generation mode.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error, status_code_conformance

from livematch.api.app import VERIFY_PATH as VERIFY
from livematch.api.app import create_app

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
