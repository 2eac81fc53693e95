"""Decide whether to retrain, and start the training pipeline when it is time.

Signals, each optional (a missing one never triggers on its own), all counted from the last
reset (`state.last_reset`: the newer of the last trigger and the newest registered version):
- drift: the last `make drift` result (shared state, not the report file) judged the
  champion's traffic since the reset and found the dataset drifted;
- online quality, from the champion's feedback labels once at least
  `min_feedback_for_accuracy` arrived: classification accuracy below `min_online_accuracy`;
  regression MAE above `max_online_mae_ratio` x the champion's offline test MAE (its
  bundle's metrics);
- feedback volume: `feedback_volume` new labels;
- schedule: the reset is older than `max_model_age_days` (model age from lineage).
The decision is written to reports/retrain/decision.json; a real trigger is recorded in the
shared state (`monitoring.state`), so the signals it acted on do not trigger again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from {{ cookiecutter.package_name }}.contracts.bundle import read_bundle
from {{ cookiecutter.package_name }}.errors import UserError, one_line
from {{ cookiecutter.package_name }}.monitoring.run import dataset_spec
from {{ cookiecutter.package_name }}.monitoring.state import (
    DRIFT,
    RETRAIN,
    StateStore,
    last_reset,
    open_state,
    parse_time,
    stamp,
)
from {{ cookiecutter.package_name }}.monitoring.triggers import TriggerResult, make_trigger, send
from {{ cookiecutter.package_name }}.monitoring.window import (
    bound,
    has_predictions,
    log_url,
    read_window,
)
from {{ cookiecutter.package_name }}.predlog.store import make_engine, predictions
from {{ cookiecutter.package_name }}.registry import resolve_bundle
from {{ cookiecutter.package_name }}.settings import Settings

RETRAIN_DIR = Path("reports/retrain")
DECISION_FILE = "decision.json"


@dataclass(frozen=True)
class Signals:
    dataset_drift: bool | None = None
    drifted_features: list[str] = field(default_factory=list)
    online_accuracy: float | None = None  # classification
    online_mae: float | None = None  # regression
    offline_mae: float | None = None  # the champion's test MAE (regression)
    labelled: int = 0
    new_feedback: int = 0
    last_trained_at: str | None = None
    model_age_days: float | None = None


@dataclass(frozen=True)
class RetrainDecision:
    retrain: bool
    reasons: list[str]
    signals: Signals
    decided_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "retrain": self.retrain,
            "reasons": self.reasons,
            "decided_at": self.decided_at,
            "signals": asdict(self.signals),
        }


def decide(
    signals: Signals, settings: Settings, *, force: bool = False, now: datetime | None = None
) -> RetrainDecision:
    """Pure decision from the signals and the thresholds in `monitoring.retrain`."""
    config = settings.monitoring.retrain
    reasons: list[str] = []
    if force:
        reasons.append("forced (--force)")
    if signals.dataset_drift:
        shown = ", ".join(signals.drifted_features[:5]) or "predictions"
        reasons.append(f"data drift detected ({shown})")
    if (
        signals.online_accuracy is not None
        and signals.labelled >= config.min_feedback_for_accuracy
        and signals.online_accuracy < config.min_online_accuracy
    ):
        reasons.append(
            f"online accuracy {signals.online_accuracy:.3f} < {config.min_online_accuracy} "
            f"over {signals.labelled} labels"
        )
    mae_limit = (
        None if signals.offline_mae is None else config.max_online_mae_ratio * signals.offline_mae
    )
    if (
        signals.online_mae is not None
        and mae_limit is not None
        and signals.labelled >= config.min_feedback_for_accuracy
        and signals.online_mae > mae_limit
    ):
        reasons.append(
            f"online MAE {signals.online_mae:.4g} > {config.max_online_mae_ratio} x offline MAE "
            f"{signals.offline_mae:.4g} over {signals.labelled} labels"
        )
    if signals.new_feedback >= config.feedback_volume:
        reasons.append(f"{signals.new_feedback} new feedback labels >= {config.feedback_volume}")
    if signals.model_age_days is None:
        reasons.append("no trained model or previous retrain recorded")
    elif signals.model_age_days >= config.max_model_age_days:
        reasons.append(
            f"schedule: last training {signals.model_age_days:.1f} days ago "
            f">= {config.max_model_age_days}"
        )
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    return RetrainDecision(bool(reasons), reasons, signals, stamp)


def _count_feedback_since(url: str, since: datetime | None) -> int:
    engine = make_engine(url)
    try:
        if not inspect(engine).has_table(predictions.name):
            return 0
        condition: ColumnElement[bool] = predictions.c.label.is_not(None)
        if since is not None:
            condition = and_(condition, predictions.c.feedback_at > bound(engine, since))
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).where(condition)).scalar_one())
    except SQLAlchemyError as error:
        detail = one_line(error)
        raise UserError(f"cannot read the prediction log ({detail}); check DATABASE_URL") from None
    finally:
        engine.dispose()


def current_drift(store: StateStore, reset: datetime | None) -> dict[str, Any] | None:
    """The last drift result when it judged traffic after the last reset; None when stale
    (it was acted on, or a newer model was registered since) or when there is none."""
    drift = store.load(DRIFT)
    if drift is None or drift.get("dataset_drift") is None:
        return None
    since = parse_time(drift.get("since"))
    if reset is not None and (since is None or since < reset):
        return None
    return drift


def offline_mae(settings: Settings) -> float | None:
    """The champion's test MAE from its bundle's metrics (None without one)."""
    try:
        return read_bundle(resolve_bundle("champion", settings)).metrics.get("mae")
    except UserError:
        return None


def gather_signals(settings: Settings, *, now: datetime | None = None) -> Signals:
    """Read the last drift result and retrain trigger (shared state), the newest registered
    version's lineage and the champion's traffic in the prediction log since the last reset."""
    now = now or datetime.now(UTC)
    store = open_state(settings)
    reset = last_reset(settings, store)
    drift = current_drift(store, reset)
    classification = dataset_spec(settings).is_classification
    accuracy, mae, labelled, new_feedback = None, None, 0, 0
    try:
        url: str | None = log_url(settings)
    except UserError:
        url = None  # no traffic logged yet: accuracy and feedback signals are absent
    if url is not None and has_predictions(url):
        window = read_window(
            url, settings.monitoring.window_size, since=reset, classification=classification
        )
        accuracy, mae = window.online_accuracy(), window.online_mae()
        labelled = window.feedback_count
        new_feedback = _count_feedback_since(url, reset)
    return Signals(
        dataset_drift=bool(drift["dataset_drift"]) if drift else None,
        drifted_features=[str(name) for name in (drift or {}).get("drifted_features", [])],
        online_accuracy=accuracy,
        online_mae=mae,
        offline_mae=None if classification else offline_mae(settings),
        labelled=labelled,
        new_feedback=new_feedback,
        last_trained_at=reset.isoformat(timespec="seconds") if reset else None,
        model_age_days=(now - reset) / timedelta(days=1) if reset else None,
    )


def retrain_check(
    settings: Settings,
    *,
    dry_run: bool | None = None,
    force: bool = False,
    now: datetime | None = None,
) -> tuple[RetrainDecision, TriggerResult | None]:
    """Decide, trigger the configured system when needed, and record both."""
    config = settings.monitoring.retrain
    dry = config.dry_run if dry_run is None else dry_run
    now = now or datetime.now(UTC)
    decision = decide(gather_signals(settings, now=now), settings, force=force, now=now)
    result: TriggerResult | None = None
    trigger = make_trigger(config)
    if decision.retrain and trigger is not None:
        result = send(
            trigger.build("; ".join(decision.reasons)), dry_run=dry, timeout=config.timeout_s
        )
    directory = settings.resolve(RETRAIN_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    record = decision.to_dict() | {
        "trigger": config.trigger,
        "dry_run": dry,
        "request": result.request if result else None,
        "status": result.status if result else None,
    }
    (directory / DECISION_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if result is not None and not result.dry_run:
        open_state(settings).save(
            RETRAIN,
            {
                "triggered_at": stamp(now),
                "system": result.system,
                "status": result.status,
                "reasons": decision.reasons,
            },
        )
    return decision, result
