"""Bad input to the long-running commands: one clear line on stderr, exit code 2, before the work starts.

A typo in a manifest or an output folder that does not exist should not cost a ten-minute run and end
in a traceback; nor should a malformed row be dropped silently and shrink the measured set.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from livematch.eval.files import read_rows, writable
from tests.conftest import shared
from tests.media import jpeg, noise

CLI = [sys.executable, "-m", "livematch"]


def run(args: list[str], cwd: Path, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEMATCH_")} | env_extra
    return subprocess.run(CLI + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def assert_clear(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error"), last
    for word in words:
        assert word in last, last


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "a.jpg").write_bytes(jpeg(noise(64, 64)))
    (tmp_path / "garbage.mp4").write_bytes(b"not a video")
    return tmp_path


def test_read_rows_names_every_kind_of_problem(folder: Path) -> None:
    manifest = folder / "m.tsv"
    cases = {
        "": "no rows",
        "path\tlabel\n": "no rows",
        "a.jpg live\n": "line 1",  # spaces, not tabs
        "a.jpg\tlive\nb.jpg\tlive\n": "1 of 2 listed files not found",
        "a.jpg\tmaybe\n": "label 'maybe'",
    }
    for text, words in cases.items():
        manifest.write_text(text)
        with pytest.raises(ValueError, match=words):
            read_rows(manifest, ("path", "label"), folder, {1: {"live", "attack"}})
    manifest.write_text("path\tlabel\n\na.jpg\tlive\textra\n" + f"{folder / 'a.jpg'}\tattack\n")
    assert read_rows(manifest, ("path", "label"), folder, {1: {"live", "attack"}}) == [
        ["a.jpg", "live"],
        [str(folder / "a.jpg"), "attack"],
    ]


def test_outputs_are_prepared_before_the_work(tmp_path: Path) -> None:
    writable(tmp_path / "new" / "deep" / "report.json", None)
    assert (tmp_path / "new" / "deep").is_dir()
    with pytest.raises(ValueError, match="is a folder"):
        writable(tmp_path)


def test_eval_liveness_rejects_a_bad_manifest(folder: Path) -> None:
    (folder / "m.tsv").write_text("a.jpg\tlive\tnone\nmissing.mp4\tattack\treplay\n")
    assert_clear(run(["eval", "liveness", "--manifest", "m.tsv", "--json", "o.json"], folder), "missing.mp4")
    assert not (folder / "o.json").exists()


def test_eval_liveness_reports_undecodable_items_as_errors(folder: Path) -> None:
    (folder / "m.tsv").write_text("garbage.mp4\tattack\treplay\n")
    from livematch.config import Settings
    from livematch.eval.liveness import eval_liveness

    report = eval_liveness(Settings(_env_file=None), folder / "m.tsv", None, evidence="temporal")
    assert report["items"][0]["decision"] == "error" and report["items"][0]["code"] == 2005
    assert report["apcer"]["replay"] == 1.0


def test_eval_verification_and_calibrate_check_their_input(folder: Path) -> None:
    (folder / "ids.tsv").write_text("a.jpg\tp1\nb.jpg\tp2\n")
    args = ["--identities", "ids.tsv", "--images", "."]
    assert_clear(run(["eval", "verification", *args, "--json", "o.json"], folder), "b.jpg")
    assert_clear(run(["calibrate", *args, "--out", "c.json"], folder), "b.jpg")
    people = shared("data", "faces", "people")
    args = ["--identities", str(people / "people.tsv"), "--images", str(people)]
    assert_clear(run(["calibrate", *args, "--out", "c.json"], folder), "too few")
    assert_clear(run(["eval", "verification", *args, "--json", "o.json", "--plot", "."], folder), "folder")


def test_bench_attacks_pairs_and_pack_import_fail_clearly(folder: Path) -> None:
    photo = shared("data", "video", "grid_s2_swwp2s_frame.jpg")
    assert_clear(run(["bench", "--video", "garbage.mp4", "--photo", str(photo), "--repeat", "1"], folder), "2004")
    assert_clear(run(["eval", "attacks", "--out", "att", "--real", "."], folder), "no clip with a photo")
    assert_clear(run(["eval", "pairs", "--real", ".", "--json", "p.json"], folder), "no clip with a photo")
    (folder / "strangers.tsv").write_text("a.jpg\n")
    real = str(shared("data", "video", "real"))
    assert_clear(run(["eval", "pairs", "--real", real, "--strangers", "strangers.tsv"], folder), "2 tab-separated")
    alone = run(["eval", "pairs", "--real", real, "--strangers-images", "."], folder)
    assert alone.returncode == 2 and "needs --strangers" in alone.stderr and "Traceback" not in alone.stderr
    assert_clear(run(["models", "import", "minifasnet", "."], folder), "no .pth")
    (folder / "file").write_text("not a folder")
    done = run(["models", "install", "face-mesh"], folder, LIVEMATCH_MODELS_DIR=str(folder / "file" / "models"))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("install failed:"), done.stderr


def test_a_model_configuration_that_cannot_load_is_named_not_traced(folder: Path) -> None:
    """An unknown embedder or one without a calibration: `verify` says which, `serve` logs it once and exits 2."""
    photo, video = shared("data", "video", "grid_s2_swwp2s_frame.jpg"), shared("data", "video", "grid_s2_swwp2s.mp4")
    models = {"LIVEMATCH_MODELS_DIR": str(folder / "models")}
    result = run(["verify", str(photo), str(video)], folder, LIVEMATCH_EMBEDDER="dlib-resnet-v1", **models)
    assert_clear(result, "no calibration", "livematch calibrate")
    keys = {"LIVEMATCH_DECRYPT_KEY": "k" * 32, "LIVEMATCH_DECRYPT_IV": "i" * 12}
    result = run(["serve", "--port", "0"], folder, LIVEMATCH_EMBEDDER="nope", **models, **keys)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot start: unknown embedder 'nope'" in result.stderr
    result = run(["verify", str(photo), str(video)], folder, LIVEMATCH_ALIGNMENT="face-mesh", **models)
    assert_clear(result, "LIVEMATCH_ALIGNMENT=face-mesh", "livematch models install face-mesh")
