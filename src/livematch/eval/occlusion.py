"""``livematch eval occlusion``: recall on occluded photos and false-4004 rate on clear ones.

Each photo goes through ``Engine.embed_photo(..., check_quality=True)``, the same photo path the API
runs for a request with ``check_quality=true``; a 4004 is "occluded", a photo that passes is "clear",
and any earlier rejection (4000 no face, 2003 size, ...) is reported by its code and counted as a miss
for an occluded photo and as a pass for a clear one (it is not a false 4004).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tqdm import tqdm

from livematch.engine import Engine, Timer
from livematch.errors import LivematchError
from livematch.eval.files import read_rows, writable
from livematch.quality.occlusion import REGIONS, OccludedFace


def read_manifest(path: Path) -> list[tuple[str, str]]:
    """Rows ``(path, occluded|clear)``, paths relative to the manifest's folder, checked by ``files.read_rows``."""
    return [(p, label) for p, label in read_rows(path, ("path", "label"), path.parent, {1: {"occluded", "clear"}})]


def evaluate(engine: Engine, manifest: Path) -> dict[str, object]:
    """Score every photo of ``manifest`` (paths relative to its folder) and summarise."""
    items: list[dict[str, object]] = []
    stage_ms: list[float] = []
    for rel, label in tqdm(read_manifest(manifest), desc="occlusion", unit="img"):
        data = (manifest.parent / rel).read_bytes()
        item: dict[str, object] = {"path": rel, "label": label}
        timer = Timer()
        try:
            face = engine.embed_photo(data, check_quality=True, timer=timer)
            item["occluded"] = False
            item["regions"] = {r: face.quality[f"occlusion_{r}"] for r in REGIONS}
        except OccludedFace as exc:
            item["occluded"] = True
            item["regions"] = exc.result.scores
        except LivematchError as exc:
            item["occluded"] = exc.code
            item["regions"] = None
        if "occlusion" in timer.ms:
            stage_ms.append(timer.ms["occlusion"])
        items.append(item)
    occluded = [i for i in items if i["label"] == "occluded"]
    clear = [i for i in items if i["label"] == "clear"]
    return {
        "manifest": str(manifest),
        "threshold": engine.occlusion.threshold,
        "n_occluded": len(occluded),
        "n_clear": len(clear),
        "recall": _rate(occluded),
        "false_positive_rate": _rate(clear),
        "rejected_before_check": sum(not isinstance(i["occluded"], bool) for i in items),
        "occlusion_ms": _summary(stage_ms),
        "load_average_1m": round(os.getloadavg()[0], 2),  # wall times on a busy machine are inflated
        "items": items,
    }


def _rate(items: list[dict[str, object]]) -> float | None:
    """Share of items answered 4004 (``occluded is True``); None for an empty group."""
    return round(sum(i["occluded"] is True for i in items) / len(items), 4) if items else None


def _summary(values: list[float]) -> dict[str, float] | None:
    """Mean, median and 95th percentile of the occlusion stage (time.perf_counter, milliseconds)."""
    if not values:
        return None
    ordered = sorted(values)
    return {
        "n": len(values),
        "mean": round(sum(values) / len(values), 2),
        "p50": round(ordered[len(values) // 2], 2),
        "p95": round(ordered[min(len(values) - 1, int(0.95 * len(values)))], 2),
    }


def eval_command(engine: Engine, manifest: Path, out: Path, plot: Path | None = None) -> dict[str, object]:
    """Run ``evaluate`` and write the JSON report (and the per-region plot)."""
    writable(out, plot)
    report = evaluate(engine, manifest)
    out.write_text(json.dumps(report, indent=1))
    if plot is not None:
        occlusion_plot(report, plot)
    return report


def occlusion_plot(report: dict[str, object], path: Path) -> None:
    """One panel per region: every photo's occlusion score, occluded and clear apart, and the threshold.

    A glance shows which region decides (masks: nose and mouth; sunglasses: the eyes) and how close the
    clear photos (eyeglasses included) come to the 4004 line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    scored = [i for i in report["items"] if i["regions"]]
    fig, axes = plt.subplots(1, len(REGIONS), figsize=(2.2 * len(REGIONS) + 1, 3.2), sharey=True)
    rng = np.random.default_rng(0)  # jitter only
    for ax, region in zip(axes, REGIONS, strict=True):
        for x, label in enumerate(("occluded", "clear")):
            values = [i["regions"][region] for i in scored if i["label"] == label]
            colour = "tab:red" if label == "occluded" else "tab:green"
            ax.scatter(x + rng.uniform(-0.25, 0.25, len(values)), values, s=8, c=colour, alpha=0.6)
        ax.axhline(report["threshold"], color="k", ls="--", lw=0.8)
        ax.set_xticks([0, 1], ["occluded", "clear"], fontsize=8)
        ax.set_title(region.replace("_", " "), fontsize=9)
    axes[0].set_ylabel("occlusion score (dashed: 4004 threshold)", fontsize=8)
    recall, fpr = report["recall"], report["false_positive_rate"]
    fig.suptitle(f"{len(scored)} photos with a face: recall {recall}, false 4004 rate {fpr}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
