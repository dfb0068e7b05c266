"""Time what check_quality adds per photo: ``OcclusionChecker.check`` on faces the photo path found.

    python scripts/bench_occlusion.py --manifest ../shared/data/occlusion/manifest.tsv \
        --json artifacts/occlusion/timing.json

Wall time (time.perf_counter) and this thread's CPU time (time.thread_time) are both reported, with
the 1-minute load average, because on a shared machine wall time mostly measures the neighbours.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from livematch.config import Settings
from livematch.engine import Engine
from livematch.errors import FaceOcclusion, LivematchError
from livematch.eval.occlusion import read_manifest
from livematch.media import decode_photo


def stats(values: list[float]) -> dict[str, float]:
    """Mean, median and 95th percentile in milliseconds."""
    arr = np.array(values) * 1000
    return {
        k: round(float(v), 2)
        for k, v in (("mean", arr.mean()), ("p50", np.median(arr)), ("p95", np.percentile(arr, 95)))
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=300)
    args = ap.parse_args()
    engine = Engine(Settings(_env_file=None))
    faces = []
    for rel, _ in read_manifest(args.manifest)[: args.limit]:
        try:
            bgr = decode_photo((args.manifest.parent / rel).read_bytes(), engine.settings, apply_exif=False).bgr
        except LivematchError:
            continue
        found = engine.detector.detect(bgr)
        if found:
            engine.landmarks.annotate(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), found[0])
            faces.append((bgr, found[0]))
    engine.occlusion.score(*faces[0])  # warm-up
    wall, cpu = [], []
    for bgr, face in faces:
        w0, c0 = time.perf_counter(), time.thread_time()
        with contextlib.suppress(FaceOcclusion):
            engine.occlusion.check(bgr, face)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.thread_time() - c0)
    report = {
        "photos": len(faces),
        "wall_ms": stats(wall),
        "cpu_ms": stats(cpu),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
