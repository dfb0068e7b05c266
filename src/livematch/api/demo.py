"""The ``/demo`` capture page and its verify route: try livematch with a camera in a minute.

The page (static files in ``static/demo``, no build step, nothing from a CDN) records a 3-second
selfie video and takes a photo, then posts both as plain multipart parts to ``POST /demo/verify``,
which runs the same ``Engine.verify`` as the SenseID endpoint through the same admission control,
pool and deadline. No key ever reaches the browser (docs/SECURITY.md, "The /demo page").

Who may use it (``LIVEMATCH_DEMO``): true = everyone, false = no one, unset = loopback only, which
needs a loopback TCP peer, a Host header naming a loopback host, and no proxy forwarding header. The
peer check hides it from remote clients of a server bound to 0.0.0.0; the other two hide it when a
reverse proxy on the same machine forwards public traffic (its peer is 127.0.0.1; it sends the public
Host, or an upstream's, and X-Forwarded-For), and the Host check defeats DNS rebinding (a hostile
site whose name resolves to 127.0.0.1 still sends its own name). Everyone else gets the same 404
(1404) as any unknown path.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from importlib import resources
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from livematch.api.service import Service, parse_bool
from livematch.config import Settings
from livematch.engine import VerifyOptions, VerifyResult
from livematch.errors import InvalidArgument, NotFound

STATIC = resources.files("livematch.api") / "static" / "demo"
ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
FORWARDED = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")  # set by proxies, never by browsers
PARTS = {"video": "video_file", "photo": "image_file"}  # the names read_fields keeps as bytes
HEADERS = {
    # Everything the page needs comes from this origin; camera frames and results become blob:/data: URLs.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=()",
    "Cache-Control": "no-store",
}

Admit = Callable[..., Awaitable[tuple[int, dict]]]
ReadFields = Callable[[Request, Settings], Awaitable[dict[str, object]]]


def enabled_for(request: Request, setting: bool | None) -> bool:
    """``LIVEMATCH_DEMO`` if set, else whether the request comes straight from this machine's own browser."""
    if setting is not None:
        return setting
    if any(name in request.headers for name in FORWARDED):
        return False
    peer = request.client.host if request.client else ""
    host = urlsplit("//" + request.headers.get("host", "")).hostname or ""
    return _loopback(peer) and (host == "localhost" or host.endswith(".localhost") or _loopback(host))


def _loopback(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def install(app: FastAPI, state, admit: Admit, read_fields: ReadFields) -> None:
    """Add ``GET /demo``, its two assets and ``POST /demo/verify`` to ``app``."""
    settings: Settings = state.settings
    page = (STATIC / "index.html").read_bytes()
    assets = {name: (STATIC / name).read_bytes() for name in ASSETS}

    def guard(request: Request) -> None:
        if not enabled_for(request, settings.demo):
            raise NotFound()

    @app.get("/demo", include_in_schema=False)
    async def demo_page(request: Request) -> Response:
        guard(request)
        return Response(page, media_type="text/html; charset=utf-8", headers=HEADERS)

    @app.get("/demo/{name}", include_in_schema=False)
    async def demo_asset(request: Request, name: str) -> Response:
        guard(request)
        if name not in assets:
            raise NotFound()
        return Response(assets[name], media_type=ASSETS[name], headers=HEADERS)

    @app.post("/demo/verify", include_in_schema=False)
    async def demo_verify(request: Request) -> JSONResponse:
        guard(request)
        fields = await read_fields(request, settings)
        status, body = await admit(state, fields, request.state.request_id, request.state.outcome, handle=run)
        request.state.code = body.get("code")
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    def run(fields: Mapping[str, object], request_id: str, outcome: dict) -> tuple[int, dict]:
        return verify_parts(state.service, fields, request_id, outcome)


def verify_parts(service: Service, fields: Mapping[str, object], request_id: str, outcome: dict) -> tuple[int, dict]:
    """The SenseID body with every optional field on, plus the liveness evidence (demo only).

    The evidence (each cue's name, ``live`` value and raw measurement) explains the decision to a
    person trying the page; the SenseID endpoint does not return it, as its contract has no such field.
    """

    def prepare() -> tuple[VerifyOptions, bytes, bytes]:
        quality = parse_bool("check_quality", fields.get("check_quality", "false"))
        options = VerifyOptions(
            auto_rotate=True, check_quality=quality, return_image=True, return_face_image=True, return_status=True
        )
        video = _part(fields, PARTS["video"])
        return options, _part(fields, PARTS["photo"]), video

    def render(result: VerifyResult, options: VerifyOptions, request_id: str) -> dict:
        body = Service.body(result, options, request_id)
        body["evidence"] = [asdict(e) for e in result.liveness.evidence]
        body["liveness_threshold"] = service.settings.liveness_threshold
        return body

    return service.run(prepare, render, request_id, outcome)


def _part(fields: Mapping[str, object], name: str) -> bytes:
    value = fields.get(name)
    if not isinstance(value, bytes) or not value:
        raise InvalidArgument(f"{name}: missing or not a file part")
    return value
