"""Request validation against the training schema.

The bundle (`contracts.bundle`) names the features the model was trained on (`dataset.features`:
numeric or categorical; the categories training saw are under `categories:`). From it we
build a pydantic model (one strict field per feature, one optional field per id column of
`dataset.id_columns`) and validate every request against it, so a bad request becomes a 4xx
whose message names the field, never a 500. Clients send records, not feature vectors: the
id columns' values are returned per row (logged and echoed), and any other field (a dropped
column, the target, a date) is ignored (`serving.extra_fields: ignore`, the default) or
refused with a 422 naming it (`reject`). Every feature accepts `null` (a missing value: the
model imputes it). Numbers must be finite and within float32's range (NaN and infinity are
refused: `null` is how a value is sent missing). A categorical accepts the JSON types
training saw (strings; ints or booleans when those were the categories); a category training
never saw is passed to the model (`dataset.unknown_category: ignore`, encoded as "none of the
known ones") or refused with a 422 naming the column and the value (`reject`).

Hot path: the body is parsed by orjson and, for all-numeric schemas, checked column-wise in one
go (exact key set per row, int/float values only, `numpy.isfinite` on the whole matrix). Any
request that fails that check (a null, a string, a bad value) is re-validated by pydantic-core
(Rust) straight from the request bytes, which names the first bad field; so valid all-numeric
requests never pay for pydantic and invalid ones get the same messages either way. A record
with ids or other fields takes the pydantic path too (the hot path's check stays one length
comparison and one key lookup per row).
"""

from __future__ import annotations

import itertools
import json
import operator
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

import numpy as np
import orjson
from pydantic import (
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
)

from {{ cookiecutter.package_name }}.serving.fields import (
    FLOAT32_MAX,
    MAX_TEXT,
    Expand,
    Feature,
    Number,
    field_type,
)

MLFLOW_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
ExtraFields = Literal["ignore", "reject"]
# Per row, the id columns the record carried ({column: value}); None: every record held
# exactly the features (no id, no other field), so its JSON as sent is its features' JSON.
RowIds = list[dict[str, Any]] | None

# An id column's value: any JSON scalar (a key is text or a number), null when unknown.
IdValue = Annotated[str, Field(max_length=MAX_TEXT)] | int | Number | bool | None


class RequestError(Exception):
    """A bad request: `status` is the HTTP status, the message names the field and the fix."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _where(loc: Sequence[int | str], prefix: str) -> str:
    text = prefix
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _float32_bound(error: Any) -> bool:
    """The failed bound is the feature range (±FLOAT32_MAX), not another field's limit."""
    bounds = (error.get("ctx") or {}).values()
    return any(isinstance(bound, float) and abs(bound) == FLOAT32_MAX for bound in bounds)


def describe(error: ValidationError, prefix: str = "") -> str:
    """One line naming the first bad field (`instances[3].age: ...`), plus a count of others."""
    first = error.errors(include_url=False)[0]
    loc = list(first["loc"])
    kind = first["type"]
    if kind == "json_invalid":
        return f"malformed JSON: {first['msg'].removeprefix('Invalid JSON: ')}"
    if kind == "extra_forbidden":
        field = _where(loc, prefix)
        message = (
            f"{field}: unknown field; send the model's features and id columns only "
            "(serving.extra_fields: reject), or set serving.extra_fields: ignore"
        )
    elif kind == "missing":
        message = f"{_where(loc, prefix)}: missing feature; every row needs every feature"
    elif kind == "finite_number":
        message = f"{_where(loc, prefix)}: NaN and infinity are not allowed; send a finite number"
    elif kind in {"less_than_equal", "greater_than_equal"} and _float32_bound(first):
        message = (
            f"{_where(loc, prefix)}: {first['input']!r} is outside the range the model computes "
            f"in (|x| <= {FLOAT32_MAX:.4g}); send a smaller number"
        )
    elif kind in {"float_type", "float_parsing"}:
        message = f"{_where(loc, prefix)}: expected a number, got {type(first['input']).__name__}"
    else:
        message = f"{_where(loc, prefix)}: {first['msg']}"
    more = error.error_count() - 1
    return message + (f" (and {more} more error{'s' if more > 1 else ''})" if more else "")


