"""{% if cookiecutter.ml_framework == "pytorch" %}PyTorch model: deterministic training, native save/load, int8 + ONNX optimization gate.{% else %}TensorFlow model: deterministic training, native save/load, TFLite optimization gate.{% endif %}

One file for both deep-learning frameworks (only the chosen one is rendered): the training,
determinism, save/load and gate tests are shared, the artifact checks are per framework.
"""

from __future__ import annotations

import json
{%- if cookiecutter.ml_framework == "tensorflow" %}
import zipfile
{%- endif %}
from pathlib import Path

import numpy as np
{%- if cookiecutter.ml_framework == "pytorch" %}
import onnx
{%- endif %}
import pandas as pd
import pytest
{%- if cookiecutter.ml_framework == "pytorch" %}
import torch
{%- endif %}

from {{ cookiecutter.package_name }}.contracts.bundle import read_bundle, write_bundle_config
from {{ cookiecutter.package_name }}.contracts.config import BenchmarkSpec, ModelConfig, OptimizationSpec
from {{ cookiecutter.package_name }}.errors import GateFailedError, UserError
from {{ cookiecutter.package_name }}.optimization.base import BENCHMARK_FILE, PARITY_FILE
{%- if cookiecutter.ml_framework == "pytorch" %}
from {{ cookiecutter.package_name }}.optimization.torch_quant import INT8_FILE, ONNX_FILE, optimize
{%- else %}
from {{ cookiecutter.package_name }}.optimization.tflite import FLOAT16_FILE, INT8_FILE, optimize
{%- endif %}
from {{ cookiecutter.package_name }}.runtime import load_bundle_predictor
{%- if cookiecutter.ml_framework == "tensorflow" %}
from {{ cookiecutter.package_name }}.training.keras_model import MODEL_FILE, load, train
from {{ cookiecutter.package_name }}.training.keras_model import KerasModel as FrameworkModel
{%- endif %}
from {{ cookiecutter.package_name }}.training.preprocess import ENCODER_FILE
{%- if cookiecutter.ml_framework == "pytorch" %}
from {{ cookiecutter.package_name }}.training.torch_model import SPEC_FILE, WEIGHTS_FILE, load, train
from {{ cookiecutter.package_name }}.training.torch_model import TorchModel as FrameworkModel
{%- endif %}

from factories import config_of, frame_of, spec_of, split_of

# x_train, x_test, y_train, y_test
Split = tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]
# Enough timing runs to exercise the benchmark, few enough to keep the tests fast.
QUICK_BENCHMARK = {"warmup": 0, "single_row_runs": 10, "batch_size": 10, "batch_repeats": 1}


BINARY = frame_of("binary", categorical=False)


def _config(**hyperparameters: object) -> ModelConfig:
    """The project's model config on the breast-cancer features (binary, all numeric)."""
    return config_of(spec_of(BINARY, "binary"), **hyperparameters)


@pytest.fixture(scope="module")
def split() -> Split:
    x_train, y_train, x_test, y_test = split_of(BINARY, _config().dataset)
    return x_train, x_test, y_train, y_test


@pytest.fixture(scope="module")
def model(split: Split) -> FrameworkModel:
    x_train, _, y_train, _ = split
    return train(x_train, y_train, _config(epochs=8), seed=7, progress=False)


