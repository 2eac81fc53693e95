"""Data validation driven by `configs/data_validation.yaml`, checked with pandera.

pandera checks the schema (columns present, no extra columns, dtypes, nulls, value ranges,
allowed values); the dataset-level rules (minimum rows, duplicate rows, label balance,
categorical cardinality) are checked here. Every failed rule is reported with its count and
example rows, as JSON (`reports/validation.json`) and as a table; `validate` raises
`GateFailedError` (exit 1) when any rule fails. `derive_rules` (validation.derive) derives a
starting rules file from a dataset you trust; `init-data` writes it for your data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from {{ cookiecutter.package_name }} import tables
from {{ cookiecutter.package_name }}.data import read_table
from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError, first_problem

# Rules are derived in the data layer (init-data uses them); validation loads and checks them.
from {{ cookiecutter.package_name }}.validation.derive import derive_rules as derive_rules
from {{ cookiecutter.package_name }}.validation.derive import json_value, rules_yaml

MAX_EXAMPLES = 5

Scalar = bool | int | float | str


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnRule(_Rule):
    """Rules for one column; omitted bounds are not checked."""

    dtype: str
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    allowed_values: list[Scalar] | None = None
    max_categories: int | None = Field(default=None, ge=1)


class LabelRule(_Rule):
    """The label column and the smallest share any class may have."""

    column: str
    min_class_fraction: float = Field(default=0.05, ge=0.0, le=0.5)


class Rules(_Rule):
    """The whole rules file."""

    min_rows: int = Field(default=1, ge=1)
    allow_extra_columns: bool = False
    max_duplicate_rows: int = Field(default=0, ge=0)
    label: LabelRule | None = None
    columns: dict[str, ColumnRule]


def load_rules(path: Path) -> Rules:
    """Read and check a rules file (one-line `UserError` for any problem)."""
    if not path.is_file():
        raise UserError(
            f"validation rules {path} not found; "
            "create them with `derive-rules --data <trusted file>`"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        raise UserError(f"{path} is not valid YAML: fix the syntax") from None
    try:
        return Rules.model_validate(raw)
    except ValidationError as error:
        raise UserError(f"{path}: invalid rule {first_problem(error)}") from None


def _schema(rules: Rules) -> pa.DataFrameSchema:
    columns = {}
    for name, rule in rules.columns.items():
        checks = []
        if rule.min is not None:
            checks.append(pa.Check.greater_than_or_equal_to(rule.min))
        if rule.max is not None:
            checks.append(pa.Check.less_than_or_equal_to(rule.max))
        if rule.allowed_values is not None:
            checks.append(pa.Check.isin(rule.allowed_values))
        columns[name] = pa.Column(rule.dtype, checks=checks, nullable=rule.nullable)
    return pa.DataFrameSchema(columns, strict=not rules.allow_extra_columns, coerce=False)


# pandera's check names -> the rule a person reads.
_RULE_NAMES = {
    "column_in_dataframe": "missing column",
    "column_in_schema": "extra column",
    "not_nullable": "nulls",
    "greater_than_or_equal_to": "below minimum",
    "less_than_or_equal_to": "above maximum",
    "isin": "value not allowed",
}


def _rule_name(check: str) -> str:
    if check.startswith("dtype("):
        return "wrong dtype"
    for prefix, name in _RULE_NAMES.items():
        if check.startswith(prefix):
            return name
    return check


def _widen_integers(frame: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Integer columns where the rules say float: CSV readers type "3.0"-free columns as int."""
    widen = [
        name
        for name, rule in rules.columns.items()
        if name in frame.columns
        and rule.dtype.startswith("float")
        and pd.api.types.is_integer_dtype(frame[name])
    ]
    return frame.astype({name: rules.columns[name].dtype for name in widen}) if widen else frame


