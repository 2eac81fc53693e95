"""Derived features: calendar parts of dates (`dataset.dates`) and ranks of ordered categories
(`dataset.orders`), one transform for files, requests and batches.

init-data turns a date column into the calendar parts that vary in it and gives an ordered
category (a Parquet category type) its rank too; training, the server and batch scoring derive
them with the same code (`data.derived`), so a client sends the date and the level themselves
and gets the prediction a batch gives for the same row."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from {{ cookiecutter.package_name }} import optimization
from {{ cookiecutter.package_name }}.batch.job import batch_score
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.data import feature_frame, read_table
from {{ cookiecutter.package_name }}.data.derived import PARTS, parse_date, rank_values, stamp_part
from {{ cookiecutter.package_name }}.evaluation import gate
from {{ cookiecutter.package_name }}.registry import register, resolve_bundle
from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.model import load_bundle
from {{ cookiecutter.package_name }}.settings import Settings, load_settings
from {{ cookiecutter.package_name }}.training import stage

from factories import PROJECT_ROOT

VALUES = [
    "2024-05-31",
    "2024-05-31T23:30:00+02:00",  # an offset: moved to UTC (21:30)
    "06/01/2024",  # not ISO: month first
    "2024-06-02 08:15:00",
    None,  # missing: the model imputes the parts
    "no date",  # unreadable in a file: missing too (the server refuses it)
]


def _spec(parts: list[str], **fields: object) -> DatasetSpec:
    features = {"x": "numeric", **{f"when_{part}": "numeric" for part in parts}, "y": "numeric"}
    return DatasetSpec.model_validate(
        {
            "name": "t",
            "version": "1",
            "path": "t.csv",
            "target": "label",
            "task": "regression",
            "features": features,
            "dates": {"when": parts},
        }
        | fields
    )


def test_files_and_requests_get_the_same_calendar_parts() -> None:
    spec = _spec(list(PARTS))
    frame = pd.DataFrame({"y": range(6), "when": VALUES, "x": 1.0})
    features = feature_frame(frame, spec)
    assert features.columns.tolist() == spec.feature_names
    parts = features[[f"when_{part}" for part in PARTS]].to_numpy()
    np.testing.assert_array_equal(parts[1], [2024, 5, 31, 4, 21])  # Friday, 21:30 UTC
    np.testing.assert_array_equal(parts[2], [2024, 6, 1, 5, 0])
    assert np.isnan(parts[4:]).all()
    for value, row in zip(VALUES[:4], parts[:4], strict=True):
        stamp = parse_date(value)
        assert [stamp_part(stamp, part) for part in PARTS] == row.tolist(), value
    assert parse_date(None) is None
    with pytest.raises(ValueError, match="not a date"):
        parse_date("no date")


def test_a_parquet_timestamp_column_gives_the_parts_its_text_gives(tmp_path: Path) -> None:
    spec = _spec(["year", "month", "day", "hour"])
    stamps = pd.to_datetime(pd.Series(VALUES[:4]), format="mixed", utc=True)
    frame = pd.DataFrame({"x": 1.0, "when": stamps, "y": 2.0, "label": 0.5})
    frame.to_parquet(tmp_path / "t.parquet")
    frame.assign(when=stamps.astype(str)).to_csv(tmp_path / "t.csv", index=False)
    from_parquet = feature_frame(read_table(tmp_path / "t.parquet"), spec)
    pd.testing.assert_frame_equal(from_parquet, feature_frame(read_table(tmp_path / "t.csv"), spec))


def test_the_spec_lists_each_calendar_part_as_a_numeric_feature() -> None:
    spec = _spec(["year", "day_of_week"])
    assert spec.input_columns == ["x", "when", "y"]
    assert spec.derived == {
        "when_year": ("when", "year"),
        "when_day_of_week": ("when", "day_of_week"),
    }
    with pytest.raises(ValidationError, match="features needs `when_month: numeric`"):
        _spec(["year"], dates={"when": ["year", "month"]})
    with pytest.raises(ValidationError, match="one or more distinct calendar parts"):
        _spec(["year"], dates={"when": ["year", "year"]})
    with pytest.raises(ValidationError, match="cannot be both a feature"):
        _spec(["year"], dates={"when": ["year"], "x": ["year"]})


def test_ranks_follow_the_levels_and_unknown_levels_have_none() -> None:
    features = {"x": "categorical", "x_rank": "numeric", "when_year": "numeric"}
    spec = _spec(["year"], features=features, orders={"x": ["low", "mid", "high"]})
    assert spec.derived["x_rank"] == ("x", "rank") and spec.input_columns == ["x", "when"]
    ranks = rank_values(["high", "low", None, "other", 2.0], ["low", "mid", "high", 2])
    np.testing.assert_array_equal(ranks, [2, 0, np.nan, np.nan, 3])  # 2.0 is the level 2
    with pytest.raises(ValidationError, match="must be a categorical feature"):
        _spec(["year"], orders={"y": ["a", "b"]})


def _visits(rows: int = 600) -> pd.DataFrame:
    """Returning visitors come at weekends and from higher tiers: the signal is in the date's
    day of the week and in an ordered category (a Parquet category type)."""
    rng = np.random.default_rng(11)
    days = pd.Timestamp("2022-01-03") + pd.to_timedelta(rng.integers(0, 700, rows), unit="D")
    weekend = days.day_of_week >= 5
    frame = pd.DataFrame(
        {
            "visit_id": [f"V{i:04d}" for i in range(rows)],
            "visited_on": days.strftime("%Y-%m-%d"),
            "spend": rng.normal(50, 15, rows).round(2),
        }
    )
    frame.loc[rng.choice(rows, 12, replace=False), "visited_on"] = None
    tier = rng.integers(0, 3, rows)
    frame["tier"] = pd.Categorical.from_codes(tier, ["bronze", "silver", "gold"], ordered=True)
    returned = (weekend & (rng.random(rows) < 0.9)) | (rng.random(rows) < 0.1 + 0.2 * tier)
    frame["returned"] = np.where(returned, "yes", "no")
    return frame


def _adopted(root: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A throwaway project that adopted `_visits()` and registered its champion."""
    shutil.copytree(PROJECT_ROOT / "configs", root / "configs")
    (root / "data" / "raw").mkdir(parents=True)
    _visits().to_parquet(root / "data" / "raw" / "visits.parquet")
    monkeypatch.chdir(root)
    with pytest.raises(SystemExit) as exited:
        main(["init-data", "--data", "data/raw/visits.parquet", "--target", "returned", "--force"])
        raise SystemExit(0)
    assert exited.value.code in (0, None)
    settings = load_settings(project_root=root, pipeline={"registry_backend": "file"})
    for run in (stage.run, gate.run, optimization.run, register):
        run(settings)
    return settings


