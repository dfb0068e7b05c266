"""``livematch eval liveness``: APCER per attack type, BPCER and ACER through ``Engine.verify``.

Every item goes through the same call as an API request (decrypted bytes in, ``VerifyResult`` out),
so the numbers are the service's numbers. Each manifest row is ``path<TAB>live|attack<TAB>attack_type``
(paths relative to the manifest's folder, or absolute).

* A video is sent as it is; the photo argument is one of its own frames (the match is irrelevant here;
  liveness runs before it and an attack stops there).
* A still image is sent as a **one-frame video** (lossless FFV1 in Matroska, EXIF orientation applied,
  upscaled with bicubic so its shorter side reaches ``video_min_side``), with ``video_min_seconds=0`` in
  this engine's settings because one frame has no duration. The engine then runs only the frame-level
  evidence (temporal cues need motion and abstain), so with temporal evidence alone every image is
  rejected: that is the honest answer, one frame carries no temporal evidence.
* An error (a ``LivematchError``) is recorded with its code and counts against the item's label.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import av
import cv2
import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from livematch.config import Settings
from livematch.engine import Engine, VerifyOptions
from livematch.errors import InvalidImageType, LivematchError
from livematch.eval.files import read_rows, writable

if TYPE_CHECKING:
    from matplotlib.axes import Axes

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
EVIDENCE_CHOICES = ("temporal", "minifasnet", "all")
# Thresholds an operator may set (LIVEMATCH_LIVENESS_THRESHOLD): the report shows the error rates at each.
SWEEP = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass
class Item:
    """One manifest row and what the engine said about it."""

    path: str
    label: str
    attack_type: str
    score: float | None = None
    decision: str = "error"
    code: int | None = None
    evidence: dict[str, dict[str, float | bool]] = field(default_factory=dict)
    liveness_ms: float | None = None


def read_manifest(path: Path) -> list[Item]:
    """Rows of a liveness manifest, paths relative to its folder, checked by ``files.read_rows``."""
    rows = read_rows(path, ("path", "label", "attack_type"), path.parent, {1: {"live", "attack"}})
    return [Item(p, label, kind) for p, label, kind in rows]


def image_as_video(data: bytes, min_side: int) -> tuple[bytes, bytes]:
    """``(one-frame video, JPEG photo)`` of an image, upright and at least ``min_side`` on its shorter side."""
    try:
        image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    except (OSError, Image.DecompressionBombError) as exc:  # UnidentifiedImageError is an OSError
        raise InvalidImageType("image: cannot be decoded") from exc
    scale = max(1.0, min_side / min(image.size))
    if scale > 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC)
    image = image.crop((0, 0, image.width & ~1, image.height & ~1))
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="matroska") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = image.width, image.height, "bgr0"
        out.mux(stream.encode(av.VideoFrame.from_image(image)))
        out.mux(stream.encode(None))
    photo = io.BytesIO()
    image.save(photo, format="JPEG", quality=95)
    return buf.getvalue(), photo.getvalue()


def video_photo(data: bytes) -> bytes:
    """A JPEG of the video's first frame (the photo argument; liveness does not depend on it)."""
    try:
        with av.open(io.BytesIO(data)) as container:
            frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
    except (av.FFmpegError, StopIteration, IndexError) as exc:
        raise InvalidImageType("video: cannot be decoded") from exc
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def select_evidence(engine: Engine, evidence: str) -> Engine:
    """A shallow copy of ``engine`` whose liveness uses only the chosen evidence sources."""
    if evidence not in EVIDENCE_CHOICES:
        raise ValueError(f"evidence must be one of {EVIDENCE_CHOICES}")
    chosen = copy.copy(engine)
    if evidence != "all":
        chosen.liveness_sources = [s for s in engine.liveness_sources if s.name == evidence]
        if not chosen.liveness_sources:
            raise ValueError(f"evidence {evidence!r} is not active (is the pack imported?)")
    return chosen


def run_item(engine: Engine, item: Item, root: Path) -> Item:
    """Verify one item and fill in its score, decision and evidence."""
    path = root / item.path
    data = path.read_bytes()
    runner = engine
    try:
        if path.suffix.lower() in IMAGE_SUFFIXES:
            video, photo = image_as_video(data, engine.settings.video_min_side)
            runner = copy.copy(engine)
            runner.settings = engine.settings.model_copy(update={"video_min_seconds": 0.0})
        else:
            video, photo = data, video_photo(data)
        result = runner.verify(photo, video, VerifyOptions(auto_rotate=True))
    except LivematchError as exc:
        item.code, item.decision = exc.code, "error"
        return item
    item.score = result.liveness.score
    item.decision = "live" if result.liveness.passed else "attack"
    item.evidence = {
        e.name: {"live": round(e.live, 4), "value": round(e.value, 6), "decisive": e.decisive}
        for e in result.liveness.evidence
    }
    item.liveness_ms = round(result.timings_ms.get("liveness", 0.0), 2)
    return item


def _by_type(group: list[Item]) -> dict[str, list[Item]]:
    return {kind: [i for i in group if i.attack_type == kind] for kind in sorted({i.attack_type for i in group})}


def _decided(item: Item, threshold: float) -> str:
    """The decision at ``threshold``: the service's rule (``live`` at or above it), ``error`` without a score."""
    if item.score is None:
        return "error"
    return "live" if item.score >= threshold else "attack"


def _error_rate(group: list[Item], truth: str, threshold: float) -> float:
    """Share of ``group`` not decided as ``truth`` at ``threshold`` (an error counts as wrong)."""
    return float(np.mean([_decided(i, threshold) != truth for i in group])) if group else 0.0


