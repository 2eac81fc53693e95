"""`init-data`: adopting other data writes one consistent dataset spec, rules that pass and a
measured gate; bad data gets one line, exit 2, and leaves every file as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.data.adopt.blocks import current_block, is_pristine
from {{ cookiecutter.package_name }}.data.samples import sample_at
from {{ cookiecutter.package_name }}.data.spec import DatasetSpec
from {{ cookiecutter.package_name }}.validation import check_frame, load_rules

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG = Path("configs/model_config.yaml")
RULES = Path("configs/data_validation.yaml")


def subscribers(rows: int = 240, seed: int = 0) -> pd.DataFrame:
    """String categoricals with missing values, an id, a bool, a low-cardinality integer."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(rows)],
            "plan": rng.choice(["basic", "plus", "pro"], rows),
            "region": rng.choice(["north", "south", "east", None], rows),
            "tenure_months": rng.integers(1, 72, rows),
            "monthly_fee": rng.normal(40, 12, rows).round(2),
            "children": rng.integers(0, 3, rows),
            "paperless": rng.choice([True, False], rows),
        }
    )
    frame.loc[rng.choice(rows, 12, replace=False), "monthly_fee"] = np.nan
    frame["cancelled"] = np.where(frame["plan"] == "basic", "yes", "no")
    frame.loc[rng.choice(rows, 30, replace=False), "cancelled"] = "yes"
    return frame


def species(rows: int = 150) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    label = rng.choice(["setosa", "versicolor", "virginica"], rows)
    petal = rng.normal(3, 1, rows) + (label == "setosa")
    return pd.DataFrame(
        {"petal": petal, "colour": rng.choice(["red", "blue"], rows), "species": label}
    )


