"""Bounded load test on loopback: a real ``livematch serve`` process, N concurrent clients, mixed traffic.

Each client loops for ``--seconds``, sending a valid request with probability ``--valid`` and
otherwise one of the hostile cases from ``tests/hostile.py`` (bombs, lying containers, broken
crypto, malformed bodies). Prints one JSON report: status counts, 5xx, client errors, latency
percentiles, and the server's RSS sampled every second. Exit status 1 on any 5xx or transport error.

    python scripts/loadtest.py --clients 50 --seconds 300 --sign KEY:SECRET --out load-5min.json

Each client pauses ``--think`` seconds on average (uniform 0..2x) between requests; 50 clients at the
default 20 s offer about 2.5 requests/s, what 2 workers on 2 cores serve. With --think 5 the offer
exceeds that and the deadline answers 503/1504 (the documented overload behaviour, not a fault).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import psutil

from livematch.api.auth import authorization_header

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VERIFY = "/identity/silent_image_verification/stateless"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def payloads(key: str, iv: str, shared: Path) -> dict[str, tuple[str, bytes]]:
    """name -> (content type, body); the first is the valid request."""
    from livematch.crypto import FieldCipher
    from tests import hostile
    from tests.media import read_frames

    cipher = FieldCipher(key, iv)
    video = (shared / "data" / "video" / "grid_s2_swwp2s.mp4").read_bytes()
    photo = (shared / "data" / "video" / "grid_s2_swwp2s_frame.jpg").read_bytes()
    frame = read_frames(shared / "data" / "video" / "grid_s2_swwp2s.mp4", seconds=0.1)[0]

    def fields(v: bytes = video, p: bytes = photo, **extra: object) -> tuple[str, bytes]:
        body = {"encrypted_video": cipher.encrypt_compat(v), "encrypted_image": cipher.encrypt_compat(p), **extra}
        return "application/json", json.dumps(body).encode()

    wrong = FieldCipher("k" * 32, "i" * 12)
    return {
        "valid": fields(return_status=True),
        "png_bomb": fields(p=hostile.png_bomb(100_000, 100_000)),
        "jpeg_bomb": fields(p=hostile.jpeg_bomb(65_535, 65_535)),
        "gif_3000_frames_as_video": fields(v=hostile.animated_gif(frame, 3000)),
        "audio_only": fields(v=hostile.audio_only_mp4()),
        "claims_hours": fields(v=hostile.video_from_packets(320, 240, 50, seconds=3 * 3600)),
        "many_frames": fields(v=hostile.video_from_packets(320, 240, 100_000, seconds=15)),
        "pixel_budget": fields(v=hostile.video_from_packets(4096, 4096, 900, seconds=15)),
        "truncated_video": fields(v=video[:2000]),
        "photo_as_video": fields(v=photo),
        "jpeg_header_lies_small": fields(p=hostile.jpeg_bomb(200, 200)),
        "wrong_key": (
            "application/json",
            json.dumps(
                {"encrypted_video": wrong.encrypt_compat(video), "encrypted_image": wrong.encrypt_compat(photo)}
            ).encode(),
        ),
        "bad_base64": ("application/json", b'{"encrypted_video": "***", "encrypted_image": "***"}'),
        "deep_json": ("application/json", b"[" * 100_000 + b"]" * 100_000),
        "duplicate_json": ("application/json", b'{"encrypted_video": "A", "encrypted_video": "B"}'),
        "bad_boolean": fields(return_status="yes"),
        "bad_multipart": ("multipart/form-data; boundary=x", b"--x\r\ngarbage"),
        "no_content_type": ("", b"encrypted_video=x"),
    }


async def client_loop(
    http: httpx.AsyncClient,
    cases: dict,
    args: argparse.Namespace,
    until: float,
    rng: random.Random,
    out: list,
) -> None:
    valid, think, sign = args.valid, args.think, args.sign
    await pause(rng.uniform(0, think), until)  # clients arrive spread out, not as one burst
    hostile_names = [n for n in cases if n != "valid"]
    while time.monotonic() < until:
        name = "valid" if rng.random() < valid else rng.choice(hostile_names)
        content_type, body = cases[name]
        headers = {"content-type": content_type} if content_type else {}
        if sign:
            headers["authorization"] = authorization_header(*sign.split(":", 1))
        started = time.perf_counter()
        try:
            response = await http.post(VERIFY, content=body, headers=headers)
            code = response.json().get("code")
            out.append((name, response.status_code, code, time.perf_counter() - started))
            if response.status_code == 503:
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            await pause(rng.uniform(0, 2 * think), until)
        except (httpx.HTTPError, ValueError) as exc:
            out.append((name, -1, type(exc).__name__, time.perf_counter() - started))


async def pause(seconds: float, until: float) -> None:
    """Sleep, but never past the end of the run."""
    await asyncio.sleep(max(0.0, min(seconds, until - time.monotonic())))


async def sample_rss(pid: int, until: float, samples: list) -> None:
    """RSS in MB every second; the last entry also records the server's CPU seconds over the run."""
    process = psutil.Process(pid)
    start, cpu = time.monotonic(), sum(process.cpu_times()[:2])
    while time.monotonic() < until:
        samples.append((round(time.monotonic() - start, 1), process.memory_info().rss / 2**20))
        await asyncio.sleep(1.0)
    samples.append((-1.0, sum(process.cpu_times()[:2]) - cpu))


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


