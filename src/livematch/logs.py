"""Process logging: one handler on the root logger, JSON or text, level and format from ``Settings``.

Why its own module: the service writes exactly one line per request (``request_line``) whose fields
are the operator's record of what happened — request id, codes, timings, input sizes and formats —
and never any photo, video, face or field content. Uvicorn's access log is switched off in
``livematch serve`` because that line replaces it; uvicorn's own messages go through the same
handler so every line a process prints has one format.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping

from livematch.config import Settings

REQUEST_LOGGER = "livematch.request"
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the record's ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialise ``record``; values that are not JSON types are turned into strings."""
        line: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(_extra(record))
        if record.exc_info:
            line["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """Human-readable: ``time level logger message key=value ...`` with nested fields flattened."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The standard line followed by the ``extra`` fields as ``key=value`` pairs."""
        pairs = " ".join(f"{k}={v}" for k, v in _flatten(_extra(record)))
        return f"{super().format(record)} {pairs}".rstrip()


def configure(settings: Settings) -> None:
    """Install the handler on the root logger and route uvicorn's loggers through it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


def request_line(fields: Mapping[str, object]) -> None:
    """Write the one line for a finished request (``fields`` must already be free of content).

    Successful probes and scrapes are DEBUG: orchestrators call them every few seconds per replica,
    and at INFO they would drown the verification lines.
    """
    status = int(fields.get("status", 0))
    level = logging.ERROR if status >= 500 and status != 503 else logging.INFO
    if fields.get("route") in PROBES and status < 500:
        level = logging.DEBUG
    logging.getLogger(REQUEST_LOGGER).log(level, "request", extra=dict(fields))


def _extra(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in record.__dict__.items() if k not in _RESERVED}


def _flatten(fields: Mapping[str, object], prefix: str = "") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for key, value in fields.items():
        if isinstance(value, Mapping):
            out.extend(_flatten(value, f"{prefix}{key}."))
        else:
            out.append((f"{prefix}{key}", value))
    return out
