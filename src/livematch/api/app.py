"""The FastAPI application: routes, body parsing for three content types, and error mapping.

Verification runs in a thread pool sized by ``LIVEMATCH_WORKERS`` so the event loop stays free to
answer health checks and reject overload quickly; a bounded number of requests may wait, the rest
get 503 (code 1503) with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

from livematch import __version__
from livematch.api import telemetry
from livematch.api.auth import Authenticator
from livematch.api.metrics import Metrics
from livematch.api.openapi import REQUEST_BODY
from livematch.api.schemas import ErrorResponse, VerifyResponse
from livematch.api.service import FILE_FIELDS, Service, error_body, new_request_id
from livematch.config import Settings
from livematch.embed import MeshAligned
from livematch.errors import (
    LOAD_ERRORS,
    BodyTooLarge,
    DeadlineExceeded,
    InternalError,
    InvalidArgument,
    LengthRequired,
    LivematchError,
    MethodNotAllowed,
    NotFound,
    Overloaded,
)

VERIFY_PATH = "/identity/silent_image_verification/stateless"
log = logging.getLogger("livematch.request")


class _State:
    """Mutable per-app state: the service once loaded, and the admission counter."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.service: Service | None = None
        self.ready = threading.Event()
        self.draining = threading.Event()  # set on SIGTERM: /readyz says 503 while requests still run
        self.startup_error: str | None = None  # why the models could not load (the process then exits 2)
        self.stop: Callable[[], None] | None = None  # set by ``server.serve``: ends the server from inside
        self.in_flight = 0
        self.auth = Authenticator.from_settings(settings)  # None unless LIVEMATCH_API_KEYS is set
        self.pool = ThreadPoolExecutor(max_workers=max(1, settings.workers), thread_name_prefix="verify")
        self.metrics = Metrics(
            in_flight=lambda: self.in_flight, workers=max(1, settings.workers), queue_size=settings.queue_size
        )


def create_app(settings: Settings, service: Service | None = None) -> FastAPI:
    """Build the app; models load in the background at start-up unless ``service`` is given."""
    state = _State(settings)
    state.service = service

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        if state.service is None:
            try:
                await asyncio.get_running_loop().run_in_executor(state.pool, _load, state)
            except LOAD_ERRORS as exc:
                state.startup_error = str(exc)
                logging.getLogger("livematch.server").error("cannot start: %s", exc)
                if state.stop is None:
                    raise
                state.stop()
        else:
            state.ready.set()
        yield
        state.ready.clear()
        state.pool.shutdown(wait=True)

    app = FastAPI(
        title="livematch",
        version=__version__,
        lifespan=lifespan,
        description="SenseID-compatible silent liveness and face verification",
    )
    app.state.livematch = state
    _install_error_handlers(app)

    @app.post(
        VERIFY_PATH,
        response_model=VerifyResponse,
        response_model_exclude_none=True,
        responses={
            400: {"model": ErrorResponse},
            401: {"model": ErrorResponse},
            411: {"model": ErrorResponse},
            413: {"model": ErrorResponse},
            429: {"model": ErrorResponse},
            500: {"model": ErrorResponse},
            503: {"model": ErrorResponse},
        },
        openapi_extra={"requestBody": REQUEST_BODY},
    )
    async def stateless(request: Request) -> JSONResponse:
        """Verify an encrypted selfie video against an encrypted photo."""
        request_id = request.state.request_id
        if state.auth is not None:
            state.auth.check(request.headers.get("authorization"))
        if state.in_flight >= settings.workers + settings.queue_size:
            raise Overloaded()  # answered before receiving a body that could not be queued anyway
        fields = await read_fields(request, settings)
        status, body = await _admit_and_run(state, fields, request_id, request.state.outcome)
        request.state.code = body.get("code")
        return JSONResponse(body, status_code=status)

    @app.get("/healthz")
    async def healthz() -> dict:
        """The process is up (it may still be loading models)."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """200 once models are loaded and warmed, 503 before (and while shutting down)."""
        ready = state.ready.is_set() and not state.draining.is_set()
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    @app.get("/info")
    async def info() -> JSONResponse:
        """Models, versions, licences and active liveness evidence."""
        if state.service is None:
            return JSONResponse({"version": __version__, "ready": False}, status_code=503)
        return JSONResponse({**state.service.engine.info(), "ready": state.ready.is_set()})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus text exposition (no request ids, addresses or media in labels)."""
        if state.service is not None:
            state.metrics.models_loaded(state.service.engine.info())
        body, content_type = state.metrics.render(ready=state.ready.is_set() and not state.draining.is_set())
        return Response(body, media_type=content_type)

    @app.middleware("http")
    async def request_context(request: Request, call_next):
        request.state.request_id = new_request_id()
        request.state.outcome = {}
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # answered 500/5000 by the outer handler: still one log line and one count
            request.state.code = InternalError.code
            telemetry.finish(request, 500, time.perf_counter() - started, state.metrics, state.ready.is_set())
            raise
        response.headers["X-Request-Id"] = request.state.request_id
        telemetry.finish(
            request, response.status_code, time.perf_counter() - started, state.metrics, state.ready.is_set()
        )
        return response

    from livematch.api.demo import install as install_demo  # demo.py uses this module's helpers

    install_demo(app, state, _admit_and_run, read_fields)
    state.metrics.routes = {route.path for route in app.routes}
    return app


