"""Drift detection: statistics, shifted vs unshifted data, the prediction log, the reports."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, insert

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.data import sample_frame, write_sample
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.monitoring.drift import DriftThresholds, compare, psi
from {{ cookiecutter.package_name }}.monitoring.run import NotEnoughTrafficError, run_drift
from {{ cookiecutter.package_name }}.monitoring.state import DRIFT, open_state
from {{ cookiecutter.package_name }}.serving.predlog import metadata, predictions
from {{ cookiecutter.package_name }}.settings import Settings, load_settings

SHIFTED = (
    "mean_radius",
    "mean_texture",
    "mean_perimeter",
    "mean_area",
    "worst_radius",
    "worst_texture",
    "worst_perimeter",
    "worst_area",
    "mean_concavity",
    "worst_concavity",
)


PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path) -> Settings:
    write_sample(tmp_path / "data/raw/breast_cancer.csv")
    shutil.copytree(PROJECT_ROOT / "configs", tmp_path / "configs")
    return load_settings(project_root=tmp_path)


def unshifted(rows: int = 400, seed: int = 1) -> pd.DataFrame:
    return sample_frame().sample(rows, replace=True, random_state=seed).reset_index(drop=True)


def shifted(rows: int = 400, seed: int = 1) -> pd.DataFrame:
    frame = unshifted(rows, seed)
    for name in SHIFTED:
        frame[name] = frame[name] * 1.5
    return frame


def test_psi_is_zero_for_identical_and_large_for_shifted_samples() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(0.0, 1.0, 5000)
    assert psi(reference, reference) == pytest.approx(0.0, abs=1e-9)
    assert psi(reference, rng.normal(0.0, 1.0, 5000)) < 0.02
    assert psi(reference, rng.normal(1.0, 1.0, 5000)) > 0.5


def test_unshifted_data_is_quiet() -> None:
    reference = sample_frame().drop(columns=["target"])
    results = compare(reference, unshifted().drop(columns=["target"]), DriftThresholds())
    assert len(results) == 30
    assert [item.feature for item in results if item.drifted] == []


def test_shifted_data_is_flagged_feature_by_feature() -> None:
    reference = sample_frame().drop(columns=["target"])
    results = compare(reference, shifted().drop(columns=["target"]), DriftThresholds())
    drifted = {item.feature for item in results if item.drifted}
    assert drifted == set(SHIFTED)
    worst = max(results, key=lambda item: item.scores["psi"])
    assert worst.feature in SHIFTED
    assert worst.scores["psi"] > 0.2
    assert worst.p_value < 1e-6


def test_categorical_feature_uses_chi_square() -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame(
        {"plan": rng.choice(["basic", "pro", "team"], 2000, p=[0.6, 0.3, 0.1])}
    )
    same = pd.DataFrame({"plan": rng.choice(["basic", "pro", "team"], 500, p=[0.6, 0.3, 0.1])})
    moved = pd.DataFrame({"plan": rng.choice(["basic", "pro", "team"], 500, p=[0.2, 0.3, 0.5])})
    (quiet,) = compare(reference, same, DriftThresholds())
    (loud,) = compare(reference, moved, DriftThresholds())
    assert quiet.kind == "categorical" and "chi2" in quiet.scores
    assert not quiet.drifted
    assert loud.drifted and loud.p_value < 1e-6


def test_missing_feature_and_small_window_are_user_errors() -> None:
    reference = sample_frame().drop(columns=["target"])
    with pytest.raises(UserError, match="lacks reference features: mean_radius"):
        compare(reference, unshifted().drop(columns=["target", "mean_radius"]), DriftThresholds())
    with pytest.raises(UserError, match="only 20 current rows"):
        compare(reference, unshifted(20).drop(columns=["target"]), DriftThresholds())
    bad = unshifted().drop(columns=["target"]).astype({"mean_radius": object})
    bad.loc[3, "mean_radius"] = "n/a"
    with pytest.raises(UserError, match="non-numeric values"):
        compare(reference, bad, DriftThresholds())


def test_reports_and_gauges_from_a_file(project: Settings, tmp_path: Path) -> None:
    current = tmp_path / "current.csv"
    shifted().to_csv(current, index=False)
    result = run_drift(project, current_path=current)
    assert result.report.dataset_drift
    report = json.loads(result.paths["json"].read_text())
    assert report["dataset_drift"] is True
    assert set(report["drifted_features"]) == set(SHIFTED)
    assert report["features"]["mean_radius"]["psi"] > 0.2
    html = result.paths["html"].read_text()
    assert "DRIFT DETECTED" in html and "mean_radius" in html
    prom = result.paths["prometheus"].read_text()
    assert 'model_feature_drift_score{feature="mean_radius",method="psi"}' in prom
    assert 'model_feature_drift_score{feature="mean_radius",method="ks"}' in prom


def _log(
    url: str,
    features: pd.DataFrame,
    probability: np.ndarray,
    labels: list[int | None],
    *,
    role: str = "champion",
    version: str = "1",
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC),
) -> None:
    engine = create_engine(url)
    metadata.create_all(engine)
    rows = [
        {
            "request_id": f"{role}-{version}-{start.timestamp():.0f}-{index}",
            "created_at": start + timedelta(seconds=index),
            "model_version": version,
            "role": role,
            "features": json.dumps(record),
            "predicted_class": int(probability[index] >= 0.5),
            "probability": float(probability[index]),
            "label": labels[index],
            "feedback_at": start + timedelta(seconds=index) if labels[index] is not None else None,
        }
        for index, record in enumerate(features.to_dict(orient="records"))
    ]
    with engine.begin() as connection:
        connection.execute(insert(predictions), rows)
    engine.dispose()


@pytest.mark.parametrize(("frame", "expect_drift"), [(unshifted(), False), (shifted(), True)])
def test_prediction_log_window(project: Settings, frame: pd.DataFrame, expect_drift: bool) -> None:
    target = frame.pop("target").to_numpy()
    probability = np.where(target == 1, 0.9, 0.1)  # a model that agrees with the labels
    db = project.resolve(project.serving.prediction_log)
    db.parent.mkdir(parents=True, exist_ok=True)
    _log(f"sqlite:///{db}", frame, probability, [int(v) for v in target])
    result = run_drift(project, window_size=300)
    assert result.window is not None and result.window.size == 300
    assert result.window.online_accuracy() == 1.0
    assert result.report.current_rows == 300
    assert result.report.dataset_drift is expect_drift
    assert set(result.report.prediction) >= {"psi", "chi2"}


def test_window_judges_the_deployed_champion_only(project: Settings) -> None:
    """Earlier champions, challenger and shadow copies stay out of drift and accuracy."""
    url = f"sqlite:///{project.resolve(project.serving.prediction_log)}"
    project.resolve(project.serving.prediction_log).parent.mkdir(parents=True, exist_ok=True)
    quiet, drifted = unshifted(300, seed=2), shifted(300, seed=3)
    target = quiet.pop("target").to_numpy()
    drifted.pop("target")
    right = np.where(target == 1, 0.9, 0.1)
    labels = [int(v) for v in target]
    day = datetime(2025, 1, 1, tzinfo=UTC)
    _log(url, drifted, 1 - right, labels, version="1", start=day)  # the previous champion
    _log(url, quiet, right, labels, version="2", start=day + timedelta(days=1))
    for role in ("challenger", "shadow"):
        _log(url, drifted, 1 - right, labels, role=role, version="3", start=day + timedelta(days=1))
    result = run_drift(project, window_size=1000)
    window = result.window
    assert window is not None and window.model_version == "2" and window.size == 300
    assert window.online_accuracy() == 1.0  # the wrong answers were v1's and v3's
    assert result.report.dataset_drift is False
    others = {(item.role, item.model_version): item for item in window.others}
    assert set(others) == {("challenger", "3"), ("shadow", "3")}  # v1 rows: not reported
    assert others[("shadow", "3")].rows == 300 and others[("shadow", "3")].online_accuracy == 0.0
    report = json.loads(result.paths["json"].read_text())
    assert report["traffic"]["champion"]["model_version"] == "2"
    assert {item["role"] for item in report["traffic"]["others"]} == {"challenger", "shadow"}
    recorded = open_state(project).load(DRIFT)
    assert recorded is not None and recorded["dataset_drift"] is False
    assert recorded["model_version"] == "2" and recorded["rows"] == 300


def test_too_little_champion_traffic_is_no_verdict(
    project: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{project.resolve(project.serving.prediction_log)}"
    project.resolve(project.serving.prediction_log).parent.mkdir(parents=True, exist_ok=True)
    frame = shifted(40)
    frame.pop("target")
    _log(url, frame, np.full(40, 0.9), [None] * 40)
    with pytest.raises(NotEnoughTrafficError, match="40 champion predictions of 1"):
        run_drift(project)
    recorded = open_state(project).load(DRIFT)
    assert recorded is not None and recorded["dataset_drift"] is None and recorded["rows"] == 40
    monkeypatch.chdir(project.project_root)
    main(["drift"])  # a state of the log, not bad input: exit 0 with one line
    assert "no verdict yet" in capsys.readouterr().out


def test_cli_drift_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> tuple[int, str]:
        try:
            main(["drift", *args])
        except SystemExit as stopped:
            code = int(stopped.code or 0)
        else:
            code = 0
        return code, capsys.readouterr().err

    code, err = run()
    assert code == 2
    assert err.count("\n") == 1 and "make data" in err
    write_sample(tmp_path / "data/raw/breast_cancer.csv")
    code, err = run()
    assert code == 2
    assert err.count("\n") == 1 and "prediction log" in err
    current = tmp_path / "shifted.csv"
    shifted().to_csv(current, index=False)
    code, err = run("--current", str(current), "--fail-on-drift")
    assert code == 1, err
    assert "dataset drift" in err
    assert (tmp_path / "reports/drift/drift_report.html").is_file()
    unshifted().to_csv(current, index=False)
    assert run("--current", str(current), "--fail-on-drift") == (0, "")
