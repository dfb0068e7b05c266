"""``livematch eval pairs``: real clips against their own and other people's photos, as requests."""

from __future__ import annotations

import json

import cv2
from typer.testing import CliRunner

from livematch.cli import app
from livematch.eval.attacks import attack_seed, make_attack, real_sources
from livematch.eval.footage import read_clip
from livematch.eval.pairs import eval_pairs
from livematch.eval.verification import read_identities
from tests.conftest import shared


def test_pairs_report_own_and_cross_scores_and_unscored_attacks(tmp_path):
    """Two people's clips and, listed with the first person's photo, a still of that photo: the still fails
    liveness, so its own pair is a miss without a score and its cross pair is counted apart, not accepted."""
    sources = {s.clip.stem: s for s in real_sources(shared("data", "video", "real"))}
    first, second = sources["liveportrait_d0"], sources["vexpress_aoc"]
    still = tmp_path / "d0_still.mp4"
    still.write_bytes(make_attack(first, "still", attack_seed(3, first.clip.stem, "still", 0)))
    rows = [("file", "photo"), (first.clip, first.photo), (second.clip, second.photo), (still, first.photo)]
    (tmp_path / "manifest.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in rows))
    out, plot = tmp_path / "pairs.json", tmp_path / "pairs.png"
    args = ["eval", "pairs", "--real", str(tmp_path), "--json", str(out), "--plot", str(plot)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert (report["clips"], report["photos"], len(report["items"])) == (3, 2, 6)
    assert report["own"]["pairs"] == 3 and report["own"]["at_or_above_threshold"] == 2
    assert report["own"]["unscored"] == 1 and report["own"]["min"] >= 0.7
    assert report["cross"]["pairs"] == 3 and report["cross"]["unscored"] == 1
    assert report["cross"]["at_or_above_threshold"] == 0 and report["cross"]["max"] < 0.5
    assert {i["liveness_status"] for i in report["items"] if i["clip"] == str(still)} == {"hack"}
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_a_person_column_joins_rows_with_different_photos(settings, tmp_path):
    """Another team's manifest names the person: a clip against another photo of its own person is an own
    pair (it must reach 0.7), not a cross pair that would read as a false accept."""
    sources = {s.clip.stem: s for s in real_sources(shared("data", "video", "real"))}
    first, second = sources["liveportrait_d12"], sources["vexpress_aoc"]
    other_photo = tmp_path / "d12_later.jpg"
    other_photo.write_bytes(cv2.imencode(".jpg", read_clip(first.clip, seconds=2.0)[-1])[1].tobytes())
    rows = [
        ("file", "photo", "person"),
        (first.clip, first.photo, "p1"),
        (first.clip, other_photo, "p1"),
        (second.clip, second.photo, "p2"),
    ]
    (tmp_path / "manifest.tsv").write_text("".join("\t".join(map(str, row)) + "\n" for row in rows))
    report = eval_pairs(settings, real_sources(tmp_path), None, None)
    assert (report["own"]["pairs"], report["cross"]["pairs"]) == (5, 4)
    assert report["own"]["at_or_above_threshold"] == 5 and report["cross"]["at_or_above_threshold"] == 0


def test_strangers_get_the_scores_requests_would_get(settings, tmp_path):
    """Stranger photos are scored from one embedding per clip, not one request per pair. A clip's own photo
    slipped in among the strangers must get exactly its request's score, and be the worst pair listed."""
    sources = {s.clip.stem: s for s in real_sources(shared("data", "video", "real"))}
    first, second = sources["liveportrait_d0"], sources["vexpress_aoc"]
    root = shared("data", "faces", "celeba-dev")
    rows = [*read_identities(root / "identities.tsv", root)[:5], (str(first.photo), "planted")]
    plot = tmp_path / "pairs.png"
    report = eval_pairs(settings, [first, second], None, plot, (rows, root))
    request = next(i for i in report["items"] if (i["clip"], i["photo"]) == (str(first.clip), str(first.photo)))
    strangers = report["strangers"]
    assert (strangers["clips"], strangers["photos"], strangers["pairs"]) == (2, 6, 12)
    assert strangers["worst"][0] == {
        "clip": str(first.clip),
        "photo": str(first.photo),
        "verification_score": request["verification_score"],
    }
    at_half = next(row for row in strangers["thresholds"] if row["threshold"] == 0.5)
    assert at_half["accepted"] == 1 and strangers["per_clip_at_or_above_cross"] == {
        str(first.clip): 1,
        str(second.clip): 0,
    }
    assert plot.read_bytes().startswith(b"\x89PNG")
