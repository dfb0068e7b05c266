"""Photo-vs-photo verification: embed a labelled set once, form pairs, fit or check calibration."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from livematch.calibration import fit
from livematch.config import Settings
from livematch.engine import Engine
from livematch.errors import LivematchError


@dataclass
class EmbeddedSet:
    """Embeddings of the images that enrolled, their identity labels, and the failures."""

    paths: list[str]
    labels: np.ndarray
    embeddings: np.ndarray
    failures: list[tuple[str, int]]


def read_identities(path: Path) -> list[tuple[str, str]]:
    """Rows ``(relative_path, identity)`` of a TSV, skipping a header row if present."""
    with path.open(newline="") as f:
        rows = [r for r in csv.reader(f, delimiter="\t") if len(r) >= 2]
    return [(p, i) for p, i in rows if p != "path"]


def embed_set(engine: Engine, rows: list[tuple[str, str]], images: Path) -> EmbeddedSet:
    """Embed every image once through the production photo path (progress bar on stderr)."""
    paths, labels, vectors, failures = [], [], [], []
    for rel, identity in tqdm(rows, desc="embedding", unit="img"):
        try:
            face = engine.embed_photo((images / rel).read_bytes())
        except LivematchError as exc:
            failures.append((rel, exc.code))
            continue
        paths.append(rel)
        labels.append(identity)
        vectors.append(face.embedding)
    return EmbeddedSet(paths, np.array(labels), np.array(vectors, dtype=np.float32).reshape(-1, 128), failures)


def pair_scores(data: EmbeddedSet) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities of all genuine and all impostor pairs (i < j)."""
    sims = data.embeddings @ data.embeddings.T
    upper = np.triu_indices(len(data.labels), k=1)
    same = data.labels[upper[0]] == data.labels[upper[1]]
    values = sims[upper]
    return values[same], values[~same]


def calibrate_command(settings: Settings, identities: Path, images: Path, out: Path) -> None:
    """``livematch calibrate``: fit and write a calibration for the active embedder."""
    engine = Engine(settings, calibrated=False)
    data = embed_set(engine, read_identities(identities), images)
    genuine, impostor = pair_scores(data)
    meta = {
        "identities_file": identities.name,
        "images": len(data.paths),
        "identities": len(set(data.labels)),
        "genuine_pairs": len(genuine),
        "failures_to_enrol": len(data.failures),
    }
    cal = fit(impostor, embedder=engine.embedder.name, embedder_sha256=engine.embedder.model_sha256, meta=meta)
    cal.save(out)
    print(f"wrote {out}: {len(impostor)} impostor pairs from {len(data.paths)} images")