class RequestSchema:
    """Validates request payloads into rows of feature values in training order, and the
    id columns each row carried (`RowIds`)."""

    def __init__(
        self,
        features: Sequence[Feature],
        max_batch_size: int,
        reject_unknown: bool = False,
        id_columns: Sequence[str] = (),
        extra_fields: ExtraFields = "ignore",
        expand: Expand | None = None,
    ) -> None:
        self.features = list(features)
        self.expand = expand
        self.names = [feature.name for feature in self.features]
        self.id_columns = [name for name in id_columns if name not in self.names]
        self.extra_fields = extra_fields
        self.max_batch_size = max_batch_size
        fields: dict[str, Any] = {
            f"f{index}": (field_type(feature, reject_unknown), Field(alias=feature.name))
            for index, feature in enumerate(self.features)
        }
        self._id_fields = [f"i{index}" for index in range(len(self.id_columns))]
        for key, name in zip(self._id_fields, self.id_columns, strict=True):
            fields[key] = (IdValue, Field(default=None, alias=name))
        config = ConfigDict(extra="allow" if extra_fields == "ignore" else "forbid", frozen=True)
        row_model: Any = create_model("FeatureRow", __config__=config, **fields)
        self.row_model = row_model
        self._rows: TypeAdapter[list[Any]] = TypeAdapter(list[row_model])
        envelope: Any = create_model(
            "PredictRequest",
            __config__=ConfigDict(extra="forbid"),
            instances=(list[row_model], ...),
        )
        self._envelope: TypeAdapter[Any] = TypeAdapter(envelope)
        # Precompiled hot-path check (all-numeric schemas): one C-level key lookup per row.
        self._width = len(self.names)
        self._fast = all(feature.numeric for feature in self.features)
        self._pick: Callable[[dict[str, Any]], tuple[Any, ...]] = (
            operator.itemgetter(*self.names) if self._width > 1 else _single(self.names[0])
        )

    def _fast_rows(self, records: list[Any]) -> list[tuple[Any, ...]] | None:
        """Rows when every record is a dict of exactly the features with finite numbers.

        None means "not certainly valid": the caller re-validates with pydantic, which names
        the first bad field.
        """
        if not self._fast:
            return None
        width, pick = self._width, self._pick
        rows = []
        try:
            for record in records:
                if type(record) is not dict or len(record) != width:
                    return None
                rows.append(pick(record))
        except KeyError:
            return None
        if not set(map(type, itertools.chain.from_iterable(rows))) <= _NUMBER_TYPES:
            return None  # bool, str, None, nested values: pydantic names the field
        try:
            # NaN compares false: one test refuses NaN, infinity and float32 overflow.
            in_range = bool((np.abs(np.asarray(rows, dtype=np.float64)) <= FLOAT32_MAX).all())
        except OverflowError:
            return None
        return rows if in_range else None

    def _check_size(self, count: int, field: str) -> None:
        if count == 0:
            raise RequestError(422, f"{field}: empty batch; send at least one row")
        if count > self.max_batch_size:
            raise RequestError(
                422,
                f"{field}: batch of {count} rows exceeds the maximum of {self.max_batch_size}; "
                "split it into smaller requests",
            )

    def _values(self, rows: Sequence[Any]) -> tuple[list[tuple[Any, ...]], RowIds]:
        """Validated row models -> (feature rows, the ids each carried; None when every row
        held exactly the features)."""
        values, ids = self._inputs(rows)
        return (values if self.expand is None else self.expand(values)), ids

    def _inputs(self, rows: Sequence[Any]) -> tuple[list[tuple[Any, ...]], RowIds]:
        if not self._id_fields:
            values = [tuple(row.__dict__.values()) for row in rows]
            exact = self.extra_fields == "reject" or not any(r.__pydantic_extra__ for r in rows)
            return values, (None if exact else [{} for _ in rows])
        width = self._width
        values = [tuple(row.__dict__.values())[:width] for row in rows]
        ids = [
            {
                name: getattr(row, key)
                for key, name in zip(self._id_fields, self.id_columns, strict=True)
                if key in row.model_fields_set
            }
            for row in rows
        ]
        if any(ids) or any(row.__pydantic_extra__ for row in rows if self.extra_fields == "ignore"):
            return values, ids
        return values, None

    def parse_predict(self, body: bytes) -> tuple[list[tuple[Any, ...]], RowIds]:
        """`{"instances": [{feature: value, ...}, ...]}` -> (rows, ids), validated from the raw
        bytes."""
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None
        if type(payload) is dict and len(payload) == 1 and type(payload.get("instances")) is list:
            self._check_size(len(payload["instances"]), "instances")
            fast = self._fast_rows(payload["instances"])
            if fast is not None:
                return fast, None
        try:
            request = self._envelope.validate_json(body)
        except ValidationError as error:
            first = error.errors()[0]
            if first["type"] == "json_invalid":
                raise RequestError(400, describe(error)) from None
            if not first["loc"]:
                raise RequestError(
                    422, 'body: expected {"instances": [{feature: value, ...}, ...]}'
                ) from None
            raise RequestError(422, describe(error)) from None
        rows = request.instances
        self._check_size(len(rows), "instances")
        return self._values(rows)

    def parse_invocations(self, body: bytes) -> tuple[list[tuple[Any, ...]], RowIds, str]:
        """MLflow's JSON payloads (dataframe_split, dataframe_records, instances, inputs)
        -> (rows, ids, the payload's key)."""
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            try:  # NaN/Infinity literals: parsed here, refused below naming the field
                payload = json.loads(body)
            except (ValueError, UnicodeDecodeError) as error:
                raise RequestError(400, f"malformed JSON: {error}") from None
        if not isinstance(payload, dict):
            raise RequestError(422, "body: expected a JSON object with one of " + _formats())
        keys = [key for key in MLFLOW_FORMATS if key in payload]
        unknown = sorted(set(payload) - {*MLFLOW_FORMATS, "params"})
        if unknown:
            raise RequestError(422, f"{unknown[0]}: unknown key; use one of {_formats()}")
        if len(keys) != 1:
            raise RequestError(422, f"body: send exactly one of {_formats()}")
        if not isinstance(payload.get("params", {}), dict | None):
            raise RequestError(422, "params: expected an object of parameter values")
        key = keys[0]
        return *self.parse_records(self._records(key, payload[key]), key), key

    def parse_records(self, records: list[Any], field: str) -> tuple[list[tuple[Any, ...]], RowIds]:
        """`[{feature: value, ...}, ...]` -> (rows, ids); `RequestError` naming
        `field[i].feature`."""
        self._check_size(len(records), field)
        fast = self._fast_rows(records)
        if fast is not None:
            return fast, None
        try:
            rows = self._rows.validate_python(records)
        except ValidationError as error:
            raise RequestError(422, describe(error, prefix=field)) from None
        return self._values(rows)

    def _records(self, key: str, data: Any) -> list[Any]:
        if key == "dataframe_split":
            if not isinstance(data, dict) or not isinstance(data.get("data"), list):
                raise RequestError(
                    422, "dataframe_split: expected {'columns': [...], 'data': [[...]]}"
                )
            columns = data.get("columns", self.names)
            if not isinstance(columns, list):
                raise RequestError(422, "dataframe_split.columns: expected a list of feature names")
            return [
                self._zip(columns, row, f"dataframe_split.data[{i}]")
                for i, row in enumerate(data["data"])
            ]
        if key in ("inputs", "instances") and isinstance(data, dict):  # {feature: [values]}
            columns = list(data)
            lengths = {len(v) if isinstance(v, list) else -1 for v in data.values()}
            if len(lengths) != 1 or -1 in lengths:
                raise RequestError(
                    422, key + ": expected {feature: [values]} with equal-length lists"
                )
            return [
                dict(zip(columns, values, strict=True))
                for values in zip(*data.values(), strict=True)
            ]
        if not isinstance(data, list):
            raise RequestError(422, f"{key}: expected a list of rows")
        return [
            self._zip(self.names, row, f"{key}[{i}]") if isinstance(row, list) else row
            for i, row in enumerate(data)
        ]

    def _zip(self, columns: list[Any], row: Any, where: str) -> dict[str, Any]:
        if not isinstance(row, list):
            raise RequestError(422, f"{where}: expected a list of values")
        if len(row) != len(columns):
            raise RequestError(
                422, f"{where}: {len(row)} values for {len(columns)} columns; send one per feature"
            )
        return dict(zip(columns, row, strict=True))


_NUMBER_TYPES = frozenset({float, int})


def _single(name: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    def pick(record: dict[str, Any]) -> tuple[Any, ...]:
        return (record[name],)

    return pick


def _formats() -> str:
    return ", ".join(MLFLOW_FORMATS)
