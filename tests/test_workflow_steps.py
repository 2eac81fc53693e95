"""The generated workflows exercised, not only linted: their jobs run the way a runner runs them.

`tests/workflow_runner.py` runs one job of a committed project's workflow in a fresh clone:
the `run:` steps in order with the env each scope sets (secrets, vars and github context from
the dicts given here), `uses:` steps replaced by what they provide (checkout = the clone,
setup-python = the cached virtualenv). A local `mlflow server` on loopback stands in for the
shared registry, a loopback HTTP receiver for the GitHub API the retrain trigger calls.

The story: the first train run makes a champion; a second run with a worse candidate is
refused by the gate, which compared it with the champion from the shared registry (a fresh
clone has no local store); retrain-check on quiet traffic says no; after drifted traffic it
says yes once (one workflow dispatch), then no until new evidence arrives. The scheduled
batch-score job scores the dataset with the shared champion and checks its drift. Last, the deploy
workflow: its `build` job resolves the shared champion into the build context, builds the
image with a real Docker engine (tests/docker_engine.py: a private `dockerd`, the debootstrap
stand-in for the pinned base image) and runs `make smoke-image` (read-only root, uid 10001, a
data volume, the image's HEALTHCHECK, /predict served by the champion, the logged row); then
`deploy-staging` with the image tag from the build job's outputs. What needs an unreachable
registry or cluster (`make registry-login`, `make push`, the kubectl steps) is stood in, and
the test asserts exactly which steps were stood in and why. The deploy part runs last, so a
machine without root (no engine) still runs the rest before it skips (under CI it fails).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.conftest import (
    IN_CI,
    VENV_CACHE,
    free_port,
    lock_project,
    make,
    render,
    require_tool,
    uv,
)
from tests.docker_engine import docker_cli, docker_engine, ensure_base_image
from tests.workflow_runner import (
    StandIn,
    UsesStandIn,
    WorkflowRunner,
    setup_python,
    setup_uv,
    upload_artifact,
)

PROJECT_VENV = VENV_CACHE / "bake-default"  # shared with test_bake (same xdist group)
NO_REGISTRY = "no container registry is reachable from the test machine"
NO_CLUSTER = "no Kubernetes cluster is reachable from the test machine"
NO_CLOUD = "no cloud account: the OIDC login is not possible here"
AWS_LOGIN = "aws-actions/configure-aws-credentials"  # the default cloud_provider is aws
VARS = {"AWS_REGION": "eu-west-1", "REGISTRY": "123456789012.dkr.ecr.eu-west-1.amazonaws.com"}


# ---------------------------------------------------------------- loopback services
def mlflow_server_python(version: str) -> Path:
    """Full `mlflow` (the server) in its own cached venv, the client's version, built once."""
    venv = VENV_CACHE / f"mlflow-server-{version}"
    marker = venv / ".installed"
    if not marker.exists():
        try:
            subprocess.run(
                [uv(), "venv", "--quiet", "--clear", "--python", "python3.11", str(venv)],
                check=True, timeout=300,
            )  # fmt: skip
            subprocess.run(
                [uv(), "pip", "install", "--quiet", "--python", str(venv / "bin/python"),
                 f"mlflow=={version}"],
                check=True, timeout=900,
            )  # fmt: skip
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            if IN_CI:
                pytest.fail(f"could not install mlflow {version}: {error}")
            pytest.skip(f"could not install mlflow {version} (offline?): {error}")
        marker.touch()
    return venv / "bin/python"


@pytest.fixture
def project_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project's cached venv, installed from the default project's lock (a no-op
    when another test of the group just did)."""
    make(render(tmp_path_factory.mktemp("venv")), "install", venv=PROJECT_VENV)
    return PROJECT_VENV


@pytest.fixture
def mlflow_server(tmp_path: Path, project_venv: Path) -> Iterator[str]:
    """`mlflow server` on a free loopback port with a SQLite store and proxied artifacts."""
    client = subprocess.run(
        [str(project_venv / "bin/python"), "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.strip()  # fmt: skip
    python = mlflow_server_python(client)
    store = tmp_path / "mlflow-server"
    store.mkdir()
    port = free_port()
    log = (store / "server.log").open("wb")
    server = subprocess.Popen(
        [str(python), "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
         "--artifacts-destination", str(store / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, cwd=store, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # migrations are slow on a loaded machine
        while True:
            assert server.poll() is None, (store / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not start in 600 s"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(timeout=30)
        log.close()


class _GitHubApi(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append((self.path, json.loads(body or b"{}")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def github_api() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    handler = type("Recorder", (_GitHubApi,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.received
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- helpers of the story
# Traffic as the server writes it: the champion from the registry loaded the way the server
# loads it, its predictions, and the prediction log's public API (writer process and all).
TRAFFIC = """
import sys
import numpy as np
from churn_model.data import sample_frame
from churn_model.serving.app import prediction_log_url, resolve_bundles
from churn_model.predlog.pump import PredictionLog
from churn_model.predlog.store import PredictionBatch
from churn_model.settings import load_settings

