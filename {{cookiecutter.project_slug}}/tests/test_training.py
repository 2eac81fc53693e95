"""Training: deterministic, lineage filled in, config errors are one line, save/load."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from {{ cookiecutter.package_name }}.data import sample_frame, split_features
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.pipeline import data as data_stage
from {{ cookiecutter.package_name }}.settings import Settings, load_settings
from {{ cookiecutter.package_name }}.training import (
    FRAMEWORK,
    TrainedModel,
    load_model,
    load_model_config,
    stage,
    train_model,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _settings(root: Path) -> Settings:
    shutil.copytree(PROJECT_ROOT / "configs", root / "configs")
    settings = load_settings(project_root=root)
    data_stage(settings)
    return settings


def _edit_config(root: Path, **changes: object) -> None:
    path = root / "configs" / "model_config.yaml"
    config = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = config
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(yaml.safe_dump(config))


def test_training_is_deterministic() -> None:
    config = load_model_config(PROJECT_ROOT / "configs" / "model_config.yaml")
    features, labels = split_features(sample_frame(), "target")
    first = train_model(features, labels, config, 7).predict_proba(features)
    second = train_model(features, labels, config, 7).predict_proba(features)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (len(features), 2) and first.dtype == np.float64
    np.testing.assert_allclose(first.sum(axis=1), 1.0)


def test_stage_writes_bundle_with_lineage(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    bundle = stage.run(settings)
    config = stage.read_bundle_config(bundle)
    lineage = config["lineage"]
    assert re.fullmatch(r"[0-9a-f]{64}", lineage["dataset_sha256"])
    assert config["dataset"]["sha256"] == lineage["dataset_sha256"]
    assert lineage["git_commit"] is None  # tmp_path is not a git work tree
    assert lineage["params"] == config["hyperparameters"]
    assert {"python", "numpy", "pandas"} <= set(lineage["library_versions"])
    assert lineage["train_rows"] + lineage["test_rows"] == lineage["dataset_rows"] == 569
    assert [f["name"] for f in config["features"]] == list(sample_frame().columns[:-1])
    assert set(config["metrics"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    model = load_model(bundle)
    assert isinstance(model, TrainedModel) and model.framework == FRAMEWORK
    assert (settings.resolve(settings.pipeline.processed_dir) / stage.TEST_FILE).is_file()


def test_saved_model_predicts_like_the_original(tmp_path: Path) -> None:
    config = load_model_config(PROJECT_ROOT / "configs" / "model_config.yaml")
    features, labels = split_features(sample_frame(), "target")
    model = train_model(features, labels, config, 0)
    model.save(tmp_path / "native")
    loaded = load_model(tmp_path / "native")
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))
    reordered = features[list(reversed(features.columns))]
    np.testing.assert_allclose(loaded.predict_proba(reordered), model.predict_proba(features))
    with pytest.raises(UserError, match="lacks the model's feature"):
        loaded.predict_proba(features.drop(columns=["mean_radius"]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no saved model"):
        load_model(tmp_path / "empty")


def test_pinned_hash_must_match(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _edit_config(tmp_path, dataset__sha256="0" * 64)
    with pytest.raises(UserError, match="pins 000000000000"):
        stage.run(settings)


def test_text_features_are_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    sample_frame().assign(city="Oslo").to_csv(tmp_path / "data" / "raw" / "mine.csv", index=False)
    _edit_config(tmp_path, dataset__path="data/raw/mine.csv")
    with pytest.raises(UserError, match="city are not numeric"):
        stage.run(settings)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hyperparameters__C": -1}, "hyperparameter 'C'"),
        ({"hyperparameters__no_such": 1}, "hyperparameter 'no_such'"),
        ({"dataset__target": "label"}, "target column 'label'"),
        ({"dataset__test_size": 2}, "dataset.test_size"),
    ],
)
def test_config_errors_are_one_line(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    settings = _settings(tmp_path)
    _edit_config(tmp_path, **change)
    with pytest.raises(UserError, match=message) as caught:
        stage.run(settings)
    assert "\n" not in str(caught.value)
