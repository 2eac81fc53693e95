"""MLflow's scoring protocol: what `mlflow models serve` accepts, so MLflow clients work unchanged.

- `GET /ping` (and MLflow's `/health` is our liveness): 200 once the model is loaded;
- `GET /version`: the MLflow version (MLflow's `ScoringServerClient.get_version`);
- `POST /invocations` with `application/json` (`dataframe_split`, `dataframe_records`,
  `instances` as rows or as a dict of columns, `inputs`, optional `params`), `text/csv`
  (a header row of column names: features, id columns, other columns as
  `serving.extra_fields` says; an empty cell is a missing value, sent to the model as null)
  or `application/vnd.apache.parquet` (NaN and null cells are missing values); `charset`
  other than UTF-8 or any other content-type parameter is 415, as in MLflow;
- errors as MLflow's `{"error_code": "BAD_REQUEST", "message": ...}` with status 400 for a
  bad payload (`responses.mlflow_error_reply`).
"""

from __future__ import annotations

import io
from importlib import metadata
from typing import Any

from {{ cookiecutter.package_name }}.serving.schema import RequestError, RequestSchema, RowIds

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = (JSON, CSV, PARQUET)


def media_type(content_type: str) -> tuple[str, dict[str, str]]:
    """`application/json; charset=utf-8` -> ("application/json", {"charset": "utf-8"})."""
    mime, *parts = content_type.split(";")
    params = {}
    for part in parts:
        name, _, value = part.strip().partition("=")
        params[name.strip().lower()] = value.strip().strip('"').lower()
    return mime.strip().lower(), params


def check_content_type(content_type: str, accepted: tuple[str, ...]) -> str:
    """The media type when accepted (UTF-8 only, no other parameter), else a 415."""
    if content_type == JSON:  # the common case, checked without parsing
        return JSON
    mime, params = media_type(content_type)
    if mime not in accepted:
        shown = content_type or "(none)"
        raise RequestError(
            415, f"content-type {shown!r} is not supported; send {' or '.join(accepted)}"
        )
    if params.get("charset", "utf-8") not in ("utf-8", "utf8"):
        raise RequestError(415, "content-type: only charset=utf-8 is supported")
    unknown = sorted(set(params) - {"charset"})
    if unknown:
        raise RequestError(415, f"content-type: unknown parameter {unknown[0]!r}")
    return mime


def parse_invocations(
    schema: RequestSchema, body: bytes, content_type: str
) -> tuple[list[tuple[Any, ...]], RowIds, str]:
    """The body of POST /invocations -> (rows in training order, the id columns each row
    carried, the field errors name)."""
    mime = check_content_type(content_type, CONTENT_TYPES)
    if mime == JSON:
        return schema.parse_invocations(body)
    frame = _read_csv(body) if mime == CSV else _read_parquet(body)
    field = "csv" if mime == CSV else "parquet"
    known = {*schema.names, *schema.id_columns}
    unknown = [str(name) for name in frame.columns if str(name) not in known]
    if unknown and schema.extra_fields == "reject":
        raise RequestError(
            422,
            f"{field}.{unknown[0]}: unknown column; send the model's features and id columns "
            "only (serving.extra_fields: reject), or set serving.extra_fields: ignore",
        )
    if unknown:  # other columns of the client's table (serving.extra_fields: ignore)
        frame = frame.drop(columns=[name for name in frame.columns if str(name) not in known])
    # A table has no null: an empty cell (NaN, or None in a text column) is the missing value.
    records = [
        {str(name): None if _missing(value) else value for name, value in record.items()}
        for record in frame.to_dict(orient="records")
    ]
    return *schema.parse_records(records, field), field


def _missing(value: Any) -> bool:
    return value is None or (type(value) is float and value != value)  # NaN != NaN


def _read_csv(body: bytes) -> Any:
    import pandas as pd

    try:
        return pd.read_csv(io.StringIO(body.decode("utf-8")))
    except UnicodeDecodeError:
        raise RequestError(400, "csv: not UTF-8 text") from None
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        reason = str(error).splitlines()[0] if str(error) else "empty"
        raise RequestError(400, f"csv: cannot be parsed ({reason})") from None


def _read_parquet(body: bytes) -> Any:
    import pandas as pd

    try:
        return pd.read_parquet(io.BytesIO(body))
    except Exception as error:  # pyarrow raises several types for a body that is not Parquet
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise RequestError(400, f"parquet: cannot be read ({reason})") from None


def mlflow_version() -> str:
    """What MLflow's `/version` answers: the installed MLflow's version."""
    for name in ("mlflow", "mlflow-skinny"):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"
