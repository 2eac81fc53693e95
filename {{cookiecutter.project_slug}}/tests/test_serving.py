"""The model server over HTTP: predictions, validation, feedback, metrics, shadow routing."""

from __future__ import annotations

import json
import resource
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from {{ cookiecutter.package_name }}.data import sample_frame
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.feedback import unknown_id_error
from {{ cookiecutter.package_name }}.serving.hotpath import RequestIds
from {{ cookiecutter.package_name }}.serving.model import LoadedModel, load_bundle
from {{ cookiecutter.package_name }}.serving.schema import Feature
from {{ cookiecutter.package_name }}.settings import ServingSettings, Settings, load_settings

JSON = "application/json"
METRIC_NAMES = (
    "model_requests_total",
    "model_request_latency_seconds_bucket",
    "model_prediction_confidence_bucket",
    "model_predictions_total",
    "model_routed_requests_total",
    "model_feedback_total",
    "model_feedback_correct_total",
    "model_up",
)


@cache
def fitted(c: float = 1.0) -> tuple[Pipeline, list[str], np.ndarray]:
    frame = sample_frame()
    names = [name for name in frame.columns if name != "target"]
    x = frame[names].to_numpy()
    model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(C=c))
    model.fit(x, frame["target"].to_numpy())
    return model, names, x


def as_served(version: str, c: float = 1.0) -> tuple[LoadedModel, np.ndarray]:
    clf, names, x = fitted(c)

    def predict(rows: Any) -> np.ndarray:
        return np.asarray(clf.predict_proba(np.asarray(rows, dtype=np.float64)))

    features = [Feature(name, numeric=True) for name in names]
    return LoadedModel(version, features, "test", None, predict), x


@pytest.fixture(scope="module")
def champion() -> tuple[LoadedModel, np.ndarray]:
    return as_served("v1")


def make_settings(tmp_path: Path, **serving: Any) -> Settings:
    # routing "single" unless a test says otherwise: the rendered default may be another.
    base = {
        "prediction_log": tmp_path / "predictions.db",
        "max_batch_size": 50,
        "routing": "single",
    }
    return load_settings(project_root=tmp_path, serving=ServingSettings(**(base | serving)))


@pytest.fixture
def client(tmp_path: Path, champion: tuple[LoadedModel, np.ndarray]) -> Iterator[TestClient]:
    app = create_app(make_settings(tmp_path), champion=champion[0])
    with TestClient(app) as test_client:
        yield test_client


def row(x: np.ndarray, index: int, names: list[str]) -> dict[str, float]:
    return {name: float(value) for name, value in zip(names, x[index], strict=True)}


def test_health_ready_and_model(client: TestClient, champion: Any) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["model_version"] == "v1"
    info = client.get("/model").json()
    assert info["champion"]["version"] == "v1"
    assert info["champion"]["features"] == champion[0].feature_names
    assert info["routing"]["strategy"] == "single"


def test_predict_matches_the_model(client: TestClient, champion: Any) -> None:
    model, x = champion
    rows = [row(x, i, model.feature_names) for i in range(5)]
    response = client.post("/predict", json={"instances": rows})
    assert response.status_code == 200
    body = response.json()
    expected = model.predict([tuple(r.values()) for r in rows])[:, 1]
    assert np.allclose(body["probabilities"], expected)
    assert body["predictions"] == [int(p >= 0.5) for p in expected]
    assert body["model_version"] == "v1"
    assert len(body["request_ids"]) == 5
    assert response.headers["x-request-id"] == body["request_id"]


@pytest.mark.parametrize("fmt", ["dataframe_split", "dataframe_records", "instances", "inputs"])
def test_invocations_accept_mlflow_payloads(client: TestClient, champion: Any, fmt: str) -> None:
    model, x = champion
    names = model.feature_names
    rows = [row(x, i, names) for i in range(3)]
    payload: dict[str, Any] = {
        "dataframe_split": {"columns": names, "data": [list(r.values()) for r in rows]},
        "dataframe_records": rows,
        "instances": rows,
        "inputs": {name: [r[name] for r in rows] for name in names},
    }
    response = client.post("/invocations", json={fmt: payload[fmt]})
    assert response.status_code == 200, response.text
    reference = client.post("/predict", json={"instances": rows}).json()["predictions"]
    assert response.json() == {"predictions": reference}


