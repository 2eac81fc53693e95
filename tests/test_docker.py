"""The generated image, built and run by a real Docker engine.

Renders the default project, runs its pipeline (MLflow registry), then `make build` against a
private `dockerd` (tests/docker_engine.py) with the local stand-in base image: the Makefile
resolves the champion into the build context and builds the generated Dockerfile unchanged
but for `BASE_IMAGE`. The container runs as uid 10001 on a read-only root filesystem, writing
only to a tmpfs (/tmp) and a mounted volume (/app/data, the prediction log); the test waits
for /ready, predicts, sends feedback, reads the row from the volume's SQLite file, and runs
the image's own HEALTHCHECK command. Under CI=true a missing engine fails, never skips.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, make, python_for, render
from tests.docker_engine import docker_cli, docker_engine, ensure_base_image
from tests.test_pipeline import PYTHON, venv_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("venv-pipeline-sklearn")]

IMAGE = "local/churn-model:test"
PREFIX = "CHURN_MODEL_SERVING__"
READY_TIMEOUT_S = 120


def _docker(env: dict[str, str], *args: str, timeout: int = 120) -> str:
    result = subprocess.run(
        [docker_cli(), *args], env=env, capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


def _call(url: str, payload: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, {}


def _wait_ready(base: str, env: dict[str, str], container: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if _call(f"{base}/ready")[0] == 200:
                return
        except OSError:
            pass
        state = _docker(env, "inspect", "--format", "{{.State.Status}}", container).strip()
        if state != "running":
            logs = _docker(env, "logs", container)
            pytest.fail(f"the container stopped ({state}): {logs[-3000:]}")
        time.sleep(1)
    pytest.fail(f"the container was not ready within {READY_TIMEOUT_S}s")


def test_image_serves_the_champion_read_only(tmp_path: Path) -> None:
    project = render(tmp_path)
    venv = venv_for(project)
    make(project, "install", venv=venv, PYTHON=python_for(PYTHON))
    make(project, "pipeline", venv=venv)
    with docker_engine() as env:
        base = ensure_base_image(env)
        docker_dir = str(Path(docker_cli()).parent)  # the client that matches the engine
        started = time.monotonic()
        make(
            project, "build", venv=venv, timeout=1800, REGISTRY="local", IMAGE_TAG="test",
            BASE_IMAGE=base, DOCKER_BUILD_FLAGS="--network host", DOCKER_HOST=env["DOCKER_HOST"],
            PATH=os.pathsep.join([docker_dir, env["PATH"]]),
        )  # fmt: skip
        build_s = time.monotonic() - started
        size = int(_docker(env, "image", "inspect", "--format", "{{.Size}}", IMAGE))
        labels_format = "{{json .Config.Labels}}"
        labels = json.loads(_docker(env, "image", "inspect", "--format", labels_format, IMAGE))
        assert labels["churn_model.champion"] == "churn-model-v1"
        print(f"image {IMAGE}: {size / 1e6:.0f} MB, make build {build_s:.0f} s")

        data = tmp_path / "volume"
        data.mkdir()
        os.chown(data, 10001, 10001)
        port = free_port()
        container = "churn-model-test"
        subprocess.run([docker_cli(), "rm", "-f", container], env=env, capture_output=True,
                       check=False)  # fmt: skip
        _docker(
            env, "run", "--detach", "--name", container, "--read-only", "--user", "10001:10001",
            "--network", "host", "--tmpfs", "/tmp", "--volume", f"{data}:/app/data",
            "--env", f"{PREFIX}HOST=127.0.0.1", "--env", f"{PREFIX}PORT={port}", IMAGE,
        )  # fmt: skip
        try:
            base_url = f"http://127.0.0.1:{port}"
            _wait_ready(base_url, env, container)
            bundle = project / "build" / "model" / "champion"
            example = json.loads((bundle / "input_example.json").read_text(encoding="utf-8"))
            row = dict(zip(example["columns"], example["data"][0], strict=True))
            status, body = _call(f"{base_url}/predict", {"instances": [row]})
            assert status == 200, body
            assert body["model_version"] == "churn-model-v1"
            request_id = body["request_id"]
            assert _call(f"{base_url}/feedback", {"request_id": request_id, "label": 1})[0] == 200

            test_format = "{{json .Config.Healthcheck.Test}}"
            healthcheck = json.loads(_docker(env, "inspect", "--format", test_format, container))
            assert healthcheck[0] == "CMD"
            _docker(env, "exec", container, *healthcheck[1:])
            refused = subprocess.run(
                [docker_cli(), "exec", container, "touch", "/app/written"], env=env,
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert refused.returncode != 0 and "Read-only file system" in refused.stderr
            _docker(env, "stop", "--time", "20", container)  # drains the prediction log

            with sqlite3.connect(data / "predictions.db") as log:
                logged = log.execute(
                    "SELECT model_version, label FROM predictions WHERE request_id = ?",
                    (request_id,),
                ).fetchall()
            assert logged == [("churn-model-v1", "1")]  # the label's JSON text
        finally:
            subprocess.run([docker_cli(), "rm", "-f", container], env=env, capture_output=True,
                           check=False, timeout=60)  # fmt: skip
            # Keep the cached data root bounded: earlier builds' untagged images go.
            subprocess.run([docker_cli(), "image", "prune", "--force"], env=env,
                           capture_output=True, check=False, timeout=300)  # fmt: skip