def _load(state: _State) -> None:
    state.service = Service(state.settings)
    _warm_up(state.service)
    aligned = isinstance(state.service.engine.embedder, MeshAligned)
    if state.settings.alignment == "auto" and not aligned:  # say so, don't degrade silently
        logging.getLogger("livematch.server").warning(
            "no face mesh in %s: faces are aligned on dlib's landmarks, which matches less accurately "
            "(docs/MODELS.md); install it with `livematch models install face-mesh`",
            state.settings.models_dir,
        )
    state.ready.set()


def _warm_up(service: Service) -> None:
    """Run each model once so the first real request does not pay for lazy initialisation."""
    import numpy as np

    from livematch.embed.base import sample_face

    blank = np.zeros((240, 320, 3), dtype=np.uint8)
    service.engine.detector.detect(blank)
    service.engine.embedder.embed(blank, sample_face())


async def _admit_and_run(
    state: _State, fields: Mapping[str, object], request_id: str, outcome: dict | None = None, handle=None
) -> tuple[int, dict]:
    """Run ``handle`` (default: ``Service.handle_fields``) in the pool under the queue limit and deadline."""
    settings = state.settings
    if state.service is None or not state.ready.is_set():
        raise Overloaded("service is starting; retry shortly")
    if state.in_flight >= settings.workers + settings.queue_size:
        raise Overloaded()
    state.in_flight += 1
    expires = time.monotonic() + settings.deadline_seconds
    future = asyncio.get_running_loop().run_in_executor(
        state.pool, _unless_expired, expires, handle or state.service.handle_fields, fields, request_id, outcome
    )
    # A thread cannot be cancelled: after a deadline 503 the work still occupies its worker until the
    # frame/pixel caps end it, so the slot is released only when the thread is really done.
    future.add_done_callback(lambda _: _release(state))
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout=settings.deadline_seconds)
    except TimeoutError:
        raise DeadlineExceeded() from None


def _unless_expired(expires: float, handle, fields, request_id: str, outcome) -> tuple[int, dict]:
    """Skip work that waited in the queue past its deadline: its client already has its 1504."""
    if time.monotonic() >= expires:
        return error_body(DeadlineExceeded(), request_id)
    return handle(fields, request_id, outcome)


def _release(state: _State) -> None:
    state.in_flight -= 1


async def read_fields(request: Request, settings: Settings) -> dict[str, object]:
    """Parse multipart, urlencoded or JSON bodies into one field mapping (duplicates are 1200)."""
    length = request.headers.get("content-length")
    if length is None:
        raise LengthRequired()
    if not length.isdigit():
        raise InvalidArgument("invalid Content-Length")
    if int(length) > settings.max_body_bytes:
        raise BodyTooLarge(f"request body is {length} bytes; the limit is {settings.max_body_bytes}")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return _json_fields(await request.body())
    if content_type == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl((await request.body()).decode("latin-1"), keep_blank_values=True, max_num_fields=64)
        except ValueError:
            raise InvalidArgument("too many form fields") from None
        return _unique(pairs)
    if content_type == "multipart/form-data":
        parser = _InMemoryMultiPart(
            request.headers, request.stream(), max_files=8, max_fields=64, max_part_size=settings.max_body_bytes
        )
        try:
            form = await parser.parse()
        except (MultiPartException, ValueError, KeyError):
            raise InvalidArgument("malformed multipart body") from None
        return _unique([(k, await _part(k, v)) for k, v in form.multi_items()])
    raise InvalidArgument(
        "Content-Type must be multipart/form-data, application/x-www-form-urlencoded or application/json"
    )


def _json_fields(body: bytes) -> dict[str, object]:
    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        return _unique(pairs)

    try:
        data = json.loads(body, object_pairs_hook=no_duplicates)
    except (ValueError, RecursionError):
        raise InvalidArgument("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidArgument("JSON body must be an object")
    return data


def _unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
    fields: dict[str, object] = {}
    for key, value in pairs:
        if key in fields:
            raise InvalidArgument(f"{key}: sent more than once")
        fields[key] = value
    return fields


class _InMemoryMultiPart(MultiPartParser):
    """Starlette spools file parts over 1 MB to a temporary file; media must never touch the disk."""

    spool_max_size = 0  # SpooledTemporaryFile(max_size=0) never rolls over


async def _part(name: str, value: str | UploadFile) -> str | bytes:
    """Text for every field except the raw upload fields, which keep their bytes."""
    if isinstance(value, str):
        return value
    data = await value.read()
    return data if name in FILE_FIELDS.values() else data.decode("latin-1")


def _install_error_handlers(app: FastAPI) -> None:
    def respond(request: Request, exc: LivematchError) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None) or new_request_id()
        request.state.code = exc.code
        status, body = error_body(exc, request_id)
        headers = {"Retry-After": "1"} if status == 503 else {}
        headers.update(getattr(exc, "headers", {}))  # 401 WWW-Authenticate, 429 Retry-After
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(LivematchError)
    async def livematch_error(request: Request, exc: LivematchError) -> JSONResponse:
        return respond(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        mapped = {404: NotFound(), 405: MethodNotAllowed()}.get(exc.status_code, InvalidArgument(str(exc.detail)))
        return respond(request, mapped)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return respond(request, InvalidArgument("invalid request"))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "unexpected fault request_id=%s type=%s", getattr(request.state, "request_id", "-"), type(exc).__name__
        )
        return respond(request, InternalError())
