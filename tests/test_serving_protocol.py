"""The generated server against third-party clients and injected faults, on a real pipeline.

One rendered default project (the bake's cached venv) runs `make pipeline`; then:
- MLflow's own `ScoringServerClient` drives this server and `mlflow models serve` on the same
  registered model with the same payloads (every JSON format, CSV, Parquet, a bad one);
- schemathesis (pinned in requirements-dev.txt) runs every check but positive data
  acceptance against the OpenAPI document: zero 5xx, zero schema violations, healthy after;
- faults are injected while a client sends predictions (PostgreSQL stopped and started, a
  full filesystem, the log writer killed) and acknowledged rows are counted against stored
  rows: nothing acknowledged is lost; a read-only database refuses to start in one line.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import VENV_CACHE, free_port, make, render, require_tool
from tests.test_serving import PostgresServer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("venv-default")]
VENV = VENV_CACHE / "bake-default"
PYTHON = str(VENV / "bin" / "python")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rendered = render(tmp_path_factory.mktemp("serving-protocol"))
    make(rendered, "install", "pipeline", venv=VENV)
    return rendered


def http(url: str, body: dict[str, Any] | None = None, timeout: float = 5.0) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@contextmanager
def server(project: Path, **env: str) -> Iterator[str]:
    """`serve` on a free port until the block ends (SIGTERM: the log drains); its base URL."""
    port = free_port()
    prefixed = {f"CHURN_MODEL_{key}": value for key, value in env.items()}
    log = Path(tempfile.mkdtemp(prefix="serve-")) / "serve.log"
    process = subprocess.Popen(
        [PYTHON, "-m", "churn_model", "serve", "--port", str(port)],
        cwd=project, env=os.environ | prefixed, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the server was not ready within 120 s"
            try:
                if http(base + "/ready")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_the_bundle_records_the_lock_it_was_installed_from(project: Path) -> None:
    lineage = yaml.safe_load((project / "models/candidate/model_config.yaml").read_text())[
        "lineage"
    ]
    assert (
        lineage["uv_lock_sha256"] == hashlib.sha256((project / "uv.lock").read_bytes()).hexdigest()
    )


def test_mlflow_clients_work_unchanged_and_match_mlflow_models_serve(project: Path) -> None:
    with server(project) as base:
        port = base.rsplit(":", 1)[1]
        compare = subprocess.run(
            [PYTHON, str(Path(__file__).parent / "serving_mlflow_compare.py"), "churn_model", port],
            cwd=project, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    assert compare.returncode == 0, compare.stdout[-3000:] + compare.stderr[-3000:]
    found = json.loads(compare.stdout.strip().splitlines()[-1])
    ours, theirs = found["ours"], found["mlflow"]
    assert ours["version"] == theirs["version"]
    assert ours["client"] == theirs["client"] and len(ours["client"]) == 5
    for name in ("dataframe_split", "dataframe_records", "instances_rows", "instances_columns",
                 "inputs_columns", "csv", "parquet"):  # fmt: skip
        assert ours[name] == theirs[name] == [200, ours["client"]], (name, ours[name], theirs[name])
    assert ours["unknown_key"] == [400, ["error_code", "message"]]
    assert theirs["unknown_key"][0] == 400
    assert {"error_code", "message"} <= set(theirs["unknown_key"][1])


def test_schemathesis_finds_no_5xx_and_no_schema_violation(project: Path, tmp_path: Path) -> None:
    schemathesis = Path(sys.executable).parent / "st"
    assert schemathesis.exists(), "schemathesis is pinned in requirements-dev.txt: make install"
    with server(project) as base:
        result = subprocess.run(
            [str(schemathesis), "run", f"{base}/openapi.json", "--checks", "all",
             # The document cannot say "as many values as columns" for dataframe_split: it
             # is looser than the server, so schema-valid requests may rightly be refused.
             "--exclude-checks", "positive_data_acceptance",
             "--max-examples", "40", "--seed", "1"],
            cwd=tmp_path,  # its cache directory goes there, not into the template
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        health = http(base + "/health")[0], http(base + "/ready")[0]
    assert result.returncode == 0, result.stdout[-6000:]
    assert " passed" in result.stdout and "failed" not in result.stdout.split("SUMMARY")[-1]
    assert health == (200, 200)


class Load:
    """Sends one-row predictions until stopped; keeps the ids of the acknowledged ones."""

    def __init__(self, base: str, row: dict[str, float]) -> None:
        self.base, self.row = base, row
        self.acknowledged: list[str] = []
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 300  # bounded whatever happens
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                status, body = http(self.base + "/predict", {"instances": [self.row]})
            except OSError:
                status, body = 0, None
            if status == 200:
                self.acknowledged.append(body["request_id"])
            else:
                assert status == 503, (status, body)  # the only refusal a fault may cause
                self.refused += 1
                time.sleep(0.05)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(60)


def example_row(project: Path) -> dict[str, float]:
    import csv

    code = (
        "import json, churn_model.registry as r, churn_model.settings as s, "
        "churn_model.serving.model as m; b = r.resolve_bundle('champion', s.get_settings()); "
        "print(json.dumps(m.load_bundle(b).feature_names))"
    )
    found = subprocess.run(
        [PYTHON, "-c", code], cwd=project, capture_output=True, text=True, check=True, timeout=120
    )
    model = json.loads(found.stdout)
    with (project / "data/processed/test.csv").open() as handle:
        first = next(csv.DictReader(handle))
    return {name: float(first[name]) for name in model}


def wait_until(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def writer_pid(base: str) -> int:
    port = base.rsplit(":", 1)[1]
    listening = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True,
                               text=True, check=True).stdout  # fmt: skip
    server_pid = int(listening.split("pid=")[1].split(",")[0])
    # The writer is started from a worker thread: look at every thread's children.
    tasks = Path(f"/proc/{server_pid}/task").glob("*/children")
    children = [int(pid) for task in tasks for pid in task.read_text().split()]
    assert len(children) == 1, children
    return children[0]


def stored_sqlite(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row_id for (row_id,) in db.execute("SELECT request_id FROM predictions")}


def test_faults_lose_no_acknowledged_prediction(project: Path, tmp_path: Path) -> None:
    require_tool("ss", "apt-get install iproute2")
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root (CI runs as root)")
    row = example_row(project)
    mount, read_only = tmp_path / "small", tmp_path / "read-only"
    mount.mkdir()
    read_only.mkdir()
    # Room for SQLite's write-ahead log (checkpointed at about 4 MiB: single-row commits reach
    # that within seconds) beside the filler, whose removal must leave space to checkpoint.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], check=True)
    try:
        database = mount / "predictions.db"
        logged = server(project, SERVING__PREDICTION_LOG=str(database))
        with logged as base, Load(base, row) as load:
            wait_until(lambda: len(load.acknowledged) > 50)
            # 1. The writer process is killed: restarted, its frames sent again.
            os.kill(writer_pid(base), signal.SIGKILL)
            wait_until(lambda: http(base + "/ready")[0] == 200 and len(load.acknowledged) > 150)
            # 2. The filesystem fills up: commits fail, /predict and /ready refuse, then recover.
            filler = mount / "filler"
            with filler.open("wb", buffering=0) as handle, pytest.raises(OSError):
                while True:
                    handle.write(b"\0" * 65536)
            wait_until(lambda: http(base + "/ready")[0] == 503)
            refused_before = load.refused
            wait_until(lambda: load.refused > refused_before + 5)
            filler.unlink()
            wait_until(lambda: http(base + "/ready")[0] == 200, 60)
            wait_until(lambda: len(load.acknowledged) > 300)
            metrics = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
        assert "model_prediction_log_writer_restarts_total 1.0" in metrics
        assert "model_prediction_log_rows_not_stored_total 0.0" in metrics
        lost = set(load.acknowledged) - stored_sqlite(database)
        assert not lost, f"{len(lost)} of {len(load.acknowledged)} acknowledged rows lost"
        # 3. The same database on a read-only mount refuses to start, in one line.
        subprocess.run(["mount", "--bind", str(mount), str(read_only)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(read_only)], check=True)
        on_read_only = str(read_only / database.name)
        refused = subprocess.run(
            [PYTHON, "-m", "churn_model", "serve", "--port", str(free_port())],
            cwd=project, env=os.environ | {"CHURN_MODEL_SERVING__PREDICTION_LOG": on_read_only},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert refused.returncode == 2, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert "not usable" in refused.stderr
    finally:
        for mounted in (read_only, mount):
            subprocess.run(["umount", "-l", str(mounted)], capture_output=True, check=False)


def test_postgresql_outage_loses_no_acknowledged_prediction(project: Path) -> None:
    row = example_row(project)
    with PostgresServer() as postgres:
        with server(project, SERVING__DATABASE_URL=postgres.url) as base, Load(base, row) as load:
            wait_until(lambda: len(load.acknowledged) > 50)
            postgres.stop()
            wait_until(lambda: http(base + "/ready")[0] == 503, 60)
            refused_before = load.refused
            wait_until(lambda: load.refused > refused_before + 5)
            postgres.start()
            wait_until(lambda: http(base + "/ready")[0] == 200, 60)
            wait_until(lambda: len(load.acknowledged) > 200)
        stored = set(postgres.query("SELECT request_id FROM predictions"))
    lost = set(load.acknowledged) - stored
    assert not lost, f"{len(lost)} of {len(load.acknowledged)} acknowledged rows lost"
    assert load.refused > 0
