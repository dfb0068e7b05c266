"""check_quality occlusion (4004): only when asked, after the no-face check, right both ways on real photos."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from livematch.cli import app
from livematch.engine import VerifyOptions
from livematch.errors import DetectionFailed, FaceOcclusion
from livematch.quality.occlusion import REGIONS, OccludedFace
from tests.conftest import VERIFY, shared
from tests.media import jpeg, noise

MASKED = ["with_mask/0803.jpg", "with_mask/0_0_10.jpg", "with_mask/0_0_2.jpg"]
SUNGLASSES = ["sunglasses/glasses_detector_1.jpg", "sunglasses/glasses_detector_6.jpg"]
CLEAR = ["eyeglasses/glasses_detector_0.jpg", "eyeglasses/glasses_detector_10.jpg"]


def occlusion(*parts: str) -> bytes:
    return shared("data", "occlusion", *parts).read_bytes()


def post(client, fields):
    return client.post(
        VERIFY, files={k: (None, str(v).lower() if isinstance(v, bool) else v) for k, v in fields.items()}
    )


def test_masked_photo_is_4004_only_with_check_quality(client, fields):
    photo = occlusion(MASKED[0])
    rejected = post(client, fields(photo=photo, check_quality=True))
    body = rejected.json()
    assert rejected.status_code == 400 and body["code"] == 4004, body
    assert "nose" in body["message"] or "mouth" in body["message"], body["message"]
    accepted = post(client, fields(photo=photo, check_quality=False))
    assert accepted.status_code == 200 and accepted.json()["code"] == 1000, accepted.json()


def test_clear_photo_passes_with_check_quality(client, fields):
    response = post(client, fields(check_quality=True))
    assert response.status_code == 200 and response.json()["code"] == 1000, response.json()


def test_photo_without_face_is_still_4000_with_check_quality(client, fields):
    response = post(client, fields(photo=jpeg(noise(300, 300)), check_quality=True))
    assert response.status_code == 400 and response.json()["code"] == 4000


def test_engine_times_the_occlusion_stage(engine, grid_photo, grid_video):
    result = engine.verify(grid_photo, grid_video, VerifyOptions(check_quality=True))
    assert "occlusion" in result.timings_ms
    assert "occlusion" not in engine.verify(grid_photo, grid_video, VerifyOptions()).timings_ms


@pytest.mark.parametrize("rel", MASKED + SUNGLASSES)
def test_shared_masks_and_sunglasses_are_occluded(engine, rel):
    with pytest.raises(FaceOcclusion) as caught:
        engine.embed_photo(occlusion(rel), check_quality=True)
    assert isinstance(caught.value, OccludedFace)
    covered = set(caught.value.result.occluded)
    expected = {"left_eye", "right_eye"} if rel.startswith("sunglasses") else {"nose", "mouth"}
    assert covered & expected, caught.value.result.scores


@pytest.mark.parametrize("rel", CLEAR)
def test_clear_eyeglasses_are_not_occlusion(engine, rel):
    face = engine.embed_photo(occlusion(rel), check_quality=True)
    assert all(0.0 <= face.quality[f"occlusion_{r}"] < 1.0 for r in REGIONS)


def test_no_face_is_4000_before_the_occlusion_check(engine):
    with pytest.raises(DetectionFailed):
        engine.embed_photo(jpeg(noise(300, 300)), check_quality=True)


def test_eval_command_writes_the_report(tmp_path):
    root = shared("data", "occlusion")
    manifest = tmp_path / "manifest.tsv"
    rows = [(rel, "occluded") for rel in MASKED[:2]] + [(rel, "clear") for rel in CLEAR]
    manifest.write_text("".join(f"{root / rel}\t{label}\n" for rel, label in rows))
    out, plot = tmp_path / "report.json", tmp_path / "plots" / "regions.png"
    args = ["eval", "occlusion", "--manifest", str(manifest), "--json", str(out), "--plot", str(plot)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert plot.read_bytes().startswith(b"\x89PNG")
    report = json.loads(out.read_text())
    assert {"threshold", "recall", "false_positive_rate", "items"} <= set(report)
    assert len(report["items"]) == 4
    for item in report["items"]:
        assert {"path", "label", "occluded", "regions"} <= set(item)
        assert set(item["regions"]) == set(REGIONS)
    assert report["recall"] == 1.0 and report["false_positive_rate"] == 0.0
