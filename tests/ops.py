"""Helpers for tests that run real ``livematch serve`` processes: start, wait, load, stop.

The processes are real (own interpreter, own sockets, real signals) because graceful shutdown and
scale-out are properties of the process and the network, which an in-process test client cannot show.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from livematch.crypto import FieldCipher
from tests.conftest import VERIFY, shared

LIVEMATCH = str(Path(sys.executable).with_name("livematch"))


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def key_env() -> dict[str, str]:
    """A fresh random key and IV, as the service reads them."""
    return {"LIVEMATCH_DECRYPT_KEY": secrets.token_hex(16), "LIVEMATCH_DECRYPT_IV": secrets.token_hex(6)}


def verify_body(
    env: dict[str, str],
    video: str = "data/video/grid_s2_swwp2s.mp4",
    photo: str = "data/video/grid_s2_swwp2s_frame.jpg",
) -> bytes:
    """A JSON verify request (default: the GRID clip and its frame, a live pass) encrypted for ``env``'s key."""
    cipher = FieldCipher(env["LIVEMATCH_DECRYPT_KEY"], env["LIVEMATCH_DECRYPT_IV"])
    video, photo = shared(video).read_bytes(), shared(photo).read_bytes()
    fields = {"encrypted_video": cipher.encrypt_compat(video), "encrypted_image": cipher.encrypt_compat(photo)}
    return json.dumps(fields).encode()


def phone_sized_clip(folder: Path, width: int = 1920, height: int = 1080, seconds: float = 15.0) -> Path:
    """The GRID clip upscaled and looped (forwards, backwards) to a phone-like 1080p selfie length.

    For sizing only: decoding cost grows with pixels and frames, and phone selfies are far larger
    than the 360x288 GRID clip. Written to ``folder`` (a temporary directory, never the repository).
    """
    import cv2

    from tests.media import encode_video, read_frames

    frames = [cv2.resize(f, (width, height)) for f in read_frames(shared("data", "video", "grid_s2_swwp2s.mp4"))]
    looped = (frames + frames[::-1]) * int(1 + seconds * 25 // (2 * len(frames)))
    path = folder / f"grid_{width}x{height}_{seconds:g}s.mp4"
    path.write_bytes(encode_video(looped[: int(seconds * 25)], fps=25))
    return path


@dataclass
class Replica:
    """One running ``livematch serve``; ``log`` collects its stderr (the JSON log lines)."""

    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_lines(self) -> list[dict]:
        """Every JSON log line written so far."""
        lines = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def verify_lines(self) -> list[dict]:
        """Log lines of verify requests only."""
        return [line for line in self.log_lines() if line.get("route") == VERIFY]

    def rss_mb(self) -> float:
        """Resident memory of the process now, in MiB (Linux /proc)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
        raise AssertionError("no VmRSS")

    def cpu_seconds(self) -> float:
        """User + system CPU time consumed by the process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(tmp: Path, env: dict[str, str], *, workers: int = 1, **settings: str) -> Replica:
    """Start a replica on a free port with the given ``LIVEMATCH_*`` settings (no readiness wait)."""
    port = free_port()
    log_path = tmp / f"serve-{port}.log"
    full_env = {
        **os.environ,
        **env,
        "LIVEMATCH_LOG_FORMAT": "json",
        "LIVEMATCH_WORKERS": str(workers),
        **{f"LIVEMATCH_{k.upper()}": v for k, v in settings.items()},
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [LIVEMATCH, "serve", "--port", str(port)], env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp
        )
    return Replica(process, port, log_path)


def wait_ready(replica: Replica, timeout: float = 60.0) -> None:
    """Poll /readyz until 200; fail with the replica's log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if replica.process.poll() is not None:
            raise AssertionError(f"replica exited {replica.process.returncode}:\n{replica.log_path.read_text()}")
        try:
            if httpx.get(replica.url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"replica not ready after {timeout}s:\n{replica.log_path.read_text()}")


@contextmanager
def replicas(tmp: Path, env: dict[str, str], n: int, **settings: str) -> Iterator[list[Replica]]:
    """``n`` ready replicas, killed on exit if still running."""
    started = [start(tmp, env, **settings) for _ in range(n)]
    try:
        for replica in started:
            wait_ready(replica)
        yield started
    finally:
        for replica in started:
            if replica.process.poll() is None:
                replica.process.kill()
                replica.process.wait()


@dataclass
class Outcome:
    """One request's result as the client saw it."""

    status: int  # HTTP status, or 0 when the connection failed
    code: int | None
    seconds: float


@dataclass
class Load:
    """Results of a closed-loop load run: ``concurrency`` clients each sending requests back to back."""

    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> int:
        return sum(o.status == 200 and o.code == 1000 for o in self.outcomes)

    @property
    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if not (o.status == 200 and o.code == 1000)]

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def latency(self, q: float) -> float:
        """Latency quantile ``q`` (0..1) over successful requests, in seconds."""
        ok = sorted(o.seconds for o in self.outcomes if o.status == 200)
        return ok[min(len(ok) - 1, int(q * len(ok)))] if ok else float("nan")


def send(url: str, body: bytes, timeout: float = 60.0) -> Outcome:
    """POST one verify request; connection failures are status 0, non-JSON answers (a proxy's) have no code."""
    started = time.perf_counter()
    try:
        response = httpx.post(url + VERIFY, content=body, headers={"content-type": "application/json"}, timeout=timeout)
    except httpx.TransportError:
        return Outcome(0, None, time.perf_counter() - started)
    try:
        code = response.json().get("code")
    except ValueError:
        code = None
    return Outcome(response.status_code, code, time.perf_counter() - started)


def run_load(url: str, body: bytes, *, concurrency: int, requests: int) -> Load:
    """Send ``requests`` verify requests with ``concurrency`` clients in a closed loop (bounded load)."""
    load = Load()
    remaining = iter(range(requests))
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            outcome = send(url, body)
            with lock:
                load.outcomes.append(outcome)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    load.seconds = time.perf_counter() - started
    return load


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Parse exposition text into ``{(sample name, sorted labels): value}``."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scrape: dict, name: str, **labels: str) -> float:
    """One sample's value (0 when absent, as for a counter never incremented)."""
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)
