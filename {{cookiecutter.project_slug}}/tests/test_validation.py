"""Data validation on good and corrupted data: every rule, report, exit codes, derived rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.data import sample_frame
from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError
from {{ cookiecutter.package_name }}.validation import (
    check_frame,
    derive_rules,
    enforce,
    load_rules,
    render_table,
    validate,
    write_rules,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RULES = PROJECT_ROOT / "configs" / "data_validation.yaml"


def _corrupt(kind: str) -> pd.DataFrame:
    frame = sample_frame()
    if kind == "missing column":
        return frame.drop(columns=["mean_radius"])
    if kind == "extra column":
        return frame.assign(surprise=1.0)
    if kind == "wrong dtype":
        return frame.assign(mean_texture=frame["mean_texture"].astype(str))
    if kind == "nulls":
        frame.loc[[3, 7], "mean_area"] = None
        return frame
    if kind == "out of range":
        frame.loc[[5], "mean_radius"] = 1000.0
        frame.loc[[6], "worst_area"] = -1.0
        return frame
    if kind == "too many categories":
        frame.loc[[0, 1], "target"] = [2, 3]
        return frame
    if kind == "duplicates":
        return pd.concat([frame, frame.iloc[[10, 11]]], ignore_index=True)
    if kind == "too few rows":
        return frame.iloc[:100]
    if kind == "label imbalance":
        return pd.concat([frame[frame["target"] == 1], frame[frame["target"] == 0].iloc[:20]])
    raise AssertionError(kind)


def test_sample_passes_the_shipped_rules() -> None:
    assert check_frame(sample_frame(), load_rules(RULES)) == []


@pytest.mark.parametrize(
    ("kind", "rule", "column", "count"),
    [
        ("missing column", "missing column", "mean_radius", 1),
        ("extra column", "extra column", "surprise", 1),
        ("wrong dtype", "wrong dtype (expected float64)", "mean_texture", 1),
        ("nulls", "nulls", "mean_area", 2),
        ("out of range", "above maximum", "mean_radius", 1),
        ("out of range", "below minimum", "worst_area", 1),
        ("too many categories", "too many categories (at most 2)", "target", 4),
        ("too many categories", "value not allowed", "target", 2),
        ("duplicates", "duplicate rows (at most 0)", None, 2),
        ("too few rows", "too few rows (minimum 284)", None, 100),
        ("label imbalance", "label imbalance (each class >= 0.186)", "target", 2),
    ],
)
def test_corrupted_data_fails_the_right_rule(
    kind: str, rule: str, column: str | None, count: int
) -> None:
    failures = check_frame(_corrupt(kind), load_rules(RULES))
    matching = [f for f in failures if f["rule"] == rule and f["column"] == column]
    assert matching, failures
    assert matching[0]["count"] == count


def test_integer_values_in_a_float_column_are_accepted() -> None:
    frame = sample_frame()
    frame["mean_area"] = frame["mean_area"].round().astype("int64")
    assert check_frame(frame, load_rules(RULES)) == []


def test_failures_carry_example_rows() -> None:
    failures = check_frame(_corrupt("nulls"), load_rules(RULES))
    nulls = next(f for f in failures if f["rule"] == "nulls")
    assert [e["row"] for e in nulls["examples"]] == [3, 7]
    high = check_frame(_corrupt("out of range"), load_rules(RULES))
    above = next(f for f in high if f["rule"] == "above maximum")
    assert above["examples"] == [{"row": 5, "value": 1000.0}]


def test_report_and_gate(tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    _corrupt("nulls").to_csv(data, index=False)
    report_path = tmp_path / "reports" / "validation.json"
    report = validate(data, RULES, report_path)
    assert json.loads(report_path.read_text()) == report
    assert not report["passed"]
    assert "nulls" in render_table(report) and "mean_area" in render_table(report)
    with pytest.raises(GateFailedError, match=r"1 rule\(s\): nulls in mean_area \(2\)") as caught:
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
) -> None:
    monkeypatch.chdir(tmp_path)  # the report goes to ./reports/
    data = tmp_path / "data.csv"
    if content == "CORRUPT":
        _corrupt("missing column").to_csv(data, index=False)
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


def test_cli_failure_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    _corrupt("nulls").to_csv(data, index=False)
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
        f"error: data validation failed on 1 rule(s): nulls in mean_area (2); details in "
        f"{tmp_path / 'reports' / 'validation.json'}"
    ]


def test_bad_rules_file_is_a_user_error(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("columns:\n  x: {dtype: float64, max_categories: 0}\n")
    with pytest.raises(UserError, match=r"columns.x.max_categories"):
        load_rules(rules)
    with pytest.raises(UserError, match="not found"):
        load_rules(tmp_path / "none.yaml")


def test_derived_rules_accept_their_source_and_catch_corruption(tmp_path: Path) -> None:
    frame = sample_frame()
    path = tmp_path / "rules.yaml"
    write_rules(derive_rules(frame, "target"), path, Path("sample.csv"))
    rules = load_rules(path)
    assert rules.columns["target"].allowed_values == [0, 1]
    assert check_frame(frame, rules) == []
    assert any(f["rule"] == "nulls" for f in check_frame(_corrupt("nulls"), rules))
    assert any(f["rule"] == "extra column" for f in check_frame(_corrupt("extra column"), rules))