async def run(args: argparse.Namespace, during: Callable[[str, dict], None] | None = None) -> dict:
    """Start the server, load it, then call ``during(base_url, env)`` while it still runs (tests use it)."""
    key, iv = secrets.token_hex(16), secrets.token_hex(6)
    port = free_port()
    env = {
        **os.environ,
        "LIVEMATCH_DECRYPT_KEY": key,
        "LIVEMATCH_DECRYPT_IV": iv,
        "LIVEMATCH_QUEUE_SIZE": str(args.queue_size),
        "LIVEMATCH_LOG_LEVEL": "warning",
        "LIVEMATCH_API_KEYS": args.sign or "",
        "LIVEMATCH_AUTH_RATE_PER_MINUTE": "0",
    }
    cases = payloads(key, iv, args.shared)
    server = subprocess.Popen(
        [sys.executable, "-m", "livematch", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=args.workdir,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=httpx.Limits(max_connections=200)) as http:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("server did not become ready")
                await asyncio.sleep(0.5)
            results: list = []
            rss: list = []
            until = time.monotonic() + args.seconds
            rngs = [random.Random(i) for i in range(args.clients)]
            await asyncio.gather(
                sample_rss(server.pid, until, rss),
                *(client_loop(http, cases, args, until, rng, results) for rng in rngs),
            )
            if during is not None:
                await asyncio.to_thread(during, base, env)
        alive = server.poll() is None
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    return report(args, results, rss, alive)


def report(args: argparse.Namespace, results: list, rss: list, alive: bool) -> dict:
    cpu_seconds = rss.pop()[1] if rss and rss[-1][0] < 0 else None
    statuses: dict[str, int] = {}
    for _, status, code, _ in results:
        statuses[f"{status}/{code}"] = statuses.get(f"{status}/{code}", 0) + 1
    latency = [r[3] for r in results if r[1] > 0]
    valid = [r[3] for r in results if r[0] == "valid" and r[1] == 200]
    warm = [m for t, m in rss if t >= min(30.0, args.seconds / 3)]
    half = len(warm) // 2
    return {
        "clients": args.clients,
        "seconds": args.seconds,
        "valid_fraction": args.valid,
        "think_mean_s": args.think,
        "signed": bool(args.sign),
        "requests": len(results),
        "requests_per_s": round(len(results) / args.seconds, 1),
        "status_code_counts": dict(sorted(statuses.items())),
        "server_5xx": sum(1 for r in results if r[1] >= 500),
        "overload_503": sum(1 for r in results if r[1] == 503),
        "transport_errors": sum(1 for r in results if r[1] < 0),
        "valid_passed": sum(1 for r in results if r[0] == "valid" and r[1] == 200),
        "latency_s": {"p50": percentile(latency, 50), "p95": percentile(latency, 95), "max": percentile(latency, 100)},
        "valid_latency_s": {"p50": percentile(valid, 50), "p95": percentile(valid, 95)},
        "rss_mb": {
            "after_warmup_first_half_mean": round(float(np.mean(warm[:half])), 1) if half else None,
            "second_half_mean": round(float(np.mean(warm[half:])), 1) if half else None,
            "max": round(max(m for _, m in rss), 1) if rss else None,
            "samples": [(t, round(m)) for t, m in rss[:: max(1, len(rss) // 30)]],
        },
        "server_alive_at_end": alive,
        # Of the 2 cores' 2 x seconds available; far below that means other jobs took the CPU.
        "server_cpu_s": round(cpu_seconds, 1) if cpu_seconds is not None else None,
        "machine_load_avg_1min": round(os.getloadavg()[0], 1),
    }


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (tests pass their own)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--valid", type=float, default=0.3, help="fraction of valid requests")
    parser.add_argument("--think", type=float, default=20.0, help="mean pause between a client's requests (s)")
    parser.add_argument("--queue-size", type=int, default=64, help="LIVEMATCH_QUEUE_SIZE for the server")
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("LIVEMATCH_SHARED_DIR", ROOT.parent / "shared"))
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp"), help="server cwd (no .env is read from it)")
    parser.add_argument("--sign", help="KEY:SECRET: turn request signing on; every client signs (SenseID scheme)")
    parser.add_argument("--out", type=Path)
    return parser.parse_args(argv)


def main() -> None:
    args = arguments()
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    sys.exit(
        0 if result["server_5xx"] == 0 and result["transport_errors"] == 0 and result["server_alive_at_end"] else 1
    )


if __name__ == "__main__":
    main()
