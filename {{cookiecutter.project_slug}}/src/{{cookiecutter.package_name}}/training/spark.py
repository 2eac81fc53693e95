"""`train --engine spark`: the xgboost family fitted on a Spark cluster by `xgboost.spark`.

One code path with `--engine local` (`sklearn_model.train`): the driver splits the data and
fits the preprocessor (medians, scales, categories: one pass over the training split), then
only the model step differs. The encoded training rows become a Spark DataFrame of
`num_workers` partitions (`hyperparameters.num_workers`; 0 = the cluster's default
parallelism), and SparkXGBClassifier / SparkXGBRegressor grows one booster across that many
Spark tasks, which exchange histograms with XGBoost's allreduce. The booster comes back to the
driver as a plain XGBClassifier / XGBRegressor with the same parameters, so the pickle, the
ONNX export, the parity check, serving and batch scoring are those of any xgboost model. A
log1p target transform (`target_transform`) is applied before Spark sees the target, and the
fitted booster is wrapped in the same TransformedTargetRegressor the local engine builds.

The cluster is `batch.spark_master` or `SPARK_MASTER` (`data.spark`); executors need this
project installed with the `[spark]` extra (the same image or wheel). The data passes through
the driver once (it is read, hashed and split there, as the lineage requires); the boosting,
where the time goes, runs on the executors.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.compose import TransformedTargetRegressor
from sklearn.frozen import FrozenEstimator

from {{ cookiecutter.package_name }}.contracts.config import ModelConfig
from {{ cookiecutter.package_name }}.data.spark import session
from {{ cookiecutter.package_name }}.errors import UserError
from {{ cookiecutter.package_name }}.training.families import XGBoostParams
from {{ cookiecutter.package_name }}.training.sklearn_model import SklearnModel, parse
from {{ cookiecutter.package_name }}.training.sklearn_model import train as train_pipeline

ENGINES = ("local", "spark")
LABEL = "label"
SPARK_CONFIG = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",  # pandas -> Spark in Arrow batches
    "spark.ui.showConsoleProgress": "false",  # the stage bars would bury the training output
}
XGBOOST_LOGGER = "XGBoost-PySpark"  # logs every step at INFO


def check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise UserError(f"--engine {engine!r}: use one of {', '.join(ENGINES)}")


def xgboost_params(config: ModelConfig) -> XGBoostParams:
    """The config's xgboost parameters; another family is a one-line error (before Spark)."""
    params = parse(config.hyperparameters)
    if not isinstance(params, XGBoostParams):
        raise UserError(
            f"train --engine spark fits the xgboost family, but configs/model_config.yaml "
            f"sets family {params.family}: set hyperparameters.family: xgboost (or run "
            "`make tune TUNE_FLAGS='--family xgboost'`)"
        )
    return params


def train_on_spark(
    X_train: pd.DataFrame,  # noqa: N803 - the usual ML name
    y_train: np.ndarray,
    config: ModelConfig,
    seed: int,
    master: str,
) -> SklearnModel:
    """`sklearn_model.train` with the model step fitted on Spark (module docstring)."""
    params = xgboost_params(config)
    spark = session(master, "train", SPARK_CONFIG)
    spark.sparkContext.setLogLevel("ERROR")
    logging.getLogger(XGBOOST_LOGGER).setLevel(logging.WARNING)
    try:
        fit = functools.partial(_fit_on_spark, spark=spark, params=params, seed=seed)
        return train_pipeline(X_train, y_train, config, seed, fit=fit)
    finally:
        spark.stop()


def _fit_on_spark(
    model: BaseEstimator, encoded: Any, y_train: np.ndarray, *, spark: Any,
    params: XGBoostParams, seed: int,
) -> BaseEstimator:  # fmt: skip
    if isinstance(model, TransformedTargetRegressor):
        booster = _fit_on_spark(
            model.regressor, encoded, model.func(y_train), spark=spark, params=params, seed=seed
        )
        # The frozen booster stands in for the fit (FrozenEstimator.fit does nothing), so the
        # wrapper is fitted the usual way; then it holds the booster itself, for ONNX.
        wrapped = clone(model).set_params(regressor=FrozenEstimator(booster))
        wrapped.fit(encoded, y_train)
        wrapped.regressor_ = booster
        return wrapped
    # Imported here: xgboost.spark imports pyspark, the optional [spark] stack.
    from xgboost.spark import SparkXGBClassifier, SparkXGBRegressor

    workers = params.num_workers or int(spark.sparkContext.defaultParallelism)
    matrix = encoded.toarray() if sparse.issparse(encoded) else np.asarray(encoded)
    columns = [f"f{index}" for index in range(matrix.shape[1])]
    frame = pd.DataFrame(matrix.astype(np.float32), columns=columns)
    frame[LABEL] = y_train
    rows = spark.createDataFrame(frame).repartition(workers)
    estimator_class = SparkXGBClassifier if is_classifier(model) else SparkXGBRegressor
    estimator = estimator_class(
        features_col=columns,
        label_col=LABEL,
        num_workers=workers,
        random_state=seed,
        verbose=False,  # no evaluation line per boosting round
        **params.booster_params(),
    )
    booster = estimator.fit(rows).get_booster()
    local = clone(model)  # the unfitted XGBClassifier / XGBRegressor with these parameters
    local.load_model(bytearray(booster.save_raw("json")))
    return local
