"""The retraining decision and the typed trigger clients (sent to a loopback server)."""

from __future__ import annotations

import base64
import json
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.monitoring import retrain as retrain_module
from {{ cookiecutter.package_name }}.monitoring import state as state_module
from {{ cookiecutter.package_name }}.monitoring.retrain import (
    Signals,
    decide,
    retrain_check,
)
from {{ cookiecutter.package_name }}.monitoring.state import DRIFT, RETRAIN, open_state, stamp
from {{ cookiecutter.package_name }}.monitoring.triggers import (
    AirflowTrigger,
    GitHubWorkflowTrigger,
    JenkinsTrigger,
    KubeflowTrigger,
    send,
)
from {{ cookiecutter.package_name }}.monitoring.window import log_url
from {{ cookiecutter.package_name }}.settings import (
    AirflowTriggerSettings,
    GitHubTriggerSettings,
    JenkinsTriggerSettings,
    KubeflowTriggerSettings,
    Settings,
    load_settings,
)

import factories
from factories import PROJECT_ROOT

NOW = datetime(2025, 6, 1, tzinfo=UTC)
FRESH = Signals(dataset_drift=False, online_accuracy=0.95, labelled=200, model_age_days=3.0)
FRESH_REGRESSION = Signals(
    dataset_drift=False, online_mae=11.0, offline_mae=10.0, labelled=200, model_age_days=3.0
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(project_root=tmp_path)


def test_all_signals_within_thresholds_means_no_retrain(settings: Settings) -> None:
    decision = decide(FRESH, settings, now=NOW)
    assert decision.retrain is False
    assert decision.reasons == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"dataset_drift": True, "drifted_features": ["mean_radius"]}, "data drift"),
        ({"online_accuracy": 0.6}, "online accuracy 0.600"),
        ({"new_feedback": 500}, "500 new feedback labels"),
        ({"model_age_days": 45.0}, "schedule"),
        ({"model_age_days": None}, "no trained model"),
    ],
)
def test_each_signal_alone_triggers(
    settings: Settings, change: dict[str, Any], reason: str
) -> None:
    decision = decide(Signals(**(FRESH.__dict__ | change)), settings, now=NOW)
    assert decision.retrain is True
    assert len(decision.reasons) == 1
    assert reason in decision.reasons[0]


def test_low_accuracy_on_too_few_labels_is_not_trusted(settings: Settings) -> None:
    signals = Signals(**(FRESH.__dict__ | {"online_accuracy": 0.5, "labelled": 10}))
    assert decide(signals, settings, now=NOW).retrain is False


def test_regression_retrains_when_online_mae_exceeds_the_offline_bound(settings: Settings) -> None:
    """Online MAE above `max_online_mae_ratio` x the champion's test MAE (1.25 x 10)."""
    assert decide(FRESH_REGRESSION, settings, now=NOW).retrain is False
    worse = Signals(**(FRESH_REGRESSION.__dict__ | {"online_mae": 12.6}))
    decision = decide(worse, settings, now=NOW)
    assert decision.retrain is True
    assert decision.reasons == ["online MAE 12.6 > 1.25 x offline MAE 10 over 200 labels"]
    few = Signals(**(worse.__dict__ | {"labelled": 10}))
    assert decide(few, settings, now=NOW).retrain is False
    unknown = Signals(**(worse.__dict__ | {"offline_mae": None}))  # no champion metrics
    assert decide(unknown, settings, now=NOW).retrain is False


