"""Batch scoring: the local engine on an input of many batches, rejected rows, the manifest,
identical predictions to the runtime predictor and the HTTP server, and the error cases."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }} import optimization
from {{ cookiecutter.package_name }}.batch.job import TooManyRejectedError, batch_score
from {{ cookiecutter.package_name }}.batch.model import load_model
from {{ cookiecutter.package_name }}.batch.reader import read_batch_window
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.data import feature_frame, read_table
from {{ cookiecutter.package_name }}.evaluation import gate
from {{ cookiecutter.package_name }}.registry import export_bundle, register, resolve_bundle
from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.model import load_bundle
from {{ cookiecutter.package_name }}.settings import Settings, load_settings

import factories

pytestmark = pytest.mark.data  # a project built from the configured dataset
BATCH_SIZE = 1000
COPIES = 8  # the sample 8 times: several batches per file


def _settings(root: Path, **batch: object) -> Settings:
    return load_settings(
        project_root=root,
        pipeline={"registry_backend": "file"},
        batch={"batch_size": BATCH_SIZE, **batch},
    )


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, trained_copy: Callable[..., Settings]
) -> Path:
    """A project root with a registered, optimized champion (file registry)."""
    root = tmp_path_factory.mktemp("batch")
    trained_copy(root)
    settings = _settings(root)
    gate.run(settings)
    optimization.run(settings)
    register(settings)
    return root


def _sample(root: Path) -> pd.DataFrame:
    """The configured dataset's id columns and model inputs (date columns for their parts)."""
    settings = _settings(root)
    model = load_model("champion", settings)
    frame = read_table(root / factories.configured_spec().path)
    return frame[[*model.id_columns, *model.input_columns]]


def _numeric(root: Path) -> list[str]:
    model = load_model("champion", _settings(root))
    numeric = [
        name
        for name, kind in model.features.items()
        if kind == "numeric" and name not in model.derived  # a date's parts are not in files
    ]
    if not numeric:
        pytest.skip("no numeric input column to corrupt in this dataset")
    return numeric


