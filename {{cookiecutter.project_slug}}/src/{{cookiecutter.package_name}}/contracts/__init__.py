"""The contract layer: what the stages agree on, read in one place each.

- `contracts.spec`: the dataset (`DatasetSpec`, `dataset:` in configs/model_config.yaml);
- `contracts.config`: the model config (`ModelConfig`, read through
  `Settings.read_model_config()`);
- `contracts.bundle`: a trained model bundle (`Bundle`, `read_bundle`);
- `contracts.decode`: model output -> labels, scores, class indices (`decode`);
- `contracts.metrics`: held-out metrics per task and their directions.

It sits just above `errors`: every stage (and `settings`) imports it, it imports none of them
(`make lint` checks the layers with import-linter). Its modules stay light to import (pydantic,
yaml, numpy; scikit-learn only in `metrics`): the server's start-up checks read them first.
"""
