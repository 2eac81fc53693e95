"""Feast wired in: the pipeline trains from historical features, the server reads online ones."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.data import sample_frame, sha256_file
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.feature_store import (
    LABELS,
    SERVICE,
    is_current,
    sync,
    training_frame,
)
from {{ cookiecutter.package_name }}.pipeline import run_all
from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.model import load_bundle
from {{ cookiecutter.package_name }}.settings import ServingSettings, Settings, load_settings
from {{ cookiecutter.package_name }}.training import stage

ROOT = Path(__file__).resolve().parents[1]


def project_settings(root: Path, **serving: object) -> Settings:
    return load_settings(
        project_root=root,
        pipeline={"registry_backend": "file"},
        serving=ServingSettings(
            **({"prediction_log": root / "predictions.db", "routing": "single"} | serving)
        ),
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, list[str]]:
    """A throwaway project (configs + feature_repo) after a full `run_all`."""
    root = tmp_path_factory.mktemp("feast-pipeline")
    shutil.copytree(ROOT / "configs", root / "configs")
    shutil.copytree(ROOT / "feature_repo", root / "feature_repo")
    config_path = root / "configs" / "model_config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["optimization"]["benchmark"] = {"warmup": 2, "single_row_runs": 20, "batch_size": 100}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    settings = project_settings(root)
    lines: list[str] = []
    run_all(settings, lines.append)
    return settings, lines


def test_pipeline_trains_from_feast_and_records_it(project: tuple[Settings, list[str]]) -> None:
    settings, lines = project
    output = "\n".join(lines)
    assert f"feast apply + materialize ({SERVICE})" in output
    assert (settings.project_root / "data/feast/online_store.db").is_file()
    candidate = yaml.safe_load(
        settings.resolve(settings.pipeline.candidate_dir / "model_config.yaml").read_text()
    )
    lineage = candidate["lineage"]
    assert lineage["feature_store"]["provider"] == "feast"
    assert lineage["feature_store"]["feature_service"] == SERVICE
    assert lineage["dataset_rows"] == len(sample_frame())
    expected = [name for name in sample_frame().columns if name != "target"]
    assert list(candidate["dataset"]["features"]) == expected


def test_training_rows_come_from_the_feast_labels(project: tuple[Settings, list[str]]) -> None:
    settings, _ = project
    labels_path = settings.resolve(LABELS)
    labels = pd.read_parquet(labels_path)
    try:
        labels.head(300).to_parquet(labels_path, index=False)  # only 300 labelled patients
        stage.run(settings)
        lineage = yaml.safe_load(
            settings.resolve(settings.pipeline.candidate_dir / "model_config.yaml").read_text()
        )["lineage"]
        assert lineage["dataset_rows"] == 300
        assert lineage["train_rows"] + lineage["test_rows"] == 300
    finally:
        labels.to_parquet(labels_path, index=False)
    data = settings.project_root / "data/raw/breast_cancer.csv"
    original = data.read_bytes()
    stale = sha256_file(data)
    try:
        data.write_bytes(original.replace(b"\n1", b"\n2", 1))  # the dataset changed
        changed = sha256_file(data)
        with pytest.raises(UserError, match="not prepared from the current dataset"):
            training_frame(settings, dataset_sha256=changed)  # a stale source is never read
        assert not is_current(settings, changed)
        stage.run(settings)  # `train` alone (as DVC and the orchestrators call it) refreshes it
        assert is_current(settings, changed) and not is_current(settings, stale)
    finally:
        data.write_bytes(original)
        sync(settings, data)  # later tests read the online store of the original data


@pytest.fixture
def client(project: tuple[Settings, list[str]], tmp_path: Path) -> Iterator[TestClient]:
    settings, _ = project
    served = project_settings(settings.project_root, prediction_log=tmp_path / "log.db")
    model = load_bundle(settings.resolve(settings.pipeline.candidate_dir))
    with TestClient(create_app(served, champion=model)) as test_client:
        yield test_client


def test_predict_entities_matches_predict(client: TestClient) -> None:
    frame = sample_frame()
    names = [name for name in frame.columns if name != "target"]
    response = client.post("/predict/entities", json={"entity_ids": [1, 569]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["entity_ids"] == [1, 569] and len(body["request_ids"]) == 2
    rows = [frame.loc[i, names].astype(float).to_dict() for i in (0, 568)]
    direct = client.post("/predict", json={"instances": rows}).json()
    assert body["predictions"] == direct["predictions"]
    assert body["probabilities"] == pytest.approx(direct["probabilities"])
    metrics = client.get("/metrics").text
    assert 'model_requests_total{model_version="' in metrics
    assert 'route="/predict/entities",status="200"' in metrics


def test_predict_entities_logs_the_online_features(
    project: tuple[Settings, list[str]], tmp_path: Path
) -> None:
    settings, _ = project
    served = project_settings(settings.project_root, prediction_log=tmp_path / "own.db")
    model = load_bundle(settings.resolve(settings.pipeline.candidate_dir))
    with TestClient(create_app(served, champion=model)) as client:
        response = client.post("/predict/entities", json={"entity_ids": [7]})
        assert response.status_code == 200, response.text
    # Leaving the client ran the shutdown: the writer flushed everything.
    with sqlite3.connect(tmp_path / "own.db") as db:
        logged = db.execute(
            "SELECT features, prediction FROM predictions WHERE request_id = ?",
            (response.json()["request_id"],),
        ).fetchone()
    features = json.loads(logged[0])
    assert features["mean_radius"] == pytest.approx(float(sample_frame().loc[6, "mean_radius"]))
    assert json.loads(logged[1]) == response.json()["predictions"][0]  # the label's JSON


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"entity_ids": [100000]}, 404, "no online features for patient_id 100000"),
        ({"entity_ids": []}, 422, "entity_ids"),
        ({"entity_ids": ["x"]}, 422, "entity_ids"),
        ({"ids": [1]}, 422, "ids"),
        ({"entity_ids": list(range(1, 2001))}, 422, "exceed the maximum"),  # > max_batch_size
        ({"entity_ids": [0]}, 422, "greater than or equal to 1"),
    ],
)
def test_predict_entities_bad_input_is_one_line_4xx(
    client: TestClient, body: dict[str, object], status: int, message: str
) -> None:
    response = client.post("/predict/entities", json=body)
    assert response.status_code == status
    detail = response.json()["detail"]
    assert message in detail and "\n" not in detail


def test_predict_entities_without_a_materialized_store_is_503(
    project: tuple[Settings, list[str]], tmp_path: Path
) -> None:
    settings, _ = project
    shutil.copytree(ROOT / "feature_repo", tmp_path / "feature_repo")  # never applied
    model = load_bundle(settings.resolve(settings.pipeline.candidate_dir))
    with TestClient(create_app(project_settings(tmp_path), champion=model)) as client:
        response = client.post("/predict/entities", json={"entity_ids": [1]})
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "run `make features`" in detail and "\n" not in detail
