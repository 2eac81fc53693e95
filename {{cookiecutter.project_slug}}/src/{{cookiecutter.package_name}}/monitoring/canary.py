"""Canary analysis: is the challenger (canary) behaving like the champion (stable) in production?

`make canary-analysis` judges the two model versions on the server's own metrics in Prometheus
over the spec's `window` (`configs/canary_analysis.yaml`), side by side:
- error rate: the canary's share of 5xx answers at most `max_error_rate_increase` above stable's;
- latency: the canary's p99 at most `max_latency_p99_ratio` x stable's;
- what it predicts: the population stability index of the canary's predictions against
  stable's (the predicted-class mix, or for regression the value histogram, whose buckets are
  the training target's quantiles) below `max_prediction_psi`; a model answering 200 with
  garbage moves this first;
- confidence (classification): mean top probability within `max_confidence_change` of stable's;
- online quality, once both have `min_feedback` labels: accuracy (or MAE) no worse than
  stable's by the relative `online_metric_tolerance`.
Less than `min_requests` requests on either side is no verdict (exit 3): low traffic never
decides. A failing check is exit 1 and nothing moves; a pass (exit 0) with `--promote` points
the registry's `champion` alias at the challenger.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from {{ cookiecutter.package_name }}.contracts.bundle import read_bundle
from {{ cookiecutter.package_name }}.contracts.config import load_yaml_model
from {{ cookiecutter.package_name }}.errors import UserError, one_line
from {{ cookiecutter.package_name }}.registry import promote, resolve_bundle
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.tables import render

Verdict = Literal["pass", "fail", "no verdict"]
VERSION = "model_version"  # the label every model series carries
PSI_FLOOR = 1e-4  # a share of 0 would make the PSI infinite: empty bins count as this share


class CanaryChecks(BaseModel):
    """The thresholds; each compares the canary with stable over the same window."""

    model_config = ConfigDict(extra="forbid")

    max_error_rate_increase: float = Field(0.005, ge=0, le=1)
    max_latency_p99_ratio: float = Field(1.2, gt=0)
    max_prediction_psi: float = Field(0.1, gt=0)
    max_confidence_change: float = Field(0.05, ge=0, le=1)
    online_metric_tolerance: float = Field(0.01, ge=0, le=1)


class CanaryAnalysis(BaseModel):
    """`configs/canary_analysis.yaml`."""

    model_config = ConfigDict(extra="forbid")

    window: str = Field("10m", pattern=r"^[1-9][0-9]*[smhd]$")
    min_requests: int = Field(200, ge=1)
    min_feedback: int = Field(50, ge=1)
    checks: CanaryChecks = CanaryChecks()


def load_analysis(path: Path) -> CanaryAnalysis:
    """The analysis spec, or a one-line `UserError`."""
    return load_yaml_model(
        path, CanaryAnalysis, "canary analysis spec", "create it (see the README)"
    )


@dataclass(frozen=True)
class Check:
    """One row of the analysis: None where the data is too thin to judge (it never decides)."""

    name: str
    stable: float | None
    canary: float | None
    limit: str
    passed: bool | None


class Prometheus:
    """Instant queries against Prometheus' HTTP API (`/api/v1/query`)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url, self.timeout = url.rstrip("/"), timeout

    def vector(self, query: str) -> list[tuple[dict[str, str], float]]:
        """The instant vector `query` returns, as (labels, value) pairs."""
        address = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        try:
            with urllib.request.urlopen(address, timeout=self.timeout) as answer:  # noqa: S310
                body = json.loads(answer.read())
        except urllib.error.HTTPError as error:
            raise UserError(
                f"Prometheus at {self.url} refused a query ({error.code}): {one_line(error.read())}"
            ) from None
        except (OSError, ValueError) as error:
            raise UserError(
                f"Prometheus at {self.url} is not reachable ({one_line(error)}): "
                "pass --prometheus with its base URL"
            ) from None
        if body.get("status") != "success" or body["data"]["resultType"] != "vector":
            raise UserError(f"Prometheus at {self.url} answered {one_line(body)[:120]}")
        return [(item["metric"], float(item["value"][1])) for item in body["data"]["result"]]

    def by(self, query: str, label: str) -> dict[str, float]:
        """`{label value: value}` of a query aggregated by `label`."""
        return {labels.get(label, ""): value for labels, value in self.vector(query)}

    def mix(self, query: str, label: str) -> dict[str, dict[str, float]]:
        """`{model_version: {label value: value}}` of a query by model_version and `label`."""
        found: dict[str, dict[str, float]] = {}
        for labels, value in self.vector(query):
            found.setdefault(labels.get(VERSION, ""), {})[labels.get(label, "")] = value
        return found