def test_learns_and_predicts_probabilities(model: FrameworkModel, split: Split) -> None:
    _, x_test, _, y_test = split
    proba = model.predict_proba(x_test)
    assert proba.shape == (len(x_test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert ((proba[:, 1] >= 0.5) == y_test).mean() > 0.9
    assert model.framework == "{{ cookiecutter.ml_framework }}"
    assert model.feature_names == list(x_test.columns)


def test_training_is_deterministic_per_seed(model: FrameworkModel, split: Split) -> None:
    x_train, x_test, y_train, _ = split
    again = train(x_train, y_train, _config(epochs=8), seed=7, progress=False)
    other = train(x_train, y_train, _config(epochs=8), seed=8, progress=False)
    np.testing.assert_array_equal(again.predict_proba(x_test), model.predict_proba(x_test))
    assert not np.array_equal(other.predict_proba(x_test), model.predict_proba(x_test))


def test_columns_are_matched_by_name(model: FrameworkModel, split: Split) -> None:
    _, x_test, _, _ = split
    shuffled = x_test[list(reversed(x_test.columns))]
    np.testing.assert_array_equal(model.predict_proba(shuffled), model.predict_proba(x_test))
    with pytest.raises(UserError, match="lacks the model's feature"):
        model.predict_proba(x_test.drop(columns=[x_test.columns[0]]))


def test_save_writes_native_files_and_load_restores_it(
    model: FrameworkModel,
    split: Split,
    tmp_path: Path,
) -> None:
    _, x_test, _, _ = split
    model.save(tmp_path)
{%- if cookiecutter.ml_framework == "pytorch" %}
    assert (tmp_path / SPEC_FILE).is_file()
    # Plain tensors only: loadable with weights_only=True (no pickled module, no code).
    state = torch.load(tmp_path / WEIGHTS_FILE, weights_only=True)
    assert {"target_mean", "target_scale"} <= {key.split(".")[-1] for key in state}
{%- else %}
    # The Keras v3 format: a zip of the architecture JSON and the weights (no pickle).
    with zipfile.ZipFile(tmp_path / MODEL_FILE) as archive:
        assert {"config.json", "model.weights.h5"} <= set(archive.namelist())
{%- endif %}
    assert (tmp_path / ENCODER_FILE).is_file()  # the fitted preprocessing, as JSON
    restored = load(tmp_path)
    np.testing.assert_array_equal(restored.predict_proba(x_test), model.predict_proba(x_test))
    assert restored.feature_names == model.feature_names


def test_load_rejects_missing_or_corrupt_models(model: FrameworkModel, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no saved model"):
        load(tmp_path)
    model.save(tmp_path)
{%- if cookiecutter.ml_framework == "pytorch" %}
    (tmp_path / WEIGHTS_FILE).write_bytes(b"not a state dict")
{%- else %}
    (tmp_path / MODEL_FILE).write_bytes(b"not a keras file")
{%- endif %}
    with pytest.raises(UserError, match="corrupt or incompatible"):
        load(tmp_path)


def test_bad_hyperparameters_are_one_line_errors(
    split: Split,
) -> None:
    x_train, _, y_train, _ = split
    with pytest.raises(UserError, match="learning_rate"):
        train(x_train, y_train, _config(learning_rate=-1), seed=0, progress=False)
    with pytest.raises(UserError, match="hidden_units"):
        train(x_train, y_train, _config(hidden_units=[8, 0]), seed=0, progress=False)
    with pytest.raises(UserError, match="n_estimators"):
        train(x_train, y_train, _config(n_estimators=3), seed=0, progress=False)


def test_optimize_writes_the_optimized_variants_with_reports(
    model: FrameworkModel,
    split: Split,
    tmp_path: Path,
) -> None:
    _, x_test, _, y_test = split
    spec = OptimizationSpec(
        max_accuracy_delta=0.05,
        max_roc_auc_delta=0.05,
        max_probability_diff=0.2,
        benchmark={"warmup": 2, "single_row_runs": 20, "batch_size": 200, "batch_repeats": 2},
    )
    result = optimize(model, x_test, y_test, tmp_path, spec)
    parity = json.loads((tmp_path / PARITY_FILE).read_text())
    rows = {
        row["variant"]: row for row in json.loads((tmp_path / BENCHMARK_FILE).read_text())["rows"]
    }
{%- if cookiecutter.ml_framework == "pytorch" %}
    assert result["artifact"] == str(tmp_path / ONNX_FILE)
    assert parity["passed"] and set(parity["variants"]) == {"onnx", "dynamic_int8"}
    # float16 weights (the default) move probabilities by ~1e-3, far inside the gate.
    assert parity["variants"]["onnx"]["max_probability_diff"] < 1e-2
    assert list(rows) == ["native", "onnx", "dynamic_int8"]
    native_weights = model.network.state_dict()
    float_bytes = sum(t.numel() * t.element_size() for t in native_weights.values())
    assert (tmp_path / INT8_FILE).stat().st_size < float_bytes
{%- else %}
    assert result["artifact"] == str(tmp_path / FLOAT16_FILE)
    assert parity["passed"] and set(parity["variants"]) == {"tflite_float16", "tflite_dynamic_int8"}
    assert parity["variants"]["tflite_float16"]["max_probability_diff"] < 0.01
    assert list(rows) == ["native", "tflite_float16", "tflite_dynamic_int8"]
    float_bytes = sum(weight.size * 4 for weight in model.model.get_weights())
    assert (tmp_path / FLOAT16_FILE).stat().st_size < float_bytes
    assert (tmp_path / INT8_FILE).stat().st_size < (tmp_path / FLOAT16_FILE).stat().st_size
{%- endif %}
    for row in rows.values():
        assert row["single_row_p50_ms"] > 0 and row["batch_rows_per_s"] > 0


def test_parity_gate_refuses_a_drifting_variant(
    model: FrameworkModel,
    split: Split,
    tmp_path: Path,
) -> None:
    _, x_test, _, y_test = split
    spec = OptimizationSpec(
        max_probability_diff=0.0,
        benchmark=QUICK_BENCHMARK,
    )
    with pytest.raises(GateFailedError, match="{% if cookiecutter.ml_framework == 'tensorflow' %}tflite_{% endif %}dynamic_int8"):
        optimize(model, x_test, y_test, tmp_path, spec)
    assert not json.loads((tmp_path / PARITY_FILE).read_text())["passed"]


def test_bad_optimization_option_is_a_user_error(
    model: FrameworkModel,
    split: Split,
    tmp_path: Path,
) -> None:
    _, x_test, _, y_test = split
{%- if cookiecutter.ml_framework == "pytorch" %}
    with pytest.raises(UserError, match="onnx_opset"):
        optimize(model, x_test, y_test, tmp_path, OptimizationSpec(options={"onnx_opset": 3}))
{%- else %}
    with pytest.raises(UserError, match="num_threads"):
        optimize(model, x_test, y_test, tmp_path, OptimizationSpec(options={"num_threads": 0}))
{%- endif %}

{%- if cookiecutter.ml_framework == "pytorch" %}


def test_quantizing_the_input_layer_too_shrinks_the_int8_file(
    model: FrameworkModel,
    split: Split,
    tmp_path: Path,
) -> None:
    _, x_test, _, y_test = split
    sizes = {}
    for input_layer in (False, True):
        spec = OptimizationSpec(
            max_accuracy_delta=0.05,
            max_roc_auc_delta=0.05,
            max_probability_diff=0.3,
            benchmark=QUICK_BENCHMARK,
            options={"int8_input_layer": input_layer},
        )
        out = tmp_path / str(input_layer)
        optimize(model, x_test, y_test, out, spec)
        sizes[input_layer] = (out / INT8_FILE).stat().st_size
    assert sizes[True] < sizes[False]


def test_onnx_takes_the_encoded_matrix_and_float16_halves_the_file(
    model: FrameworkModel,
    split: Split,
    tmp_path: Path,
) -> None:
    _, x_test, _, y_test = split
    sizes, diffs, graphs = {}, {}, {}
    for float16 in (True, False):
        spec = OptimizationSpec(
            benchmark=QUICK_BENCHMARK,
            options={"onnx_float16": float16, "int8": False},
        )
        out = tmp_path / str(float16)
        parity = optimize(model, x_test, y_test, out, spec)["parity"]
        sizes[float16] = (out / ONNX_FILE).stat().st_size
        diffs[float16] = parity["variants"]["onnx"]["max_probability_diff"]
        graphs[float16] = onnx.load(str(out / ONNX_FILE)).graph
    # float32 weights match the native network up to rounding (same encoder on both sides).
    assert diffs[False] < 1e-4 and diffs[True] < 1e-2
    for graph in graphs.values():  # the standardisation runs before the graph, not in it
        assert not {"Sub", "Div"} & {node.op_type for node in graph.node}
        assert [item.name for item in graph.input] == ["encoded"]
    stored = {tensor.data_type for tensor in graphs[True].initializer}
    assert stored == {onnx.TensorProto.FLOAT16}
    assert {tensor.data_type for tensor in graphs[False].initializer} == {onnx.TensorProto.FLOAT}
    assert sizes[True] < 0.55 * sizes[False]
{%- endif %}


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_every_task_trains_optimizes_and_serves_raw_rows(task: str, tmp_path: Path) -> None:
    frame = frame_of(task)  # string and boolean categoricals, missing values
    config = config_of(spec_of(frame, task), epochs=30)
    x_train, y_train, x_test, y_test = split_of(frame, config.dataset)
    model = train(x_train, y_train, config, seed=0, progress=False)
    output = model.predict(x_test)
    if task == "regression":
        assert output.shape == (len(x_test), 1)
        assert np.corrcoef(output[:, 0], y_test)[0, 1] > 0.4
    else:
        assert output.shape == (len(x_test), 3)
        assert (output.argmax(axis=1) == y_test).mean() > 0.85
    bundle = tmp_path / "bundle"
    model.save(bundle / "native")
    content = {
        "model_id": config.model_id,
        "dataset": model.spec.model_dump(mode="json"),
        "categories": model.categories,
    }
    write_bundle_config(bundle, content)
    spec = config.optimization.model_copy(update={"benchmark": BenchmarkSpec(**QUICK_BENCHMARK)})
    report = optimize(model, x_test, y_test, bundle / "optimized", spec)["parity"]
    assert report["passed"] and report["task"] == task
    served = load_bundle_predictor(read_bundle(bundle))
    assert served.runtime in ("onnx", "tflite")
    rows = list(x_test.itertuples(index=False, name=None))
    np.testing.assert_array_equal(served.predict_rows(rows), served.predict_frame(x_test))
    unseen = tuple("purple" if name == "shade" else None for name in model.feature_names)
    assert served.unknown([unseen]) == ("shade", "purple")
    assert np.all(np.isfinite(served.predict_rows([unseen])))
