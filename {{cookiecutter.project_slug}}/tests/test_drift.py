"""Drift detection: statistics, shifted vs unshifted data, the prediction log, the reports.

Synthetic projects (tests/factories.py) cover each task with string labels, string and
integer categoricals and nulls; one test runs on the configured dataset itself.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.monitoring.drift import (
    DriftThresholds,
    category_text,
    compare,
    prediction_drift,
    psi,
)
from {{ cookiecutter.package_name }}.monitoring.run import (
    NotEnoughTrafficError,
    dataset_spec,
    load_reference,
    run_drift,
)
from {{ cookiecutter.package_name }}.monitoring.state import DRIFT, open_state
from {{ cookiecutter.package_name }}.settings import Settings

import factories

CATEGORICAL = ("plan", "seats")
DAY = datetime(2025, 1, 1, tzinfo=UTC)


def features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["target"])


def test_psi_is_zero_for_identical_and_large_for_shifted_samples() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(0.0, 1.0, 5000)
    assert psi(reference, reference) == pytest.approx(0.0, abs=1e-9)
    assert psi(reference, rng.normal(0.0, 1.0, 5000)) < 0.02
    assert psi(reference, rng.normal(1.0, 1.0, 5000)) > 0.5


def test_a_jump_in_nulls_is_drift() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(0.0, 1.0, 2000)
    current = rng.normal(0.0, 1.0, 2000)
    assert psi(reference, current) < 0.02
    current[:1000] = np.nan  # same values, half of them missing now
    assert psi(reference, current) > 1.0
    assert psi(np.full(100, np.nan), np.full(100, np.nan)) == pytest.approx(0.0, abs=1e-9)


def test_categories_compare_as_text_across_csv_and_json() -> None:
    values = pd.Series([3, 3.0, "3", True, None, float("nan"), "pro"], dtype=object)
    assert list(category_text(values)) == ["3", "3", "3", "True", "__missing__",
                                           "__missing__", "pro"]  # fmt: skip


def test_unshifted_data_is_quiet() -> None:
    reference = features(factories.make_frame("binary", 2000, seed=0))
    results = compare(reference, features(factories.make_frame("binary", 500, seed=1)),
                      DriftThresholds(), CATEGORICAL)  # fmt: skip
    assert {item.feature: item.kind for item in results} == {
        "age": "numerical", "income": "numerical", "plan": "categorical", "seats": "categorical"
    }  # fmt: skip
    assert [item.feature for item in results if item.drifted] == []


def test_shifted_data_is_flagged_feature_by_feature() -> None:
    reference = features(factories.make_frame("binary", 2000, seed=0))
    current = features(factories.make_frame("binary", 500, seed=1, shift=True))
    results = {item.feature: item for item in compare(reference, current, DriftThresholds(),
                                                      CATEGORICAL)}  # fmt: skip
    assert {name for name, item in results.items() if item.drifted} == {"age", "plan"}
    assert results["age"].scores["psi"] > 0.2 and results["age"].p_value < 1e-6
    assert "chi2" in results["plan"].scores and results["plan"].p_value < 1e-6


def test_nulls_in_a_categorical_are_a_category() -> None:
    reference = features(factories.make_frame("binary", 2000, seed=0))
    current = features(factories.make_frame("binary", 500, seed=1))
    current.loc[: len(current) // 2, "plan"] = None
    (plan,) = [item for item in compare(reference, current, DriftThresholds(), CATEGORICAL)
               if item.feature == "plan"]  # fmt: skip
    assert plan.drifted and plan.scores["psi"] > 0.2


def test_bad_current_data_is_a_user_error() -> None:
    reference = features(factories.make_frame("binary", 500))
    current = features(factories.make_frame("binary", 200, seed=2))
    with pytest.raises(UserError, match="lacks reference features: age"):
        compare(reference, current.drop(columns=["age"]), DriftThresholds(), CATEGORICAL)
    with pytest.raises(UserError, match="only 20 current rows"):
        compare(reference, current.head(20), DriftThresholds(), CATEGORICAL)
    bad = current.astype({"income": object})
    bad.loc[3, "income"] = "n/a"
    with pytest.raises(UserError, match=r"income: categorical` in dataset\.features"):
        compare(reference, bad, DriftThresholds(), CATEGORICAL)
    with pytest.raises(UserError, match="not in the reference data"):
        compare(reference, current, DriftThresholds(), ("tier",))


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_reference_comes_from_the_dataset_spec(tmp_path: Path, task: str) -> None:
    settings = factories.make_project(tmp_path, task)
    reference = load_reference(settings, dataset_spec(settings))
    assert list(reference.features.columns) == ["age", "income", "plan", "seats"]
    assert reference.path == tmp_path / "data/raw/synthetic.csv"
    if task == "regression":
        assert reference.target.dtype == np.float64
    else:
        assert set(reference.target) <= {"no", "yes", "low", "mid", "high"}


def test_reports_and_gauges_from_a_file(tmp_path: Path) -> None:
    settings = factories.make_project(tmp_path, "multiclass")
    current = tmp_path / "current.csv"
    frame = factories.make_frame("multiclass", 400, seed=3, shift=True)
    frame["prediction"] = frame.pop("target")
    frame.to_csv(current, index=False)
    result = run_drift(settings, current_path=current)
    assert result.report.dataset_drift
    report = json.loads(result.paths["json"].read_text())
    assert set(report["drifted_features"]) == {"age", "plan"}
    assert set(report["prediction"]) == {"chi2", "psi"}  # labels only: no champion to score
    html = result.paths["html"].read_text()
    assert "DRIFT DETECTED" in html and "plan" in html
    prom = result.paths["prometheus"].read_text()
    assert 'model_feature_drift_score{feature="age",method="psi"}' in prom
    assert 'model_feature_drift_score{feature="plan",method="chi2"}' in prom
    assert 'model_prediction_drift_score{method="chi2"}' in prom


def _labels(task: str, frame: pd.DataFrame) -> tuple[list[object], list[float], list[object]]:
    """A model that predicts the label exactly: predictions, scores and feedback labels."""
    target = frame.pop("target")
    if task == "regression":
        values = [float(value) for value in target]
        return values, values, values
    labels = [str(value) for value in target]
    return labels, [0.9] * len(labels), labels


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("shift", [False, True])
def test_prediction_log_window_per_task(tmp_path: Path, task: str, shift: bool) -> None:
    settings = factories.make_project(tmp_path, task)
    frame = factories.make_frame(task, 400, seed=4, shift=shift)
    predicted, scores, labels = _labels(task, frame)
    factories.log_predictions(settings, frame, predicted, scores, labels)
    result = run_drift(settings, window_size=300)
    window = result.window
    assert window is not None and window.size == 300 and result.report.current_rows == 300
    if task == "regression":
        assert window.online_mae() == 0.0 and window.online_accuracy() is None
        assert set(result.report.prediction) == {"psi", "ks"}  # values vs the target
    else:
        assert window.online_accuracy() == 1.0 and window.online_mae() is None
        assert set(result.report.prediction) == {"psi", "chi2"}  # label shares
    assert result.report.dataset_drift is shift
    assert ("age" in result.report.drifted_features) is shift


def test_online_metrics_count_only_labelled_rows(tmp_path: Path) -> None:
    settings = factories.make_project(tmp_path, "regression")
    frame = factories.make_frame("regression", 200, seed=5)
    predicted, scores, _ = _labels("regression", frame)
    labels: list[object] = [value + 4.0 if index % 2 else None
                            for index, value in enumerate(predicted)]  # fmt: skip
    factories.log_predictions(settings, frame, predicted, scores, labels)
    result = run_drift(settings)
    window = result.window
    assert window is not None and window.feedback_count == 100
    assert window.online_mae() == pytest.approx(4.0)
    report = json.loads(result.paths["json"].read_text())
    assert report["traffic"]["champion"]["online_mae"] == pytest.approx(4.0)


def test_window_judges_the_deployed_champion_only(tmp_path: Path) -> None:
    """Earlier champions, challenger and shadow copies stay out of drift and accuracy."""
    settings = factories.make_project(tmp_path, "multiclass")
    quiet = factories.make_frame("multiclass", 300, seed=2)
    drifted = factories.make_frame("multiclass", 300, seed=3, shift=True)
    right, scores, labels = _labels("multiclass", quiet)
    drifted.pop("target")
    wrong = [{"low": "mid", "mid": "high", "high": "low"}[label] for label in right]
    factories.log_predictions(settings, drifted, wrong, scores, labels, version="1", start=DAY)
    later = DAY + timedelta(days=1)
    factories.log_predictions(settings, quiet, right, scores, labels, version="2", start=later)
    for role in ("challenger", "shadow"):
        factories.log_predictions(settings, drifted, wrong, scores, labels, role=role, version="3",
                        start=later)  # fmt: skip
    result = run_drift(settings, window_size=1000)
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
    recorded = open_state(settings).load(DRIFT)
    assert recorded is not None and recorded["dataset_drift"] is False
    assert recorded["model_version"] == "2" and recorded["rows"] == 300


def test_other_roles_report_mae_for_regression(tmp_path: Path) -> None:
    settings = factories.make_project(tmp_path, "regression")
    frame = factories.make_frame("regression", 200, seed=6)
    values, scores, labels = _labels("regression", frame)
    factories.log_predictions(settings, frame, values, scores, labels, version="1")
    shifted_by_two = [value + 2.0 for value in values]
    factories.log_predictions(
        settings, frame, shifted_by_two, shifted_by_two, labels, role="shadow", version="2"
    )
    result = run_drift(settings)
    assert result.window is not None
    (shadow,) = result.window.others
    assert shadow.online_accuracy is None and shadow.online_mae == pytest.approx(2.0)


def test_malformed_prediction_json_is_one_line(tmp_path: Path) -> None:
    settings = factories.make_project(tmp_path, "binary")
    frame = factories.make_frame("binary", 120, seed=7)
    frame.pop("target")
    factories.log_predictions(settings, frame, ["yes"] * 120, [0.9] * 120, [None] * 120)
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{settings.resolve(settings.serving.prediction_log)}")
    with engine.begin() as connection:
        connection.execute(text("UPDATE predictions SET prediction = 'yes' WHERE rowid = 1"))
    engine.dispose()
    with pytest.raises(UserError, match="malformed 'prediction' JSON") as caught:
        run_drift(settings)
    assert "\n" not in str(caught.value)


def test_too_little_champion_traffic_is_no_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = factories.make_project(tmp_path, "multiclass")
    frame = factories.make_frame("multiclass", 40, seed=8)
    frame.pop("target")
    factories.log_predictions(settings, frame, ["low"] * 40, [0.9] * 40, [None] * 40)
    with pytest.raises(NotEnoughTrafficError, match="40 champion predictions of 1"):
        run_drift(settings)
    recorded = open_state(settings).load(DRIFT)
    assert recorded is not None and recorded["dataset_drift"] is None and recorded["rows"] == 40
    monkeypatch.chdir(tmp_path)
    main(["drift"])  # a state of the log, not bad input: exit 0 with one line
    assert "no verdict yet" in capsys.readouterr().out


@pytest.fixture
def configured(tmp_path: Path) -> Settings:
    """A project with this repository's configs and its configured dataset."""
    return factories.copy_project(tmp_path)