def test_a_date_column_is_adopted_trained_served_and_batch_scored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _adopted(tmp_path / "project", monkeypatch)
    assert "'visited_on' holds dates" in capsys.readouterr().out
    spec = settings.read_model_config().dataset
    assert set(spec.dates) == {"visited_on"} and "day_of_week" in spec.dates["visited_on"]
    assert spec.orders == {"tier": ["bronze", "silver", "gold"]}
    assert spec.features["tier"] == "categorical" and spec.features["tier_rank"] == "numeric"
    records = [
        {"visit_id": "a", "visited_on": "2024-06-02", "spend": 40.0, "tier": "gold"},  # Sunday
        {"visit_id": "b", "visited_on": "2024-06-03", "spend": 40.0, "tier": "bronze"},  # Monday
        {"visit_id": "c", "visited_on": None, "spend": 40.0, "tier": "platinum"},  # no rank
    ]
    source = tmp_path / "in.csv"
    pd.DataFrame(records).to_csv(source, index=False)
    batch_score(settings, source, tmp_path / "out", progress=False)
    scored = pd.read_parquet(tmp_path / "out" / "predictions")
    served = load_bundle(resolve_bundle("champion", settings))
    serving = {"prediction_log": tmp_path / "log.db", "routing": "single"}
    app = create_app(load_settings(project_root=tmp_path, serving=serving), champion=served)
    with TestClient(app) as client:
        body = client.post("/predict", json={"instances": records}).json()
        bad = client.post("/predict", json={"instances": [records[0] | {"visited_on": "soon"}]})
        described = client.get("/model").json()["champion"]["inputs"]
    assert body["predictions"] == scored["prediction"].tolist()
    np.testing.assert_allclose(body["probabilities"], scored["score"], rtol=1e-6)
    sunday, monday, _ = body["probabilities"]
    assert sunday > monday + 0.2, body  # the model reads the day of the week
    assert bad.status_code == 422 and "visited_on: 'soon' is not a date" in bad.json()["detail"]
    assert described["visited_on"] == "date" and "visited_on_year" not in described
    assert described["tier"] == "categorical" and "tier_rank" not in described
    assert scored["tier_rank"].tolist()[:2] == [2.0, 0.0] and np.isnan(scored["tier_rank"][2])
    example = json.loads((resolve_bundle("champion", settings) / "input_example.json").read_text())
    assert "visited_on" in example["columns"]  # MLflow's example is a client's record