def bad_requests(names: list[str], good: dict[str, float]) -> list[tuple[str, Any, int, str]]:
    first = names[0]
    wrong_type = good | {first: "abc"}
    missing = {k: v for k, v in good.items() if k != first}
    nan = json.dumps({"instances": [good]}).replace(str(good[first]), "NaN", 1)
    inf = json.dumps({"instances": [good]}).replace(str(good[first]), "1e999", 1)
    return [
        ("wrong type", {"instances": [wrong_type]}, 422, first),
        ("missing feature", {"instances": [missing]}, 422, first),
        ("NaN", nan, 422, first),
        ("infinity", inf, 422, first),
        ("empty batch", {"instances": []}, 422, "instances"),
        ("batch too large", {"instances": [good] * 51}, 422, "instances"),
        ("not an object", [good], 422, "instances"),
        ("malformed JSON", '{"instances": [', 400, "JSON"),
        ("bool as number", {"instances": [good | {first: True}]}, 422, first),
    ]


def test_bad_input_is_4xx_naming_the_field(client: TestClient, champion: Any) -> None:
    model, x = champion
    good = row(x, 0, model.feature_names)
    for case, body, status, field in bad_requests(model.feature_names, good):
        content = body if isinstance(body, str) else json.dumps(body)
        response = client.post(
            "/predict", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == status, (case, response.text)
        assert field in response.json()["detail"], (case, response.json())
    # ... and the server keeps serving.
    assert client.post("/predict", json={"instances": [good]}).status_code == 200


def test_bad_transport_is_4xx(client: TestClient, champion: Any) -> None:
    model, x = champion
    good = json.dumps({"instances": [row(x, 0, model.feature_names)]})
    wrong_type = client.post("/predict", content=good, headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 415
    assert "content-type" in wrong_type.json()["detail"]
    huge = json.dumps({"instances": [{"x": "y" * 2_000_000}]})
    too_big = client.post("/predict", content=huge, headers={"content-type": "application/json"})
    assert too_big.status_code == 413
    assert "maximum" in too_big.json()["detail"]
    # /invocations answers as `mlflow models serve`: 400 with MLflow's error body.
    unknown = client.post("/invocations", json={"rows": []})
    assert unknown.status_code == 400
    assert unknown.json()["error_code"] == "BAD_REQUEST"
    assert "rows" in unknown.json()["message"]
    mismatch = client.post(
        "/invocations", json={"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}
    )
    assert mismatch.status_code == 400
    assert "dataframe_split.data[0]" in mismatch.json()["message"]
    assert client.get("/predict").status_code == 405


def error_text(response: Any) -> str:
    """The message of our error body (`detail`) or MLflow's (`message`, /invocations)."""
    body = response.json()
    return str(body.get("detail") or body["message"])


def test_fast_path_and_pydantic_agree(client: TestClient, champion: Any) -> None:
    """Valid rows skip pydantic; anything the fast check refuses still gets a named 4xx."""
    model, x = champion
    names = model.feature_names
    good = row(x, 0, names)
    as_ints = {name: round(value) for name, value in good.items()}
    ints = client.post("/predict", json={"instances": [as_ints]})
    assert ints.status_code == 200, ints.text
    expected = model.predict([tuple(float(v) for v in as_ints.values())])[:, 1]
    assert np.allclose(ints.json()["probabilities"], expected)
    nan = json.dumps({"dataframe_records": [good]}).replace(str(good[names[1]]), "NaN", 1)
    cases: list[tuple[str, str, int, str]] = [
        ("/invocations", nan, 400, f"dataframe_records[0].{names[1]}"),
        (
            "/invocations",
            json.dumps({"dataframe_split": {"columns": names, "data": [[True] * len(names)]}}),
            400,
            names[0],
        ),
        ("/feedback", json.dumps({"request_id": "a", "label": "one"}), 422, "label"),
        ("/feedback", json.dumps({"request_id": "", "label": 1}), 422, "request_id"),
        ("/feedback", json.dumps({"request_id": "a", "label": 1, "x": 1}), 422, "x"),
        ("/feedback", '{"request_id": "a", "label": ', 400, "JSON"),
    ]
    for route, content, status, field in cases:
        response = client.post(route, content=content, headers={"content-type": JSON})
        assert response.status_code == status, (route, content[:60], response.text)
        assert field in error_text(response), (route, response.json())


def test_null_is_a_missing_value_the_model_imputes(client: TestClient, champion: Any) -> None:
    model, x = champion
    names = model.feature_names
    gap = row(x, 0, names) | {names[2]: None}
    predicted = client.post("/predict", json={"instances": [gap]})
    assert predicted.status_code == 200, predicted.text
    expected = model.predict([tuple(gap.values())])[:, 1]  # None -> NaN -> the imputer
    assert np.allclose(predicted.json()["probabilities"], expected)
    invoked = client.post(
        "/invocations", json={"dataframe_split": {"columns": names, "data": [list(gap.values())]}}
    )
    assert invoked.status_code == 200, invoked.text
    assert invoked.json()["predictions"] == predicted.json()["predictions"]
    # CSV has no null: an empty cell is the missing value.
    header = ",".join(names)
    cells = ",".join("" if value is None else repr(value) for value in gap.values())
    csv = client.post(
        "/invocations", content=f"{header}\n{cells}\n", headers={"content-type": "text/csv"}
    )
    assert csv.status_code == 200, csv.text
    assert csv.json()["predictions"] == predicted.json()["predictions"]


def record_server(tmp_path: Path, **serving: Any) -> TestClient:
    """A server whose model has the id column `customer_id` (`dataset.id_columns`)."""
    model, _ = as_served("v1")
    model.id_columns = ("customer_id",)
    return TestClient(create_app(make_settings(tmp_path, **serving), champion=model))


def logged(tmp_path: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(tmp_path / "predictions.db") as connection:
        return connection.execute(
            "SELECT features, ids FROM predictions ORDER BY request_id"
        ).fetchall()


def test_a_client_record_is_scored_its_ids_logged_and_echoed(tmp_path: Path, champion: Any) -> None:
    """Clients send records: id columns are logged and echoed, other fields ignored."""
    model, x = champion
    names = model.feature_names
    features = row(x, 0, names)
    record = {"customer_id": "C-17", **features, "signup": "2024-05-01", "note": None}
    with record_server(tmp_path) as client:
        plain = client.post("/predict", json={"instances": [features]}).json()
        answer = client.post("/predict", json={"instances": [record, features]})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["ids"] == [{"customer_id": "C-17"}, {}]
        assert body["predictions"][0] == plain["predictions"][0]
        assert "ids" not in plain  # a features-only request answers as before
        invoked = client.post("/invocations", json={"dataframe_records": [record]})
        assert invoked.status_code == 200, invoked.text
        assert invoked.json() == {
            "predictions": plain["predictions"],
            "ids": [{"customer_id": "C-17"}],
        }
        header = ",".join(["customer_id", *names, "signup"])
        cells = ",".join(["C-18", *map(repr, features.values()), "2024-05-02"])
        csv = client.post(
            "/invocations", content=f"{header}\n{cells}\n", headers={"content-type": "text/csv"}
        )
        assert csv.status_code == 200, csv.text
        assert csv.json()["ids"] == [{"customer_id": "C-18"}]
    rows = logged(tmp_path)
    assert {ids for _, ids in rows} == {None, '{"customer_id": "C-17"}', '{"customer_id": "C-18"}'}
    assert all(set(json.loads(features_json)) == set(names) for features_json, _ in rows)


def test_extra_fields_reject_names_the_field(tmp_path: Path, champion: Any) -> None:
    model, x = champion
    features = row(x, 0, model.feature_names)
    with record_server(tmp_path, extra_fields="reject") as client:
        ids_only = client.post("/predict", json={"instances": [{"customer_id": 7, **features}]})
        assert ids_only.status_code == 200, ids_only.text
        assert ids_only.json()["ids"] == [{"customer_id": 7}]
        extra = client.post("/predict", json={"instances": [features | {"note": "x"}]})
        assert extra.status_code == 422
        assert "instances[0].note" in extra.json()["detail"]
        assert "serving.extra_fields" in extra.json()["detail"]
        split = {"columns": [*features, "note"], "data": [[*features.values(), "x"]]}
        invoked = client.post("/invocations", json={"dataframe_split": split})
        assert invoked.status_code == 400 and "note" in invoked.json()["message"]
        bad_id = client.post("/predict", json={"instances": [{"customer_id": [1], **features}]})
        assert bad_id.status_code == 422 and "customer_id" in bad_id.json()["detail"]


def test_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no content-length: the limit is enforced while reading
        yield b'{"instances": [{"x": "'
        for _ in range(40):
            yield b"y" * 65_536
        yield b'"}]}'

    response = client.post("/predict", content=chunks(), headers={"content-type": JSON})
    assert response.status_code == 413
    assert "maximum" in response.json()["detail"]


def test_feedback_updates_log_and_accuracy(client: TestClient, champion: Any) -> None:
    model, x = champion
    body = client.post("/predict", json={"instances": [row(x, 0, model.feature_names)]}).json()
    label = body["predictions"][0]
    ack = client.post("/feedback", json={"request_id": body["request_id"], "label": label})
    assert ack.status_code == 200, ack.text
    assert ack.json() == {
        "request_id": body["request_id"],
        "model_version": "v1",
        "correct": True,
        "duplicate": False,
    }
    unknown = client.post("/feedback", json={"request_id": "nope", "label": 1})
    assert unknown.status_code == 404
    assert "request_id" in unknown.json()["detail"]
    # On a log shared by replicas, an id of our format issued moments ago may still be
    # held by another replica: retryable, never 404. On this server's own SQLite log its
    # labels queue behind its predictions, so an unknown id was never acknowledged.
    recent = RequestIds().next()
    assert client.post("/feedback", json={"request_id": recent, "label": 1}).status_code == 404
    shared = unknown_id_error(recent, shared_log=True)
    assert shared.status == 503 and "not stored yet" in shared.message
    assert unknown_id_error("0" * 32, shared_log=True).status == 404  # issued in 1970
    for wrong in (3, "1", True, 1.0, None):
        bad_label = client.post(
            "/feedback", json={"request_id": body["request_id"], "label": wrong}
        )
        assert bad_label.status_code == 422, wrong
        detail = bad_label.json()["detail"]
        assert detail.startswith("label: ") and "(0, 1)" in detail, detail
    metrics = client.get("/metrics").text
    # Online accuracy as two counters that sum across replicas (the rules take the ratio).
    assert 'model_feedback_correct_total{model_version="v1"} 1.0' in metrics
    assert 'model_feedback_total{model_version="v1"} 1.0' in metrics
    # A multi-row request's id names no row: the answer says which ids to use.
    pair = [row(x, 1, model.feature_names), row(x, 2, model.feature_names)]
    batch = client.post("/predict", json={"instances": pair}).json()
    whole = client.post("/feedback", json={"request_id": batch["request_id"], "label": 1})
    assert whole.status_code == 422 and "request_ids" in whole.json()["detail"]
    each = client.post("/feedback", json={"request_id": batch["request_ids"][1], "label": 1})
    assert each.status_code == 200


def test_metrics_carry_the_contract_names(
    client: TestClient, champion: Any, tmp_path: Path
) -> None:
    model, x = champion
    client.post("/predict", json={"instances": [row(x, i, model.feature_names) for i in range(4)]})
    client.post("/predict", json={"instances": []})
    body = client.post("/predict", json={"instances": [row(x, 0, model.feature_names)]}).json()
    client.post("/feedback", json={"request_id": body["request_id"], "label": 1})
    report = tmp_path / "reports" / "drift" / "drift_report.json"
    report.parent.mkdir(parents=True)
    scores = {"features": {"mean_radius": {"psi": 0.31}}, "prediction": {"psi": 0.02}}
    report.write_text(json.dumps(scores))
    text = client.get("/metrics").text
    for name in METRIC_NAMES:
        series = [line for line in text.splitlines() if line.startswith(name + "{")]
        assert series, name
        assert all('model_version="' in line for line in series), name
    assert 'model_requests_total{model_version="v1",route="/predict",status="200"} 2.0' in text
    assert 'model_requests_total{model_version="v1",route="/predict",status="422"} 1.0' in text
    # Probes and scrapes are counted apart: they never look like client traffic.
    client.get("/health")
    client.get("/ready")
    text = client.get("/metrics").text
    assert 'route="/health"' not in "".join(
        line for line in text.splitlines() if line.startswith("model_requests_total")
    )
    assert 'model_probe_requests_total{route="/health",status="200"} 1.0' in text
    assert 'model_probe_requests_total{route="/metrics",status="200"}' in text
    assert "model_prediction_log_rows_stored_total" in text
    assert "model_prediction_log_rows_not_stored_total 0.0" in text
    assert "model_prediction_log_healthy 1.0" in text
    assert 'le="0.005"' in text  # millisecond-scale latency buckets
    assert "process_cpu_seconds_total" in text
    assert 'model_feature_drift_score{feature="mean_radius",method="psi"} 0.31' in text
    assert 'model_prediction_drift_score{method="psi"} 0.02' in text


def test_predictions_are_logged(tmp_path: Path, champion: Any) -> None:
    model, x = champion
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings, champion=model)) as client:
        body = client.post("/predict", json={"instances": [row(x, 3, model.feature_names)]}).json()
        client.post("/feedback", json={"request_id": body["request_id"], "label": 0})
    # Leaving the client ran the shutdown: the writer flushed everything.
    with sqlite3.connect(tmp_path / "predictions.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        logged = db.execute(
            "SELECT model_version, role, features, prediction, score, label "
            "FROM predictions WHERE request_id = ?",
            (body["request_id"],),
        ).fetchone()
    version, role, features, predicted, score, label = logged
    assert (version, role) == ("v1", "champion")
    assert json.loads(predicted) == body["predictions"][0] and label == "0"  # JSON text
    assert json.loads(features) == row(x, 3, model.feature_names)
    assert score == pytest.approx(body["probabilities"][0])


def test_log_back_pressure_is_503(tmp_path: Path, champion: Any) -> None:
    """`buffered`: answered once queued, until the queue is full (503 with Retry-After)."""
    model, x = champion
    settings = make_settings(tmp_path, log_queue_size=1, durability="buffered")
    app = create_app(settings, champion=model)
    with TestClient(app) as client:
        predlog = app.state.serving.predlog
        predlog._tick = lambda: None  # the pump stops sending: the queue can only fill up
        time.sleep(0.1)  # the timer armed before runs once more
        statuses = [
            client.post("/predict", json={"instances": [row(x, 0, model.feature_names)]})
            for _ in range(3)
        ]
        predlog.close(timeout=1)
    assert statuses[0].status_code == 200
    assert statuses[-1].status_code == 503
    assert statuses[-1].headers["retry-after"] == "1"


def test_an_acknowledged_prediction_is_a_stored_one(tmp_path: Path, champion: Any) -> None:
    """`durability: commit` (the default): every 200's request_id is in the database when the
    answer arrives; while the database cannot commit (a full disk) the answer is a 503 with
    Retry-After and nothing of that request is stored; commits resume after the fault."""
    model, x = champion
    app = create_app(make_settings(tmp_path, durability="commit"), champion=model)
    instances = {"instances": [row(x, 0, model.feature_names)]}
    database = tmp_path / "predictions.db"

    def stored() -> set[str]:
        with sqlite3.connect(database) as db:
            return {row_id for (row_id,) in db.execute("SELECT request_id FROM predictions")}

    with TestClient(app) as client:
        for _ in range(5):
            answer = client.post("/predict", json=instances)
            assert answer.status_code == 200 and answer.json()["request_id"] in stored()
        predlog = app.state.serving.predlog
        pid = predlog._process.pid
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
        refused = client.post("/predict", json=instances)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert "prediction not stored" in refused.json()["detail"]
        time.sleep(predlog.retry_s + 0.1)
        after = client.post("/predict", json=instances)
        assert after.status_code == 200 and after.json()["request_id"] in stored()
    assert len(stored()) == 6 and predlog.refused == 1 and predlog.not_stored == 0


def test_dead_log_writer_is_restarted_and_nothing_is_lost(
    tmp_path: Path, champion: Any, kill_log_writer: Callable[[Any], None]
) -> None:
    model, x = champion
    app = create_app(make_settings(tmp_path), champion=model)
    names = model.feature_names
    ids = []
    with TestClient(app) as client:
        predlog = app.state.serving.predlog
        for _ in range(20):
            ids.append(client.post("/predict", json={"instances": [row(x, 0, names)]}))
        kill_log_writer(predlog)  # the writer process dies under the server: restarted
        assert client.get("/health").status_code == 200
        assert client.get("/ready").status_code == 200
        for _ in range(20):
            ids.append(client.post("/predict", json={"instances": [row(x, 0, names)]}))
        metrics = client.get("/metrics").text
    assert predlog.restarted == 1 and not predlog.failed
    assert "model_prediction_log_writer_restarts_total 1.0" in metrics
    acknowledged = {r.json()["request_id"] for r in ids if r.status_code == 200}
    with sqlite3.connect(tmp_path / "predictions.db") as db:
        stored = {row_id for (row_id,) in db.execute("SELECT request_id FROM predictions")}
    assert len(acknowledged) == 40 and acknowledged <= stored


def test_writer_dying_too_often_stops_the_server(
    tmp_path: Path, champion: Any, kill_log_writer: Callable[[Any], None]
) -> None:
    model, x = champion
    app = create_app(make_settings(tmp_path), champion=model)
    stopped: list[bool] = []
    with TestClient(app) as client:
        state = app.state.serving
        state.on_fatal = lambda: stopped.append(True)  # `server.serve` stops uvicorn here
        state.predlog.max_restarts = 0
        kill_log_writer(state.predlog)
        health = client.get("/health")
        answer = client.post("/predict", json={"instances": [row(x, 0, model.feature_names)]})
        ready = client.get("/ready")
    assert state.predlog.failed and stopped == [True] and state.fatal
    assert health.status_code == 503 and "restart" in health.json()["detail"]
    assert answer.status_code == 503
    assert ready.status_code == 503


def test_request_ids_are_unique_unguessable_and_time_ordered() -> None:
    source = RequestIds(per_refill=64)
    ids = [source.next() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    stamps = [int(i[:12], 16) for i in ids]
    assert stamps == sorted(stamps)  # the log's primary key grows at its end
    assert abs(stamps[-1] - time.time_ns() // 1_000_000) < 60_000
    assert len({i[12:] for i in ids}) == len(ids)  # 80 random bits each


def test_shadow_never_changes_the_response(tmp_path: Path, champion: Any) -> None:
    model, x = champion
    release = threading.Event()
    challenger, _ = as_served("v2", c=0.001)  # a different model: different answers

    def blocked(rows: Any) -> np.ndarray:
        release.wait(timeout=30)  # the response must not wait for this
        return challenger_predict(rows)

    challenger_predict = challenger.predict
    challenger.predict = blocked
    rows = [row(x, i, model.feature_names) for i in range(20)]
    single = create_app(make_settings(tmp_path / "single"), champion=model)
    with TestClient(single) as client:
        expected = [client.post("/predict", json={"instances": [r]}).json() for r in rows]
    shadow = create_app(
        make_settings(tmp_path / "shadow", routing="shadow"), champion=model, challenger=challenger
    )
    release.set()  # let the warm-up through ...
    with TestClient(shadow) as client:
        release.clear()  # ... then block the challenger: responses must not wait for it
        got = [client.post("/predict", json={"instances": [r]}).json() for r in rows]
        assert app_shadow_pending(shadow) > 0
        release.set()
    for before, after in zip(expected, got, strict=True):
        assert after["predictions"] == before["predictions"]
        assert after["probabilities"] == before["probabilities"]
        assert after["model_version"] == "v1"
        assert after["role"] == "champion"
    with sqlite3.connect(tmp_path / "shadow" / "predictions.db") as db:
        roles = dict(db.execute("SELECT role, COUNT(*) FROM predictions GROUP BY role").fetchall())
    assert roles == {"champion": 20, "shadow": 20}


def app_shadow_pending(app: Any) -> int:
    scorer = app.state.serving.shadow
    return int(scorer._queue.qsize()) + (1 if scorer.scored < 20 else 0)


def test_canary_routes_to_both_models(tmp_path: Path, champion: Any) -> None:
    model, x = champion
    challenger, _ = as_served("v2", c=0.001)
    settings = make_settings(tmp_path, routing="canary", canary_weight=0.5)
    app = create_app(settings, champion=model, challenger=challenger)
    with TestClient(app) as client:
        versions = {
            key: client.post(
                "/predict",
                json={"instances": [row(x, 0, model.feature_names)]},
                headers={"x-user-id": key},
            ).json()["model_version"]
            for key in (f"user-{i}" for i in range(40))
        }
        again = client.post(
            "/predict",
            json={"instances": [row(x, 0, model.feature_names)]},
            headers={"x-user-id": "user-7"},
        ).json()["model_version"]
        text = client.get("/metrics").text
    assert set(versions.values()) == {"v1", "v2"}
    assert again == versions["user-7"]  # sticky per key
    assert (
        'model_routed_requests_total{model_version="v2",role="challenger",strategy="canary"}'
        in (text)
    )


def test_routing_without_challenger_refuses_to_start(tmp_path: Path, champion: Any) -> None:
    app = create_app(make_settings(tmp_path, routing="bandit"), champion=champion[0])
    with pytest.raises(UserError, match="challenger"), TestClient(app):
        pass


def test_load_bundle_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"model_config\.yaml not found"):
        load_bundle(tmp_path)
    (tmp_path / "model_config.yaml").write_text("model_id: x\n")
    with pytest.raises(UserError, match="invalid 'dataset'"):
        load_bundle(tmp_path)
