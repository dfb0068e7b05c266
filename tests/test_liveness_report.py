"""The liveness decision rule and what ``eval liveness`` reports from it, on hand-made scores."""

from __future__ import annotations

import pytest

from livematch.eval.liveness import SWEEP, Item, summarise
from livematch.liveness.base import Evidence, fuse


def test_a_score_reported_at_the_threshold_passes():
    """The status follows the score the client sees: 0.49996 is reported as 0.5, so it must read ``ok``."""
    result = fuse([Evidence("a", 0.49996, 1.0), Evidence("b", 0.9, 1.0)], threshold=0.5)
    assert (result.score, result.status) == (0.5, "ok")
    assert fuse([Evidence("a", 0.49994, 1.0)], threshold=0.5).status == "hack"


def test_a_hack_names_the_cue_that_set_its_score():
    evidence = [Evidence("a", 0.9, 1.0), Evidence("b", 0.2, 1.0), Evidence("c", 0.01, 1.0, decisive=False)]
    assert fuse(evidence, threshold=0.5).rejected_by == "b"
    assert fuse(evidence, threshold=0.1).rejected_by is None  # ok: nothing rejected it
    assert fuse([], threshold=0.5).rejected_by == "no_evidence"


def test_a_cue_that_is_not_decisive_does_not_vote():
    assert fuse([Evidence("a", 0.1, 1.0, decisive=False), Evidence("b", 0.8, 1.0)], threshold=0.5).score == 0.8


def _items() -> list[Item]:
    live = [Item(f"l{k}", "live", "none", score=s) for k, s in enumerate((0.95, 0.65, 0.35))]
    prints = [Item(f"p{k}", "attack", "print", score=s) for k, s in enumerate((0.05, 0.25, 0.55, 0.85))]
    return [*live, *prints, Item("r0", "attack", "replay", code=2005), Item("e0", "live", "none", code=2005)]


def test_the_sweep_trades_one_error_for_the_other():
    report = summarise(_items(), 0.5)
    by_threshold = {row["threshold"]: row for row in report["sweep"]}
    assert [row["threshold"] for row in report["sweep"]] == list(SWEEP)
    # at 0.5: one live item under it and the error (2 of 4); prints at 0.55 and 0.85 pass (2 of 4)
    assert (report["bpcer"], report["apcer"]["print"]) == (0.5, 0.5)
    assert {k: by_threshold[0.5][k] for k in ("bpcer", "apcer")} == {k: report[k] for k in ("bpcer", "apcer")}
    assert (by_threshold[0.3]["bpcer"], by_threshold[0.3]["apcer"]["print"]) == (0.25, 0.5)
    assert (by_threshold[0.9]["bpcer"], by_threshold[0.9]["apcer"]["print"]) == (0.75, 0.0)
    bpcer = [row["bpcer"] for row in report["sweep"]]
    apcer = [row["apcer"]["print"] for row in report["sweep"]]
    assert bpcer == sorted(bpcer) and apcer == sorted(apcer, reverse=True)


@pytest.mark.parametrize("threshold", SWEEP)
def test_an_error_counts_against_its_label_at_every_threshold(threshold):
    row = summarise(_items(), threshold)
    assert row["apcer"]["replay"] == 1.0 and row["bpcer"] >= 0.25
