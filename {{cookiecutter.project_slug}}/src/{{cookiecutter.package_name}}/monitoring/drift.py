"""Data and prediction drift between the training reference and recent traffic.

Numerical features: population stability index (PSI, reference-quantile bins plus one bin
for nulls) and the two-sample Kolmogorov-Smirnov test (`scipy.stats.ks_2samp`) of the non-null
values. Categorical features (strings, booleans, integers; nulls are a category): PSI over
category shares and the chi-square test of homogeneity (`scipy.stats.chi2_contingency`).
Predictions, per task: classification compares the predicted-label shares (chi-square) and
the score (P(positive_class), or the predicted class's probability) with the champion's on
the reference; regression compares the predicted values with the champion's predictions on
the reference (or the training target when no comparable champion exists).

A feature drifts when its PSI reaches `psi_threshold` or its test's p-value is below
alpha / number-of-features (Bonferroni, so 30 quiet features do not raise false alarms).
The dataset drifts when the share of drifted features reaches `drift_share`, or when the
predictions drift.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from {{ cookiecutter.package_name }}.errors import UserError

FloatArray = npt.NDArray[np.float64]
EPSILON = 1e-4  # floor for empty bins, so PSI stays finite
MISSING = "__missing__"  # the category of nulls (the preprocessor's constant too)


@dataclass(frozen=True)
class DriftThresholds:
    psi: float = 0.2
    ks_alpha: float = 0.01
    chi2_alpha: float = 0.01
    drift_share: float = 0.25
    bins: int = 10
    min_rows: int = 50


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: Literal["numerical", "categorical"]
    scores: dict[str, float]  # method -> score, exported as model_feature_drift_score
    p_value: float
    drifted: bool


@dataclass(frozen=True)
class DriftReport:
    reference: str
    current: str
    reference_rows: int
    current_rows: int
    thresholds: DriftThresholds
    features: list[FeatureDrift]
    prediction: dict[str, float] = field(default_factory=dict)
    prediction_p_value: float | None = None
    prediction_drifted: bool = False
    # Which traffic was judged (the champion's) and the other roles, reported apart.
    traffic: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def drifted_features(self) -> list[str]:
        return [item.feature for item in self.features if item.drifted]

    @property
    def drift_share(self) -> float:
        return len(self.drifted_features) / len(self.features) if self.features else 0.0

    @property
    def dataset_drift(self) -> bool:
        return self.drift_share >= self.thresholds.drift_share or self.prediction_drifted

    def to_dict(self) -> dict[str, Any]:
        """JSON layout read by the model server (`features` / `prediction` score maps)."""
        return {
            "created_at": self.created_at,
            "reference": self.reference,
            "current": self.current,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "dataset_drift": self.dataset_drift,
            "drift_share": round(self.drift_share, 6),
            "drifted_features": self.drifted_features,
            "prediction_drifted": self.prediction_drifted,
            "prediction_p_value": self.prediction_p_value,
            "thresholds": asdict(self.thresholds),
            "features": {item.feature: item.scores for item in self.features},
            "prediction": self.prediction,
            "traffic": self.traffic,
            "details": [asdict(item) for item in self.features],
        }


# ---------------------------------------------------------------- statistics
def psi(reference: FloatArray, current: FloatArray, bins: int = 10) -> float:
    """Population stability index over `bins` quantile bins of the reference.

    Missing values (NaN) get a bin of their own, so a jump in the share of nulls drifts too.
    """
    known = reference[~np.isnan(reference)]
    edges = (
        np.unique(np.quantile(known, np.linspace(0.0, 1.0, bins + 1)))
        if known.size
        else np.array([])
    )
    inner = edges[1:-1]

    def counts(values: FloatArray) -> npt.NDArray[np.int64]:
        missing = np.isnan(values)
        binned = np.bincount(
            np.searchsorted(inner, values[~missing], side="right"), minlength=len(inner) + 1
        )
        return np.append(binned, missing.sum())

    return _psi_from_counts(counts(reference), counts(current))


def _psi_from_counts(reference_counts: npt.NDArray[Any], current_counts: npt.NDArray[Any]) -> float:
    expected = np.clip(reference_counts / max(reference_counts.sum(), 1), EPSILON, None)
    actual = np.clip(current_counts / max(current_counts.sum(), 1), EPSILON, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def numerical_drift(
    name: str, reference: FloatArray, current: FloatArray, limits: DriftThresholds, tests: int
) -> FeatureDrift:
    """PSI (nulls in their own bin) and the KS test of the non-null values."""
    score = psi(reference, current, limits.bins)
    known_reference, known_current = reference[~np.isnan(reference)], current[~np.isnan(current)]
    if known_reference.size and known_current.size:
        ks = stats.ks_2samp(known_reference, known_current)
        statistic, p_value = float(ks.statistic), float(ks.pvalue)
    else:  # one side is all nulls: PSI's null bin carries the signal
        statistic, p_value = 0.0, 1.0
    drifted = score >= limits.psi or p_value < limits.ks_alpha / max(tests, 1)
    return FeatureDrift(
        name, "numerical", {"psi": round(score, 6), "ks": round(statistic, 6)}, p_value, drifted
    )


def category_text(values: pd.Series) -> pd.Series:
    """Categories as comparable text: CSV and JSON agree on `3`, `3.0` and `True`; nulls are
    the category `__missing__` (as the model's imputer sees them)."""

    def text(value: object) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return MISSING
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    return values.astype(object).map(text)


def categorical_drift(
    name: str, reference: pd.Series, current: pd.Series, limits: DriftThresholds, tests: int
) -> FeatureDrift:
    reference, current = category_text(reference), category_text(current)
    categories = sorted(set(reference) | set(current))
    reference_counts = reference.value_counts().reindex(categories, fill_value=0).to_numpy()
    current_counts = current.value_counts().reindex(categories, fill_value=0).to_numpy()
    score = _psi_from_counts(reference_counts, current_counts)
    if len(categories) < 2:
        statistic, p_value = 0.0, 1.0
    else:
        result = stats.chi2_contingency(np.vstack([reference_counts, current_counts]))
        statistic, p_value = float(result.statistic), float(result.pvalue)
    drifted = score >= limits.psi or p_value < limits.chi2_alpha / max(tests, 1)
    return FeatureDrift(
        name, "categorical", {"psi": round(score, 6), "chi2": round(statistic, 6)}, p_value, drifted
    )


def _numeric_column(frame: pd.DataFrame, name: str, where: str) -> FloatArray:
    """The column as floats, nulls kept as NaN; text in a numeric feature is an error."""
    values = pd.to_numeric(frame[name], errors="coerce")
    bad = values.isna() & frame[name].notna()
    if bad.any():
        example = frame[name][bad].iloc[0]
        raise UserError(
            f"feature '{name}' in the {where} data has non-numeric values (e.g. {example!r}); "
            f"fix the data or declare it `{name}: categorical` in dataset.features "
            "(configs/model_config.yaml)"
        )
    return np.asarray(values, dtype=np.float64)


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    limits: DriftThresholds,
    categorical: tuple[str, ...] = (),
) -> list[FeatureDrift]:
    """Drift of every reference feature in `current` (missing features are an error);
    `categorical` names the categorical features (dataset.features)."""
    missing = [name for name in reference.columns if name not in current.columns]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise UserError(
            f"the current data lacks reference features: {shown}; send every model feature"
        )
    if len(current) < limits.min_rows:
        raise UserError(
            f"only {len(current)} current rows; drift needs at least {limits.min_rows} "
            "(wait for more traffic or lower monitoring.min_window_size)"
        )
    unknown = [name for name in categorical if name not in reference.columns]
    if unknown:
        raise UserError(
            f"categorical feature(s) {', '.join(unknown)} are not in the reference data; "
            "fix dataset.features or dataset.path in configs/model_config.yaml"
        )
    categorical_names = [name for name in reference.columns if name in categorical]
    numerical_names = [name for name in reference.columns if name not in categorical_names]
    results = [
        numerical_drift(
            name,
            _numeric_column(reference, name, "reference"),
            _numeric_column(current, name, "current"),
            limits,
            len(numerical_names),
        )
        for name in numerical_names
    ]
    results += [
        categorical_drift(name, reference[name], current[name], limits, len(categorical_names))
        for name in categorical_names
    ]
    return results


