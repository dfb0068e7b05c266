"""Photo-vs-photo verification: embed a labelled set once, form pairs, fit or check calibration.

Every image goes through ``Engine.embed_photo`` and every pair through the engine's calibration, so
the numbers measured here are the numbers the service serves.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from livematch.calibration import Calibration, fit, identity_groups, nominal_far
from livematch.config import Settings
from livematch.engine import Engine
from livematch.errors import LivematchError
from livematch.eval.files import read_rows, writable

THRESHOLDS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
RECOMMENDED = 0.7
SUSPICIOUS = 10


@dataclass
class EmbeddedSet:
    """Embeddings of the images that enrolled, their identity labels, and the failures."""

    paths: list[str]
    labels: np.ndarray
    embeddings: np.ndarray
    failures: list[tuple[str, int]]

    def subset(self, index: np.ndarray) -> EmbeddedSet:
        """The images at ``index`` (failures are not carried over)."""
        return EmbeddedSet([self.paths[i] for i in index], self.labels[index], self.embeddings[index], [])


def read_identities(path: Path, images: Path) -> list[tuple[str, str]]:
    """Rows ``(path, identity)`` of a TSV (paths relative to ``images``), checked by ``files.read_rows``."""
    return [(p, i) for p, i in read_rows(path, ("path", "identity"), images)]


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
    dim = len(vectors[0]) if vectors else 0
    return EmbeddedSet(paths, np.array(labels), np.array(vectors, dtype=np.float32).reshape(-1, dim), failures)


def _pairs(data: EmbeddedSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs i < j: their indices (2, n), similarities, and whether they share an identity."""
    upper = np.triu_indices(len(data.labels), k=1)
    sims = (data.embeddings @ data.embeddings.T)[upper]
    return np.stack(upper), sims, data.labels[upper[0]] == data.labels[upper[1]]


