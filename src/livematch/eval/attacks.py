"""Attack sets: real clip-photo pairs in, seeded attack videos and a manifest out (``livematch eval attacks``).

The recipes themselves (the physics of a print, a screen, an injected still) are in ``recipes``; this module
pairs each real clip with its photo, gives every item a stable seed and writes the set.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from livematch.eval.footage import encode, read_clip, read_photo
from livematch.eval.recipes import dim_live, handheld_live, print_attack, replay_attack, splice_attack, still_attack

ATTACK_TYPES = ("print", "replay", "still")
EXTRA_ATTACK_TYPES = ("cutout", "splice")  # made only when asked for (``--kinds``)
LIVE_TYPES = ("handheld", "dim")
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass(frozen=True)
class Source:
    """A real clip and a photo of the same person (the photo an attacker would print or inject).

    ``person`` is the manifest's ``person`` value where it has that column: rows with the same value show
    one person, whatever their photos. Without it, the photo stands for the person.
    """

    clip: Path
    photo: Path
    person: str = ""

    @property
    def who(self) -> str:
        """The key that tells people apart: ``person`` if given, else the photo."""
        return self.person or str(self.photo)


def real_sources(folder: Path) -> list[Source]:
    """The clip-photo pairs of ``folder``, sorted by clip name (``ValueError`` if there are none).

    A ``manifest.tsv`` with ``file`` and ``photo`` columns (as in ``../shared/data/video/real``) names them;
    without one, every video with a photo of the same name beside it is a pair.
    """
    pairs = _manifest_pairs(folder)
    if pairs is None:
        photos = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in PHOTO_SUFFIXES}
        clips = [c for c in folder.iterdir() if c.suffix.lower() in VIDEO_SUFFIXES and c.stem in photos]
        pairs = [(clip, photos[clip.stem], "") for clip in clips]
    missing = [str(path) for pair in pairs for path in pair[:2] if not path.is_file()]
    if missing:
        raise ValueError(f"{folder / 'manifest.tsv'}: {len(missing)} files not found: {', '.join(missing[:5])}")
    if not pairs:
        raise ValueError(f"{folder}: no clip with a photo of the same name beside it, and no manifest.tsv naming them")
    return [Source(clip, photo, person) for clip, photo, person in sorted(pairs)]


def _manifest_pairs(folder: Path) -> list[tuple[Path, Path, str]] | None:
    """``(clip, photo, person)`` rows of ``folder/manifest.tsv``, or None without one that has the ``file`` and
    ``photo`` columns (``person`` is optional)."""
    manifest = folder / "manifest.tsv"
    if not manifest.is_file():
        return None
    with manifest.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        if not {"file", "photo"} <= set(reader.fieldnames or ()):
            return None
        return [(folder / r["file"], folder / (r["photo"] or ""), r.get("person") or "") for r in reader if r["file"]]


def attack_seed(seed: int, clip: str, attack: str, variant: int) -> int:
    """A stable per-item seed (crc32, not ``hash()``, which is salted per process)."""
    return zlib.crc32(f"{seed}:{clip}:{attack}:{variant}".encode())


def make_attack(source: Source, attack: str, seed: int, victim: Source | None = None) -> bytes:
    """Encoded video of ``attack`` type (or a ``LIVE_TYPES`` variant) made from ``source`` with ``seed``.

    ``splice`` also needs a ``victim``: another person, whose photo the video cuts to.
    """
    if attack == "splice" and (victim is None or victim == source):
        raise ValueError(f"a splice of {source.clip.name} needs a victim: another person's clip and photo")
    rng = np.random.default_rng(seed)
    recipes: dict[str, Callable[[], list[np.ndarray]]] = {
        "splice": lambda: splice_attack(read_clip(source.clip), read_photo(victim.photo), rng),
        "print": lambda: print_attack(read_photo(source.photo), rng),
        "cutout": lambda: print_attack(read_photo(source.photo), rng, eyes=read_clip(source.clip)),
        "replay": lambda: replay_attack(read_clip(source.clip), rng),
        "still": lambda: still_attack(read_photo(source.photo), rng),
        "handheld": lambda: handheld_live(read_clip(source.clip), rng),
        "dim": lambda: dim_live(read_clip(source.clip), rng),
    }
    return encode(recipes[attack]())


def build_set(
    sources: list[Source],
    out_dir: Path,
    *,
    seed: int = 0,
    variants: int = 1,
    attacks: Iterable[str] = ATTACK_TYPES,
    lives: Iterable[str] = LIVE_TYPES,
) -> Path:
    """Write attack and live-variant videos and ``manifest.tsv`` (real clips as ``live`` rows, by absolute path)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [(str(s.clip.resolve()), "live", "none") for s in sources]
    kinds = [(kind, "live") for kind in lives] + [(kind, "attack") for kind in attacks]
    jobs = [(source, kind, label, v) for source in sources for kind, label in kinds for v in range(variants)]
    for source, kind, label, variant in tqdm(jobs, desc="synthesising", unit="video"):
        name = f"{source.clip.stem}__{kind}{variant}.mp4"
        victim = sources[(sources.index(source) + 1 + variant) % len(sources)]  # another person (for splice)
        video = make_attack(source, kind, attack_seed(seed, source.clip.stem, kind, variant), victim)
        (out_dir / name).write_bytes(video)
        rows.append((name, label, kind))
    manifest = out_dir / "manifest.tsv"
    with manifest.open("w", newline="") as f:
        csv.writer(f, delimiter="\t", lineterminator="\n").writerows(rows)
    return manifest
