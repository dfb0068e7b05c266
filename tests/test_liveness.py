"""Silent liveness on real media: the MiniFASNet import, one-frame images, real clips and synthesised attacks."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from livematch.cli import app
from livematch.engine import Engine, Timer
from livematch.eval.attacks import attack_seed, make_attack, real_sources
from livematch.eval.footage import encode, read_clip, read_photo
from livematch.eval.liveness import Item, run_item, select_evidence
from livematch.eval.recipes import dim_live, print_attack, still_attack
from livematch.faces.landmarks import _parts, dlib_rect
from livematch.liveness import minifasnet
from livematch.liveness.border import moving_border
from livematch.liveness.identity import IDENTITY_MIDPOINT
from livematch.liveness.minifasnet import exposure_gain
from livematch.liveness.temporal import BORDER_MIDPOINT, CLOSURE_MIDPOINT, NONRIGID_MIDPOINT, eye_closure
from livematch.media import decode_video
from livematch.packs.minifasnet import build_onnx, parse_name
from livematch.packs.torchpickle import load_state_dict
from tests.conftest import SHARED, shared


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> object:
    """A models directory made by the real import command from the shared .pth files."""
    target = tmp_path_factory.mktemp("models")
    source = shared("models", "minifasnet")
    result = CliRunner().invoke(
        app, ["models", "import", "minifasnet", str(source)], env={"LIVEMATCH_MODELS_DIR": str(target)}
    )
    assert result.exit_code == 0, result.output
    return target


@pytest.fixture(scope="module")
def pack_engine(settings, models_dir) -> Engine:
    return Engine(settings.model_copy(update={"models_dir": models_dir}))


def test_import_writes_both_models_with_digests(models_dir):
    manifest = json.loads((models_dir / "manifest.json").read_text())["minifasnet"]
    assert {m["architecture"] for m in manifest["models"]} == {"MiniFASNetV2", "MiniFASNetV1SE"}
    assert {m["crop_scale"] for m in manifest["models"]} == {2.7, 4.0}
    for model in manifest["models"]:
        assert (models_dir / model["file"]).stat().st_size > 500_000


def test_file_name_recipe_and_refusal_of_foreign_pickles(tmp_path):
    assert parse_name("4_0_0_80x80_MiniFASNetV1SE.pth") == (4.0, 80, "MiniFASNetV1SE")
    assert parse_name("2.7_80x80_MiniFASNetV2.pth") == (2.7, 80, "MiniFASNetV2")
    evil = tmp_path / "evil.pth"
    import pickle

    evil.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C) + pickle.dumps(print))
    with pytest.raises(pickle.UnpicklingError):
        load_state_dict(evil)


def test_converted_graph_is_deterministic(models_dir):
    weights = load_state_dict(shared("models", "minifasnet", "2.7_80x80_MiniFASNetV2.pth"))
    first, second = build_onnx(weights, 80), build_onnx(weights, 80)
    assert first.SerializeToString() == second.SerializeToString()


def test_service_runs_without_the_pack_on_temporal_evidence(engine):
    assert engine.info()["liveness_evidence"] == ["temporal"]


def test_pack_is_listed_when_imported(pack_engine):
    assert pack_engine.info()["liveness_evidence"] == ["temporal", "minifasnet"]


@pytest.mark.parametrize("name", ["image_F1.jpg", "image_F2.jpg", "image_T1.jpg", "image_T2.jpg"])
def test_spoof_sample_images_as_one_frame_videos(pack_engine, name):
    folder = shared("data", "spoof", "images")
    item = run_item(pack_engine, Item(name, "x", "x"), folder)
    assert item.decision == ("live" if "_T" in name else "attack"), item


def test_one_frame_video_without_a_pack_is_rejected(engine):
    item = run_item(engine, Item("image_T1.jpg", "live", "none"), shared("data", "spoof", "images"))
    assert item.decision == "attack" and item.score == 0.0


DIM_SEED = 11
REAL = sorted(p.name for p in shared("data", "video", "real").glob("*.mp4")) if SHARED.exists() else []


@pytest.mark.parametrize("name", REAL)
def test_real_clips_pass_on_temporal_evidence(engine, name):
    clip = shared("data", "video", "real", name)
    item = run_item(engine, Item(str(clip), "live", "none"), clip.parent)
    assert item.decision == "live", item


def test_real_clip_passes_on_the_pack_alone(pack_engine):
    clip = shared("data", "video", "real", "liveportrait_d12.mp4")
    item = run_item(select_evidence(pack_engine, "minifasnet"), Item(str(clip), "live", "none"), clip.parent)
    assert item.decision == "live", item


@pytest.mark.parametrize(
    ("attack", "clip"),
    [
        ("print", 2),
        ("print", 5),
        ("still", 0),
        ("still", 3),
        ("still", 8),
        ("replay", 1),
        ("replay", 4),
        ("replay", 10),
    ],
)
def test_synthesised_attacks_are_rejected_by_temporal_evidence(engine, tmp_path, attack, clip):
    """Prints move as a plane, stills do not move, a held screen shows a moving frame: all fail without a model."""
    source = real_sources(shared("data", "video", "real"))[clip]
    path = tmp_path / f"{attack}.mp4"
    path.write_bytes(make_attack(source, attack, attack_seed(11, source.clip.stem, attack, 0)))
    item = run_item(engine, Item(str(path), "attack", attack), tmp_path)
    assert item.decision == "attack", item


def test_a_calm_face_that_blinks_is_live_and_its_print_is_not(engine, tmp_path):
    """liveportrait_d9's first 3 s hardly move (a print's nonrigid_motion) but the person blinks; paper cannot."""
    source = next(s for s in real_sources(shared("data", "video", "real")) if s.clip.stem == "liveportrait_d9")
    calm = tmp_path / "calm.mp4"
    calm.write_bytes(encode(read_clip(source.clip, seconds=3.0)))
    item = run_item(engine, Item(str(calm), "live", "calm"), tmp_path)
    assert item.evidence["nonrigid_motion"]["value"] < NONRIGID_MIDPOINT
    assert item.evidence["eye_closure"]["value"] < CLOSURE_MIDPOINT
    assert item.evidence["blink_identity"]["value"] > IDENTITY_MIDPOINT  # the blink is this person's
    assert item.decision == "live", item
    printed = make_attack(source, "print", attack_seed(11, source.clip.stem, "print", 0))
    assert eye_closure(engine._track(decode_video(printed, engine.settings), Timer()), engine.landmarks).ratio > 0.8
    (tmp_path / "print.mp4").write_bytes(printed)
    assert run_item(engine, Item(str(tmp_path / "print.mp4"), "attack", "print"), tmp_path).decision == "attack"


def test_a_cutout_print_blinks_through_its_holes_unless_glimpses_are_off(engine, tmp_path):
    """The blink check's known hole (docs/LIVENESS.md): a print with the eyes cut out shows the attacker's real
    blink. Without glimpses (``LIVEMATCH_VIDEO_GLIMPSE_FRAMES=0``) the planar print is rejected again."""
    import copy

    source = next(s for s in real_sources(shared("data", "video", "real")) if s.clip.stem == "liveportrait_d9")
    path = tmp_path / "cutout.mp4"
    path.write_bytes(make_attack(source, "cutout", attack_seed(1, source.clip.stem, "cutout", 0)))
    item = run_item(engine, Item(str(path), "attack", "cutout"), tmp_path)
    assert item.evidence["nonrigid_motion"]["value"] < NONRIGID_MIDPOINT  # the sheet moves as a plane
    assert item.evidence["eye_closure"]["value"] < CLOSURE_MIDPOINT  # ... and the eyes in its holes blink
    strict = copy.copy(engine)
    strict.settings = engine.settings.model_copy(update={"video_glimpse_frames": 0})
    assert run_item(strict, Item(str(path), "attack", "cutout"), tmp_path).decision == "attack"


def test_a_cut_to_another_persons_photo_is_rejected(engine, tmp_path):
    """A splice borrows a live person's motion (and reads as motion: two faces differ a lot) and then shows
    the victim's photo, which would be the sharpest frame to match; the face embeddings see two people."""
    sources = real_sources(shared("data", "video", "real"))
    clip, victim = sources[1], sources[2]
    live = tmp_path / "live.mp4"
    live.write_bytes(encode(read_clip(clip.clip)))
    assert run_item(engine, Item(str(live), "live", "none"), tmp_path).evidence["identity_consistency"]["value"] > 0.5
    spliced = tmp_path / "splice.mp4"
    spliced.write_bytes(make_attack(clip, "splice", attack_seed(0, clip.clip.stem, "splice", 0), victim))
    item = run_item(engine, Item(str(spliced), "attack", "splice"), tmp_path)
    assert item.evidence["nonrigid_motion"]["value"] > NONRIGID_MIDPOINT  # the cut reads as motion
    assert item.evidence["identity_consistency"]["value"] < IDENTITY_MIDPOINT
    assert item.decision == "attack", item
    with pytest.raises(ValueError, match="victim"):
        make_attack(clip, "splice", 0, clip)


