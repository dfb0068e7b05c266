"""The Dockerfile and Kubernetes manifests: schema-valid, consistent with the service, and runnable.

No container engine runs here, so the image is tested by running the Dockerfile's own install script,
start command and health check in a fresh virtual environment (slow: a full dependency install).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from livematch.config import Settings
from tests import ops
from tests.conftest import ROOT

MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def resources() -> dict[str, dict]:
    """Every manifest document, keyed by kind."""
    docs = [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]
    return {doc["kind"]: doc for doc in docs}


def instructions(name: str) -> list[str]:
    """The Dockerfile's instructions of one kind (continuation lines joined), in order."""
    text = DOCKERFILE.replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in text.splitlines() if line.split(None, 1)[:1] == [name]]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_are_valid_kubernetes(version):
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Secret"} <= set(resources())
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(doc, version, strict=True)


def test_validator_rejects_a_misspelt_field():
    deployment = copy.deepcopy(resources()["Deployment"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_manifests_agree_with_the_service_and_the_image():
    kinds = resources()
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    fields = Settings.model_fields
    assert all(name.removeprefix("LIVEMATCH_").lower() in fields for name in env), env
    assert set(kinds["Secret"]["stringData"]) == {"LIVEMATCH_DECRYPT_KEY", "LIVEMATCH_DECRYPT_IV"}
    assert container["envFrom"][0]["secretRef"]["name"] == kinds["Secret"]["metadata"]["name"]

    drain, grace = float(env["LIVEMATCH_SHUTDOWN_DRAIN_SECONDS"]), float(env["LIVEMATCH_SHUTDOWN_GRACE_SECONDS"])
    assert grace > float(env["LIVEMATCH_DEADLINE_SECONDS"])  # every admitted request can finish
    assert pod["terminationGracePeriodSeconds"] >= drain + grace + 5
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # The readiness probe must notice the drain well within it.
    probe = container["readinessProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] < drain

    port = container["ports"][0]
    assert f"EXPOSE {port['containerPort']}" in DOCKERFILE
    assert kinds["Service"]["spec"]["ports"][0]["targetPort"] == port["name"]
    assert str(port["containerPort"]) in json.loads(instructions("CMD")[-1])
    assert pod["securityContext"]["runAsUser"] == int(instructions("USER")[-1])
    assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
    selector = kinds["Deployment"]["spec"]["selector"]["matchLabels"]
    assert kinds["Service"]["spec"]["selector"] == selector
    assert kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    assert kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == kinds["Deployment"]["metadata"]["name"]


def test_dockerfile_is_multi_stage_non_root_with_readiness_healthcheck():
    assert len(instructions("FROM")) == 2 and " AS build" in instructions("FROM")[0]
    assert any("deploy/install.sh" in run for run in instructions("RUN"))
    assert instructions("USER")[-1].isdigit() and int(instructions("USER")[-1]) != 0
    assert "/readyz" in instructions("HEALTHCHECK")[-1]
    assert json.loads(instructions("CMD")[-1])[:2] == ["livematch", "serve"]
    assert "LIVEMATCH_DECRYPT_KEY" not in "".join(instructions("ENV"))  # keys come at run time


@pytest.mark.slow
def test_dockerfile_commands_install_and_serve_in_a_fresh_venv(tmp_path):
    """The build stage's install script, then the image's CMD and HEALTHCHECK, outside a container."""
    venv = tmp_path / "venv"
    run = shlex.split(next(a for a in instructions("RUN") if "deploy/install.sh" in a))
    script = run[run.index("deploy/install.sh") :]  # deploy/install.sh /opt/livematch /src
    assert len(script) == 3, script
    host = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}  # nothing leaks in
    subprocess.run(["sh", str(ROOT / script[0]), str(venv), str(ROOT)], check=True, timeout=1200, env=host)

    port = ops.free_port()
    command = [str(port) if arg == "8000" else arg for arg in json.loads(instructions("CMD")[-1])]
    image_env = {  # the image's paths, moved to where this test installed it
        k: v.replace("/opt/livematch", str(venv)) for k, v in re.findall(r"(\w+)=(\S+)", " ".join(instructions("ENV")))
    }
    image_env["PATH"] = f"{venv / 'bin'}:{host['PATH']}"
    env = {**host, **image_env, **ops.key_env()}
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    health = json.loads(re.sub(r"^.*?CMD ", "", instructions("HEALTHCHECK")[-1]))
    health = [h.replace("8000", str(port)) for h in health]
    try:
        deadline = time.monotonic() + 90
        while subprocess.run(health, env=env, capture_output=True).returncode != 0:
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read().decode()
            time.sleep(1)
        # The command that answered is the fresh venv's, not the development one.
        assert Path(subprocess.check_output(["which", command[0]], env=env).decode().strip()).parent == venv / "bin"
        process.terminate()
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
