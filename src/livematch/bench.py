"""``livematch bench``: per-stage and end-to-end latency, the decode+detect floor, and HTTP throughput.

Everything is measured in one run on one machine, so ratios (end-to-end / floor) are meaningful even
on a noisy box. In-process timings call exactly what the HTTP route calls (``Service``'s cipher,
``Engine.verify``, ``Service.body``); ``--concurrency`` drives a real ``livematch serve`` process.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from tqdm import tqdm

from livematch.api.service import Service
from livematch.config import Settings
from livematch.crypto import FieldCipher
from livematch.engine import VIDEO_DETECT_SIDE, Timer, VerifyOptions
from livematch.media import decode_photo, decode_video

ALL_OPTIONS = VerifyOptions(
    auto_rotate=True, check_quality=True, return_image=True, return_face_image=True, return_status=True
)


def summary(values: list[float]) -> dict[str, float]:
    """``{min, median, p95}`` of millisecond samples, rounded to 0.1 ms."""
    arr = np.asarray(values, dtype=np.float64)
    return {
        "min": round(float(arr.min()), 1),
        "median": round(float(np.median(arr)), 1),
        "p95": round(float(np.percentile(arr, 95)), 1),
    }


def run_bench(
    settings: Settings, video: Path, photo: Path, repeat: int, concurrency: int | None, requests: int | None = None
) -> dict[str, object]:
    """The full report (see module docstring)."""
    key, iv = secrets.token_hex(16), secrets.token_hex(6)
    settings = settings.model_copy(update={"decrypt_key": key, "decrypt_iv": iv})
    started = time.perf_counter()
    service = Service(settings)
    load_s = time.perf_counter() - started
    fields = _fields(FieldCipher(key, iv), video.read_bytes(), photo.read_bytes())
    report: dict[str, object] = {
        "video": str(video),
        "photo": str(photo),
        "repeat": repeat,
        "options": ALL_OPTIONS.__dict__,
        "engine": service.engine.info(),
        "model_load_s": round(load_s, 3),
        "cpu_count": os.cpu_count(),
    }
    report.update(_in_process(service, fields, repeat))
    report["one_face_embedding_ms"] = _one_face(service, photo.read_bytes(), repeat)
    if concurrency:
        report.update(_http(settings, fields, concurrency, requests or max(40, 5 * concurrency)))
    return report


def _fields(cipher: FieldCipher, video: bytes, photo: bytes) -> dict[str, object]:
    return {
        "encrypted_video": cipher.encrypt_compat(video),
        "encrypted_image": cipher.encrypt_compat(photo),
        **{k: "true" for k in ALL_OPTIONS.__dict__},
    }


def _in_process(service: Service, fields: dict[str, object], repeat: int) -> dict[str, object]:
    engine = service.engine
    stages: dict[str, list[float]] = defaultdict(list)
    end_to_end, floor = [], []
    for i in tqdm(range(repeat + 2), desc="bench", unit="req"):
        timer = Timer()
        t0 = time.perf_counter()
        with timer.stage("decrypt"):
            video = service.cipher.decrypt(fields["encrypted_video"], "encrypted_video")
            photo = service.cipher.decrypt(fields["encrypted_image"], "encrypted_image")
        result = engine.verify(photo, video, ALL_OPTIONS)
        with timer.stage("response_json"):
            json.dumps(service.body(result, ALL_OPTIONS, "bench"))
        total = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        for frame in decode_video(video, engine.settings).frames:
            engine.detector.detect(frame.bgr, max_side=VIDEO_DETECT_SIDE)
        floor_ms = (time.perf_counter() - t1) * 1000
        if i < 2:  # warm-up
            continue
        end_to_end.append(total)
        floor.append(floor_ms)
        for name, ms in {**result.timings_ms, **timer.ms}.items():
            stages[name].append(ms)
    e2e, fl = summary(end_to_end), summary(floor)
    return {
        "end_to_end_ms": e2e,
        "floor_ms": fl,
        "ratio_median": round(e2e["median"] / fl["median"], 2),
        "stages": {name: summary(v) for name, v in stages.items()},
        "passed": result.passed,
        "verification_score": result.verification_score,
    }


def _one_face(service: Service, photo: bytes, repeat: int) -> dict[str, float]:
    """The active embedder on the photo's face alone, nothing else running: the per-face embedding cost.

    In a request the photo's embedding overlaps the video's decoding on the same cores, so its stage
    time includes waiting; this is the cost the embedding budget speaks of (docs/PERFORMANCE.md).
    """
    engine = service.engine
    face = engine.embed_photo(photo)  # detection and landmarks, as a request does
    bgr = decode_photo(photo, engine.settings, apply_exif=False).bgr
    times = []
    for _ in range(repeat + 2):
        t0 = time.perf_counter()
        engine.embedder.embed(bgr, face)
        times.append((time.perf_counter() - t0) * 1000)
    return summary(times[2:])


def _http(settings: Settings, fields: dict[str, object], concurrency: int, total: int) -> dict[str, object]:
    port = _free_port()
    env = {
        **os.environ,
        "LIVEMATCH_DECRYPT_KEY": settings.decrypt_key,
        "LIVEMATCH_DECRYPT_IV": settings.decrypt_iv,
        "LIVEMATCH_WORKERS": str(settings.workers),
        "LIVEMATCH_QUEUE_SIZE": str(max(settings.queue_size, concurrency)),
        "LIVEMATCH_LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "livematch", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        ready_s = _wait_ready(base, server) - started
        peak = _PeakRss(server.pid)
        latencies, errors = [], 0
        with httpx.Client(base_url=base, timeout=60) as client, ThreadPoolExecutor(concurrency) as pool:
            client.post("/identity/silent_image_verification/stateless", data=fields)  # warm-up
            t0 = time.perf_counter()
            for ok, ms in pool.map(lambda _: _one(client, fields), range(total)):
                latencies.append(ms)
                errors += not ok
            wall = time.perf_counter() - t0
        peak.stop()
    finally:
        server.terminate()
        server.wait(timeout=60)
    return {
        "concurrency": concurrency,
        "requests": total,
        "throughput_rps": round(total / wall, 2),
        "errors": errors,
        "http_latency_ms": summary(latencies),
        "peak_rss_mb": round(peak.mb, 1),
        "cold_start_to_ready_s": round(ready_s, 2),
        "workers": settings.workers,
    }


def _one(client: httpx.Client, fields: dict[str, object]) -> tuple[bool, float]:
    t = time.perf_counter()
    response = client.post("/identity/silent_image_verification/stateless", data=fields)
    ok = response.status_code == 200 and response.json().get("code") == 1000
    return ok, (time.perf_counter() - t) * 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(base: str, server: subprocess.Popen, timeout: float = 120) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            raise RuntimeError("livematch serve exited during start-up")
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return time.perf_counter()
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("service did not become ready")


class _PeakRss:
    """Samples a process's resident set (VmHWM, the kernel's own high-water mark) in the background."""

    def __init__(self, pid: int) -> None:
        self.pid, self.mb = pid, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()

    def _sample(self) -> None:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.mb = max(self.mb, int(line.split()[1]) / 1024)
        except OSError:
            pass

    def stop(self) -> None:
        """Take a last sample and stop sampling."""
        self._sample()
        self._stop.set()
        self._thread.join()


def bench_plot(report: dict[str, object], path: Path) -> None:
    """Stage latencies as bars (median, whisker to p95) under the end-to-end and floor medians.

    The photo and video branches run in parallel, so stages add up to more than the end-to-end time; the
    picture shows at a glance which stage to work on and how far the whole sits above decode + detect.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(report["stages"].items(), key=lambda kv: kv[1]["median"])
    rows += [("floor: decode + detect", report["floor_ms"]), ("END TO END", report["end_to_end_ms"])]
    names = [name for name, _ in rows]
    medians = np.array([r["median"] for _, r in rows])
    spread = np.array([r["p95"] for _, r in rows]) - medians
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.2))
    photo = [n.startswith("photo_") or n == "occlusion" for n in names[:-2]]  # occlusion is checked on the photo
    colours = ["tab:cyan" if p else "tab:blue" for p in photo] + ["tab:grey", "tab:red"]
    ax.barh(names, medians, xerr=[np.zeros_like(spread), spread], color=colours, capsize=2)
    for y, (value, extra) in enumerate(zip(medians, spread, strict=True)):
        ax.text(value + extra, y, f"  {value:.0f}", va="center", fontsize=7)
    ax.set_xlabel("ms: bar median, whisker p95 (cyan: photo branch, in parallel with the video's)")
    ax.set_title(f"{Path(str(report['video'])).name}: {report['repeat']} requests, all options", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