def test_a_blink_does_not_excuse_a_replay_whose_frame_shows(engine, tmp_path):
    """A calm person replayed on a held phone blinks and moves as a plane; one moved edge keeps it a replay."""
    source = next(s for s in real_sources(shared("data", "video", "real")) if s.clip.stem == "liveportrait_s18")
    replay = tmp_path / "replay.mp4"
    replay.write_bytes(make_attack(source, "replay", attack_seed(21, source.clip.stem, "replay", 0)))
    item = run_item(engine, Item(str(replay), "attack", "replay"), tmp_path)
    assert 0 < item.evidence["moving_border"]["value"] < BORDER_MIDPOINT  # the frame, seen in one probe only
    assert item.evidence["nonrigid_motion"]["value"] < NONRIGID_MIDPOINT
    assert item.decision == "attack", item


def test_a_dim_live_clip_is_live_and_a_dim_still_is_not(engine, tmp_path):
    """In a dim room a face keeps half its contrast: dlib fits it stiffer and its grey levels change less, which
    read as a picture until both were measured on contrast-stretched faces. A still image stays a still when dim."""
    source = next(s for s in real_sources(shared("data", "video", "real")) if s.clip.stem == "retalking_2")
    dim = tmp_path / "dim.mp4"
    dim.write_bytes(make_attack(source, "dim", attack_seed(DIM_SEED, source.clip.stem, "dim", 0)))
    assert run_item(engine, Item(str(dim), "live", "dim"), tmp_path).decision == "live"
    rng = np.random.default_rng(DIM_SEED)
    still = tmp_path / "still.mp4"
    still.write_bytes(encode(dim_live(still_attack(read_photo(source.photo), rng), rng)))
    assert run_item(engine, Item(str(still), "attack", "still"), tmp_path).decision == "attack"


