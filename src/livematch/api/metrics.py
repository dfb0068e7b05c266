"""Prometheus metrics for one app instance, served at ``GET /metrics``.

Each app gets its own ``CollectorRegistry`` so tests can run several apps in one process. Labels are
bounded sets chosen by the server (route templates, response codes, stage names, liveness statuses,
liveness cue names, rejection reasons): never request ids, client addresses, media content or the values
measured on it.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from livematch import __version__

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0)
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
OTHER = "other"


class Metrics:
    """The metric families; ``observe`` is called once per finished request by the app's middleware."""

    def __init__(self, *, in_flight: Callable[[], int], workers: int, queue_size: int) -> None:
        """``in_flight`` reads the admission counter (running + waiting verifications) at scrape time."""
        self.registry = registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        self.routes: set[str] = set()
        self.requests = Counter(
            "livematch_requests",
            "Requests answered, by route, response code (SenseID code or '-') and HTTP status",
            ["route", "code", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "livematch_request_duration_seconds",
            "End-to-end request time inside the service, by route",
            ["route"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.stages = Histogram(
            "livematch_stage_duration_seconds",
            "Time per pipeline stage of completed verifications (Engine timings)",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.liveness = Counter(
            "livematch_liveness_decisions",
            "Completed verifications by liveness status (ok passes; hack and short_time fail)",
            ["status"],
            registry=registry,
        )
        self.hack_cues = Counter(
            "livematch_liveness_rejected_by",
            "Verifications judged hack, by the cue that set the score (its name, never its value)",
            ["cue"],
            registry=registry,
        )
        self.rejections = Counter(
            "livematch_rejections",
            "Verifications refused without running: queue_full, not_ready, deadline",
            ["reason"],
            registry=registry,
        )
        gauge = Gauge("livematch_in_flight", "Verifications admitted and not yet answered", registry=registry)
        gauge.set_function(in_flight)
        depth = Gauge("livematch_queue_depth", "Admitted verifications waiting for a worker thread", registry=registry)
        depth.set_function(lambda: max(0, in_flight() - workers))
        Gauge("livematch_workers", "Verification worker threads", registry=registry).set(workers)
        Gauge("livematch_queue_capacity", "Waiting slots before 503/1503", registry=registry).set(queue_size)
        self.ready = Gauge("livematch_ready", "1 when /readyz answers 200", registry=registry)
        self.load_seconds = Gauge(
            "livematch_model_load_seconds", "Time to load every model at start-up", registry=registry
        )
        self.build = Info("livematch_build", "Service version and runtime", registry=registry)
        self.build.info({"version": __version__, "python": platform.python_version()})
        self.models = Gauge(
            "livematch_model_info",
            "Models in use (value 1): name, task, package version and sha256 prefix",
            ["name", "task", "version", "sha256"],
            registry=registry,
        )
        self._models_known = False

    def models_loaded(self, info: Mapping[str, object]) -> None:
        """Record load time and model identities from ``Engine.info()`` (once)."""
        if self._models_known:
            return
        self.load_seconds.set(float(info.get("load_seconds", 0.0)))
        for spec in info.get("models", []):
            self.models.labels(spec["name"], spec["task"], spec["installed_version"], spec["sha256"][:12]).set(1)
        self._models_known = True

    def route(self, path: str) -> str:
        """The route label: a known route template, else ``other`` (arbitrary paths would explode labels)."""
        return path if path in self.routes else OTHER

    def observe(self, route: str, status: int, code: object, seconds: float, outcome: Mapping[str, object]) -> None:
        """Count one answered request; ``outcome`` holds the engine's stages and liveness status if it ran."""
        self.requests.labels(route, str(code) if code is not None else "-", str(status)).inc()
        self.latency.labels(route).observe(seconds)
        for stage, ms in dict(outcome.get("stages_ms", {})).items():
            self.stages.labels(stage).observe(ms / 1000)
        if "liveness_status" in outcome:
            self.liveness.labels(str(outcome["liveness_status"])).inc()
        if outcome.get("liveness_rejected_by"):
            self.hack_cues.labels(str(outcome["liveness_rejected_by"])).inc()

    def reject(self, reason: str) -> None:
        """Count a verification refused by admission control."""
        self.rejections.labels(reason).inc()

    def render(self, ready: bool) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        self.ready.set(1 if ready else 0)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