@pytest.mark.data
def test_the_configured_dataset_drifts_when_its_numbers_move(configured: Settings) -> None:
    spec = dataset_spec(configured)
    reference = load_reference(configured, spec).features
    if not spec.numeric_features:
        pytest.skip("the configured dataset has no numeric feature")
    same = reference.sample(400, replace=True, random_state=1).reset_index(drop=True)
    limits = DriftThresholds()
    categorical = tuple(spec.categorical_features)
    assert [item.feature for item in compare(reference, same, limits, categorical)
            if item.drifted] == []  # fmt: skip
    moved = same.copy()
    for name in spec.numeric_features:
        spread = float(np.nanstd(reference[name])) or 1.0
        moved[name] = moved[name] + 2.0 * spread
    drifted = {item.feature for item in compare(reference, moved, limits, categorical)
               if item.drifted}  # fmt: skip
    assert drifted == set(spec.numeric_features)


@pytest.mark.data
def test_cli_drift_errors_are_one_line(
    configured: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(configured.project_root)
    spec = dataset_spec(configured)

    def run(*args: str) -> tuple[int, str]:
        try:
            main(["drift", *args])
        except SystemExit as stopped:
            code = int(stopped.code or 0)
        else:
            code = 0
        return code, capsys.readouterr().err

    data = configured.resolve(spec.path)
    kept = data.read_bytes()
    data.unlink()
    code, err = run()
    assert code == 2
    assert err.count("\n") == 1 and "make data" in err
    data.write_bytes(kept)
    code, err = run()
    assert code == 2
    assert err.count("\n") == 1 and "prediction log" in err
    reference = load_reference(configured, spec).features
    # as many copies as drift needs rows (a small table has fewer than min_window_size)
    copies = -(-configured.monitoring.min_window_size // len(reference))
    reference = pd.concat([reference] * copies, ignore_index=True)
    current = configured.project_root / "current.csv"
    moved = reference.copy()
    for name in spec.numeric_features:
        moved[name] = moved[name] + 2.0 * (float(np.nanstd(reference[name])) or 1.0)
    moved.to_csv(current, index=False)
    code, err = run("--current", str(current), "--fail-on-drift")
    assert code == 1, err
    assert "dataset drift" in err
    assert (configured.project_root / "reports/drift/drift_report.html").is_file()
    reference.to_csv(current, index=False)
    assert run("--current", str(current), "--fail-on-drift") == (0, "")


def test_a_feature_named_score_or_prediction_is_compared_not_dropped(tmp_path: Path) -> None:
    """Outputs and features never collide: a file's `score` column is a feature when the
    spec says so, and a batch output names its outputs in its manifest (`output_score`)."""
    import yaml

    settings = factories.make_project(tmp_path, "binary")
    config_path = tmp_path / "configs/model_config.yaml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    renamed = {"income": "score", "seats": "prediction"}
    features = config["dataset"]["features"]
    config["dataset"]["features"] = {
        renamed.get(name, name): kind for name, kind in features.items()
    }
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    data = tmp_path / "data/raw/synthetic.csv"
    pd.read_csv(data).rename(columns=renamed).to_csv(data, index=False)
    frame = factories.make_frame("binary", 400, seed=3).rename(columns=renamed)
    current = tmp_path / "current.csv"
    frame.drop(columns="target").to_csv(current, index=False)
    result = run_drift(settings, current_path=current, output_dir=tmp_path / "file")
    compared = {row.feature for row in result.report.features}
    assert {"score", "prediction"} <= compared and not result.report.dataset_drift
    batch = tmp_path / "batch"
    (batch / "predictions").mkdir(parents=True)
    outputs = {"prediction": "output_prediction", "score": "output_score"}
    scored = frame.rename(columns={"target": outputs["prediction"]}).assign(output_score=0.9)
    scored.to_parquet(batch / "predictions/part-00000.parquet")
    manifest = {"status": "complete", "columns": {"features": list(config["dataset"]["features"]),
                                                  "outputs": outputs}}  # fmt: skip
    (batch / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    from_batch = run_drift(settings, current_path=batch, output_dir=tmp_path / "batch-report")
    assert {row.feature for row in from_batch.report.features} == compared
    assert from_batch.report.prediction  # the outputs were read from output_<name>


def test_an_optimized_models_float_noise_is_not_prediction_drift() -> None:
    """A tree model scores few distinct values; its ONNX (float32) run moves each in the 7th
    digit. Compared exactly, every atom would shift and read as drift."""
    rng = np.random.default_rng(3)
    native = rng.choice([0.12345678, 0.5, 0.87654321], size=400, p=[0.2, 0.5, 0.3])
    optimized = (native.astype(np.float32) + np.float32(3e-8)).astype(np.float64)
    assert not np.array_equal(native, optimized)
    _, _, drifted = prediction_drift(None, None, DriftThresholds(), native, optimized)
    assert not drifted
    shifted = np.where(native == 0.5, 0.55, native)  # a real change still counts
    _, _, drifted = prediction_drift(None, None, DriftThresholds(), native, shifted)
    assert drifted