def test_the_pack_sees_a_dark_live_face_as_a_camera_would_expose_it(pack_engine, tmp_path, monkeypatch):
    """A dim-room variant of a real clip that MiniFASNet, shown its dark pixels, calls a spoof (p[live] 0.16, under
    the 0.2 operating point); brightened to a camera's exposure first, it reads live. Lit faces are untouched."""
    source = next(s for s in real_sources(shared("data", "video", "real")) if s.clip.stem == "retalking_5")
    dim = tmp_path / "dim.mp4"
    dim.write_bytes(make_attack(source, "dim", attack_seed(64, source.clip.stem, "dim", 0)))
    pack = select_evidence(pack_engine, "minifasnet")
    assert run_item(pack, Item(str(dim), "live", "dim"), tmp_path).decision == "live"
    monkeypatch.setattr(minifasnet, "exposure_gain", lambda bgr, box: 1.0)
    assert run_item(pack, Item(str(dim), "live", "dim"), tmp_path).decision == "attack"
    lit = cv2.imread(str(source.photo))
    assert exposure_gain(lit, pack_engine.detector.detect(lit)[0].box) == 1.0


@pytest.mark.parametrize(("exposure", "gamma"), [(0.3, 1.0), (0.5, 1.6)])
def test_landmarks_of_a_dimmed_face_stay_where_the_lit_ones_are(engine, exposure, gamma):
    """The 12 real photos darkened (30 % of their brightness, or half of it with the shadows crushed by a tone
    curve): stretched to the reference contrast first, dlib's points move less than half as far from the lit
    photo's as on the dim pixels as they are, and on no photo far. Stretched around the face's own dark mean,
    the crushed shadows clipped at black and some photos' points moved 0.05 eye distances (the median, 0.015)."""
    stretched, plain = [], []
    for source in real_sources(shared("data", "video", "real")):
        bgr = cv2.imread(str(source.photo))
        gray, box = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), engine.detector.detect(bgr)[0].box
        dim = (255 * exposure * (gray / 255.0) ** gamma).astype(np.uint8)
        lit = engine.landmarks.points(gray, box)
        iod = np.linalg.norm(lit[36:42].mean(0) - lit[42:48].mean(0))
        stretched.append(np.median(np.linalg.norm(engine.landmarks.points(dim, box) - lit, axis=1)) / iod)
        raw = _parts(engine.landmarks._predictor(dim, dlib_rect(box)))
        plain.append(np.median(np.linalg.norm(raw - lit, axis=1)) / iod)
    assert np.median(stretched) < 0.5 * np.median(plain), (stretched, plain)
    assert max(stretched) < 0.025, stretched


