"""The server per task: string labels, multiclass probabilities, regression values; raw
categorical and missing features; feedback labels, online metrics and bandit rewards per task.

The models are real scikit-learn pipelines fitted here (imputation and one-hot encoding
inside, as training builds them), served through `LoadedModel` as `load_bundle` would.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from {{ cookiecutter.package_name }}.contracts.bundle import read_bundle, write_bundle_config
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.serving.app import create_app
from {{ cookiecutter.package_name }}.serving.fields import Feature, features_of
from {{ cookiecutter.package_name }}.serving.model import LoadedModel, load_bundle
from {{ cookiecutter.package_name }}.serving.outputs import ModelTask
from {{ cookiecutter.package_name }}.serving.routing import reward
from {{ cookiecutter.package_name }}.settings import ServingSettings, Settings, load_settings

COLORS = ["blue", "green", "red"]
WINES = ["class_0", "class_1", "class_2"]
MISSING = "__missing__"


def make_settings(tmp_path: Path, **serving: Any) -> Settings:
    # routing "single" unless a test says otherwise: the rendered default may be another.
    base = {
        "prediction_log": tmp_path / "predictions.db",
        "max_batch_size": 50,
        "routing": "single",
    }
    return load_settings(project_root=tmp_path, serving=ServingSettings(**(base | serving)))


def frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    data = pd.DataFrame(
        {"size": rng.normal(10.0, 3.0, n), "color": rng.choice(COLORS, n), "w": rng.normal(size=n)}
    )
    data.loc[rng.choice(n, 20, replace=False), "size"] = np.nan
    return data


@cache
def wine_model() -> Pipeline:
    """Three string classes from a numeric and a categorical feature (y as class indices)."""
    data = frame()
    y = (data["color"].map({"blue": 0, "green": 1, "red": 2}) + (data["w"] > 1.0)) % 3
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="constant", fill_value=MISSING),
        OneHotEncoder(handle_unknown="ignore"),
    )
    prep = ColumnTransformer([("num", numeric, ["size", "w"]), ("cat", categorical, ["color"])])
    return Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=500))]).fit(
        data[["size", "color", "w"]], y.to_numpy()
    )


@cache
def value_model() -> Pipeline:
    data = frame()
    y = 3.0 * data["w"] + 0.5 * data["size"].fillna(10.0) + 100.0
    return make_pipeline(SimpleImputer(), Ridge()).fit(data[["size", "w"]], y.to_numpy())


def raw_frame(rows: Any, names: list[str]) -> pd.DataFrame:
    """Rows of raw values as the runtime receives them (None for a missing value)."""
    table = pd.DataFrame(list(rows), columns=names, dtype=object)
    for name in names:
        if name != "color":
            table[name] = pd.to_numeric(table[name]).astype(np.float64)
    if "color" in names:
        table["color"] = table["color"].where(table["color"].notna(), np.nan)
    return table


def wine(version: str = "v1", unknown: str = "ignore", **task: Any) -> LoadedModel:
    names = ["size", "color", "w"]
    features = [Feature("size", True), Feature("color", False, tuple(COLORS)), Feature("w", True)]

    def predict(rows: Any) -> np.ndarray:
        return np.asarray(wine_model().predict_proba(raw_frame(rows, names)), dtype=np.float64)

    spec = ModelTask("multiclass", tuple(WINES), 0, unknown, **task)
    return LoadedModel(version, features, "test", None, predict, task=spec)


def values(version: str = "v1", mae: float | None = 2.0, shift: float = 0.0) -> LoadedModel:
    names = ["size", "w"]

    def predict(rows: Any) -> np.ndarray:
        out = value_model().predict(raw_frame(rows, names)) + shift
        return np.asarray(out, dtype=np.float64).reshape(-1, 1)

    metrics = {"rmse": 2.5, "r2": 0.9} | ({} if mae is None else {"mae": mae})
    spec = ModelTask("regression", (), 0, "ignore", metrics, (90.0, 100.0, 110.0, 120.0))
    return LoadedModel(version, [Feature(n, True) for n in names], "test", None, predict, task=spec)


@pytest.fixture
def wine_client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path), champion=wine())) as client:
        yield client


@pytest.fixture
def value_client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path), champion=values())) as client:
        yield client


ROWS = [
    {"size": 9.5, "color": "red", "w": 0.3},
    {"size": None, "color": None, "w": 1.7},  # missing values: imputed by the model
    {"size": 12.0, "color": "purple", "w": -0.2},  # unknown category: encoded as none
]


def test_multiclass_answers_string_labels_probabilities_and_classes(
    wine_client: TestClient,
) -> None:
    answer = wine_client.post("/predict", json={"instances": ROWS})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = wine_model().predict_proba(
        raw_frame([tuple(r.values()) for r in ROWS], list(ROWS[0]))
    )
    assert set(body) == {
        "request_id", "request_ids", "model_version", "role", "predictions", "probabilities",
        "classes",
    }  # fmt: skip
    assert body["classes"] == WINES
    assert np.allclose(body["probabilities"], expected)
    assert body["predictions"] == [WINES[i] for i in expected.argmax(axis=1)]
    invoked = wine_client.post("/invocations", json={"dataframe_records": ROWS})
    assert invoked.status_code == 200, invoked.text
    assert invoked.json() == {"predictions": body["predictions"]}
    text = wine_client.get("/metrics").text
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("model_predictions_total{") and 'predicted_class="class_' in line
    )
    assert counted == 6.0  # /predict and /invocations, labelled by the class name


def test_multiclass_feedback_takes_a_class_name(wine_client: TestClient, tmp_path: Path) -> None:
    body = wine_client.post("/predict", json={"instances": [ROWS[0]]}).json()
    predicted = body["predictions"][0]
    other = next(label for label in WINES if label != predicted)
    for wrong in ("class_9", 1, None, ["class_0"]):
        refused = wine_client.post(
            "/feedback", json={"request_id": body["request_id"], "label": wrong}
        )
        assert refused.status_code == 422, wrong
        detail = refused.json()["detail"]
        assert detail.startswith("label") and '"class_0", "class_1", "class_2"' in detail, detail
    ack = wine_client.post("/feedback", json={"request_id": body["request_id"], "label": other})
    assert ack.status_code == 200, ack.text
    assert ack.json() == {
        "request_id": body["request_id"], "model_version": "v1", "correct": False,
        "duplicate": False,
    }  # fmt: skip
    text = wine_client.get("/metrics").text
    assert 'model_feedback_total{model_version="v1"} 1.0' in text
    assert 'model_feedback_correct_total{model_version="v1"} 0.0' in text
    with sqlite3.connect(tmp_path / "predictions.db") as db:
        prediction, score, label = db.execute(
            "SELECT prediction, score, label FROM predictions WHERE request_id = ?",
            (body["request_id"],),
        ).fetchone()
    assert json.loads(prediction) == predicted and json.loads(label) == other
    assert score == pytest.approx(max(body["probabilities"][0]))  # P(predicted class)


def test_rows_with_nulls_and_strings_are_logged_as_sent(
    wine_client: TestClient, tmp_path: Path
) -> None:
    body = wine_client.post("/predict", json={"instances": ROWS[:2]}).json()
    wine_client.post("/feedback", json={"request_id": body["request_ids"][1], "label": "class_2"})
    with sqlite3.connect(tmp_path / "predictions.db") as db:
        logged = dict(
            db.execute(
                "SELECT request_id, features FROM predictions WHERE request_id IN (?, ?)",
                tuple(body["request_ids"]),
            ).fetchall()
        )
    assert [json.loads(logged[i]) for i in body["request_ids"]] == ROWS[:2]


def test_reject_policy_names_the_column_and_the_value(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), champion=wine(unknown="reject"))
    with TestClient(app) as client:
        refused = client.post("/predict", json={"instances": ROWS})
        assert refused.status_code == 422
        detail = refused.json()["detail"]
        assert detail.startswith("instances[2].color: unknown category 'purple'"), detail
        assert "'blue', 'green', 'red'" in detail
        mlflow = client.post("/invocations", json={"dataframe_records": ROWS})
        assert mlflow.status_code == 400
        assert "dataframe_records[2].color" in mlflow.json()["message"]
        typed = client.post("/predict", json={"instances": [ROWS[0] | {"color": 3}]})
        assert typed.status_code == 422
        assert (
            "instances[0].color: expected a category (string) or null" in (typed.json()["detail"])
        )
        assert client.post("/predict", json={"instances": ROWS[:2]}).status_code == 200


def test_regression_answers_values_and_counts_errors(
    value_client: TestClient, tmp_path: Path
) -> None:
    rows = [{"size": 10.0, "w": 0.5}, {"size": None, "w": -1.0}]
    answer = value_client.post("/predict", json={"instances": rows})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"request_id", "request_ids", "model_version", "role", "predictions"}
    expected = value_model().predict(raw_frame([tuple(r.values()) for r in rows], ["size", "w"]))
    assert np.allclose(body["predictions"], expected)
    invoked = value_client.post("/invocations", json={"inputs": rows})
    assert np.allclose(invoked.json()["predictions"], expected)
    first, second = body["request_ids"]
    for wrong in ("abc", True, None, [1.0]):
        refused = value_client.post("/feedback", json={"request_id": first, "label": wrong})
        assert refused.status_code == 422, wrong
        assert "label: expected a finite number" in refused.json()["detail"]
    labels = [expected[0] + 3.0, expected[1] - 1.0]
    for request_id, label, error in zip((first, second), labels, (3.0, 1.0), strict=True):
        ack = value_client.post("/feedback", json={"request_id": request_id, "label": label})
        assert ack.status_code == 200, ack.text
        assert ack.json()["absolute_error"] == pytest.approx(error)
        assert set(ack.json()) == {"request_id", "model_version", "absolute_error", "duplicate"}
    text = value_client.get("/metrics").text
    assert 'model_feedback_total{model_version="v1"} 2.0' in text
    assert 'model_feedback_absolute_error_total{model_version="v1"} 4.0' in text
    assert 'model_feedback_squared_error_total{model_version="v1"} 10.0' in text
    # Buckets from the bundle's target quantiles; the offline metrics as gauges.
    assert 'model_prediction_value_bucket{le="110.0",model_version="v1"}' in text
    assert 'model_prediction_value_count{model_version="v1"} 4.0' in text
    assert 'model_offline_metric{metric="mae",model_version="v1"} 2.0' in text
    assert "model_feedback_correct_total{" not in text
    with sqlite3.connect(tmp_path / "predictions.db") as db:
        prediction, score, label = db.execute(
            "SELECT prediction, score, label FROM predictions WHERE request_id = ?", (first,)
        ).fetchone()
    assert json.loads(prediction) == pytest.approx(expected[0]) == score
    assert json.loads(label) == pytest.approx(labels[0])


def test_binary_string_labels_report_the_positive_class(tmp_path: Path) -> None:
    """classes ["no", "yes"] with positive_class "no": probabilities are P("no")."""
    base = wine()
    fitted = LogisticRegression().fit(frame()[["w"]].to_numpy(), (frame()["w"] > 0).to_numpy())

    def predict(rows: Any) -> np.ndarray:
        return np.asarray(fitted.predict_proba(np.asarray(rows, dtype=np.float64)))

    model = LoadedModel(
        "v1", [Feature("w", True)], "test", None, predict,
        task=ModelTask("binary", ("no", "yes"), 0, "ignore"),
    )  # fmt: skip
    assert base.task.width == 3
    with TestClient(create_app(make_settings(tmp_path), champion=model)) as client:
        body = client.post("/predict", json={"instances": [{"w": -2.0}, {"w": 2.0}]}).json()
        p_no = fitted.predict_proba(np.array([[-2.0], [2.0]]))[:, 0]
        assert np.allclose(body["probabilities"], p_no)
        assert body["predictions"] == ["no", "yes"] and "classes" not in body
        ack = client.post("/feedback", json={"request_id": body["request_ids"][0], "label": "no"})
        assert ack.json()["correct"] is True
        text = client.get("/metrics").text
    assert 'model_predictions_total{model_version="v1",predicted_class="no"} 1.0' in text


def test_openapi_is_typed_per_task(wine_client: TestClient, value_client: TestClient) -> None:
    schemas = wine_client.get("/openapi.json").json()["components"]["schemas"]
    response = schemas["PredictResponse"]["properties"]
    assert response["predictions"]["items"] == {"type": "string"}
    assert response["probabilities"]["items"]["items"] == {"type": "number"}
    assert "classes" in response
    color = schemas["FeatureRow"]["properties"]["color"]
    assert color["type"] == ["string", "null"] and color["examples"][:3] == COLORS
    size = json.dumps(schemas["FeatureRow"]["properties"]["size"])
    assert '"null"' in size
    label = schemas["FeedbackRequest"]["properties"]["label"]
    assert label["enum"] == WINES
    regression = value_client.get("/openapi.json").json()["components"]["schemas"]
    response = regression["PredictResponse"]["properties"]
    assert "probabilities" not in response and response["predictions"]["items"]["type"] == "number"
    assert regression["FeedbackRequest"]["properties"]["label"]["type"] == "number"
    assert "absolute_error" in regression["RegressionFeedbackResponse"]["properties"]


def test_bandit_reward_per_task(tmp_path: Path) -> None:
    classifier = ModelTask("multiclass", tuple(WINES), 0)
    assert reward(classifier, "class_1", "class_1") == 1.0
    assert reward(classifier, 1, True) == 0.0  # True is not the class 1
    regression = ModelTask("regression", (), 0, offline_metrics={"mae": 2.0})
    assert reward(regression, 100.0, 101.5) == 1.0 and reward(regression, 100.0, 97.0) == 0.0
    assert reward(ModelTask("regression", (), 0), 1.0, 1.0) is None
    # Served: a label within the serving model's offline MAE rewards its arm.
    settings = make_settings(tmp_path, routing="bandit", bandit_epsilon=0.0)
    app = create_app(settings, champion=values("v1"), challenger=values("v2", shift=50.0))
    with TestClient(app) as client:
        body = client.post("/predict", json={"instances": [{"size": 10.0, "w": 0.0}]}).json()
        arm = body["role"]
        close = body["predictions"][0] + 1.0
        assert client.post(
            "/feedback", json={"request_id": body["request_id"], "label": close}
        ).is_success
        state = client.get("/model").json()["routing"]["arms"][arm]
    assert (state["successes"], state["failures"]) == (1.0, 0.0)


def test_models_that_cannot_serve_together_are_refused(tmp_path: Path) -> None:
    bandit = make_settings(tmp_path, routing="bandit")
    app = create_app(bandit, champion=values("v1", mae=None), challenger=values("v2"))
    with pytest.raises(UserError, match=r"metrics\.mae"), TestClient(app):
        pass
    other = wine("v2", unknown="ignore")
    relabelled = LoadedModel(
        "v2", other.features, "test", None, other.predict,
        task=ModelTask("multiclass", ("a", "b", "c"), 0),
    )  # fmt: skip
    canary = make_settings(tmp_path / "c", routing="canary")
    app = create_app(canary, champion=wine(), challenger=relabelled)
    with pytest.raises(UserError, match="predict different things"), TestClient(app):
        pass


def test_bundle_gives_features_categories_and_task(tmp_path: Path) -> None:
    config: dict[str, Any] = {
        "model_id": "m",
        "categories": {"color": COLORS},
        "dataset": {
            "name": "d", "version": "1", "path": "d.csv", "target": "y",
            "features": {"size": "numeric", "color": "categorical"},
            "task": "binary", "classes": ["no", "yes"], "positive_class": "no",
            "unknown_category": "reject",
        },
        "metrics": {"roc_auc": 0.9, "note": "text is skipped"},
        "lineage": {"target_quantiles": {"0.5": 3.0, "0.1": 1.0}},
    }  # fmt: skip
    write_bundle_config(tmp_path, config)
    bundle = read_bundle(tmp_path)
    assert features_of(bundle) == [Feature("size", True), Feature("color", False, tuple(COLORS))]
    task = ModelTask.of(bundle)
    assert (task.task, task.classes, task.positive_index) == ("binary", ("no", "yes"), 0)
    assert task.unknown_category == "reject" and task.offline_metrics == {"roc_auc": 0.9}
    assert task.target_quantiles == (1.0, 3.0)
    bad = config | {"dataset": config["dataset"] | {"classes": [0, 1], "positive_class": 2}}
    write_bundle_config(tmp_path, bad)
    with pytest.raises(UserError, match="positive_class") as raised:
        load_bundle(tmp_path)
    assert "\n" not in str(raised.value)
    (tmp_path / "model_config.yaml").write_text("model_id: m\n")  # no dataset: refused
    with pytest.raises(UserError, match="invalid 'dataset'"):
        load_bundle(tmp_path)