def significant(values: FloatArray, digits: int = 5) -> FloatArray:
    """`values` to `digits` significant digits. An optimized (float32) and a native (float64)
    run of one model differ in the 7th: a tree model's few distinct scores, each moved by that
    noise, would read as drift."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values) & (values != 0)
    magnitude = np.floor(np.log10(np.abs(values, where=finite, out=np.ones_like(values))))
    factor = 10.0 ** (digits - 1 - magnitude)
    return np.where(finite, np.round(values * factor) / factor, values)


def prediction_drift(
    reference_labels: npt.NDArray[Any] | None,
    current_labels: npt.NDArray[Any] | None,
    limits: DriftThresholds,
    reference_score: FloatArray | None = None,
    current_score: FloatArray | None = None,
) -> tuple[dict[str, float], float | None, bool]:
    """Scores, the smallest p-value and whether the predictions drifted.

    Classification: chi-square and PSI of the predicted-label shares, plus PSI and KS of the
    score (P(positive_class) or the predicted class's probability) when both sides have one.
    Regression: no labels; PSI and KS of the predicted values.
    """
    scores: dict[str, float] = {}
    p_values: list[float] = []
    drifted = False
    if reference_labels is not None and current_labels is not None:
        labels = categorical_drift(
            "prediction", pd.Series(reference_labels), pd.Series(current_labels), limits, 1
        )
        scores = {"chi2": labels.scores["chi2"], "psi": labels.scores["psi"]}
        p_values.append(labels.p_value)
        drifted = labels.drifted
    if reference_score is not None and current_score is not None:
        reference_score, current_score = significant(reference_score), significant(current_score)
        values = numerical_drift("score", reference_score, current_score, limits, 1)
        scores |= {"psi": values.scores["psi"], "ks": values.scores["ks"]}
        p_values.append(values.p_value)
        drifted = drifted or values.drifted
    return scores, min(p_values) if p_values else None, drifted