def test_moving_border_sees_the_screen_not_the_room(engine):
    """A replay's bezel moves around the face (value > 0); the same clip filmed live has no such frame (0)."""
    source = real_sources(shared("data", "video", "real"))[2]
    settings = engine.settings
    live = engine._track(decode_video(source.clip.read_bytes(), settings), Timer())
    replay_bytes = make_attack(source, "replay", attack_seed(12, source.clip.stem, "replay", 0))
    replay = engine._track(decode_video(replay_bytes, settings), Timer())
    assert moving_border(live) == 0.0
    assert moving_border(replay) > BORDER_MIDPOINT


@pytest.mark.parametrize("clip", [0, 3])
def test_moving_border_ignores_a_hand_held_live_camera(engine, clip):
    """Background edges that shake with a hand-held camera must not read as a screen's frame."""
    source = real_sources(shared("data", "video", "real"))[clip]
    video = make_attack(source, "handheld", attack_seed(11, source.clip.stem, "handheld", 0))
    track = engine._track(decode_video(video, engine.settings), Timer())
    assert moving_border(track) < BORDER_MIDPOINT


def test_eval_command_writes_the_report(tmp_path, models_dir):
    images = shared("data", "spoof", "images")
    manifest = tmp_path / "m.tsv"
    manifest.write_text(f"{images / 'image_T1.jpg'}\tlive\tnone\n{images / 'image_F2.jpg'}\tattack\treplay\n")
    out, plot = tmp_path / "r.json", tmp_path / "evidence.png"
    args = ["eval", "liveness", "--manifest", str(manifest), "--json", str(out), "--evidence", "minifasnet"]
    result = CliRunner().invoke(app, [*args, "--plot", str(plot)], env={"LIVEMATCH_MODELS_DIR": str(models_dir)})
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert {"threshold", "bpcer", "bpcer_by_type", "apcer", "apcer_max", "acer", "items"} <= report.keys()
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert report["bpcer"] == 0.0 and report["apcer"] == {"replay": 0.0}
    assert [i["decision"] for i in report["items"]] == ["live", "attack"]