def _schema_failures(frame: pd.DataFrame, rules: Rules) -> list[dict[str, Any]]:
    try:
        _schema(rules).validate(_widen_integers(frame, rules), lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return []
    failures = []
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        rule = _rule_name(str(check))
        examples = [
            {
                "row": None if pd.isna(row["index"]) else int(row["index"]),
                "value": json_value(row["failure_case"]),
            }
            for _, row in group.head(MAX_EXAMPLES).iterrows()
        ]
        if rule in {"missing column", "extra column"}:
            column = group["failure_case"].iloc[0]
            examples = []
        elif rule == "wrong dtype":
            expected = str(check)[len("dtype(") : -1].strip("'\"")
            rule = f"wrong dtype (expected {expected})"
            examples = [{"row": None, "value": str(frame[column].dtype)}]
        failures.append(
            {
                "rule": rule,
                "column": None if pd.isna(column) else str(column),
                "count": len(group),
                "examples": examples,
            }
        )
    return failures


def _dataset_failures(frame: pd.DataFrame, rules: Rules) -> list[dict[str, Any]]:
    failures: list[dict[str, Any]] = []
    if len(frame) < rules.min_rows:
        failures.append(
            {
                "rule": f"too few rows (minimum {rules.min_rows})",
                "column": None,
                "count": len(frame),
                "examples": [],
            }
        )
    duplicated = frame.duplicated(keep="first")
    if int(duplicated.sum()) > rules.max_duplicate_rows:
        rows = frame.index[duplicated][:MAX_EXAMPLES]
        failures.append(
            {
                "rule": f"duplicate rows (at most {rules.max_duplicate_rows})",
                "column": None,
                "count": int(duplicated.sum()),
                "examples": [{"row": int(row), "value": None} for row in rows],
            }
        )
    for name, rule in rules.columns.items():
        if rule.max_categories is None or name not in frame.columns:
            continue
        distinct = frame[name].dropna().unique()
        if len(distinct) > rule.max_categories:
            failures.append(
                {
                    "rule": f"too many categories (at most {rule.max_categories})",
                    "column": name,
                    "count": len(distinct),
                    "examples": [
                        {"row": None, "value": json_value(v)} for v in distinct[:MAX_EXAMPLES]
                    ],
                }
            )
    label = rules.label
    if label is not None and label.column in frame.columns and len(frame):
        shares = frame[label.column].value_counts(normalize=True, dropna=True)
        if len(shares) < 2 or float(shares.min()) < label.min_class_fraction:
            smallest = "only one class" if len(shares) < 2 else f"{float(shares.min()):.3f}"
            failures.append(
                {
                    "rule": f"label imbalance (each class >= {label.min_class_fraction})",
                    "column": label.column,
                    "count": int(shares.size),
                    "examples": [{"row": None, "value": f"smallest class share {smallest}"}],
                }
            )
    return failures


def check_frame(frame: pd.DataFrame, rules: Rules) -> list[dict[str, Any]]:
    """Every failed rule: {"rule", "column", "count", "examples": [{"row", "value"}]}."""
    return _schema_failures(frame, rules) + _dataset_failures(frame, rules)


def render_table(report: dict[str, Any]) -> str:
    """The report as a header line and a table (one row per failed rule)."""
    header = (
        f"validation of {report['dataset']}: {report['rows']} rows, {report['columns']} columns"
    )
    if report["passed"]:
        return f"{header}: all {report['rules_checked']} rules passed"
    rows = [
        [
            failure["rule"],
            failure["column"] or None,
            failure["count"],
            ", ".join(
                (f"row {e['row']}: {e['value']!r}" if e["row"] is not None else repr(e["value"]))
                for e in failure["examples"][:3]
            ),
        ]
        for failure in report["failures"]
    ]
    table = tables.render(["rule", "column", "count", "examples"], rows, right=["count"])
    return f"{header}\n{table}"


def validate(data_path: Path, rules_path: Path, report_path: Path) -> dict[str, Any]:
    """Validate a data file and write the JSON report (see `enforce` for the gate)."""
    rules = load_rules(rules_path)
    frame = read_table(data_path)
    failures = check_frame(frame, rules)
    report = {
        "dataset": str(data_path),
        "rules_file": str(rules_path),
        "rows": len(frame),
        "columns": len(frame.columns),
        "rules_checked": 4
        + sum(
            1
            + (r.min is not None)
            + (r.max is not None)
            + (r.allowed_values is not None)
            + (r.max_categories is not None)
            for r in rules.columns.values()
        ),
        "passed": not failures,
        "failures": failures,
    }
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def enforce(report: dict[str, Any], report_path: Path) -> None:
    """Raise `GateFailedError` (one line) when the report has failed rules."""
    failures = report["failures"]
    if not failures:
        return
    summary = "; ".join(
        f"{f['rule']}{' in ' + f['column'] if f['column'] else ''} ({f['count']})"
        for f in failures[:4]
    )
    more = f" and {len(failures) - 4} more" if len(failures) > 4 else ""
    raise GateFailedError(
        f"data validation failed on {len(failures)} rule(s): {summary}{more}; "
        f"details in {report_path}"
    )


def write_rules(rules: dict[str, Any], path: Path, source: Path) -> None:
    """Write derived rules as YAML with a header saying where they came from."""
    header = (
        "---\n"
        f"# Data validation rules derived from {source.name} by `derive-rules`.\n"
        "# Review them: ranges are the observed ones widened by 10% (of span or magnitude);\n"
        "# categories are listed for categorical features and class labels only.\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + rules_yaml(rules), encoding="utf-8")