def psi(expected: dict[str, float], actual: dict[str, float]) -> float:
    """Population stability index of two count distributions over the same bins."""
    bins = sorted(set(expected) | set(actual))
    total_e, total_a = sum(expected.values()), sum(actual.values())
    if total_e <= 0 or total_a <= 0:
        return math.nan
    value = 0.0
    for key in bins:
        share_e = max(expected.get(key, 0.0) / total_e, PSI_FLOOR)
        share_a = max(actual.get(key, 0.0) / total_a, PSI_FLOOR)
        value += (share_a - share_e) * math.log(share_a / share_e)
    return value


def bucket_counts(cumulative: dict[str, float]) -> dict[str, float]:
    """Per-bucket counts of a Prometheus histogram's cumulative `le` buckets."""
    ordered = sorted(cumulative.items(), key=lambda item: float(item[0]))
    counts, below = {}, 0.0
    for le, total in ordered:
        counts[le] = max(total - below, 0.0)
        below = total
    return counts


Pair = tuple[float | None, float | None]  # (stable, canary)


def _ratio(
    numerator: dict[str, float], denominator: dict[str, float], version: str
) -> float | None:
    den = denominator.get(version, 0.0)
    return numerator.get(version, 0.0) / den if den > 0 else None


def _compare(name: str, pair: Pair, limit: str, rule: Callable[[float, float], bool]) -> Check:
    """A check of `rule(stable, canary)`; no judgement when either side has no value."""
    stable, canary = pair
    passed = None if stable is None or canary is None else rule(stable, canary)
    return Check(name, stable, canary, limit, passed)


def _increase(expression: str, by: str, window: str) -> str:
    """PromQL: the increase of `expression` over `window`, summed by the `by` labels."""
    return f"sum by ({by}) (increase({expression}[{window}]))"


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


class Analysis:
    """The queries of one analysis: `spec` over its window, `stable` against `canary`."""

    def __init__(self, prom: Prometheus, spec: CanaryAnalysis, stable: str, canary: str) -> None:
        self.prom, self.spec, self.versions = prom, spec, (stable, canary)

    def by_version(self, expression: str) -> dict[str, float]:
        """`sum by (model_version) (increase(<expression>[window]))`."""
        return self.prom.by(_increase(expression, VERSION, self.spec.window), VERSION)

    def ratios(self, numerator: dict[str, float], denominator: dict[str, float]) -> Pair:
        return (
            _ratio(numerator, denominator, self.versions[0]),
            _ratio(numerator, denominator, self.versions[1]),
        )

    def traffic(self) -> list[Check]:
        """Requests (enough of them?), the 5xx rate and the p99 latency."""
        spec, limits = self.spec, self.spec.checks
        requests = self.by_version("model_requests_total")
        counts = (requests.get(self.versions[0], 0.0), requests.get(self.versions[1], 0.0))
        errors = self.by_version('model_requests_total{status=~"5.."}')
        tails = self.prom.by(
            "histogram_quantile(0.99, sum by (le, model_version) "
            f"(rate(model_request_latency_seconds_bucket[{spec.window}])))",
            VERSION,
        )
        p99 = (_finite(tails.get(self.versions[0])), _finite(tails.get(self.versions[1])))
        increase, ratio = limits.max_error_rate_increase, limits.max_latency_p99_ratio
        least = spec.min_requests
        return [
            Check("requests", *counts, f">= {least} each", min(counts) >= least),
            _compare("5xx rate", self.ratios(errors, requests), f"<= stable + {increase}",
                     lambda s, c: c - s <= increase),
            _compare("p99 latency s", p99, f"<= {ratio} x stable",
                     lambda s, c: c <= ratio * s),
        ]  # fmt: skip

    def predictions(self, classification: bool) -> list[Check]:
        """The PSI of what the canary predicts against stable, and (classification) confidence."""
        window, limits = self.spec.window, self.spec.checks
        if classification:
            by = f"{VERSION}, predicted_class"
            mixes = self.prom.mix(
                _increase("model_predictions_total", by, window), "predicted_class"
            )
        else:
            query = _increase("model_prediction_value_bucket", f"{VERSION}, le", window)
            mixes = {v: bucket_counts(b) for v, b in self.prom.mix(query, "le").items()}
        stable, canary = (mixes.get(version, {}) for version in self.versions)
        shift = _finite(psi(stable, canary))
        limit = limits.max_prediction_psi
        moved = None if shift is None else shift < limit
        rows = [Check("prediction PSI", None, shift, f"< {limit}", moved)]
        if classification:
            mean = self.ratios(
                self.by_version("model_prediction_confidence_sum"),
                self.by_version("model_prediction_confidence_count"),
            )
            change = limits.max_confidence_change
            rows.append(_compare("mean confidence", mean, f"within {change}",
                                 lambda s, c: abs(c - s) <= change))  # fmt: skip
        return rows

    def online(self, classification: bool) -> Check:
        """Online accuracy (or MAE) from feedback labels, once both have `min_feedback`."""
        tolerance, least = self.spec.checks.online_metric_tolerance, self.spec.min_feedback
        feedback = self.by_version("model_feedback_total")
        name = "online accuracy" if classification else "online MAE"
        if min(feedback.get(v, 0.0) for v in self.versions) < least:
            return Check(name, None, None, f"needs {least} labels each", None)
        if classification:
            correct = self.ratios(self.by_version("model_feedback_correct_total"), feedback)
            return _compare(name, correct, f">= stable x {1 - tolerance:g}",
                            lambda s, c: c >= s * (1 - tolerance))  # fmt: skip
        error = self.ratios(self.by_version("model_feedback_absolute_error_total"), feedback)
        return _compare(name, error, f"<= stable x {1 + tolerance:g}",
                        lambda s, c: c <= s * (1 + tolerance))  # fmt: skip


