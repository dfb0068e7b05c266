"""What the app records when a request finishes: one log line and the metric observations.

Both come from the same facts so they agree: the request id and route, the SenseID code and HTTP
status, the end-to-end time, and — when the engine ran — ``outcome``, which ``Service.handle_fields``
fills with the liveness status, per-stage milliseconds and the decoded inputs' sizes and formats.
Nothing here reads a field's value, so no content can reach the log or the metrics.
"""

from __future__ import annotations

from starlette.requests import Request

from livematch import logs
from livematch.api.metrics import Metrics
from livematch.errors import DeadlineExceeded, Overloaded


def finish(request: Request, status: int, seconds: float, metrics: Metrics, ready: bool) -> None:
    """Log and count one answered request."""
    route = metrics.route(request.url.path)
    code = getattr(request.state, "code", None)
    outcome: dict[str, object] = getattr(request.state, "outcome", None) or {}
    metrics.observe(route, status, code, seconds, outcome)
    if code == Overloaded.code:
        metrics.reject("queue_full" if ready else "not_ready")
    elif code == DeadlineExceeded.code:
        metrics.reject("deadline")
    fields: dict[str, object] = {
        "request_id": request.state.request_id,
        "method": request.method,
        "route": route,
        "status": status,
        "code": code,
        "duration_ms": round(seconds * 1000, 1),
    }
    if "passed" in outcome:
        fields["passed"] = outcome["passed"]
        fields["liveness_status"] = outcome["liveness_status"]
        if outcome.get("liveness_rejected_by"):
            fields["liveness_rejected_by"] = outcome["liveness_rejected_by"]
    if "stages_ms" in outcome:
        fields["stages_ms"] = {k: round(v, 1) for k, v in dict(outcome["stages_ms"]).items()}
    if request.method == "POST":
        length = request.headers.get("content-length", "")
        fields["inputs"] = {
            "content_type": request.headers.get("content-type", "").split(";")[0].strip()[:64],
            "body_bytes": int(length) if length.isdigit() else None,
            **dict(outcome.get("inputs", {})),
        }
    logs.request_line(fields)