def pair_scores(
    data: EmbeddedSet, pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cosine similarities of all genuine and all impostor pairs (i < j), the impostor pairs' two people as
    identity numbers 0..k-1 (2, m), which ``identity_intervals`` resamples, and the genuine pairs' person
    (``tar_intervals``). ``pairs``: ``_pairs(data)`` if the caller has it already."""
    index, sims, same = pairs or _pairs(data)
    codes = np.unique(data.labels, return_inverse=True)[1].reshape(-1)
    return sims[same], sims[~same], codes[index[:, ~same]], codes[index[0, same]]


def fit_set(engine: Engine, data: EmbeddedSet, meta: dict[str, object]) -> Calibration:
    """Fit a calibration for ``engine``'s embedder on a labelled embedded set (see ``calibration``)."""
    groups = [pair_scores(data.subset(index))[1] for index in identity_groups(data.labels)]
    genuine, impostor, _, _ = pair_scores(data)
    meta = {
        **meta,
        "images": len(data.paths),
        "identities": len(set(data.labels.tolist())),
        "genuine_pairs": len(genuine),
        "impostor_pairs": len(impostor),
    }
    return fit(groups, embedder=engine.embedder.name, embedder_sha256=engine.embedder.model_sha256, meta=meta)


def far_interval(accepted: int, pairs: int) -> list[float]:
    """95 % Clopper-Pearson interval of a rate (treats pairs as independent; ``identity_intervals`` does not)."""
    from scipy import stats

    if pairs == 0:
        return [0.0, 1.0]
    ci = stats.binomtest(accepted, pairs).proportion_ci(confidence_level=0.95, method="exact")
    return [float(ci.low), float(ci.high)]


def bootstrap_counts(k: int, draws: int) -> np.ndarray:
    """``(draws, k)``: how often each of k units (people, clips) is drawn in each bootstrap sample; seeded, so
    FAR and TAR resample the same people."""
    return np.random.default_rng(0).multinomial(k, np.full(k, 1 / k), size=draws).astype(np.float64)


def identity_intervals(people: np.ndarray, scores: np.ndarray, draws: int = 2000) -> list[list[float]]:
    """95 % interval of the FAR at each threshold when the *people* are resampled, not the pairs.

    Impostor accepts come in clusters: one look-alike (or one person filed under two numbers) supplies
    dozens of accepted pairs, so the pair-level interval is far too narrow. This is a bootstrap over
    identities: ``draws`` samples of the k people with replacement; a sample's FAR is the share of its impostor
    pairs (both people drawn, weighted by how often each was drawn) scoring at or above the threshold.
    ``people`` is the impostor pairs' two identity numbers (2, m), ``scores`` their calibrated scores.
    """
    k = int(people.max()) + 1 if people.size else 1
    cell = people[0] * k + people[1]

    def symmetric(weights: np.ndarray | None) -> np.ndarray:
        counts = np.bincount(cell, weights=weights, minlength=k * k).reshape(k, k)
        return counts + counts.T

    weights = bootstrap_counts(k, draws)
    pairs = ((weights @ symmetric(None)) * weights).sum(1)
    out = []
    for t in THRESHOLDS:
        accepted = ((weights @ symmetric((scores >= t).astype(np.float64))) * weights).sum(1)
        far = accepted[pairs > 0] / pairs[pairs > 0]
        out.append(np.percentile(far, [2.5, 97.5]).tolist() if far.size else [0.0, 1.0])
    return out


def tar_intervals(owners: np.ndarray, scores: np.ndarray, k: int, draws: int = 2000) -> list[list[float]]:
    """95 % interval of the TAR at each threshold when the people are resampled, as ``identity_intervals``.

    Rejects cluster by person as accepts do: someone photographed decades apart, or two people filed
    under one number, rejects most of their own pairs. So the interval says how far a set of *other* people
    of this kind could read. ``owners``: each genuine pair's identity number (of k), ``scores`` its score.
    """
    weights = bootstrap_counts(k, draws)
    pairs = weights @ np.bincount(owners, minlength=k)
    out = []
    for t in THRESHOLDS:
        tar = (weights @ np.bincount(owners, weights=scores >= t, minlength=k))[pairs > 0] / pairs[pairs > 0]
        out.append(np.percentile(tar, [2.5, 97.5]).tolist() if tar.size else [0.0, 1.0])
    return out


def _row(
    t: float,
    impostor_pairs: int,
    accepted: int,
    genuine_pairs: int,
    rejected: int,
    people_ci: list[float],
    tar_ci: list[float],
) -> dict[str, object]:
    far = accepted / impostor_pairs if impostor_pairs else 0.0
    return {
        "threshold": t,
        "nominal_far": float(nominal_far(t)),
        "impostor_pairs": impostor_pairs,
        "impostor_accepted": accepted,
        "far": far,
        "far_ci": far_interval(accepted, impostor_pairs),
        "far_ci_identities": people_ci,
        "far_to_nominal": far / float(nominal_far(t)),
        "genuine_pairs": genuine_pairs,
        "genuine_rejected": rejected,
        "tar": 1.0 - rejected / genuine_pairs if genuine_pairs else 0.0,
        "tar_ci_identities": tar_ci,
    }


def threshold_table(
    gen: np.ndarray, imp: np.ndarray, people: np.ndarray, owners: np.ndarray
) -> list[dict[str, object]]:
    """Per threshold: impostors accepted (FAR with intervals, against nominal) and genuines rejected (TAR with
    its interval), from the calibrated scores of the genuine and impostor pairs (``people``, ``owners``: see
    ``pair_scores``)."""
    far_cis = identity_intervals(people, imp)
    tar_cis = tar_intervals(owners, gen, int(people.max()) + 1 if people.size else 1)
    return [
        _row(t, len(imp), int(np.sum(imp >= t)), len(gen), int(np.sum(gen < t)), far_ci, tar_ci)
        for t, far_ci, tar_ci in zip(THRESHOLDS, far_cis, tar_cis, strict=True)
    ]


def equal_error(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """Equal error rate and the similarity where FAR (imp >= s) meets FRR (gen < s)."""
    imp, gen = np.sort(impostor), np.sort(genuine)
    candidates = np.unique(np.concatenate([gen, np.quantile(imp, np.linspace(0, 1, 2001))]))
    far = 1.0 - np.searchsorted(imp, candidates, side="left") / len(imp)
    frr = np.searchsorted(gen, candidates, side="left") / len(gen)
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2), float(candidates[i])


def suspicious(
    data: EmbeddedSet, cal: Calibration, pairs: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> dict[str, object]:
    """The most similar impostor pairs, the least similar genuine pairs, and the identity pairs that
    supply most impostor accepts at the recommended threshold (label noise shows up here)."""
    index, sims, same = pairs

    def rows(mask: np.ndarray, highest: bool) -> list[dict[str, object]]:
        picks = np.flatnonzero(mask)
        order = np.argsort(-sims[picks] if highest else sims[picks], kind="stable")[:SUSPICIOUS]
        return [
            {
                "a": data.paths[index[0, k]],
                "b": data.paths[index[1, k]],
                "similarity": round(float(sims[k]), 4),
                "score": round(cal.to_score(sims[k]), 4),
            }
            for k in picks[order]
        ]

    accepted = np.flatnonzero(~same & (cal.to_scores(sims) >= RECOMMENDED))
    by_identity = Counter(tuple(sorted(data.labels[index[:, k]].tolist())) for k in accepted)
    return {
        "impostor_pairs_most_similar": rows(~same, highest=True),
        "genuine_pairs_least_similar": rows(same, highest=False),
        "identity_pairs_accepted_at_0.7": [
            {"identities": list(pair), "impostor_accepted": n} for pair, n in by_identity.most_common(SUSPICIOUS)
        ],
        "impostor_accepted_at_0.7": len(accepted),
    }


def cross_validate(engine: Engine, data: EmbeddedSet, folds: int, seed: int = 0) -> dict[str, object]:
    """Identity-disjoint K-fold check: fit on K-1 folds, measure the held-out fold's pairs."""
    identities = np.random.default_rng(seed).permutation(np.unique(data.labels))
    per_fold, scored = [], []
    for k in tqdm(range(folds), desc="cross-validation", unit="fold"):
        held = np.isin(data.labels, identities[k::folds])
        cal = fit_set(engine, data.subset(np.flatnonzero(~held)), {"fold": k})
        genuine, impostor, people, owners = pair_scores(data.subset(np.flatnonzero(held)))
        scored.append((cal.to_scores(genuine), cal.to_scores(impostor), people, owners))
        per_fold.append(
            {
                "fold": k,
                "held_out_identities": sorted(set(data.labels[held].tolist())),
                "thresholds": threshold_table(*scored[-1]),
            }
        )
    # The folds hold disjoint people: number them apart, and the pooled table resamples all of them.
    offsets = np.cumsum([0] + [int(people.max()) + 1 if people.size else 0 for _, _, people, _ in scored[:-1]])
    gen, imp, people, owners = zip(*scored, strict=True)
    pooled = threshold_table(
        np.concatenate(gen),
        np.concatenate(imp),
        np.concatenate([p + offset for p, offset in zip(people, offsets, strict=True)], axis=1),
        np.concatenate([o + offset for o, offset in zip(owners, offsets, strict=True)]),
    )
    return {"folds": folds, "seed": seed, "per_fold": per_fold, "pooled": pooled}


def det_plot(genuine: np.ndarray, impostor: np.ndarray, table: list[dict[str, object]], path: Path) -> None:
    """DET curve (FAR vs FRR, log axes) with the nominal FAR of each threshold and the measured points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    imp, gen = np.sort(impostor), np.sort(genuine)
    grid = np.linspace(-0.2, 1.0, 1201)
    far = 1.0 - np.searchsorted(imp, grid) / len(imp)
    frr = np.searchsorted(gen, grid) / len(gen)
    floor = 0.5 / len(imp)
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.plot(np.maximum(far, floor), np.maximum(frr, 0.5 / len(gen)), label="measured DET")
    for row in table:
        ax.axvline(row["nominal_far"], color="grey", ls=":", lw=0.8)
        ax.text(row["nominal_far"], 0.9, f"{row['threshold']:.1f}", ha="center", fontsize=8, color="grey")
        x, y = max(row["far"], floor), max(1 - row["tar"], 0.5 / len(gen))
        # the wider of the two intervals: pairs resampled (exact binomial) or people resampled
        low = min(row["far_ci"][0], row["far_ci_identities"][0])
        high = max(row["far_ci"][1], row["far_ci_identities"][1])
        frr_low, frr_high = (max(1 - tar, 0.5 / len(gen)) for tar in row["tar_ci_identities"][::-1])
        yerr = [[max(y - frr_low, 0.0)], [max(frr_high - y, 0.0)]]
        ax.errorbar(x, y, xerr=[[x - max(low, floor)], [max(high - x, 0.0)]], yerr=yerr, fmt="o", color="C3", capsize=2)
        ax.annotate(f"t={row['threshold']:.1f}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set(xscale="log", yscale="log", xlabel="false accept rate", ylabel="false reject rate")
    ax.set_title("DET. Dotted: nominal FAR per threshold; dots: measured (95 % CI; FRR: people resampled)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def verification_command(
    settings: Settings, identities: Path, images: Path, json_out: Path, plot: Path | None, folds: int
) -> dict[str, object]:
    """``livematch eval verification``: measure the shipped calibration (and optionally cross-validate)."""
    started = time.perf_counter()
    writable(json_out, plot)
    rows = read_identities(identities, images)
    engine = Engine(settings)
    data = embed_set(engine, rows, images)
    embedded = time.perf_counter()
    pairs = _pairs(data)
    genuine, impostor, people, owners = pair_scores(data, pairs)
    if not len(genuine) or not len(impostor):
        raise ValueError(
            f"{len(data.paths)} of {len(rows)} images enrolled, giving {len(genuine)} genuine and {len(impostor)} "
            "impostor pairs: an evaluation needs two identities, one of them with two photos that enrol"
        )
    cal = engine.calibration
    table = threshold_table(cal.to_scores(genuine), cal.to_scores(impostor), people, owners)
    eer, eer_similarity = equal_error(genuine, impostor)
    report: dict[str, object] = {
        "identities_file": str(identities),
        "embedder": engine.embedder.info(),
        "calibration": engine.calibration.fitted_on,
        "images": len(rows),
        "identities": len({i for _, i in rows}),
        "failures_to_enrol": len(data.failures),
        "failure_to_enrol_rate": len(data.failures) / len(rows) if rows else 0.0,
        "failed_images": [{"path": p, "code": c} for p, c in data.failures],
        "genuine_pairs": len(genuine),
        "impostor_pairs": len(impostor),
        "impostor_sampling": "all pairs",
        "eer": eer,
        "eer_similarity": eer_similarity,
        "eer_score": engine.calibration.to_score(eer_similarity),
        "thresholds": table,
        "suspicious": suspicious(data, engine.calibration, pairs),
    }
    if folds >= 2:
        report["cross_validation"] = cross_validate(engine, data, folds)
    if plot:
        det_plot(genuine, impostor, table, plot)
    report["seconds"] = {"embedding": embedded - started, "total": time.perf_counter() - started}
    json_out.write_text(json.dumps(report, indent=1) + "\n")
    return report


def calibrate_command(settings: Settings, identities: Path, images: Path, out: Path) -> None:
    """``livematch calibrate``: fit and write a calibration for the active embedder."""
    writable(out)
    rows = read_identities(identities, images)
    engine = Engine(settings, calibrated=False)
    data = embed_set(engine, rows, images)
    meta = {"identities_file": identities.name, "failures_to_enrol": len(data.failures)}
    cal = fit_set(engine, data, meta)
    cal.save(out)
    print(f"wrote {out}: {cal.fitted_on['impostor_pairs']} impostor pairs from {len(data.paths)} images")