def prices(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    year = rng.integers(2010, 2024, rows)
    return pd.DataFrame({"year": year, "rooms": rng.integers(1, 8, rows),
                         "price": 1000.0 * (year - 2000) + rng.normal(0, 500, rows)})  # fmt: skip


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(PROJECT_ROOT / "configs", tmp_path / "configs")
    (tmp_path / "data" / "raw").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(["init-data", *args])
        raise SystemExit(0)
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def _write(project: Path, name: str, frame: pd.DataFrame) -> str:
    path = project / "data" / "raw" / name
    frame.to_parquet(path) if path.suffix == ".parquet" else frame.to_csv(path, index=False)
    return f"data/raw/{name}"


def _spec(project: Path) -> DatasetSpec:
    raw = yaml.safe_load((project / CONFIG).read_text())
    return DatasetSpec.model_validate(raw["dataset"])


def test_string_categoricals_missing_values_and_an_id(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write(project, "subscribers.csv", subscribers())
    before = (project / CONFIG).read_text()
    code, out, err = _run(capsys, "--data", data, "--target", "cancelled")
    assert code == 0, err
    spec = _spec(project)
    assert (spec.task, spec.classes, spec.positive_class) == ("binary", ["no", "yes"], "yes")
    assert spec.id_columns == ["customer_id"]
    assert spec.features == {"plan": "categorical", "region": "categorical",
                             "tenure_months": "numeric", "monthly_fee": "numeric",
                             "children": "categorical", "paperless": "categorical"}  # fmt: skip
    assert "customer_id" in out and "wrote configs/model_config.yaml" in out and "review" in out
    # Only the adopted sections changed: the rest of the file, comments included, is kept.
    for key in ("hyperparameters", "optimization", "environment"):
        assert current_block((project / CONFIG).read_text(), key) == current_block(before, key)
    rules = load_rules(project / RULES)
    assert check_frame(pd.read_csv(project / data), rules) == []
    assert rules.columns["region"].nullable and rules.columns["monthly_fee"].nullable
    assert rules.columns["tenure_months"].allowed_values is None  # an integer gets a range
    assert rules.columns["customer_id"].allowed_values is None
    evaluation = yaml.safe_load((project / CONFIG).read_text())["evaluation"]
    assert evaluation["primary_metric"] == "roc_auc"
    assert evaluation["thresholds"]["roc_auc"] == pytest.approx(0.6)  # dummy 0.5 + 0.2 x 0.5


def test_multiclass_string_target_from_parquet(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write(project, "species.parquet", species())
    code, _, err = _run(capsys, "--data", data, "--target", "species")
    assert code == 0, err
    spec = _spec(project)
    assert spec.task == "multiclass" and spec.classes == ["setosa", "versicolor", "virginica"]
    assert spec.positive_class is None and spec.features["colour"] == "categorical"
    evaluation = yaml.safe_load((project / CONFIG).read_text())["evaluation"]
    assert evaluation["primary_metric"] == "f1_macro"
    assert {"accuracy", "f1_macro", "log_loss"} <= set(evaluation["thresholds"])
    assert load_rules(project / RULES).label is not None


def test_regression_gets_ranges_maxima_and_no_label_rule(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = prices()
    data = _write(project, "prices.csv", frame)
    code, _, err = _run(capsys, "--data", data, "--target", "price")
    assert code == 0, err
    spec = _spec(project)
    assert spec.task == "regression" and spec.classes == []
    assert spec.features == {"year": "numeric", "rooms": "categorical"}
    rules = load_rules(project / RULES)
    assert rules.label is None
    assert rules.columns["price"].allowed_values is None and rules.columns["price"].max
    assert rules.columns["year"].allowed_values is None
    assert check_frame(frame.assign(year=frame["year"] + 1), rules) == []  # next year passes
    evaluation = yaml.safe_load((project / CONFIG).read_text())["evaluation"]
    assert evaluation["primary_metric"] == "rmse"
    dummy_rmse = float(np.std(frame["price"]))
    assert 0.5 * dummy_rmse < evaluation["thresholds"]["rmse"] < dummy_rmse  # a maximum


def test_rerun_is_safe_but_hand_edits_need_force(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write(project, "subscribers.csv", subscribers())
    assert _run(capsys, "--data", data, "--target", "cancelled")[0] == 0
    first = (project / CONFIG).read_text()
    assert _run(capsys, "--data", data, "--target", "cancelled")[0] == 0
    assert (project / CONFIG).read_text() == first
    edited = first.replace("unknown_category: ignore", "unknown_category: reject")
    (project / CONFIG).write_text(edited)
    code, _, err = _run(capsys, "--data", data, "--target", "cancelled")
    assert code == 2 and "edited by hand" in err and "--force" in err
    assert (project / CONFIG).read_text() == edited
    assert _run(capsys, "--data", data, "--target", "cancelled", "--force")[0] == 0
    assert _spec(project).unknown_category == "reject"  # the reviewed policy is kept
    assert is_pristine(current_block((project / CONFIG).read_text(), "dataset") or "")


def test_the_shipped_sections_are_init_data_output() -> None:
    """The rendered sample's sections carry valid fingerprints, so `init-data` may replace
    them without --force on a fresh project."""
    text = (PROJECT_ROOT / CONFIG).read_text()
    for key in ("intended_use", "dataset", "evaluation"):
        assert is_pristine(current_block(text, key) or ""), key
    assert is_pristine((PROJECT_ROOT / RULES).read_text())


def test_init_data_on_the_sample_writes_the_shipped_sections(
    project: Path, capsys: pytest.CaptureFixture[str], spec: DatasetSpec, dataset_path: Path
) -> None:
    """The shipped dataset, evaluation and rules are init-data's own output for the sample:
    one way to write them."""
    if sample_at(spec.path) is None:
        pytest.skip("the project adopted its own data (options of that run are not recorded)")
    shipped = (project / CONFIG).read_text()
    shutil.copy(dataset_path, project / spec.path)
    code, _, err = _run(capsys, "--data", str(spec.path), "--target", spec.target)
    assert code == 0, err
    written = (project / CONFIG).read_text()
    for key in ("intended_use", "dataset", "evaluation"):
        assert current_block(written, key) == current_block(shipped, key), key
    assert (project / RULES).read_text() == (PROJECT_ROOT / RULES).read_text()


def test_drop_missing_target_writes_the_labelled_rows(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = subscribers()
    frame.loc[[3, 9, 27], "cancelled"] = None
    data = _write(project, "subscribers.csv", frame)
    code, _, err = _run(capsys, "--data", data, "--target", "cancelled")
    assert code == 2 and "3 missing value(s)" in err and "--drop-missing-target" in err
    code, _, err = _run(capsys, "--data", data, "--target", "cancelled", "--drop-missing-target")
    assert code == 0, err
    spec = _spec(project)
    assert spec.path == Path("data/raw/subscribers_labelled.csv")
    labelled = pd.read_csv(project / spec.path)
    assert len(labelled) == len(frame) - 3 and labelled["cancelled"].notna().all()
    assert check_frame(labelled, load_rules(project / RULES)) == []


def _bad(kind: str) -> tuple[pd.DataFrame | str, list[str], str]:
    """(data, extra options, what the one line says) for each kind of bad data."""
    frame = subscribers()
    if kind == "no target":
        return frame, ["--target", "label"], "target column 'label' is not in"
    if kind == "missing target":
        frame.loc[[1, 2], "cancelled"] = None
        return frame, [], "has 2 missing value(s)"
    if kind == "single class":
        return frame.assign(cancelled="yes"), [], "single class"
    if kind == "too few rows":
        return frame.head(6), [], "only 6 rows"
    if kind == "all null":
        return frame.assign(notes=None), [], "column 'notes' is empty"
    if kind == "constant":
        return frame.assign(country="NO"), [], "column 'country' holds one value"
    if kind == "mixed types":
        return frame.assign(score=["12", "x"] * 120), [], "column 'score' mixes numbers and text"
    if kind == "thousands of levels":
        levels = [f"street {i % 1200}" for i in range(2400)]
        big = pd.concat([frame] * 10, ignore_index=True).assign(street=levels)
        return big.drop(columns=["customer_id"]), [], "column 'street' has 1200 distinct values"
    if kind == "dates":
        signup = pd.date_range("2024-01-01", periods=240, freq="D").strftime("%Y-%m-%d")
        return frame.assign(signup=signup), [], "column 'signup' holds dates"
    if kind == "unreadable":
        return 'a,b\n1,2\n1,2,3,"4\n', [], "not a well-formed CSV"
    if kind == "no file":
        return "", ["--data", "data/raw/none.csv"], "--data data/raw/none.csv: no such file"
    raise AssertionError(kind)


BAD_KINDS = ["no target", "missing target", "single class", "too few rows", "all null",
             "constant", "mixed types", "thousands of levels", "dates", "unreadable",
             "no file"]  # fmt: skip


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_data_is_one_line_exit_2_and_nothing_written(
    project: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    data, extra, message = _bad(kind)
    path = project / "data" / "raw" / "bad.csv"
    path.write_text(data) if isinstance(data, str) else data.to_csv(path, index=False)
    (project / "models").mkdir()
    (project / "models" / "bundle.txt").write_text("previous bundle")
    before = {p: p.read_bytes() for p in (project / CONFIG, project / RULES)}
    target = [] if "--target" in extra else ["--target", "cancelled"]
    source = [] if "--data" in extra else ["--data", "data/raw/bad.csv"]
    code, _, err = _run(capsys, *source, *target, *extra)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err
    assert {p: p.read_bytes() for p in before} == before
    assert (project / "models" / "bundle.txt").read_text() == "previous bundle"
    assert sorted(p.name for p in (project / "configs").iterdir()) == sorted(
        p.name for p in (PROJECT_ROOT / "configs").iterdir()
    )  # no temporary file left behind


def test_integer_labels_with_missing_values_stay_integers(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = species().assign(rating=[1, 2, 3] * 50)
    frame.loc[[0, 4], "rating"] = None  # the CSV column reads as 1.0, 2.0, ...
    data = _write(project, "ratings.csv", frame.drop(columns=["species"]))
    code, _, err = _run(capsys, "--data", data, "--target", "rating", "--drop-missing-target")
    assert code == 0, err
    spec = _spec(project)
    assert spec.task == "multiclass" and spec.classes == [1, 2, 3]
    assert pd.read_csv(project / spec.path)["rating"].dtype == "int64"


def test_task_option_is_checked(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _write(project, "subscribers.csv", subscribers())
    code, _, err = _run(capsys, "--data", data, "--target", "cancelled", "--task", "multiclass")
    assert code == 2 and "has 2 classes" in err
    code, _, err = _run(capsys, "--data", data, "--target", "cancelled", "--task", "regression")
    assert code == 2 and "not numeric" in err


def test_make_target_exists() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "init-data: install" in makefile and '--target "$(TARGET)"' in makefile
