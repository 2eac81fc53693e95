"""Data validation on good and corrupted data: every rule, report, exit codes, derived rules."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.contracts.spec import DatasetSpec
from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError
from {{ cookiecutter.package_name }}.validation import (
    Rules,
    check_frame,
    derive_rules,
    enforce,
    load_rules,
    render_table,
    validate,
    write_rules,
)

from factories import PROJECT_ROOT

RULES = PROJECT_ROOT / "configs" / "data_validation.yaml"


def _ranged(spec: DatasetSpec) -> list[str]:
    """Columns the rules give a range (numeric features, a regression target)."""
    rules = load_rules(RULES)
    names = [*spec.numeric_features, spec.target]
    return [n for n in names if n in rules.columns and rules.columns[n].max is not None]


def _columns(spec: DatasetSpec) -> tuple[str, str]:
    """Two ranged columns of the configured data to corrupt (one twice if it is alone)."""
    ranged = _ranged(spec)
    if not ranged:
        pytest.skip("no column of the configured data has a range rule (no numeric column)")
    return ranged[0], ranged[1] if len(ranged) > 1 else ranged[0]


def _not_nullable(spec: DatasetSpec) -> str:
    """A column the rules forbid nulls in whose dtype a missing value keeps (float or text),
    so that nulls are the one rule it breaks, in memory and through a CSV file."""
    rules = load_rules(RULES)
    for name in [*_ranged(spec), *spec.categorical_features, spec.target]:
        rule = rules.columns.get(name)
        if rule is not None and not rule.nullable and rule.dtype in {"float64", "str"}:
            return name
    pytest.skip("the rules allow nulls in every float and text column of the configured data")


def _typed(spec: DatasetSpec) -> str:
    """A column whose rule is not text: text written there is a wrong dtype."""
    rules = load_rules(RULES)
    for name in [*_ranged(spec), *spec.features, spec.target]:
        rule = rules.columns.get(name)
        if rule is not None and rule.dtype in {"float64", "int64", "bool"}:
            return name
    pytest.skip("every column of the configured data is text: no dtype to break")


def _corrupt(kind: str, frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    frame = frame.copy()
    if kind == "missing column":
        return frame.drop(columns=[frame.columns[0]])
    if kind == "extra column":
        return frame.assign(surprise=1.0)
    if kind == "wrong dtype":
        name = _typed(spec)
        return frame.assign(**{name: frame[name].astype(str)})
    if kind == "nulls":
        name = _not_nullable(spec)
        if pd.api.types.is_numeric_dtype(frame[name]):
            frame[name] = frame[name].astype("float64")
        frame.loc[[3, 7], name] = None
        return frame
    if kind == "out of range":
        first, second = _columns(spec)
        frame[first] = frame[first].astype("float64")
        frame[second] = frame[second].astype("float64")
        frame.loc[[5], first] = 1e9
        frame.loc[[6], second] = -1e9
        return frame
    if kind == "too many categories":
        frame[spec.target] = frame[spec.target].astype(object)
        frame.loc[[0, 1], spec.target] = ["new_a", "new_b"]
        return frame
    if kind == "duplicates":
        return pd.concat([frame, frame.iloc[[10, 11]]], ignore_index=True)
    if kind == "too few rows":
        return frame.iloc[:5]
    if kind == "label imbalance":
        rare = frame[spec.target] == spec.classes[0]
        return pd.concat([frame[~rare], frame[rare].iloc[:1]], ignore_index=True)
    raise AssertionError(kind)


def test_configured_data_passes_the_shipped_rules(dataset_frame: pd.DataFrame) -> None:
    assert check_frame(dataset_frame, load_rules(RULES)) == []


def _expected(
    kind: str, spec: DatasetSpec, frame: pd.DataFrame
) -> list[tuple[str, str | None, int]]:
    """What `_corrupt(kind)` must fail, derived from the rules and the data."""
    rules = load_rules(RULES)
    duplicates = int(frame.duplicated().sum()) + 2  # rows 10 and 11 once more
    table: dict[str, Callable[[], list[tuple[str, str | None, int]]]] = {
        "missing column": lambda: [("missing column", str(frame.columns[0]), 1)],
        "extra column": lambda: [("extra column", "surprise", 1)],
        "wrong dtype": lambda: [
            (f"wrong dtype (expected {rules.columns[_typed(spec)].dtype})", _typed(spec), 1)
        ],
        "nulls": lambda: [("nulls", _not_nullable(spec), 2)],
        "out of range": lambda: [
            ("above maximum", _columns(spec)[0], 1),
            ("below minimum", _columns(spec)[1], 1),
        ],
        "duplicates": lambda: [
            (f"duplicate rows (at most {rules.max_duplicate_rows})", None, duplicates)
        ],
        "too few rows": lambda: [(f"too few rows (minimum {rules.min_rows})", None, 5)],
    }
    if spec.is_classification:
        classes = len(spec.classes)
        table["too many categories"] = lambda: [
            (f"too many categories (at most {classes})", spec.target, classes + 2),
            ("value not allowed", spec.target, 2),
        ]
        assert rules.label is not None
        fraction = rules.label.min_class_fraction
        rest = int((frame[spec.target] != spec.classes[0]).sum())
        if 1 / (rest + 1) >= fraction:
            pytest.skip(f"one row of a class is {1 / (rest + 1):.3f} of the data, not below "
                        f"the rules' min_class_fraction {fraction}")  # fmt: skip
        table["label imbalance"] = lambda: [
            (f"label imbalance (each class >= {fraction})", spec.target, classes),
        ]
    if kind not in table:
        pytest.skip(f"{kind}: a classification rule; the configured task is {spec.task}")
    return table[kind]()


KINDS = ["missing column", "extra column", "wrong dtype", "nulls", "out of range",
         "too many categories", "duplicates", "too few rows", "label imbalance"]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_corrupted_data_fails_the_right_rule(
    kind: str, spec: DatasetSpec, dataset_frame: pd.DataFrame
) -> None:
    expected = _expected(kind, spec, dataset_frame)
    failures = check_frame(_corrupt(kind, dataset_frame, spec), load_rules(RULES))
    for rule, column, count in expected:
        matching = [f for f in failures if f["rule"] == rule and f["column"] == column]
        assert matching, failures
        assert matching[0]["count"] == count


def test_regression_rules_have_a_target_range_and_no_label_rule(spec: DatasetSpec) -> None:
    rules = load_rules(RULES)
    target = rules.columns[spec.target]
    if spec.is_classification:
        assert target.allowed_values is not None and rules.label is not None
    else:
        assert target.allowed_values is None and rules.label is None
        assert target.min is not None and target.max is not None


def test_integer_values_in_a_float_column_are_accepted(
    spec: DatasetSpec, dataset_frame: pd.DataFrame
) -> None:
    first, _ = _columns(spec)
    rule = load_rules(RULES).columns[first]
    assert rule.min is not None and rule.max is not None
    low, high = math.ceil(rule.min), math.floor(rule.max)
    if low > high:
        pytest.skip(f"the range of {first} ({rule.min}..{rule.max}) holds no integer")
    frame = dataset_frame.copy()
    # Integer values: int64 as a CSV reads them, or nullable Int64 where the column has gaps.
    integers = "Int64" if frame[first].isna().any() else "int64"
    frame[first] = frame[first].round().clip(low, high).astype(integers)
    # Rounding may make rows equal (a dataset rule): what is tested is the column's rules.
    assert [f for f in check_frame(frame, load_rules(RULES)) if f["column"] == first] == []


def test_failures_carry_example_rows(spec: DatasetSpec, dataset_frame: pd.DataFrame) -> None:
    failures = check_frame(_corrupt("nulls", dataset_frame, spec), load_rules(RULES))
    nulls = next(f for f in failures if f["rule"] == "nulls")
    assert [e["row"] for e in nulls["examples"]] == [3, 7]
    high = check_frame(_corrupt("out of range", dataset_frame, spec), load_rules(RULES))
    above = next(f for f in high if f["rule"] == "above maximum")
    assert above["examples"] == [{"row": 5, "value": 1e9}]


def test_report_and_gate(tmp_path: Path, spec: DatasetSpec, dataset_frame: pd.DataFrame) -> None:
    first = _not_nullable(spec)
    data = tmp_path / "bad.csv"
    _corrupt("nulls", dataset_frame, spec).to_csv(data, index=False)
    report_path = tmp_path / "reports" / "validation.json"
    report = validate(data, RULES, report_path)
    assert json.loads(report_path.read_text()) == report
    assert not report["passed"]
    assert "nulls" in render_table(report) and first in render_table(report)
    with pytest.raises(GateFailedError, match=rf"1 rule\(s\): nulls in {first} \(2\)") as caught:
        enforce(report, report_path)
    assert "\n" not in str(caught.value)


def _cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        (None, 2, "not found"),
        ("", 2, "is empty"),
        ('a,b\n1,2\n1,2,3,"4\n', 2, "well-formed CSV"),
        ("CORRUPT", 1, "data validation failed"),
    ],
)
def test_cli_exit_codes_and_one_line_errors(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    content: str | None,
    code: int,
    message: str,
    spec: DatasetSpec,
    dataset_frame: pd.DataFrame,
) -> None:
    monkeypatch.chdir(tmp_path)  # the report goes to ./reports/
    data = tmp_path / "data.csv"
    if content == "CORRUPT":
        _corrupt("missing column", dataset_frame, spec).to_csv(data, index=False)
    elif content is not None:
        data.write_text(content)
    returncode, out, err = _cli(
        "validate", "--data", str(data), "--rules", str(RULES), capsys=capsys
    )
    assert returncode == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    if code == 1:
        assert "missing column" in out  # the readable table


def test_cli_failure_in_a_real_process_has_no_traceback(
    tmp_path: Path, spec: DatasetSpec, dataset_frame: pd.DataFrame
) -> None:
    first = _not_nullable(spec)
    data = tmp_path / "data.csv"
    _corrupt("nulls", dataset_frame, spec).to_csv(data, index=False)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "{{ cookiecutter.package_name }}",
            "validate",
            "--data",
            str(data),
            "--rules",
            str(RULES),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: data validation failed on 1 rule(s): nulls in {first} (2); details in "
        f"{tmp_path / 'reports' / 'validation.json'}"
    ]


def test_bad_rules_file_is_a_user_error(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("columns:\n  x: {dtype: float64, max_categories: 0}\n")
    with pytest.raises(UserError, match=r"columns.x.max_categories"):
        load_rules(rules)
    with pytest.raises(UserError, match="not found"):
        load_rules(tmp_path / "none.yaml")


def test_derived_rules_accept_their_source_and_catch_corruption(
    tmp_path: Path, spec: DatasetSpec, dataset_frame: pd.DataFrame
) -> None:
    path = tmp_path / "rules.yaml"
    rules_dict = derive_rules(
        dataset_frame,
        spec.target,
        classification=spec.is_classification,
        categorical=set(spec.categorical_features),
        numeric=set(spec.numeric_features),
    )
    write_rules(rules_dict, path, Path("sample.csv"))
    rules = load_rules(path)
    if spec.is_classification:
        assert rules.columns[spec.target].allowed_values == spec.classes
    assert check_frame(dataset_frame, rules) == []
    for kind, rule in (("nulls", "nulls"), ("extra column", "extra column")):
        failures = check_frame(_corrupt(kind, dataset_frame, spec), rules)
        assert any(f["rule"] == rule for f in failures), kind


def test_derived_rules_of_a_regression_target_and_an_integer_column() -> None:
    """The issue's failures: a float target became 214 allowed_values plus a label-balance
    rule, and an integer `year` became allowed_values so next year's data failed."""
    frame = pd.DataFrame(
        {"year": [2015 + i % 8 for i in range(200)], "price": [100.5 + 3.7 * i for i in range(200)]}
    )
    derived = derive_rules(frame, "price", classification=False, numeric={"year"})
    assert "label" not in derived
    assert "allowed_values" not in derived["columns"]["price"]
    year = derived["columns"]["year"]
    assert "allowed_values" not in year and year["max"] >= 2023
    rules_file = load_rules_from(derived)
    assert check_frame(frame, rules_file) == []
    assert check_frame(frame.assign(year=2023), rules_file) == []  # next year passes


def load_rules_from(derived: dict[str, object]) -> Rules:
    return Rules.model_validate(derived)