def test_attacks_are_reproducible():
    """Same seed, same pixels, same bytes: a print 580 px wide, 25 frames (with x264's macroblock tree on,
    its encodings differed from call to call)."""
    photo = cv2.imread(str(real_sources(shared("data", "video", "real"))[0].photo))
    one, two = (print_attack(photo, np.random.default_rng(5), n=25) for _ in range(2))
    other = print_attack(photo, np.random.default_rng(6), n=25)
    assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))
    assert not np.array_equal(one[5], other[5])
    assert one[0].shape[1] % 128 and len({encode(one) for _ in range(4)}) == 1


@pytest.mark.slow
def test_fresh_attack_set_meets_the_temporal_targets(settings, tmp_path):
    """A seed never used for any midpoint: BPCER and print/still APCER <= 5 %.

    Only the real clips count as live here: their hand-held 3 s variants are reported in docs/LIVENESS.md
    and not claimed (a person who keeps still for 3 s without blinking falls under the nonrigid midpoint).
    """
    from livematch.eval.attacks import build_set
    from livematch.eval.liveness import eval_liveness

    sources = real_sources(shared("data", "video", "real"))
    manifest = build_set(sources, tmp_path, seed=2, attacks=("print", "still"), lives=())
    report = eval_liveness(settings, manifest, tmp_path / "report.json", evidence="temporal")
    assert report["bpcer"] <= 0.05 and report["apcer"]["print"] <= 0.05 and report["apcer"]["still"] <= 0.05, report


def test_eval_attacks_refuses_an_unknown_kind(tmp_path):
    result = CliRunner().invoke(app, ["eval", "attacks", "--out", str(tmp_path), "--kinds", "print,deepfake"])
    assert result.exit_code == 2 and "deepfake" in result.output
    assert not (tmp_path / "manifest.tsv").exists()


def test_real_sources_by_manifest_or_by_name_and_upright(tmp_path):
    """Another team's folder of clips: a .mov beside a .png, filmed sideways (display rotation)."""
    from livematch.eval.footage import read_photo
    from tests.media import encode_video, noise, png

    (tmp_path / "a.mov").write_bytes(encode_video([noise(64, 96)] * 5, fmt="mov", rotation=90))
    (tmp_path / "a.png").write_bytes(png(noise(40, 30)))
    (tmp_path / "b.mp4").write_bytes(b"no photo beside it")
    [source] = real_sources(tmp_path)
    assert source.photo.name == "a.png" and read_photo(source.photo).shape == (40, 30, 3)
    assert read_clip(source.clip, seconds=0.2)[0].shape == (96, 64, 3)  # shown upright, as players do
    (tmp_path / "manifest.tsv").write_text("file\tphoto\nb.mp4\tmissing.jpg\n")
    with pytest.raises(ValueError, match=r"missing\.jpg"):
        real_sources(tmp_path)
    (tmp_path / "manifest.tsv").write_text("file\tphoto\tperson\nb.mp4\ta.png\tsomeone\n")
    assert [(s.clip.name, s.photo.name) for s in real_sources(tmp_path)] == [("b.mp4", "a.png")]


def test_identity_check_of_a_one_face_track(engine):
    """A short video can leave one tracked face: nothing to compare, so consistent, with or without reuse."""
    from livematch.liveness.identity import IdentityCheck

    track = engine._track(
        decode_video(shared("data", "video", "grid_s2_swwp2s.mp4").read_bytes(), engine.settings), Timer()
    )
    track.frames, track.faces = track.frames[:1], track.faces[:1]
    track.faces[0].embedding = engine.embedder.embed(track.frames[0].bgr, track.faces[0])
    for reuse in (True, False):
        value, reference = IdentityCheck(reuse_match=reuse).consistency(track)
        assert value == 1.0 and reference.shape == (128,)