def _bad_input(root: Path, path: Path) -> tuple[pd.DataFrame, list[int], list[str]]:
    """The sample repeated over several batches with three bad cells, written as CSV: the
    frame, the bad rows and the columns of their cells (a text and an infinity in numeric
    columns, a missing value in the last feature)."""
    sample = _sample(root)
    copies = max(COPIES, -(-4 * BATCH_SIZE // len(sample)))
    frame = pd.concat([sample] * copies, ignore_index=True).astype(object)
    numeric = _numeric(root)
    rows = [10, len(frame) // 3, 2 * len(frame) // 3]
    columns = [numeric[0], numeric[-1], frame.columns[-1]]
    for row, column, value in zip(rows, columns, ["abc", "inf", None], strict=True):
        frame.loc[row, column] = value
    frame.to_csv(path, index=False)
    return frame, rows, columns


def test_local_engine_streams_scores_and_rejects(project: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    frame, rows, columns = _bad_input(project, source)
    settings = _settings(project)
    model = load_model("champion", settings)
    out = tmp_path / "out"
    manifest = batch_score(settings, source, out, progress=False)

    bad_rows = rows[:2]  # the missing value is imputed by the model, not rejected
    assert manifest.rows == {
        "input": len(frame),
        "scored": len(frame) - len(bad_rows),
        "rejected": len(bad_rows),
        "rejected_share": round(len(bad_rows) / len(frame), 6),
    }
    assert manifest.status == "complete" and manifest.engine == "local"
    rejected = pd.read_parquet(out / "rejected")
    assert rejected["row"].tolist() == bad_rows
    reasons = rejected["reason"].tolist()
    assert reasons == [f"{columns[0]}: not a number ('abc')", f"{columns[1]}: not finite"]
    assert set(rejected["source_file"]) == {str(source.resolve())}

    scored = pd.read_parquet(out / "predictions")
    assert len(scored) == manifest.rows["scored"]
    probability = [f"probability_{label}" for label in model.classes]
    carried = [name for name in frame.columns if name not in model.feature_names]  # ids, dates
    assert scored.columns.tolist() == [
        *carried, *model.feature_names, "prediction", "score", *probability,
        "model_version", "run_id",
    ]  # fmt: skip
    assert set(scored["model_version"]) == {model.version}
    assert set(scored["run_id"]) == {manifest.run_id}

    good = frame.drop(index=bad_rows).reset_index(drop=True)
    numeric = _numeric(project)
    good[numeric] = good[numeric].astype(np.float64)
    assert model.predictor is not None
    # The runtime predictor, all rows at once.
    expected = model.predictor.predict_frame(feature_frame(good, factories.configured_spec()))
    got = scored[probability].to_numpy() if probability else scored[["prediction"]].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_predictions_match_the_http_server(project: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    rows = _sample(project).head(40)
    rows.to_parquet(source)
    settings = _settings(project)
    batch_score(settings, source, tmp_path / "out", progress=False)
    scored = pd.read_parquet(tmp_path / "out" / "predictions")

    served = load_bundle(resolve_bundle("champion", settings))
    app = create_app(
        load_settings(project_root=tmp_path, serving={"prediction_log": tmp_path / "log.db"}),
        champion=served,
    )
    model = load_model("champion", settings)
    instances = json.loads(rows[model.input_columns].to_json(orient="records"))
    with TestClient(app) as client:
        body = client.post("/predict", json={"instances": instances}).json()
    assert scored["prediction"].tolist() == body["predictions"]
    assert body["model_version"] == scored["model_version"].iloc[0]
    if "probabilities" in body and not isinstance(body["probabilities"][0], list):
        np.testing.assert_allclose(scored["score"], body["probabilities"], rtol=1e-6)


def test_directory_of_files_and_manifest(project: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    sample = _sample(project)
    sample.to_csv(inputs / "a.csv", index=False)
    pd.concat([sample] * 3).to_parquet(inputs / "b.parquet")
    (inputs / "_SUCCESS").write_text("")
    out = tmp_path / "out"
    batch_score(_settings(project), inputs, out, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"]["input"] == manifest["rows"]["scored"] == 4 * len(sample)
    listed = {Path(item["path"]).name: item for item in manifest["inputs"]}
    assert set(listed) == {"a.csv", "b.parquet"}
    for name, item in listed.items():
        data = (inputs / name).read_bytes()
        assert item["bytes"] == len(data)
        assert item["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["model"]["version"].endswith("-v1")
    assert manifest["model"]["uri"] and manifest["seconds"]["score"] >= 0
    parts = sorted(path.name for path in (out / "predictions").iterdir())
    assert manifest["outputs"]["predictions"] == parts and parts[0] == "part-00000.parquet"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # staging removed


def test_output_carries_the_input_columns_and_joins_back(project: Path, tmp_path: Path) -> None:
    """Every non-feature input column is written next to the predictions (`batch.passthrough:
    all`), an output whose name an input column has is written as `output_<name>`, and
    `passthrough: ids` narrows the carried columns to dataset.id_columns."""
    model = load_model("champion", _settings(project))
    sample = _sample(project).reset_index(drop=True)
    given = sample.assign(key=[f"k{i}" for i in range(len(sample))], score="input", note=None)
    source = tmp_path / "in.parquet"
    given.to_parquet(source)
    manifest = batch_score(_settings(project), source, tmp_path / "all", progress=False)
    scored = pd.read_parquet(tmp_path / "all" / "predictions")
    dates = [name for name in sample.columns if name not in [*model.id_columns, *model.features]]
    carried = [*model.id_columns, *dates, "key", "score", "note"]  # in the input's order
    assert scored.columns.tolist()[: len(carried)] == carried
    assert manifest.columns["outputs"]["score"] == "output_score"
    assert {"prediction", "output_score", "model_version"} <= set(scored.columns)
    joined = given.merge(scored[["key", "prediction"]], on="key", validate="one_to_one")
    assert len(joined) == len(given) and (scored["score"] == "input").all()
    settings = _settings(project, passthrough="ids")
    batch_score(settings, source, tmp_path / "ids", progress=False)
    narrow = pd.read_parquet(tmp_path / "ids" / "predictions")
    assert narrow.columns.tolist()[: len(model.id_columns) + 1] == [
        *model.id_columns, model.feature_names[0]
    ]  # fmt: skip
    assert "key" not in narrow and "score" in narrow  # the model's own score column
    window = read_batch_window(tmp_path / "all")
    assert window.features.columns.tolist() == model.feature_names
    np.testing.assert_allclose(window.score, scored["output_score"])


def test_a_resolved_bundle_directory_scores_like_its_alias(project: Path, tmp_path: Path) -> None:
    """The image's pinned champion (`resolve --into`, /app/model/champion) needs no registry."""
    settings = _settings(project)
    pinned = tmp_path / "model" / "champion"
    label = export_bundle("champion", settings, pinned)
    source = tmp_path / "in.csv"
    _sample(project).to_csv(source, index=False)
    by_alias = batch_score(settings, source, tmp_path / "alias", progress=False)
    by_path = batch_score(settings, source, tmp_path / "pinned", str(pinned), progress=False)
    assert by_path.model["version"] == by_alias.model["version"] == label
    assert by_path.model["uri"] == str(pinned.resolve())
    read = [
        pd.read_parquet(tmp_path / name / "predictions").drop(columns=["run_id"])
        for name in ("alias", "pinned")
    ]
    pd.testing.assert_frame_equal(*read)


def test_too_many_rejected_rows_fail_with_exit_1(project: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    frame, rows, _ = _bad_input(project, source)
    share = len(rows) / len(frame) / 2  # half the share of bad rows in this input
    settings = _settings(project, max_rejected_share=share)
    with pytest.raises(TooManyRejectedError, match="max_rejected_share"):
        batch_score(settings, source, tmp_path / "out", progress=False)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == "too_many_rejected"


@pytest.fixture
def in_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(project)
    monkeypatch.setenv("{{ cookiecutter.package_name | upper }}_PIPELINE__REGISTRY_BACKEND", "file")
    return project


def _exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    return int(stopped.value.code or 0)


def test_errors_are_one_line_exit_2_and_leave_no_output(
    in_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.csv"
    _sample(in_project).head(5).to_csv(good, index=False)
    lacking = tmp_path / "lacking.csv"
    _sample(in_project).iloc[:5, 1:].to_csv(lacking, index=False)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    out = tmp_path / "out"
    cases = [
        (["--input", str(tmp_path / "nope.csv")], "not found"),
        (["--input", str(lacking)], "lacks column"),
        (["--input", str(garbage)], "not a readable PARQUET file"),
        (["--input", str(good), "--model", "7"], "unknown model version '7'"),
        (["--input", str(good), "--engine", "flink"], "unknown engine"),
    ]
    for args, message in cases:
        assert _exit_code(["batch-score", *args, "--output", str(out)]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
        assert not out.exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    out.mkdir()
    (out / "keep").write_text("x")
    assert _exit_code(["batch-score", "--input", str(good), "--output", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_drift_reads_a_batch_output(project: Path, tmp_path: Path) -> None:
    from {{ cookiecutter.package_name }}.monitoring.run import run_drift

    source = tmp_path / "in.csv"
    settings = _settings(project)
    sample = _sample(project)  # as many copies as drift needs rows (a small table has fewer)
    sample = pd.concat([sample] * -(-settings.monitoring.min_window_size // len(sample)))
    sample.to_csv(source, index=False)
    batch_score(settings, source, tmp_path / "out", progress=False)
    result = run_drift(settings, current_path=tmp_path / "out", output_dir=tmp_path / "drift")
    assert result.report.current_rows == len(sample)
    assert not result.report.dataset_drift  # the training data against itself


def test_local_engine_never_imports_pyspark() -> None:
    code = (
        "import sys; import {{ cookiecutter.package_name }}.batch.local, "
        "{{ cookiecutter.package_name }}.batch.job, {{ cookiecutter.package_name }}.cli; "
        "assert 'pyspark' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_row_checks_for_raw_input_models() -> None:
    """A raw-input model (it imputes): missing is fine, unknown categories are refused."""
    import pyarrow as pa

    from {{ cookiecutter.package_name }}.batch.model import BatchModel
    from {{ cookiecutter.package_name }}.batch.validate import check_rows

    model = BatchModel(
        version="m-v1", uri="", bundle=Path(), runtime="test",
        features={"size": "numeric", "colour": "categorical"}, task="multiclass",
        classes=["a", "b", "c"], positive_class=None, id_columns=[],
        categories={"colour": ["red", "blue"]}, reject_unknown=True,
    )  # fmt: skip
    batch = pa.RecordBatch.from_pydict(
        {"size": ["1.5", None, "x", "1e400"], "colour": ["red", None, "blue", "green"]}
    )
    features, reasons = check_rows(batch, model)
    assert reasons.tolist() == [
        None, None, "size: not a number ('x')", "size: not finite",
    ]  # fmt: skip
    assert features["size"].tolist()[0] == 1.5 and np.isnan(features["size"][1])
    assert features["colour"].tolist()[:3] == ["red", None, "blue"]
    batch = pa.RecordBatch.from_pydict({"size": [1.0], "colour": ["green"]})
    assert check_rows(batch, model)[1].tolist() == ["colour: unknown category ('green')"]
    output = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    columns = model.output_columns(output)
    assert list(columns["prediction"]) == ["b", "a"]
    assert columns["score"].tolist() == [0.5, 0.6]
    assert columns["probability_c"].tolist() == [0.3, 0.1]
