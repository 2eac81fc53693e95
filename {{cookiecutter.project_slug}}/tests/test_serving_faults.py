"""Faults the server must survive or refuse in one line: start-up faults, non-finite numbers."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.model import LoadedModel
from {{ cookiecutter.package_name }}.serving.schema import Feature
from {{ cookiecutter.package_name }}.settings import ServingSettings, load_settings

PREFIX = "{{ cookiecutter.package_name | upper }}_"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    settings = {f"{PREFIX}SERVING__PORT": str(free_port())}
    settings |= {(k if k.startswith(PREFIX) else PREFIX + k): v for k, v in env.items()}
    return subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", "serve", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | settings,
        timeout=120,
        check=False,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0], lines[0]
    assert "s3cret" not in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--routing", "sideways"], {}, "--routing"),
        (["--port", "70000"], {}, "--port"),
        ([], {"SERVING__CHAMPION_BUNDLE": "no/such/bundle"}, "model_config.yaml not found"),
        # Port 1 on loopback refuses at once; the password must not be echoed.
        ([], {"SERVING__DATABASE_URL": "postgresql://u:s3cret@127.0.0.1:1/db"}, "DATABASE_URL"),
        ([], {"SERVING__DATABASE_URL": "nosuchdb://u:s3cret@h/db"}, "DATABASE_URL"),
        ([], {"SERVING__DATABASE_URL": "::not a URL s3cret::"}, "DATABASE_URL"),
        ([], {"SERVING__DATABASE_URL": "mysql://u:s3cret@127.0.0.1/db"}, "driver is not installed"),
        ([], {"SERVING__PREDICTION_LOG": "/proc/no/such/dir/p.db"}, "cannot be created"),
        ([], {"SERVING__HOST": "no-such-host.invalid"}, "serving.host"),
        ([], {"SERVING__HOST": "192.0.2.1"}, "cannot listen on 192.0.2.1"),
    ],
)
def test_start_up_faults_are_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    assert_one_line(serve(tmp_path, *args, **env), expected)


def test_busy_port_is_reported_before_the_model_loads(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        # No model is registered here: the port is checked first, so it is what is reported.
        result = serve(tmp_path, "--port", port)
    assert_one_line(result, f"port {port} on 127.0.0.1 is already in use")


def test_read_only_sqlite_log_is_refused_at_start_up(tmp_path: Path) -> None:
    database = tmp_path / "predictions.db"
    sqlite3.connect(database).close()
    database.chmod(0o444)  # refused for root too: the start-up check reads the mode
    result = serve(tmp_path, SERVING__PREDICTION_LOG=str(database))
    assert_one_line(result, "read-only")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"- serving\n- port\n", "not a mapping"),
        ("serving:\n  host: caf\u00e9\n".encode("latin-1"), "not UTF-8"),
        (b"serving: [\n", "not valid YAML"),
    ],
)
def test_bad_settings_file_is_one_line(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "settings.yaml"
    path.write_bytes(content)
    assert_one_line(serve(tmp_path, SETTINGS_FILE=str(path)), expected)


def test_named_settings_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    result = serve(tmp_path, SETTINGS_FILE=str(tmp_path / "missing.yaml"))
    assert_one_line(result, "does not exist")


# ---------------------------------------------------------------- non-finite numbers
def served(version: str, predict: Any, names: list[str]) -> LoadedModel:
    return LoadedModel(version, [Feature(n, numeric=True) for n in names], "test", None, predict)


NAMES = ["a", "b", "c"]


def float32_model(rows: Any) -> np.ndarray:
    """Computes in float32 like ONNX/TFLite: 1e39 becomes infinity, then NaN."""
    matrix = np.asarray(rows, dtype=np.float32)
    with np.errstate(all="ignore"):
        score = 1 / (1 + np.exp(-(matrix.sum(axis=1) - matrix.sum(axis=1))))
    proba = np.column_stack([1 - score, score])
    return np.asarray(proba, dtype=np.float64)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(
        project_root=tmp_path,
        serving=ServingSettings(prediction_log=tmp_path / "p.db", routing="single"),
    )
    with TestClient(create_app(settings, champion=served("v1", float32_model, NAMES))) as client:
        yield client


def test_numbers_beyond_float32_are_refused_naming_the_field(client: TestClient) -> None:
    every = client.post("/predict", json={"instances": [dict.fromkeys(NAMES, 1e39)]})
    assert every.status_code == 422 and "instances[0].a" in every.json()["detail"]
    one = client.post("/predict", json={"instances": [{"a": 1.0, "b": -1e39, "c": 0.0}]})
    assert one.status_code == 422 and "instances[0].b" in one.json()["detail"]
    split = {"dataframe_split": {"columns": NAMES, "data": [[1.0, 2.0, 1e39]]}}
    mlflow = client.post("/invocations", json=split)
    assert mlflow.status_code == 400 and "c" in mlflow.json()["message"]
    # ... and the server, its log writer included, keeps serving.
    assert client.post("/predict", json={"instances": [dict.fromkeys(NAMES, 1.0)]}).is_success
    assert client.get("/health").status_code == 200 and client.get("/ready").status_code == 200


def test_non_finite_output_is_refused_and_never_logged(tmp_path: Path) -> None:
    def broken(rows: Any) -> np.ndarray:
        out = np.full((len(rows), 2), 0.5)
        out[-1] = np.nan
        return out

    settings = load_settings(
        project_root=tmp_path,
        serving=ServingSettings(prediction_log=tmp_path / "p.db", routing="single"),
    )
    app = create_app(settings, champion=served("v1", float32_model, NAMES))
    with TestClient(app) as client:
        app.state.serving.champion.predict = broken  # after the warm-up, as a model may go bad
        rows = [dict.fromkeys(NAMES, 1.0)] * 2
        answer = client.post("/predict", json={"instances": rows})
        alive = client.get("/ready").status_code
    assert answer.status_code == 422 and "instances[1]" in answer.json()["detail"]
    assert alive == 200
    with sqlite3.connect(tmp_path / "p.db") as db:
        assert db.execute("SELECT count(*) FROM predictions").fetchone()[0] == 0
