"""Decide whether to retrain, and start the training pipeline when it is time.

Signals, each optional (a missing one never triggers on its own):
- drift: the latest `make drift` report says the dataset drifted;
- online accuracy: measured from feedback labels, below `min_online_accuracy` once at least
  `min_feedback_for_accuracy` labels arrived;
- feedback volume: `feedback_volume` new labels since the last triggered retrain;
- schedule: the last retrain (or the champion bundle) is older than `max_model_age_days`.
The decision is written to reports/retrain/decision.json; a real trigger also records its
time in reports/retrain/state.json, which restarts the schedule and the feedback count.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, create_engine, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.monitoring.drift import REPORT_JSON
from {{ cookiecutter.package_name }}.monitoring.triggers import TriggerResult, make_trigger, send
from {{ cookiecutter.package_name }}.monitoring.window import log_url, read_window
from {{ cookiecutter.package_name }}.serving.predlog import predictions
from {{ cookiecutter.package_name }}.settings import Settings

RETRAIN_DIR = Path("reports/retrain")
DECISION_FILE = "decision.json"
STATE_FILE = "state.json"


@dataclass(frozen=True)
class Signals:
    dataset_drift: bool | None = None
    drifted_features: list[str] = field(default_factory=list)
    online_accuracy: float | None = None
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


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise UserError(
            f"{path} is not valid JSON; delete it or rerun the step that writes it"
        ) from None
    if not isinstance(data, dict):
        raise UserError(
            f"{path} must hold a JSON object; delete it or rerun the step that writes it"
        )
    return data


def _champion_trained_at(settings: Settings) -> datetime | None:
    try:
        from {{ cookiecutter.package_name }}.registry import resolve_bundle

        bundle = resolve_bundle("champion", settings)
    except (ImportError, UserError):
        return None
    config = bundle / "model_config.yaml"
    return datetime.fromtimestamp(config.stat().st_mtime, UTC) if config.is_file() else None


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _count_feedback_since(url: str, since: datetime | None) -> int:
    engine = create_engine(url)
    try:
        if not inspect(engine).has_table(predictions.name):
            return 0
        condition: ColumnElement[bool] = predictions.c.label.is_not(None)
        if since is not None:
            # SQLite stores naive UTC timestamps; PostgreSQL compares aware ones.
            bound = since.replace(tzinfo=None) if engine.dialect.name == "sqlite" else since
            condition = and_(condition, predictions.c.feedback_at > bound)
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).where(condition)).scalar_one())
    except SQLAlchemyError as error:
        detail = " ".join(str(error).split())[:200]
        raise UserError(f"cannot read the prediction log ({detail}); check DATABASE_URL") from None
    finally:
        engine.dispose()


def gather_signals(settings: Settings, *, now: datetime | None = None) -> Signals:
    """Read the drift report, the prediction log and the retrain state."""
    now = now or datetime.now(UTC)
    report = _read_json(settings.resolve(settings.monitoring.report_dir) / REPORT_JSON)
    state = _read_json(settings.resolve(RETRAIN_DIR) / STATE_FILE) or {}
    last_trigger = _parse_time(state.get("last_triggered_at"))
    candidates = [
        moment for moment in (last_trigger, _champion_trained_at(settings)) if moment is not None
    ]
    last_trained = max(candidates) if candidates else None
    accuracy, labelled, new_feedback = None, 0, 0
    serving = settings.serving
    try:
        url = log_url(serving.database_url, settings.resolve(serving.prediction_log))
    except UserError:
        url = None  # no traffic logged yet: accuracy and feedback signals are absent
    if url is not None:
        window = read_window(url, settings.monitoring.window_size)
        accuracy, labelled = window.online_accuracy(), window.feedback_count
        new_feedback = _count_feedback_since(url, last_trigger)
    return Signals(
        dataset_drift=bool(report["dataset_drift"])
        if report and "dataset_drift" in report
        else None,
        drifted_features=[str(name) for name in (report or {}).get("drifted_features", [])],
        online_accuracy=accuracy,
        labelled=labelled,
        new_feedback=new_feedback,
        last_trained_at=last_trained.isoformat(timespec="seconds") if last_trained else None,
        model_age_days=(now - last_trained) / timedelta(days=1) if last_trained else None,
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
        state = {
            "last_triggered_at": now.isoformat(timespec="seconds"),
            "system": result.system,
            "status": result.status,
        }
        (directory / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    return decision, result
