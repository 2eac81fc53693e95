"""The OpenAPI document (/openapi.json, /docs, /redoc), generated from the model's features.

The hot routes are served by `hotpath.HotRoutes` in front of FastAPI; here they are also
declared as FastAPI routes with typed pydantic bodies built from the model's feature schema
(the same row model that validates requests), so the document describes exactly what is
accepted. FastAPI never dispatches to these declarations (the raw handler answers first), so
the hot path pays nothing for them. They are added at start-up, once the features are known.
"""

from __future__ import annotations

import functools
import inspect
import operator
from typing import Annotated, Any

from fastapi import Body, FastAPI
from pydantic import BaseModel, ConfigDict, Field, create_model

from {{ cookiecutter.package_name }}.serving.feedback import (
    FeedbackRequest,
    FeedbackResponse,
    RegressionFeedbackResponse,
)
from {{ cookiecutter.package_name }}.serving.fields import FLOAT32_MAX
from {{ cookiecutter.package_name }}.serving.outputs import ModelTask
from {{ cookiecutter.package_name }}.serving.schema import RequestSchema


class ErrorBody(BaseModel):
    detail: str = Field(description="What is wrong and how to fix it, naming the field.")


class MlflowErrorBody(BaseModel):
    error_code: str = Field(examples=["BAD_REQUEST"])
    message: str


def label_type(task: ModelTask) -> Any:
    """The JSON type of a prediction: the classes' types, or a number for regression."""
    if not task.is_classification:
        return float
    types = sorted({type(label) for label in task.classes}, key=lambda t: t.__name__)
    return functools.reduce(operator.or_, types)


def response_models(task: ModelTask) -> tuple[Any, Any, Any]:
    """(PredictResponse, InvocationsResponse, FeedbackResponse) for the model's task."""
    label: Any = label_type(task)
    classes = ", ".join(map(repr, task.classes))
    fields: dict[str, Any] = {
        "request_id": (str, Field(description="Send it back with the label to POST /feedback.")),
        "request_ids": (
            list[str] | None,
            Field(default=None, description="One id per row, when the request had several rows."),
        ),
        "model_version": (str, ...),
        "role": (str, ...),
        "ids": (
            list[dict[str, Any]] | None,
            Field(default=None, description="Per row, the id columns it carried (when any did)."),
        ),
    }
    if task.task == "regression":
        fields["predictions"] = (list[float], Field(description="Predicted value per row."))
    else:
        fields["predictions"] = (list[label], Field(description=f"Predicted class ({classes})."))
    if task.task == "binary":
        positive = repr(task.classes[task.positive_index])
        fields["probabilities"] = (list[float], Field(description=f"P({positive}) per row."))
    elif task.task == "multiclass":
        fields["probabilities"] = (
            list[list[float]],
            Field(description="Per row, the probability of each class, in `classes` order."),
        )
        fields["classes"] = (list[label], Field(description="The classes, in output order."))
    predict = create_model("PredictResponse", **fields)
    invocations = create_model(
        "InvocationsResponse",
        predictions=(list[label], ...),
        ids=(list[dict[str, Any]] | None, None),
    )
    feedback = FeedbackResponse if task.is_classification else RegressionFeedbackResponse
    return predict, invocations, feedback


DESCRIPTIONS = {
    400: "Malformed body (not JSON, CSV or Parquet)",
    404: "No prediction was issued with this request_id",
    413: "Body too large (serving.max_body_bytes)",
    415: "Unsupported content type",
    422: "A field is missing, unknown, of the wrong type or out of range",
    503: "Not ready, or the prediction log cannot commit: retry after Retry-After seconds",
}
NOT_SERVED = "declared for the OpenAPI document only: HotRoutes answers this route"


def error_responses(*statuses: int, body: type[BaseModel] = ErrorBody) -> dict[int | str, Any]:
    return {status: {"model": body, "description": DESCRIPTIONS[status]} for status in statuses}


def request_models(schema: RequestSchema) -> tuple[Any, Any]:
    """(PredictRequest, InvocationsRequest) pydantic models for the document."""
    row: Any = schema.row_model
    forbid = ConfigDict(extra="forbid")
    rows: Any = Annotated[list[row], Field(min_length=1, max_length=schema.max_batch_size)]
    predict = create_model("PredictRequest", __config__=forbid, instances=(rows, ...))
    value: Any = Annotated[float, Field(ge=-FLOAT32_MAX, le=FLOAT32_MAX)] | str | bool | None
    columns: Any = dict[str, Annotated[list[value], Field(min_length=1)]]
    split: Any = create_model(
        "DataframeSplit",
        __config__=forbid,
        columns=(list[str] | None, None),
        data=(Annotated[list[list[value]], Field(min_length=1)], ...),
        index=(list[Any] | None, None),
    )
    shapes: dict[str, Any] = {
        "dataframe_split": split,
        "dataframe_records": rows,
        "instances": rows | columns,
        "inputs": rows | columns,
    }
    choices: list[Any] = [
        create_model(  # type: ignore[call-overload]
            f"Invocations_{key}",
            __config__=forbid,
            params=(dict[str, Any] | None, None),
            **{key: (shape, ...)},
        )
        for key, shape in shapes.items()
    ]
    invocations: Any = choices[0] | choices[1] | choices[2] | choices[3]
    return predict, invocations


def _declare(app: FastAPI, path: str, body: Any, **route: Any) -> None:
    """Declare `POST path` taking `body` (built at run time, so the signature is set here:
    with postponed annotations FastAPI could not resolve a local type)."""

    async def not_served(body: Any) -> None:
        raise AssertionError(NOT_SERVED)

    parameter = inspect.Parameter(
        "body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[body, Body()]
    )
    not_served.__signature__ = inspect.Signature([parameter])  # type: ignore[attr-defined]
    app.post(path, **route)(not_served)


def feedback_request(task: ModelTask) -> Any:
    """FeedbackRequest with the label typed for the task (its values listed)."""
    if not task.is_classification:
        label: Any = Annotated[float, Field(description="The true value (a finite number).")]
    else:
        label = Annotated[
            label_type(task),
            Field(
                description="One of the model's classes.",
                json_schema_extra={"enum": list(task.classes)},
            ),
        ]
    return create_model("FeedbackRequest", __base__=FeedbackRequest, label=(label, ...))


def document_hot_routes(app: FastAPI, schema: RequestSchema, task: ModelTask) -> None:
    """Declare POST /predict, /invocations and /feedback for the document."""
    predict_request, invocations_request = request_models(schema)
    predict_response, invocations_response, feedback_response = response_models(task)
    _declare(
        app,
        "/predict",
        predict_request,
        operation_id="predict",
        summary=f"Predict ({task.task}) for one or more rows",
        response_model=predict_response,
        response_model_exclude_none=True,
        responses=error_responses(400, 413, 415, 422, 503),
    )
    _declare(
        app,
        "/invocations",
        invocations_request,
        operation_id="invocations",
        summary="MLflow scoring protocol (as `mlflow models serve`)",
        description=(
            "JSON as below, or the same rows as `text/csv` (a header row of feature names) "
            "or `application/vnd.apache.parquet`. Errors use MLflow's body, status 400 for "
            "a bad payload."
        ),
        response_model=invocations_response,
        responses=error_responses(400, 413, 415, 503, body=MlflowErrorBody),
    )
    _declare(
        app,
        "/feedback",
        feedback_request(task),
        operation_id="feedback",
        summary="Label a prediction (joins the prediction log)",
        response_model=feedback_response,
        responses=error_responses(400, 404, 413, 415, 422, 503),
    )
    app.openapi_schema = None  # regenerate with these routes