def analyse(
    prom: Prometheus, spec: CanaryAnalysis, classification: bool, stable: str, canary: str
) -> tuple[Verdict, list[Check]]:
    """The checks of `spec` for `canary` against `stable`, and the verdict."""
    analysis = Analysis(prom, spec, stable, canary)
    rows = [
        *analysis.traffic(),
        *analysis.predictions(classification),
        analysis.online(classification),
    ]
    if not rows[0].passed:
        return "no verdict", rows
    return ("fail" if any(row.passed is False for row in rows) else "pass"), rows


def table(rows: list[Check]) -> str:
    """The checks as the printed table."""

    def shown(value: float | None) -> str | None:
        return None if value is None else f"{value:.4g}"

    verdicts = {True: "ok", False: "FAIL", None: "-"}
    return render(
        ["check", "stable", "canary", "limit", "result"],
        [(r.name, shown(r.stable), shown(r.canary), r.limit, verdicts[r.passed]) for r in rows],
        right=["stable", "canary"],
    )


EXIT_CODES: dict[Verdict, int] = {"pass": 0, "fail": 1, "no verdict": 3}


@dataclass(frozen=True)
class CanaryOptions:
    """What `canary-analysis` was asked: versions default to the registry's aliases."""

    prometheus: str
    spec: Path
    stable: str | None = None
    canary: str | None = None
    promote: bool = False


def registry_version(alias: str, settings: Settings) -> str:
    """The `model_version` label of the registry's `alias` (what its server reports)."""
    return read_bundle(resolve_bundle(alias, settings)).version_label


def run(settings: Settings, options: CanaryOptions) -> tuple[int, str]:
    """The analysis report (table, verdict, promotion) and its exit code; promotes on a pass
    when asked."""
    spec = load_analysis(settings.resolve(options.spec))
    wants_challenger = options.promote or not options.canary
    challenger = registry_version("challenger", settings) if wants_challenger else None
    stable = options.stable or registry_version("champion", settings)
    canary = options.canary or str(challenger)
    if options.promote and canary != challenger:
        raise UserError(f"--promote moves the challenger ({challenger}), not --canary {canary}")
    if stable == canary:
        raise UserError(f"stable and canary are both {stable}: register a challenger first")
    classification = settings.read_model_config().dataset.is_classification
    verdict, rows = analyse(Prometheus(options.prometheus), spec, classification, stable, canary)
    lines = [table(rows), f"canary {canary} vs stable {stable} over {spec.window}: {verdict}"]
    if verdict == "pass" and options.promote:
        promote(settings)
        lines.append(f"promoted: the registry's champion is now {canary} (was {stable})")
    return EXIT_CODES[verdict], "\n".join(lines)