class _Recorder(BaseHTTPRequestHandler):
    status = 204
    received: list[dict[str, Any]] = []  # noqa: RUF012 - shared with the test on purpose

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if self.path == "/auth/token":  # Airflow 3 issues a JWT for user + password
            payload = json.dumps({"access_token": "jwt-" + json.loads(body)["username"]}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Recorder", (_Recorder,), {"received": [], "status": 204})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_github_dispatch_is_sent_with_the_token(
    receiver: tuple[str, type[_Recorder]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = receiver
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret")
    trigger = GitHubWorkflowTrigger(GitHubTriggerSettings(repository="acme/model", api_url=url))
    request = trigger.build("data drift")
    assert "ghs_secret" not in json.dumps(request.describe())
    result = send(request, dry_run=False, timeout=5)
    assert result.status == 204
    (hit,) = handler.received
    assert hit["path"] == "/repos/acme/model/actions/workflows/train.yml/dispatches"
    assert hit["headers"]["Authorization"] == "Bearer ghs_secret"
    assert json.loads(hit["body"]) == {"ref": "main"}


def test_dry_run_sends_nothing(receiver: tuple[str, type[_Recorder]]) -> None:
    url, handler = receiver
    trigger = JenkinsTrigger(JenkinsTriggerSettings(url=url, job="train"))
    result = send(trigger.build("schedule"), dry_run=True, timeout=5)
    assert result.dry_run and result.status is None
    assert result.missing == ("JENKINS_USER", "JENKINS_TOKEN")
    assert handler.received == []


def test_jenkins_airflow_kubeflow_requests(
    receiver: tuple[str, type[_Recorder]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = receiver
    for name, value in {"JENKINS_USER": "bot", "JENKINS_TOKEN": "t1", "AIRFLOW_USER": "af",
                        "AIRFLOW_PASSWORD": "pw", "KFP_TOKEN": "k"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    handler.status = 201
    send(JenkinsTrigger(JenkinsTriggerSettings(url=url, job="model train")).build("r"),
         dry_run=False, timeout=5)  # fmt: skip
    handler.status = 200
    send(AirflowTrigger(AirflowTriggerSettings(url=url, dag_id="training")).build("drift"),
         dry_run=False, timeout=5)  # fmt: skip
    kubeflow = KubeflowTrigger(KubeflowTriggerSettings(host=url, pipeline_id="p-1"))
    send(kubeflow.build("drift"), dry_run=False, timeout=5)
    jenkins, token, airflow, kfp = handler.received
    assert jenkins["path"] == "/job/model%20train/build"
    assert jenkins["headers"]["Authorization"] == "Basic " + base64.b64encode(b"bot:t1").decode()
    assert token["path"] == "/auth/token"
    assert json.loads(token["body"]) == {"username": "af", "password": "pw"}
    assert airflow["path"] == "/api/v2/dags/training/dagRuns"
    assert airflow["headers"]["Authorization"] == "Bearer jwt-af"
    assert json.loads(airflow["body"]) == {"logical_date": None, "conf": {"reason": "drift"}}
    assert kfp["path"] == "/apis/v2beta1/runs"
    assert kfp["headers"]["Authorization"] == "Bearer k"
    assert json.loads(kfp["body"])["pipeline_version_reference"] == {"pipeline_id": "p-1"}
    described = json.dumps(AirflowTrigger(AirflowTriggerSettings(url=url)).build("r").describe())
    assert "pw" not in described


def test_refusals_and_bad_config_are_user_errors(
    receiver: tuple[str, type[_Recorder]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = receiver
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    github = GitHubWorkflowTrigger(GitHubTriggerSettings(api_url=url))
    with pytest.raises(UserError, match="set GITHUB_TOKEN"):
        send(github.build("r"), dry_run=False, timeout=5)
    monkeypatch.setenv("GITHUB_TOKEN", "x")
    handler.status = 404
    with pytest.raises(UserError, match="HTTP 404"):
        send(github.build("r"), dry_run=False, timeout=5)
    with pytest.raises(UserError, match="must start with http"):
        GitHubWorkflowTrigger(GitHubTriggerSettings(api_url="file:///etc")).build("r")
    with pytest.raises(UserError, match="pipeline_id"):
        send(
            KubeflowTrigger(KubeflowTriggerSettings(host=url)).build("r"), dry_run=False, timeout=5
        )


def _project(tmp_path: Path, url: str) -> Settings:
    shutil.copytree(PROJECT_ROOT / "configs", tmp_path / "configs")
    return load_settings(
        project_root=tmp_path,
        monitoring={"retrain": {"trigger": "github", "github": {"api_url": url}}},
    )


def test_online_accuracy_from_string_labels_in_the_log(tmp_path: Path) -> None:
    """Multiclass string labels and features with nulls: 60% right is below 0.85."""
    settings = factories.make_project(tmp_path, "multiclass")
    frame = factories.make_frame("multiclass", 100, seed=1)
    labels = [str(value) for value in frame.pop("target")]
    predicted = [label if index % 5 < 3 else "low" if label != "low" else "mid"
                 for index, label in enumerate(labels)]  # fmt: skip
    factories.log_predictions(settings, frame, predicted, [0.7] * 100, labels,
                       start=NOW - timedelta(hours=2))  # fmt: skip
    decision, _ = retrain_check(settings, dry_run=True, now=NOW)
    assert decision.signals.online_accuracy == pytest.approx(0.6)
    assert decision.signals.labelled == 100 and decision.signals.online_mae is None
    assert any("online accuracy 0.600 < 0.85 over 100 labels" in r for r in decision.reasons)


def test_online_mae_against_the_champions_offline_mae(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = factories.make_project(tmp_path, "regression")
    frame = factories.make_frame("regression", 100, seed=2)
    actual = [float(value) for value in frame.pop("target")]
    predicted = [value + (15.0 if index % 2 else -15.0) for index, value in enumerate(actual)]
    factories.log_predictions(settings, frame, predicted, predicted, actual,
                       start=NOW - timedelta(hours=2))  # fmt: skip
    monkeypatch.setattr(retrain_module, "offline_mae", lambda _settings: 10.0)
    decision, _ = retrain_check(settings, dry_run=True, now=NOW)
    signals = decision.signals
    assert signals.online_mae == pytest.approx(15.0) and signals.offline_mae == 10.0
    assert signals.online_accuracy is None
    assert any("online MAE 15 > 1.25 x offline MAE 10" in reason for reason in decision.reasons)
    monkeypatch.setattr(retrain_module, "offline_mae", lambda _settings: 13.0)
    decision, _ = retrain_check(settings, dry_run=True, now=NOW)
    assert not any("online MAE" in reason for reason in decision.reasons)


def test_offline_mae_is_read_from_the_champion_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from {{ cookiecutter.package_name }}.contracts.bundle import write_bundle_config

    settings = factories.make_project(tmp_path, "regression")
    assert retrain_module.offline_mae(settings) is None  # nothing registered
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    config = settings.read_model_config().model_dump(mode="json")
    write_bundle_config(bundle, config | {"metrics": {"rmse": 12.0, "mae": 9.5, "r2": 0.4}})
    monkeypatch.setattr(retrain_module, "resolve_bundle", lambda alias, _settings: bundle)
    assert retrain_module.offline_mae(settings) == 9.5


def _drift(settings: Settings, *, drifted: bool, since: datetime | None) -> None:
    """A drift result as `make drift` records it in the shared state."""
    open_state(settings).save(
        DRIFT,
        {"dataset_drift": drifted, "drifted_features": ["mean_area"] if drifted else [],
         "since": stamp(since), "checked_at": stamp(NOW)},
    )  # fmt: skip


def test_retrain_check_records_the_decision_and_state(
    tmp_path: Path, receiver: tuple[str, type[_Recorder]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = receiver
    monkeypatch.setenv("GITHUB_TOKEN", "x")
    settings = _project(tmp_path, url)
    _drift(settings, drifted=True, since=None)
    decision, result = retrain_check(settings, dry_run=True, now=NOW)
    assert decision.retrain and result is not None and result.dry_run
    assert handler.received == []
    recorded = json.loads((tmp_path / "reports/retrain/decision.json").read_text())
    assert recorded["retrain"] is True and recorded["dry_run"] is True
    assert open_state(settings).load(RETRAIN) is None

    decision, result = retrain_check(settings, dry_run=False, now=NOW)
    assert result is not None and result.status == 204
    assert len(handler.received) == 1
    state = open_state(settings).load(RETRAIN)
    assert state is not None and state["triggered_at"] == stamp(NOW)

    # A day later the same drift result (and a stale report file) was already acted on.
    report = tmp_path / "reports/drift/drift_report.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"dataset_drift": True, "drifted_features": ["mean_area"]}))
    later = NOW + timedelta(days=1)
    decision, result = retrain_check(settings, dry_run=False, now=later)
    assert decision.retrain is False and result is None, decision.reasons
    assert decision.signals.model_age_days == pytest.approx(1.0)
    assert len(handler.received) == 1

    # Drift measured on traffic after the trigger is new evidence: yes once more.
    _drift(settings, drifted=True, since=NOW)
    decision, _ = retrain_check(settings, dry_run=True, now=later)
    assert decision.retrain is True and "data drift" in decision.reasons[0]


def test_a_newer_registered_version_resets_the_signals(
    tmp_path: Path, receiver: tuple[str, type[_Recorder]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _project(tmp_path, receiver[0])
    _drift(settings, drifted=True, since=NOW - timedelta(days=3))
    trained = NOW - timedelta(days=2)  # the lineage of the newest version, not a file time
    monkeypatch.setattr(state_module, "last_registered_at", lambda _settings: trained)
    decision, _ = retrain_check(settings, dry_run=True, now=NOW)
    assert decision.retrain is False, decision.reasons
    assert decision.signals.model_age_days == pytest.approx(2.0)
    assert decision.signals.last_trained_at == trained.isoformat(timespec="seconds")


def test_one_resolver_for_the_log_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Server, drift and retrain-check read the same log: setting, DATABASE_URL, Secret file."""
    from {{ cookiecutter.package_name }}.serving.app import prediction_log_url

    secret = tmp_path / "secret/database-url"
    secret.parent.mkdir()
    secret.write_text("postgresql://log:pw@db:5432/log\n")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = load_settings(project_root=tmp_path, serving={"database_url_file": secret})
    assert log_url(settings) == prediction_log_url(settings)
    assert log_url(settings) == "postgresql+psycopg://log:pw@db:5432/log"
    monkeypatch.setenv("DATABASE_URL", "sqlite:///from-env.db")
    assert log_url(settings) == prediction_log_url(settings) == "sqlite:///from-env.db"
    settings = load_settings(project_root=tmp_path, serving={"database_url": "sqlite:///set.db"})
    assert log_url(settings) == prediction_log_url(settings) == "sqlite:///set.db"