rows, scale, seed, prefix = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
settings = load_settings()
champion, _ = resolve_bundles(settings)
frame = sample_frame().drop(columns=["target"]).sample(rows, replace=True, random_state=seed)
values = [tuple(float(v) * scale for v in row)
          for row in frame[champion.feature_names].itertuples(index=False)]
log = PredictionLog(prediction_log_url(settings))
log.start()
for start in range(0, rows, 50):
    chunk = values[start:start + 50]
    proba = np.asarray(champion.predict(chunk))
    log.submit(PredictionBatch(
        [f"{prefix}-{start + i}" for i in range(len(chunk))], champion.version, "champion",
        champion.feature_names, chunk, [int(c) for c in proba.argmax(axis=1)],
        [float(p) for p in proba[:, 1]]))
log.close()
print(champion.version)
"""


def serve_traffic(project: Path, env: dict[str, str], rows: int, scale: float, seed: int) -> str:
    done = subprocess.run(
        [str(PROJECT_VENV / "bin/python"), "-c", TRAFFIC, str(rows), str(scale), str(seed),
         f"s{seed}"],
        cwd=project, env=os.environ | env, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip().splitlines()[-1]


def registry_state(tracking_uri: str) -> tuple[int, dict[str, str]]:
    """(number of versions, aliases) of the registered model on the shared server."""
    query = "filter=" + urllib.request.quote("name='churn-model'")
    with urllib.request.urlopen(
        f"{tracking_uri}/api/2.0/mlflow/model-versions/search?{query}", timeout=30
    ) as answer:
        versions = json.load(answer).get("model_versions", [])
    with urllib.request.urlopen(
        f"{tracking_uri}/api/2.0/mlflow/registered-models/get?name=churn-model", timeout=30
    ) as answer:
        model = json.load(answer)["registered_model"]
    aliases = {item["alias"]: item["version"] for item in model.get("aliases", [])}
    return len(versions), aliases


def uv_version() -> str:
    """The version of the machine's uv (`uv --version`: "uv 0.13.8 (...)")."""
    return subprocess.run(
        [uv(), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[1]


def commit(project: Path, message: str) -> None:
    git = require_tool("git", "apt-get install git")
    identity = ["-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    for command in (["add", "-A"], [*identity, "commit", "-qm", message]):
        subprocess.run([git, *command], cwd=project, check=True, capture_output=True)


def docker(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [docker_cli(), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def deploy_jobs(runner: WorkflowRunner, uses: dict[str, UsesStandIn], champion: str) -> None:
    """deploy.yml: `build` (image + container smoke test) and `deploy-staging`, for real but
    for the registry and the cluster; the built image serves `champion`."""
    with docker_engine() as engine:
        machine = {  # the runner machine's Docker, as a hosted runner's engine would be set up
            "DOCKER_HOST": engine["DOCKER_HOST"],
            "PATH": os.pathsep.join([str(Path(docker_cli()).parent), engine["PATH"]]),
            # Base images cannot be pulled here: the stand-in for the pinned python image, and
            # no --pull; the engine has no bridge network, so builds and containers use host's.
            "BASE_IMAGE": ensure_base_image(engine),
            "DOCKER_BUILD_FLAGS": "--network host",
            "SMOKE_IMAGE_NETWORK": "host",
        }
        started = time.monotonic()
        build = runner.run_job(
            "deploy.yml", "build", uses=uses, extra_env=machine,
            stand_ins={AWS_LOGIN: StandIn(NO_CLOUD), "make registry-login": StandIn(NO_REGISTRY),
                       "make push": StandIn(NO_REGISTRY)},
        )  # fmt: skip
        assert build.ok, build.log()
        assert build.stood_in() == {
            AWS_LOGIN: NO_CLOUD,
            "make registry-login": NO_REGISTRY,
            "make push": NO_REGISTRY,
        }
        assert build.names()[-5:] == [
            "make build",
            "container smoke test",
            "image packages equal uv.lock",
            "actions/upload-artifact",
            "make push",
        ]
        verified = build.step("image packages equal uv.lock").output
        assert re.search(r"ok: the \d+ installed packages equal uv.lock", verified), verified
        lock_hash = hashlib.sha256((build.workspace / "uv.lock").read_bytes()).hexdigest()
        sbom = json.loads((build.workspace / "build/sbom.cdx.json").read_text())
        components = {component["name"] for component in sbom["components"]}
        assert {"onnxruntime", "scikit-learn", "fastapi", "mlflow-skinny"} <= components, sbom
        assert not {"pytest", "ruff", "mypy"} & components  # the image's packages, not dev's
        smoke = build.step("container smoke test").output
        for check in ("HEALTHCHECK", f"served by {champion}", "read-only root filesystem",
                      "its feedback are in"):  # fmt: skip
            assert check in smoke, smoke
        image = smoke.strip().splitlines()[-1].removeprefix("smoke-image passed: ")
        tag = build.outputs["image-tag"]
        assert image.endswith(f"/churn-model:{tag}"), (image, build.outputs)
        try:
            labels = json.loads(docker(engine, "image", "inspect", "--format",
                                       "{{json .Config.Labels}}", image))  # fmt: skip
            assert labels["churn_model.champion"] == champion, labels
            assert labels["churn_model.uv-lock-sha256"] == lock_hash, labels
            size = int(docker(engine, "image", "inspect", "--format", "{{.Size}}", image))
            print(
                f"deploy build job: {time.monotonic() - started:.0f} s, image {size / 1e6:.0f} MB"
            )
        finally:  # keep the cached data root bounded (the build cache stays)
            docker(engine, "image", "rm", "--force", image)
            docker(engine, "image", "prune", "--force")
    staging = runner.run_job(
        "deploy.yml", "deploy-staging", needs={"build": build},
        stand_ins={AWS_LOGIN: StandIn(NO_CLOUD), "make kubeconfig": StandIn(NO_CLUSTER),
                   "make deploy": StandIn(NO_CLUSTER, instead="make deploy-manifests"),
                   "make smoke-deployed": StandIn(NO_CLUSTER)},
    )  # fmt: skip
    assert staging.ok, staging.log()
    assert set(staging.stood_in()) == {
        AWS_LOGIN,
        "make kubeconfig",
        "make deploy",
        "make smoke-deployed",
    }
    assert "make rollback" not in staging.names()
    pinned = (staging.workspace / "build/deploy/staging/kustomization.yaml").read_text()
    assert f"newName: {image.rpartition(':')[0]}" in pinned and f'newTag: "{tag}"' in pinned


# ---------------------------------------------------------------- the story
@pytest.mark.slow
@pytest.mark.xdist_group("venv-default")  # shares the bake-default venv (test_bake)
def test_train_and_retrain_check_jobs_against_a_shared_registry(
    tmp_path: Path,
    mlflow_server: str,
    github_api: tuple[str, list[tuple[str, dict[str, Any]]]],
) -> None:
    git = require_tool("git", "apt-get install git")
    origin = render(tmp_path / "origin")
    lock_project(origin)  # committed, as `make lock` asks
    subprocess.run([git, "init", "-q", "-b", "main"], cwd=origin, check=True)
    commit(origin, "generated project")
    api_url, dispatches = github_api
    log_db = tmp_path / "prediction-log" / "predictions.db"
    log_db.parent.mkdir()
    secrets = {
        "MLFLOW_TRACKING_URI": mlflow_server,
        "DATABASE_URL": f"sqlite:///{log_db}",
        "GITHUB_TOKEN": "ghs-test-token",
    }
    runner = WorkflowRunner(
        origin,
        tmp_path / "runs",
        {"secrets": secrets, "vars": VARS,
         "github": {"repository": "my-org/churn-model", "api_url": api_url, "run_id": "7"}},
    )  # fmt: skip
    uploaded: list[Path] = []
    uses = {
        "actions/setup-python": setup_python(PROJECT_VENV),
        "astral-sh/setup-uv": setup_uv(uv(), uv_version()),
        "actions/upload-artifact": upload_artifact(uploaded),
    }

    # A runner without the secret stops at once, in one line.
    unset = WorkflowRunner(
        origin, tmp_path / "runs-unset", {"secrets": {}, "vars": {}, "github": {}}
    )
    refused = unset.run_job("train.yml", "train", uses=uses)
    guard = refused.step("make shared-registry")
    assert guard.returncode != 0 and "MLFLOW_TRACKING_URI is not set" in guard.output
    assert "make data" not in refused.names()

    # 1. First run: the candidate becomes the champion on the shared server.
    first = runner.run_job("train.yml", "train", uses=uses)
    assert first.ok, first.log()
    assert registry_state(mlflow_server) == (1, {"champion": "1", "challenger": "1"})

    # 2. A worse candidate from a fresh clone: the gate compares it with the shared champion.
    config = origin / "configs/model_config.yaml"
    text = config.read_text()
    worse = text.replace("  max_iter: 1000\n", "  max_iter: 2\n").replace(
        "  champion_tolerance: 0.01\n", "  champion_tolerance: 0.0\n"
    )
    assert worse != text
    config.write_text(worse)
    commit(origin, "a worse candidate: two solver iterations, no tolerance")
    second = runner.run_job("train.yml", "train", uses=uses)
    gate = second.step("evaluation gate")
    assert gate.returncode != 0, second.log()  # make reports the CLI's exit 1 as 2
    assert "regresses against the champion" in gate.output, gate.output[-2000:]
    assert "make register" not in second.names()
    assert registry_state(mlflow_server) == (1, {"champion": "1", "challenger": "1"})

    # Batch scoring (the scheduled batch-score workflow): the shared champion scores the
    # configured dataset; the scored batch is compared with the training reference.
    batch = runner.run_job("batch-score.yml", "score", uses=uses)
    assert batch.ok, batch.log()
    ran = batch.names()
    assert (
        ran.index("configured dataset")
        < ran.index("batch scoring")
        < ran.index("drift of the scored batch")
    )
    manifest = json.loads((batch.workspace / "build/batch/7/manifest.json").read_text())
    assert manifest["model"]["version"] == "churn-model-v1", manifest["model"]
    assert manifest["rows"]["scored"] == 569 and manifest["status"] == "complete", manifest
    assert "current: " in batch.step("drift of the scored batch").output
    assert any(path.name == "batch" for path in uploaded)

    # 3. Retrain-check on quiet champion traffic: no.
    traffic_env = {"MLFLOW_TRACKING_URI": mlflow_server, "DATABASE_URL": secrets["DATABASE_URL"]}
    version = serve_traffic(origin, traffic_env, rows=200, scale=1.0, seed=1)
    quiet = runner.run_job("retrain-check.yml", "check", uses=uses)
    assert quiet.ok, quiet.log()
    assert f"of {version})" in quiet.step("drift report").output
    assert "retrain: no" in quiet.step("retrain decision").output, quiet.log()
    assert dispatches == []

    # 4. Drifted traffic: yes, once; the dispatch reaches the (loopback) GitHub API.
    serve_traffic(origin, traffic_env, rows=300, scale=1.5, seed=2)
    drifted = runner.run_job("retrain-check.yml", "check", uses=uses)
    assert drifted.ok, drifted.log()
    decision = drifted.step("retrain decision").output
    assert "retrain: yes" in decision and "data drift" in decision, decision
    assert [path for path, _ in dispatches] == [
        "/repos/my-org/churn-model/actions/workflows/train.yml/dispatches"
    ]

    # 5. The next day's run from a fresh clone: the drift was acted on, no second trigger.
    again = runner.run_job("retrain-check.yml", "check", uses=uses)
    assert again.ok, again.log()
    assert "no verdict yet" in again.step("drift report").output
    assert "retrain: no" in again.step("retrain decision").output, again.log()
    assert len(dispatches) == 1

    # 6. Something changed (new drifted traffic since the trigger): yes again.
    serve_traffic(origin, traffic_env, rows=150, scale=1.5, seed=3)
    renewed = runner.run_job("retrain-check.yml", "check", uses=uses)
    assert "retrain: yes" in renewed.step("retrain decision").output, renewed.log()
    assert len(dispatches) == 2
    assert any(path.name == "reports" for path in uploaded)

    # 7. Deploy: the image of the shared champion (still version 1), built and smoke-tested.
    assert registry_state(mlflow_server)[1]["champion"] == "1"
    deploy_jobs(runner, uses, champion="churn-model-v1")