def _rates(items: list[Item], threshold: float) -> dict[str, object]:
    """BPCER (overall and per live type), APCER per attack type and its maximum, at one threshold."""
    live = [i for i in items if i.label == "live"]
    attacks = _by_type([i for i in items if i.label == "attack"])
    apcer = {kind: round(_error_rate(group, "attack", threshold), 4) for kind, group in attacks.items()}
    return {
        "threshold": threshold,
        "bpcer": round(_error_rate(live, "live", threshold), 4),
        "bpcer_by_type": {kind: round(_error_rate(g, "live", threshold), 4) for kind, g in _by_type(live).items()},
        "apcer": apcer,
        "apcer_max": max(apcer.values(), default=0.0),
    }


def summarise(items: list[Item], threshold: float) -> dict[str, object]:
    """BPCER, APCER per attack type and max, ACER (ISO/IEC 30107-3 names; errors count as wrong).

    ``sweep`` gives the same rates at other thresholds, from the same scores (the service decides by
    ``score >= threshold`` alone), so an operator can read what moving the threshold costs on each side.
    """
    rates = _rates(items, threshold)
    attacks = _by_type([i for i in items if i.label == "attack"])
    return {
        **rates,
        "acer": round((rates["bpcer"] + rates["apcer_max"]) / 2, 4),
        "counts": {"live": sum(i.label == "live" for i in items), **{k: len(g) for k, g in attacks.items()}},
        "sweep": [_rates(items, t) for t in SWEEP],
        "items": [{k: v for k, v in asdict(i).items() if v is not None} for i in items],
    }


def evidence_plot(items: list[Item], report: dict[str, object], path: Path) -> None:
    """The threshold trade-off on top, then one panel per cue (and the fused score): every item's log-odds
    of "live", grouped by label and type.

    Log-odds put each cue's own midpoint at 0 and keep the margins readable where the 0..1 score
    saturates, so a glance shows which cue rejects which attack and how close the live clips come.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({(i.label, i.attack_type) for i in items}, key=lambda g: (g[0] != "live", g[1]))
    cues = sorted({name for i in items for name in i.evidence})
    advisory = {name for i in items for name, e in i.evidence.items() if not e.get("decisive", True)}
    panels = [
        ("liveness_score", lambda i: i.score),
        *((c, lambda i, c=c: i.evidence.get(c, {}).get("live")) for c in cues),
    ]
    fig, axes = plt.subplots(len(panels) + 1, 1, figsize=(max(6, 1.3 * len(groups)), 2.2 * (len(panels) + 1)))
    _sweep_panel(axes[0], report)
    for ax in axes[2:]:
        ax.sharex(axes[1])  # the item panels share one axis of groups; the sweep has its own
    rng = np.random.default_rng(0)  # jitter only
    for ax, (name, get) in zip(axes[1:], panels, strict=True):
        for x, (label, kind) in enumerate(groups):
            values = [get(i) for i in items if (i.label, i.attack_type) == (label, kind) and get(i) is not None]
            p = np.clip(np.asarray(values, dtype=float), 1e-4, 1 - 1e-4)
            y = np.log(p / (1 - p))
            ax.scatter(x + rng.uniform(-0.2, 0.2, len(y)), y, s=14, c="tab:green" if label == "live" else "tab:red")
        ax.axhline(0, color="k", lw=0.8, ls="--")
        ax.tick_params(labelbottom=False)
        ax.set_ylabel(f"{name}\nlog-odds live" + ("\n(not counted alone)" if name in advisory else ""), fontsize=8)
    errors = {g: sum(i.decision == "error" and (i.label, i.attack_type) == g for i in items) for g in groups}
    ticks = [
        f"{label}\n{kind}" + (f"\n{errors[(label, kind)]} errors" if errors[(label, kind)] else "")
        for label, kind in groups
    ]
    axes[-1].set_xticks(range(len(groups)), ticks, fontsize=8)
    axes[-1].tick_params(labelbottom=True)
    axes[1].set_title("evidence per item (above 0: live; green = live label, red = attack)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _sweep_panel(ax: Axes, report: dict[str, object]) -> None:
    """BPCER and APCER per attack type against the threshold, with the configured threshold marked."""
    rows = report["sweep"]
    thresholds = [row["threshold"] for row in rows]
    ax.plot(thresholds, [100 * row["bpcer"] for row in rows], "o-", color="tab:green", label="BPCER (live turned away)")
    colours = ("tab:red", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive")
    for kind, colour in zip(report["apcer"], itertools.cycle(colours)):
        ax.plot(thresholds, [100 * row["apcer"][kind] for row in rows], "s--", color=colour, label=f"APCER {kind}")
    ax.axvline(report["threshold"], color="k", lw=0.8, ls=":")
    ax.set_title("error rates against the liveness threshold", fontsize=9)
    ax.set_xlabel("liveness threshold (dotted: the configured one)", fontsize=8)
    ax.set_ylabel("error rate, %", fontsize=8)
    ax.legend(fontsize=7, ncol=2)


def eval_liveness(
    settings: Settings, manifest: Path, out: Path | None, evidence: str = "all", plot: Path | None = None
) -> dict[str, object]:
    """``livematch eval liveness``: run every manifest item, print the summary, write the JSON (and plot)."""
    writable(out, plot)
    manifest_items = read_manifest(manifest)
    engine = select_evidence(Engine(settings), evidence)
    items = [run_item(engine, item, manifest.parent) for item in tqdm(manifest_items, unit="item")]
    report = {"evidence": [s.name for s in engine.liveness_sources], **summarise(items, settings.liveness_threshold)}
    if out is not None:
        out.write_text(json.dumps(report, indent=1))
    if plot is not None:
        evidence_plot(items, report, plot)
    return report
