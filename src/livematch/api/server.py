"""Running the app under uvicorn with a graceful, observable shutdown.

On SIGTERM (what Kubernetes, Docker and systemd send) the process:

1. turns ``/readyz`` to 503 at once, so load balancers and Kubernetes stop sending new requests,
   while it keeps serving for ``shutdown_drain_seconds`` (requests already routed here still land);
2. closes the listening socket and waits up to ``shutdown_grace_seconds`` for in-flight requests
   (each is bounded by ``deadline_seconds``, so a grace above the deadline lets every one finish);
3. exits with status 0.

A second SIGTERM, or SIGINT (Ctrl+C), skips the drain.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import uvicorn
from fastapi import FastAPI

from livematch import logs
from livematch.config import Settings

log = logging.getLogger("livematch.server")


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first SIGTERM starts a drain before the usual graceful shutdown."""

    def __init__(self, config: uvicorn.Config, draining: threading.Event, drain_seconds: float) -> None:
        super().__init__(config)
        self.draining = draining
        self.drain_seconds = drain_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """First SIGTERM: mark not-ready, then shut down after the drain; anything else: at once."""
        if sig != signal.SIGTERM or self.draining.is_set() or self.drain_seconds <= 0:
            self.draining.set()
            super().handle_exit(sig, frame)
            return
        self.draining.set()
        log.info("SIGTERM: not ready, draining", extra={"drain_seconds": self.drain_seconds})
        timer = threading.Timer(self.drain_seconds, super().handle_exit, (sig, None))
        timer.daemon = True
        timer.start()


def serve(app: FastAPI, settings: Settings, host: str, port: int) -> bool:
    """Configure logging and run ``app`` until a signal stops it (returns True, exit 0, on SIGTERM).

    Returns False when the models could not load (the reason is logged once, without a traceback).
    """
    logs.configure(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,  # livematch writes its own line per request (livematch.logs)
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        h11_max_incomplete_event_size=64 * 1024,
    )
    state = app.state.livematch
    server = DrainingServer(config, state.draining, settings.shutdown_drain_seconds)
    state.stop = lambda: setattr(server, "should_exit", True)
    # uvicorn re-raises the captured signal after its graceful shutdown so the default action can run;
    # for SIGTERM that would end the process with 143 after a clean drain. A no-op handler makes the
    # re-raise harmless and the exit status 0.
    signal.signal(signal.SIGTERM, lambda *_: None)
    server.run()
    return state.startup_error is None
